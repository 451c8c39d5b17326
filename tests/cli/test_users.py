"""``gatepass users`` and ``gatepass audit``: accounts and the audit trail of a store."""

from __future__ import annotations

import io
import json

import anyio
import pytest

from gatepass.accounts import DISABLED_WATERMARK_TTL
from gatepass.authenticator import Authenticator
from gatepass.cli.users import read_password
from gatepass.config import TokenSettings
from gatepass.errors import ValidationError
from gatepass.keys.key import SigningKey
from gatepass.keys.keyring import KeyRing
from gatepass.passwords import Argon2Hasher
from gatepass.stores import UserRecord, open_store, open_stores
from gatepass.stores.base import RevocationEvent
from tests.cli.helpers import run_cli
from tests.contracts.redis_env import delete_prefix, require_redis, unique_prefix

PASSWORD = "correct horse battery staple"


def _user(url: str, email: str) -> UserRecord | None:
    async def read() -> UserRecord | None:
        store = open_store(url)
        try:
            return await store.get_user_by_email(email)
        finally:
            await store.aclose()

    return anyio.run(read)


@pytest.mark.slow
def test_create_reads_the_password_from_stdin_and_list_shows_the_user(store_url: str) -> None:
    """``users create`` stores the user with the stdin password hashed; ``users list`` shows it."""
    created = run_cli(
        "users",
        "create",
        "--email",
        "Ada@Example.com",
        "--store",
        store_url,
        stdin=PASSWORD + "\n",
    )
    assert 0 == created.returncode, created.stderr
    user = json.loads(created.stdout)
    assert "ada@example.com" == user["email"]
    assert isinstance(user["created_at"], int)

    record = _user(store_url, "ada@example.com")
    assert record is not None
    assert user["id"] == record.id
    assert PASSWORD not in record.password_hash
    assert anyio.run(Argon2Hasher().verify, record.password_hash, PASSWORD)

    listing = run_cli("users", "list", "--store", store_url)
    assert 0 == listing.returncode
    assert [[user["id"], "ada@example.com"]] == [
        line.split("\t")[:2] for line in listing.stdout.splitlines()
    ]
    assert record.password_hash not in listing.stdout
    as_json = run_cli("users", "list", "--json", "--store", store_url)
    assert [user] == [json.loads(line) for line in as_json.stdout.splitlines()]


@pytest.mark.slow
def test_duplicate_email_exits_1_with_email_taken(store_url: str) -> None:
    """Creating a second user with the same email (any case) exits 1 with ``email_taken``."""
    args = ("users", "create", "--store", store_url, "--email")
    assert 0 == run_cli(*args, "bob@example.com", stdin=PASSWORD).returncode
    again = run_cli(*args, "BOB@example.com", stdin=PASSWORD)
    assert 1 == again.returncode
    assert "email_taken" in again.stderr
    assert "" == again.stdout


@pytest.mark.slow
@pytest.mark.parametrize("password", ["short", "password", ""], ids=["short", "common", "empty"])
def test_weak_password_exits_1_and_creates_nothing(store_url: str, password: str) -> None:
    """A password breaking the policy exits 1 with ``validation_error``; no user is created."""
    result = run_cli(
        "users",
        "create",
        "--email",
        "weak@example.com",
        "--store",
        store_url,
        stdin=password + "\n",
    )
    assert 1 == result.returncode
    assert "validation_error" in result.stderr
    assert PASSWORD not in result.stderr
    assert _user(store_url, "weak@example.com") is None


@pytest.mark.slow
def test_audit_list_shows_the_registration(store_url: str) -> None:
    """``audit list`` prints the register event of a created user as a JSON line."""
    created = run_cli(
        "users", "create", "--email", "eve@example.com", "--store", store_url, stdin=PASSWORD
    )
    user_id = json.loads(created.stdout)["id"]
    result = run_cli("audit", "list", "--store", store_url)
    assert 0 == result.returncode
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [("register", "ok", user_id)] == [
        (e["action"], e["outcome"], e["user_id"]) for e in events
    ]
    assert isinstance(events[0]["created_at"], int)
    mine = run_cli("audit", "list", "--user", user_id, "--limit", "5", "--store", store_url)
    assert result.stdout == mine.stdout
    other = run_cli("audit", "list", "--user", "someone-else", "--store", store_url)
    assert "" == other.stdout


@pytest.mark.slow
def test_audit_limit_must_be_positive(store_url: str) -> None:
    """``audit list --limit 0`` is a usage error (exit 2)."""
    assert 2 == run_cli("audit", "list", "--limit", "0", "--store", store_url).returncode


def test_read_password_takes_the_first_line_without_its_terminator() -> None:
    """The password is the first stdin line; only ``\\n`` or ``\\r\\n`` is removed."""
    assert " pass word " == read_password(io.BytesIO(b" pass word \r\nnext\n"), interactive=False)
    assert "p\u00e4ss" == read_password(io.BytesIO("p\u00e4ss".encode()), interactive=False)


def test_read_password_refuses_empty_stdin_and_bad_utf8() -> None:
    """No line at all, or bytes that are not UTF-8, raise ValidationError."""
    with pytest.raises(ValidationError):
        read_password(io.BytesIO(b""), interactive=False)
    with pytest.raises(ValidationError):
        read_password(io.BytesIO(b"\xff\xfe\n"), interactive=False)


def test_interactive_password_must_be_typed_twice_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """At a terminal the password is asked twice; two different answers are refused."""
    answers = iter(["first-password", "other-password"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    with pytest.raises(ValidationError, match="differ"):
        read_password(io.BytesIO(b""), interactive=True)
    answers = iter(["same-password", "same-password"])
    assert "same-password" == read_password(io.BytesIO(b""), interactive=True)


def _sessions_of(store_url: str, email: str, redis: str | None = None) -> int:
    """Sign the user in once (a session) and return how many live logins they hold."""

    async def go() -> int:
        store = open_stores(store_url, redis)
        try:
            auth = Authenticator(store=store, keyring=KeyRing([SigningKey.generate("HS256")]))
            user = await store.get_user_by_email(email)
            assert user is not None
            await auth.feed.sync_once()  # the revocations, as a running server has them
            if not user.disabled:
                await auth.login_session(user)
            return len(await auth.list_logins(user.id))
        finally:
            await store.aclose()

    return anyio.run(go)


@pytest.mark.slow
def test_disable_ends_every_login_and_enable_undoes_it(store_url: str) -> None:
    """``users disable`` sets the flag and ends the user's logins (audited); ``enable``
    clears it; another user is untouched; an unknown email exits 1 with not_found."""
    for email in ("kim@example.com", "lee@example.com"):
        run_cli("users", "create", "--email", email, "--store", store_url, stdin=PASSWORD)
    assert 1 == _sessions_of(store_url, "kim@example.com")
    assert 1 == _sessions_of(store_url, "lee@example.com")
    result = run_cli("users", "disable", "--email", "Kim@Example.com", "--store", store_url)
    assert 0 == result.returncode, result.stderr
    assert {"email": "kim@example.com", "disabled": True, "ended": 1} == {
        k: v for k, v in json.loads(result.stdout).items() if k != "id"
    }
    kim = _user(store_url, "kim@example.com")
    assert kim is not None
    assert kim.disabled
    assert 0 == _sessions_of(store_url, "kim@example.com")
    assert 2 == _sessions_of(store_url, "lee@example.com")  # positive control
    events = run_cli("audit", "list", "--user", kim.id, "--store", store_url).stdout
    assert (
        ["user.disable", "logout.all"]
        == [  # newest first
            json.loads(line)["action"] for line in events.splitlines()
        ][:2]
    )
    assert (
        0
        == run_cli("users", "enable", "--email", "kim@example.com", "--store", store_url).returncode
    )
    enabled = _user(store_url, "kim@example.com")
    assert enabled is not None
    assert not enabled.disabled
    assert 1 == _sessions_of(store_url, "kim@example.com")
    unknown = run_cli("users", "disable", "--email", "nobody@example.com", "--store", store_url)
    assert 1 == unknown.returncode
    assert "not_found" in unknown.stderr


@pytest.mark.slow
def test_disable_keeps_its_watermark_a_year(store_url: str) -> None:
    """``users disable`` does not know the server's lifetimes: the "revoked before"
    watermark, which ends the sessions it cannot delete, is kept a year (plus the
    leeway), longer than any session or access token lives."""
    run_cli("users", "create", "--email", "sam@example.com", "--store", store_url, stdin=PASSWORD)
    result = run_cli("users", "disable", "--email", "sam@example.com", "--store", store_url)
    assert 0 == result.returncode, result.stderr
    marks = [e for e in _revocations(store_url) if e.kind == "user"]
    kept = DISABLED_WATERMARK_TTL + TokenSettings().leeway
    assert [kept] == [pytest.approx(e.expires_at - e.created_at, abs=0.5) for e in marks]


def _revocations(store_url: str) -> list[RevocationEvent]:
    async def go() -> list[RevocationEvent]:
        store = open_stores(store_url, None)
        try:
            return await store.revocations_since(0)
        finally:
            await store.aclose()

    return anyio.run(go)


@pytest.mark.slow
def test_disable_reaches_sessions_in_redis(store_url: str) -> None:
    """With ``--redis`` (a server run with --redis keeps sessions there), disable deletes
    and counts them. Without it, it can neither list nor delete them, but they are ended
    all the same: its "revoked before" watermark refuses them (tests/scale shows running
    servers refusing them)."""
    redis = f"{require_redis()}?prefix={unique_prefix()}"
    try:
        run_cli(
            "users", "create", "--email", "ray@example.com", "--store", store_url, stdin=PASSWORD
        )
        assert 1 == _sessions_of(store_url, "ray@example.com", redis)
        missed = run_cli("users", "disable", "--email", "ray@example.com", "--store", store_url)
        assert 0 == json.loads(missed.stdout)["ended"]  # none it could list
        run_cli("users", "enable", "--email", "ray@example.com", "--store", store_url)
        assert 1 == _sessions_of(store_url, "ray@example.com", redis)  # the new login only
        result = run_cli(
            "users", "disable", "--email", "ray@example.com", "--store", store_url, "--redis", redis
        )
        assert 0 == result.returncode, result.stderr
        assert 1 == json.loads(result.stdout)["ended"]
        assert 0 == _sessions_of(store_url, "ray@example.com", redis)
    finally:
        delete_prefix(require_redis(), redis.rsplit("prefix=", 1)[1])
