"""The ``gatepass`` entry point: help, usage errors, error-to-exit-code mapping."""

from __future__ import annotations

import importlib
import json
import sys
from types import ModuleType

import pytest

from gatepass.cli import main
from gatepass.cli._common import exit_code
from gatepass.errors import (
    ConfigurationError,
    EmailTaken,
    GatepassError,
    InvalidKey,
    InvalidSignature,
    StoreUnavailable,
)
from tests.cli.helpers import run_cli

COMMANDS = ("keys", "jws", "token", "users", "audit")
HELP_ARGS = [
    *([name] for name in COMMANDS),
    ["keys", "generate"],
    ["keys", "rotate"],
    ["keys", "list"],
    ["keys", "retire"],
    ["jws", "verify"],
    ["token", "verify"],
    ["users", "create"],
    ["users", "list"],
    ["audit", "list"],
]


@pytest.mark.slow
def test_top_level_help_lists_every_command() -> None:
    """``python -m gatepass --help`` exits 0 and names every command."""
    result = run_cli("--help")
    assert 0 == result.returncode
    for name in COMMANDS:
        assert name in result.stdout


@pytest.mark.parametrize("args", HELP_ARGS, ids=" ".join)
def test_every_command_has_help(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """Each command's ``--help`` exits 0 and prints a usage with a description."""
    with pytest.raises(SystemExit) as exc_info:
        main([*args, "--help"])
    assert 0 == exc_info.value.code
    out = capsys.readouterr().out
    assert out.startswith("usage: gatepass " + " ".join(args))
    assert len(out.splitlines()) > 3


def test_missing_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """``gatepass`` with no command exits 2 with a usage message."""
    with pytest.raises(SystemExit) as exc_info:
        main([])
    assert 2 == exc_info.value.code
    assert "usage:" in capsys.readouterr().err


def test_unknown_algorithm_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """``keys generate --alg none`` exits 2: there is no ``none`` algorithm."""
    with pytest.raises(SystemExit) as exc_info:
        main(["keys", "generate", "--alg", "none"])
    assert 2 == exc_info.value.code
    assert "invalid choice" in capsys.readouterr().err


def test_bad_store_url_exits_2_with_the_code(capsys: pytest.CaptureFixture[str]) -> None:
    """A malformed ``--store`` is bad usage: exit 2 and ``configuration_error`` on stderr."""
    assert 2 == main(["keys", "list", "--store", "not-a-url"])
    assert "configuration_error" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ConfigurationError("bad flag"), 2),
        (InvalidKey("not a key"), 1),
        (InvalidSignature("bad"), 1),
        (EmailTaken("taken"), 1),
        (StoreUnavailable("down"), 1),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value),
)
def test_exit_code_mapping(error: GatepassError, expected: int) -> None:
    """Configuration errors are usage errors (2); every other gatepass error is a failure (1)."""
    assert expected == exit_code(error)


def test_cli_works_without_the_serve_module(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """If ``gatepass.cli.serve`` cannot be found, every other command still works."""
    monkeypatch.setitem(sys.modules, "gatepass.cli.serve", None)
    assert 0 == main(["keys", "generate", "--alg", "HS256"])
    assert "HS256" == json.loads(capsys.readouterr().out)["alg"]
    with pytest.raises(SystemExit) as exc_info:
        main(["serve"])
    assert 2 == exc_info.value.code


def test_serve_without_its_dependencies_explains_the_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """If a server dependency is missing, ``gatepass serve`` exits 2 naming the extra."""
    real_import = importlib.import_module

    def import_module(name: str, package: str | None = None) -> ModuleType:
        if name == "gatepass.cli.serve":
            raise ModuleNotFoundError("No module named 'uvicorn'", name="uvicorn")
        return real_import(name, package)

    monkeypatch.setattr(importlib, "import_module", import_module)
    assert 2 == main(["serve"])
    assert "gatepass[server]" in capsys.readouterr().err
