"""``gatepass audit list``: the audit trail of a store, newest first, as JSON lines."""

from __future__ import annotations

import argparse

from gatepass.cli._common import (
    EXIT_OK,
    Subparsers,
    add_store_argument,
    dump_json,
    positive_int,
    with_store,
)
from gatepass.stores import AuditEvent, Store

__all__ = ["register"]


def register(subparsers: Subparsers) -> None:
    """Add ``gatepass audit list``."""
    parser = subparsers.add_parser(
        "audit",
        help="show the audit trail of a store",
        description="Read the audit trail (registrations, logins, logouts, revocations).",
    )
    commands = parser.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    listing = commands.add_parser(
        "list",
        help="list audit events, newest first",
        description=(
            "Print audit events, newest first, one JSON object per line: id, action, "
            "outcome, created_at (Unix seconds), user_id, sid, ip, user_agent, detail."
        ),
    )
    listing.add_argument("--user", metavar="ID", help="only the events of this user id")
    listing.add_argument(
        "--limit",
        metavar="N",
        type=positive_int,
        default=100,
        help="at most N events (default 100)",
    )
    add_store_argument(listing)
    listing.set_defaults(func=_list)


def _event(event: AuditEvent) -> dict[str, object]:
    return {
        "id": event.id,
        "action": event.action,
        "outcome": event.outcome,
        "created_at": int(event.created_at),
        "user_id": event.user_id,
        "sid": event.sid,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "detail": event.detail,
    }


def _list(args: argparse.Namespace) -> int:
    async def action(store: Store) -> list[AuditEvent]:
        return await store.list_audit(user_id=args.user, limit=args.limit)

    for event in with_store(args, action):
        print(dump_json(_event(event)))
    return EXIT_OK
