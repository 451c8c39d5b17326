"""The ``gatepass`` command line.

Every subcommand lives in its own module exposing ``register(subparsers)``, which adds
its parser and sets ``func`` (a callable taking the parsed namespace and returning an
exit code). Exit codes: 0 success, 1 a verification or operation failure, 2 bad usage.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence

from gatepass.cli import _common, audit, bench, jws, keys, token, users
from gatepass.errors import ConfigurationError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every available subcommand registered.

    Returns:
        The ``gatepass`` argument parser.
    """
    parser = argparse.ArgumentParser(
        prog="gatepass",
        description="gatepass: JWT and session authentication behind one API.",
        epilog="Exit codes: 0 success, 1 verification or operation failure, 2 bad usage.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _register_serve(subparsers)
    for module in (keys, jws, token, users, audit, bench):
        module.register(subparsers)
    return parser


def _register_serve(subparsers: _common.Subparsers) -> None:
    """Register ``gatepass serve`` when its module imports.

    The server needs the ``server`` extra; when one of its dependencies is missing the
    command is still listed and explains how to install it (exit 2).
    """
    try:
        serve = importlib.import_module("gatepass.cli.serve")
    except ImportError as exc:
        if exc.name == "gatepass.cli.serve":
            return
        reason = str(exc)
        parser = subparsers.add_parser(
            "serve",
            help="run the gatepass auth server (needs the 'server' extra)",
            description="Run the gatepass auth server. Unavailable: " + reason,
        )

        def unavailable(args: argparse.Namespace) -> int:
            raise ConfigurationError(
                f"gatepass serve is unavailable ({reason}); "
                "install it with: pip install 'gatepass[server]'"
            )

        parser.set_defaults(func=unavailable)
        return
    serve.register(subparsers)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``gatepass`` command line.

    Args:
        argv: The arguments (without the program name); ``sys.argv[1:]`` when omitted.

    Returns:
        The process exit code.
    """
    parser = build_parser()
    args = parser.parse_args(list(argv) if argv is not None else None)
    return _common.run_command(args.func, args)
