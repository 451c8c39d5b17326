"""What ``jws verify`` and ``token verify`` share: key loading, one token, a batch.

One token (the ``TOKEN`` argument): on success the command's rendering goes to stdout
(exit 0); on failure only the error code goes to stderr (exit 1), with the detail after
a colon under ``--verbose``.

A batch (``-``): one token per line of stdin, one JSON line per input line on stdout, in
order, exit 0. Only the line terminator (``\\n`` or ``\\r\\n``) is removed; any other
character, including surrounding spaces, is part of the token. An empty line is
reported as ``{"valid": false, "error": "invalid_token"}``, so output line *n* always
answers input line *n*. A line longer than the token size cap is reported as invalid
without being read into memory whole.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from typing import BinaryIO, Final, TextIO, TypeVar

from gatepass.cli._common import EXIT_FAILURE, EXIT_OK, dump_json
from gatepass.errors import GatepassError, TokenError, TokenTooLarge
from gatepass.keys.key import load_jwk_json
from gatepass.keys.keyring import KeyRing
from gatepass.tokens.jws import DEFAULT_MAX_BYTES

__all__ = [
    "BATCH_HELP",
    "add_token_arguments",
    "keyring_from_text",
    "verify_batch",
    "verify_one",
]

T = TypeVar("T")

#: The argument help shared by both verify commands.
BATCH_HELP: Final = (
    "the compact token to verify, or - to read one token per line from stdin and write one "
    'JSON line per input line: {"valid": true, ...} or {"valid": false, "error": CODE}. '
    "Only the line terminator is stripped; an empty line is reported as invalid_token"
)
_CHUNK: Final = 1 << 16


def add_token_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``TOKEN | -`` positional argument and ``--verbose``."""
    parser.add_argument("token", metavar="TOKEN | -", help=BATCH_HELP)
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="on failure, add the reason after the error code (stderr, or 'detail' in a batch)",
    )


def keyring_from_text(text: str) -> KeyRing:
    """A verify-only ring from a JWK or a JWK Set given as JSON text.

    A single JWK must be usable. In a JWK Set, keys gatepass cannot use (other
    algorithms, encryption keys) are skipped, as a verifier of a provider's JWKS must;
    at least one key must load.

    Raises:
        InvalidKey: if the text is not a usable JWK or JWK Set.
    """
    doc = load_jwk_json(text)
    return KeyRing.from_jwks(doc, strict="keys" not in doc)


def verify_one(
    token: str,
    verify: Callable[[str], T],
    render: Callable[[T], None],
    *,
    verbose: bool = False,
) -> int:
    """Verify one token: render it and return 0, or print its error code and return 1.

    Only token errors are handled here; any other error (an unusable key...) is left to
    the command runner.
    """
    try:
        result = verify(token)
    except TokenError as exc:
        message = f"{exc.code}: {exc.detail}" if verbose else exc.code
        print(message, file=sys.stderr)
        return EXIT_FAILURE
    render(result)
    return EXIT_OK


def _lines(stream: BinaryIO, max_bytes: int) -> Iterator[bytes | None]:
    """Lines of ``stream`` without their terminator; ``None`` for an over-long line."""
    limit = max_bytes + 2  # room for "\r\n"
    while True:
        line = stream.readline(limit)
        if not line:
            return
        if not line.endswith(b"\n") and len(line) == limit:
            while line and not line.endswith(b"\n"):  # skip the rest of the line
                line = stream.readline(_CHUNK)
            yield None
            continue
        if line.endswith(b"\n"):
            line = line[:-2] if line.endswith(b"\r\n") else line[:-1]
        yield line


def verify_batch(
    stdin: BinaryIO,
    stdout: TextIO,
    verify: Callable[[bytes], dict[str, object]],
    *,
    verbose: bool = False,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> int:
    """Verify one token per line of ``stdin``; write one JSON line each to ``stdout``.

    Args:
        stdin: The binary input stream.
        stdout: The text output stream.
        verify: Returns the members to add to ``{"valid": true}`` for a good token;
            raises a :class:`GatepassError` for a bad one.
        verbose: Add the error's ``detail`` to each failure.
        max_bytes: The token size cap (longer lines are invalid, unread).

    Returns:
        0: a batch reports failures in its output, not in its exit code.
    """
    write = stdout.write
    for line in _lines(stdin, max_bytes):
        error: GatepassError
        if line is None:
            error = TokenTooLarge(f"token longer than {max_bytes} bytes")
        else:
            try:
                result: dict[str, object] = {"valid": True, **verify(line)}
            except GatepassError as exc:
                error = exc
            else:
                write(dump_json(result) + "\n")
                continue
        failure: dict[str, object] = {"valid": False, "error": error.code}
        if verbose:
            failure["detail"] = error.detail
        write(dump_json(failure) + "\n")
    stdout.flush()
    return EXIT_OK
