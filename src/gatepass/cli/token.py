"""``gatepass token verify``: full access-token validation against a JWK Set.

The checks are exactly those of :meth:`gatepass.tokens.access.AccessTokens.verify`:
the strict JWS rules, header ``typ: at+jwt``, then the claims (``exp`` with the leeway,
``nbf``, ``iat``, exact ``iss``, ``aud`` containing the audience, ``sub``, ``jti``,
``sid``, ``scope``). Revocation is not checked: that needs the issuer's store.
"""

from __future__ import annotations

import argparse
import sys

from gatepass.cli._common import Subparsers, dump_json
from gatepass.cli._fetch import read_jwks_source
from gatepass.cli._verify import add_token_arguments, keyring_from_text, verify_batch, verify_one
from gatepass.config import TokenSettings
from gatepass.errors import MalformedToken
from gatepass.tokens.access import AccessTokens

__all__ = ["register"]


def register(subparsers: Subparsers) -> None:
    """Add ``gatepass token verify``."""
    parser = subparsers.add_parser(
        "token",
        help="verify gatepass access tokens (signature and JWT claims)",
        description="Work with gatepass access tokens (JWT, typ at+jwt).",
    )
    commands = parser.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    verify = commands.add_parser(
        "verify",
        help="verify an access token: signature, typ and claims",
        description=(
            "Verify an access token as a gatepass resource server does: the strict JWS "
            "rules, typ at+jwt, exp/nbf/iat (with the leeway), the exact issuer, the "
            "audience, sub, jti and sid. Revocation is not checked. One TOKEN: exit 0 and "
            "the claims JSON on stdout, or exit 1 and the error code on stderr. With -: "
            'one JSON line per input line, {"valid": true, "claims": {...}} or '
            '{"valid": false, "error": "<code>"}, exit 0.'
        ),
        epilog="Exit codes: 0 verified (or batch done), 1 not verified, 2 bad usage.",
    )
    verify.add_argument(
        "--jwks",
        metavar="FILE_OR_URL",
        required=True,
        help="a JWK Set (or one JWK): a file, or an http(s) URL such as "
        "https://auth.example.com/.well-known/jwks.json (5 s timeout, 1 MiB cap)",
    )
    verify.add_argument("--issuer", metavar="ISS", required=True, help="the exact expected iss")
    verify.add_argument(
        "--audience", metavar="AUD", required=True, help="this service's audience (in aud)"
    )
    verify.add_argument(
        "--leeway",
        metavar="N",
        type=int,
        default=5,
        help="allowed clock skew in seconds, 0 to 300 (default 5)",
    )
    add_token_arguments(verify)
    verify.set_defaults(func=_verify)


def _verify(args: argparse.Namespace) -> int:
    settings = TokenSettings(issuer=args.issuer, audience=args.audience, leeway=args.leeway)
    tokens = AccessTokens(keyring_from_text(read_jwks_source(args.jwks)), settings)

    def check(token: str) -> dict[str, object]:
        return dict(tokens.verify(token).raw)

    if args.token == "-":

        def batch_check(line: bytes) -> dict[str, object]:
            try:
                text = line.decode("ascii")
            except UnicodeDecodeError as exc:
                raise MalformedToken("token is not ASCII") from exc
            return {"claims": check(text)}

        return verify_batch(
            sys.stdin.buffer,
            sys.stdout,
            batch_check,
            verbose=args.verbose,
            max_bytes=settings.max_token_bytes,
        )

    def render(claims: dict[str, object]) -> None:
        print(dump_json(claims))

    return verify_one(args.token, check, render, verbose=args.verbose)
