"""``gatepass users``: create and list the user accounts of a store.

``users create`` goes through :meth:`gatepass.authenticator.Authenticator.register`,
so the email rules, the password policy, the argon2id hashing and the audit event are
the server's. The password is never an argument (it would land in the shell history
and the process list): it is the first line of stdin, or typed twice at a terminal.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import BinaryIO

from gatepass.authenticator import Authenticator, normalize_email
from gatepass.cli._common import (
    EXIT_OK,
    Subparsers,
    add_redis_argument,
    add_store_argument,
    dump_json,
    format_time,
    with_store,
)
from gatepass.errors import NotFound, ValidationError
from gatepass.keys.key import SigningKey
from gatepass.keys.keyring import KeyRing
from gatepass.stores import Store, UserRecord

__all__ = ["read_password", "register"]

_PAGE = 1000
#: Longest password line read from stdin (the policy allows 1024 code points).
_MAX_PASSWORD_BYTES = 4 * 1024 + 2


def register(subparsers: Subparsers) -> None:
    """Add ``gatepass users {create,list,disable,enable}``."""
    parser = subparsers.add_parser(
        "users",
        help="create, list, disable and enable user accounts in a store",
        description="Create, list, disable and enable the user accounts of a gatepass store.",
    )
    commands = parser.add_subparsers(dest="users_command", metavar="ACTION", required=True)

    create = commands.add_parser(
        "create",
        help="create a user (password read from stdin)",
        description=(
            "Create a user with the server's email rules and password policy. The password "
            "is the first line of stdin (without its line terminator); at a terminal it is "
            "asked twice without echo. Prints the new user as JSON: id, email, created_at. "
            "Fails with exit 1 and email_taken or validation_error on stderr."
        ),
    )
    create.add_argument("--email", metavar="EMAIL", required=True, help="the user's email")
    add_store_argument(create)
    create.set_defaults(func=_create)

    listing = commands.add_parser(
        "list",
        help="list users",
        description=(
            "List the users of the store, oldest first: id, email and creation time, "
            "tab-separated. Never shows password hashes."
        ),
    )
    listing.add_argument(
        "--json", action="store_true", help="one JSON object per line (times as Unix seconds)"
    )
    add_store_argument(listing)
    listing.set_defaults(func=_list)

    for name, disabled, text in (
        (
            "disable",
            True,
            "Disable a user: every session, token family and access token of the user is "
            "ended at once (running servers refuse them within their revocation feed's "
            "staleness bound, 2 s) and every later login is refused. Prints how many "
            "logins were ended. For a server run with --redis, pass the same --redis to "
            "delete and count its sessions; without it they are refused all the same, by "
            "the user's 'revoked before' watermark in the store's revocations (kept a "
            "year).",
        ),
        ("enable", False, "Enable a disabled user again: they can sign in anew."),
    ):
        command = commands.add_parser(name, help=text.split(":")[0].lower(), description=text)
        command.add_argument("--email", metavar="EMAIL", required=True, help="the user's email")
        add_store_argument(command)
        add_redis_argument(command)
        command.set_defaults(func=_set_disabled, disabled=disabled)


def read_password(stdin: BinaryIO, *, interactive: bool) -> str:
    """The new password: typed twice at a terminal, else the first line of ``stdin``.

    Raises:
        ValidationError: no password, the two typed passwords differ, or the line is
            not UTF-8.
    """
    if interactive:
        first = getpass.getpass("Password: ")
        if first != getpass.getpass("Repeat password: "):
            raise ValidationError("the two passwords differ", field="password")
        return first
    line = stdin.readline(_MAX_PASSWORD_BYTES)
    if not line:
        raise ValidationError("no password on stdin", field="password")
    if line.endswith(b"\n"):
        line = line[:-2] if line.endswith(b"\r\n") else line[:-1]
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationError("the password is not UTF-8", field="password") from exc


def _user_json(user: UserRecord) -> str:
    return dump_json({"id": user.id, "email": user.email, "created_at": int(user.created_at)})


def _create(args: argparse.Namespace) -> int:
    password = read_password(sys.stdin.buffer, interactive=sys.stdin.isatty())
    # register() signs nothing: a throwaway in-memory key satisfies the Authenticator
    # without creating signing keys in the store.
    keyring = KeyRing([SigningKey.generate("HS256")])

    async def action(store: Store) -> UserRecord:
        return await Authenticator(store=store, keyring=keyring).register(args.email, password)

    print(_user_json(with_store(args, action)))
    return EXIT_OK


def _set_disabled(args: argparse.Namespace) -> int:
    keyring = KeyRing([SigningKey.generate("HS256")])  # nothing is signed (see _create)

    async def action(store: Store) -> tuple[UserRecord, int]:
        user = await store.get_user_by_email(normalize_email(args.email))
        if user is None:
            raise NotFound("no user with this email")
        authenticator = Authenticator(store=store, keyring=keyring)
        return user, await authenticator.set_disabled(user.id, args.disabled)

    user, ended = with_store(args, action)
    data = {"id": user.id, "email": user.email, "disabled": args.disabled, "ended": ended}
    print(dump_json(data))
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    async def action(store: Store) -> list[UserRecord]:
        users: list[UserRecord] = []
        while True:
            page = await store.list_users(limit=_PAGE, offset=len(users))
            users.extend(page)
            if len(page) < _PAGE:
                return users

    for user in with_store(args, action):
        if args.json:
            print(_user_json(user))
        else:
            print(f"{user.id}\t{user.email}\t{format_time(user.created_at)}")
    return EXIT_OK
