"""Shared helpers of the command line: exit codes, error reporting, stores, input files.

Exit codes (API.md): 0 success, 1 a verification or operation failure, 2 bad usage.
A :class:`~gatepass.errors.ConfigurationError` (a bad flag value or setting, an
unreadable input file) is bad usage; its subclass :class:`~gatepass.errors.InvalidKey`
(key material that is not usable) and every other
:class:`~gatepass.errors.GatepassError` are operation failures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, TypeAlias, TypeVar

import anyio

from gatepass.errors import ConfigurationError, GatepassError, InvalidKey
from gatepass.stores import Store, open_stores

__all__ = [
    "DEFAULT_STORE",
    "EXIT_FAILURE",
    "EXIT_OK",
    "EXIT_USAGE",
    "STORE_ENV",
    "Subparsers",
    "add_store_argument",
    "dump_json",
    "exit_code",
    "format_time",
    "positive_int",
    "read_text_file",
    "report",
    "run_command",
    "with_store",
]

if TYPE_CHECKING:
    Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
else:
    Subparsers = Any

T = TypeVar("T")

EXIT_OK: Final = 0
EXIT_FAILURE: Final = 1
EXIT_USAGE: Final = 2
#: The environment variable naming the store when ``--store`` is not given.
STORE_ENV: Final = "GATEPASS_STORE"
REDIS_ENV: Final = "GATEPASS_REDIS"
#: The store used when neither ``--store`` nor ``GATEPASS_STORE`` is set.
DEFAULT_STORE: Final = "sqlite:///gatepass.db"
_MAX_FILE_BYTES: Final = 1 << 20


def exit_code(exc: GatepassError) -> int:
    """The exit code for an error: 2 for configuration (usage) errors, else 1."""
    if isinstance(exc, ConfigurationError) and not isinstance(exc, InvalidKey):
        return EXIT_USAGE
    return EXIT_FAILURE


def report(exc: GatepassError) -> None:
    """Print ``gatepass: <code>: <detail>`` on stderr (the detail never holds secrets)."""
    print(f"gatepass: {exc.code}: {exc.detail}", file=sys.stderr)


def run_command(func: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a subcommand, mapping gatepass errors to exit codes and stderr messages.

    Args:
        func: The subcommand.
        args: Its parsed arguments.

    Returns:
        The exit code.
    """
    try:
        return func(args)
    except GatepassError as exc:
        report(exc)
        return exit_code(exc)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (``... | head``): stop quietly, without a traceback
        # from the final flush of stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_FAILURE


def positive_int(text: str) -> int:
    """An argparse type: a positive decimal integer (a bad value is a usage error)."""
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def dump_json(value: object) -> str:
    """Compact JSON text on one line (non-ASCII kept as is)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def format_time(timestamp: float) -> str:
    """A Unix time as ISO 8601 UTC to the second (``2024-01-31T12:00:00Z``)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


# -- stores ------------------------------------------------------------------------------


def add_store_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--store URL`` (default: ``$GATEPASS_STORE``, else ``sqlite:///gatepass.db``)."""
    parser.add_argument(
        "--store",
        metavar="URL",
        help=(
            f"store URL: memory://, sqlite:///relative.db or sqlite:////absolute.db "
            f"(default: ${STORE_ENV}, else {DEFAULT_STORE})"
        ),
    )


def add_redis_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--redis URL`` (default: ``$GATEPASS_REDIS``): where a server run with
    ``--redis`` keeps its sessions, which a command that ends logins must reach."""
    parser.add_argument(
        "--redis",
        metavar="URL",
        help=f"the Redis of a server run with --redis (default: ${REDIS_ENV}, else none)",
    )


def redis_url(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> str | None:
    """``--redis``, else ``GATEPASS_REDIS``, for commands that took :func:`add_redis_argument`."""
    if not hasattr(args, "redis"):
        return None
    if args.redis:
        return str(args.redis)
    env = os.environ if environ is None else environ
    return env.get(REDIS_ENV) or None


def store_url(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> str:
    """The store URL of ``--store``, else ``GATEPASS_STORE``, else the default."""
    url: str | None = getattr(args, "store", None)
    if url:
        return url
    env = os.environ if environ is None else environ
    return env.get(STORE_ENV) or DEFAULT_STORE


def with_store(args: argparse.Namespace, action: Callable[[Store], Awaitable[T]]) -> T:
    """Open the store named by ``args``, run ``action`` on it, close it.

    Raises:
        ConfigurationError: if the store URL is malformed or names no available backend.
        StoreError: if the store fails.
    """
    store = open_stores(store_url(args), redis_url(args))

    async def run() -> T:
        try:
            return await action(store)
        finally:
            await store.aclose()

    return anyio.run(run)


# -- input files --------------------------------------------------------------------------


def read_text_file(path: str, *, what: str, max_bytes: int = _MAX_FILE_BYTES) -> str:
    """Read a small UTF-8 text file named on the command line.

    Raises:
        ConfigurationError: if the file cannot be read (a bad flag: exit 2).
        InvalidKey: if it is too large or not UTF-8 (``what`` names it in the message).
    """
    try:
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise ConfigurationError(f"cannot read the {what} file: {exc.strerror}") from exc
    if len(data) > max_bytes:
        raise InvalidKey(f"the {what} file is larger than {max_bytes} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidKey(f"the {what} file is not UTF-8 text") from exc
