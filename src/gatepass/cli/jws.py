"""``gatepass jws verify``: check compact JWS signatures, without any JWT claim rule.

The rules are those of :func:`gatepass.tokens.jws.verify_compact`: size cap, exactly
three canonical base64url segments, a strict JSON header with only ``alg``, ``kid``,
``typ``, the key found by ``kid`` and the algorithm pinned to it, then the signature.
The payload is not parsed.
"""

from __future__ import annotations

import argparse
import sys

from gatepass._utils import b64url_encode
from gatepass.cli._common import Subparsers, read_text_file
from gatepass.cli._verify import add_token_arguments, keyring_from_text, verify_batch, verify_one
from gatepass.tokens.jws import VerifiedJWS, verify_compact

__all__ = ["register"]


def register(subparsers: Subparsers) -> None:
    """Add ``gatepass jws verify``."""
    parser = subparsers.add_parser(
        "jws",
        help="verify compact JWS signatures (no JWT claims)",
        description="Work with compact JWS (RFC 7515) tokens.",
    )
    commands = parser.add_subparsers(dest="jws_command", metavar="ACTION", required=True)
    verify = commands.add_parser(
        "verify",
        help="verify a compact JWS against a JWK or JWK Set",
        description=(
            "Verify a compact JWS with gatepass's strict rules (size, encoding, header, "
            "algorithm pinned to the key found by kid, signature) but no JWT claim checks. "
            "One TOKEN: exit 0 and the payload on stdout, or exit 1 and the error code on "
            'stderr. With -: one JSON line per input line, {"valid": true, "payload": '
            '"<base64url of the payload>"} or {"valid": false, "error": "<code>"}, exit 0.'
        ),
        epilog="Exit codes: 0 verified (or batch done), 1 not verified, 2 bad usage.",
    )
    verify.add_argument(
        "--jwk",
        metavar="FILE",
        required=True,
        help="a JWK or a JWK Set (JSON); private members are ignored",
    )
    add_token_arguments(verify)
    verify.set_defaults(func=_verify)


def _verify(args: argparse.Namespace) -> int:
    keyring = keyring_from_text(read_text_file(args.jwk, what="JWK"))

    def check(token: str | bytes) -> VerifiedJWS:
        return verify_compact(token, keyring)

    if args.token == "-":

        def batch_check(line: bytes) -> dict[str, object]:
            return {"payload": b64url_encode(check(line).payload)}

        return verify_batch(sys.stdin.buffer, sys.stdout, batch_check, verbose=args.verbose)

    def render(verified: VerifiedJWS) -> None:
        sys.stdout.flush()
        sys.stdout.buffer.write(verified.payload + b"\n")
        sys.stdout.buffer.flush()

    return verify_one(args.token, check, render, verbose=args.verbose)
