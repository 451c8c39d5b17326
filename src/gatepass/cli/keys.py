"""``gatepass keys``: generate a JWK; rotate, list and retire the signing keys of a store.

The store keeps each key's private JWK (see :mod:`gatepass.keys.persisted`); nothing
here ever prints private material except ``keys generate``, whose whole point is to
print a new private JWK.
"""

from __future__ import annotations

import argparse
import time

from gatepass.cli._common import (
    EXIT_OK,
    Subparsers,
    add_store_argument,
    dump_json,
    format_time,
    with_store,
)
from gatepass.errors import NotFound, ValidationError
from gatepass.keys.algorithms import ALGORITHMS
from gatepass.keys.key import SigningKey
from gatepass.keys.persisted import retire_key, rotate_key
from gatepass.stores import KeyRecord, Store

__all__ = ["DEFAULT_ALG", "register"]

#: The algorithm of new keys when ``--alg`` is not given (and no key is active yet).
DEFAULT_ALG = "EdDSA"
_ALGS = sorted(ALGORITHMS)


def register(subparsers: Subparsers) -> None:
    """Add ``gatepass keys {generate,rotate,list,retire}``."""
    parser = subparsers.add_parser(
        "keys",
        help="generate signing keys; rotate, list and retire the keys of a store",
        description="Generate JWS signing keys, and manage the signing keys kept in a store.",
    )
    commands = parser.add_subparsers(dest="keys_command", metavar="ACTION", required=True)

    generate = commands.add_parser(
        "generate",
        help="print a new private JWK",
        description=(
            "Print a new private JWK (with kid = its RFC 7638 thumbprint, alg and use) as "
            "one line of JSON. Keep it secret: it can sign tokens."
        ),
    )
    generate.add_argument(
        "--alg", choices=_ALGS, default=DEFAULT_ALG, help=f"the algorithm (default {DEFAULT_ALG})"
    )
    generate.set_defaults(func=_generate)

    rotate = commands.add_parser(
        "rotate",
        help="create and activate a new signing key in the store",
        description=(
            "Generate a new signing key, store it and make it the active one; the former "
            "keys keep verifying the tokens they signed until retired. Running servers use "
            "the new key once they reload their keys. Prints the new kid."
        ),
    )
    rotate.add_argument(
        "--alg",
        choices=_ALGS,
        help=f"the algorithm (default: that of the active key, else {DEFAULT_ALG})",
    )
    add_store_argument(rotate)
    rotate.set_defaults(func=_rotate)

    listing = commands.add_parser(
        "list",
        help="list the signing keys of the store",
        description=(
            "List the keys of the store, oldest first: kid, alg, status (active signs, "
            "verify still verifies, retired is ignored) and creation time, tab-separated. "
            "Never shows key material."
        ),
    )
    listing.add_argument(
        "--json", action="store_true", help="one JSON object per line (times as Unix seconds)"
    )
    add_store_argument(listing)
    listing.set_defaults(func=_list)

    retire = commands.add_parser(
        "retire",
        help="retire a key: tokens it signed stop verifying",
        description=(
            "Mark a key retired: the tokens it signed stop verifying once servers reload "
            "their keys. The active key cannot be retired; rotate first. A key id is a "
            "base64url thumbprint and may start with '-': give such a KID after '--' "
            "(gatepass keys retire --store URL -- KID)."
        ),
    )
    retire.add_argument("kid", metavar="KID", help="the key id, as shown by 'gatepass keys list'")
    add_store_argument(retire)
    retire.set_defaults(func=_retire)


def _generate(args: argparse.Namespace) -> int:
    key = SigningKey.generate(args.alg)
    print(dump_json(key.private_jwk()))
    return EXIT_OK


def _rotate(args: argparse.Namespace) -> int:
    async def action(store: Store) -> SigningKey:
        alg: str | None = args.alg
        if alg is None:
            active = [r for r in await store.list_keys() if r.status == "active"]
            alg = active[-1].alg if active else DEFAULT_ALG
        return await rotate_key(store, alg=alg, clock=time.time)

    key = with_store(args, action)
    print(key.kid)
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    async def action(store: Store) -> list[KeyRecord]:
        return await store.list_keys()

    for record in with_store(args, action):
        if args.json:
            line = dump_json(
                {
                    "kid": record.kid,
                    "alg": record.alg,
                    "status": record.status,
                    "created_at": int(record.created_at),
                }
            )
        else:
            fields = (record.kid, record.alg, record.status, format_time(record.created_at))
            line = "\t".join(fields)
        print(line)
    return EXIT_OK


def _retire(args: argparse.Namespace) -> int:
    kid: str = args.kid

    async def action(store: Store) -> None:
        record = next((r for r in await store.list_keys() if r.kid == kid), None)
        if record is None:
            raise NotFound("no key with this kid in the store")
        if record.status == "active":
            raise ValidationError("cannot retire the active key; rotate first", field="kid")
        await retire_key(store, kid)

    with_store(args, action)
    return EXIT_OK
