"""Shared setup: keys and tokens, deterministic sessions, the cached SQLite files, servers.

Session ids are derived from an index and a salt (``session_id(i, salt)``), so the
benchmark process, the HTTP server and the load generator agree on them without
exchanging lists, and a cached SQLite file from an earlier run is reused as is.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sqlite3
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gatepass._utils import hash_token
from gatepass.config import TokenSettings
from gatepass.keys.key import SigningKey
from gatepass.keys.keyring import KeyRing
from gatepass.stores.base import SessionRecord
from gatepass.stores.sqlite import SCHEMA_VERSION, SQLiteStore
from gatepass.tokens.access import AccessTokens

__all__ = [
    "ALGS",
    "AUDIENCE",
    "ISSUER",
    "SCOPE",
    "SQLITE_SALT",
    "NotAvailable",
    "Tokens",
    "cache_dir",
    "lookup_ids",
    "make_tokens",
    "postgres_url",
    "redis_url",
    "rotating_tokens",
    "session_id",
    "session_record",
    "session_rows",
    "sqlite_sessions",
    "tokens_from_json",
    "tokens_to_json",
]

ALGS = ("EdDSA", "ES256", "RS256", "HS256")
ISSUER = "https://auth.bench.example"
AUDIENCE = "https://api.bench.example"
SCOPE = "read:profile write:profile read:orders"
#: Salt of the session ids in the cached SQLite files (change it to force a rebuild).
SQLITE_SALT = "gatepass-bench-sessions-v1"
#: Stored sessions live this long, so that a cached file stays usable for months.
_LIFETIME = 400 * 24 * 3600.0
_SESSION_DATA = '{"locale":"en-GB","name":"Bench User","roles":["reader","writer"],"theme":"dark"}'


class NotAvailable(Exception):
    """A store or tool the benchmark needs is not there (reported as a 'not available' row)."""


@dataclass
class Tokens:
    """One key and one access token per algorithm, as a server would hold and receive."""

    keys: dict[str, SigningKey]
    keyring: KeyRing
    settings: TokenSettings
    tokens: dict[str, str]


def make_tokens() -> Tokens:
    """Fresh keys (EdDSA, ES256, RS256, HS256) and a typical access token for each."""
    keys = {alg: SigningKey.generate(alg) for alg in ALGS}
    settings = TokenSettings(issuer=ISSUER, audience=AUDIENCE, access_ttl=6 * 3600)
    keyring = KeyRing(keys.values(), active=keys["EdDSA"].kid)
    tokens: dict[str, str] = {}
    for alg, key in keys.items():
        issuer = AccessTokens(KeyRing([key], active=key.kid), settings)
        issued = issuer.issue("user-0001-bench", "sid-bench-0001", scope=SCOPE)
        tokens[alg] = issued.token
    return Tokens(keys, keyring, settings, tokens)


def rotating_tokens(fx: Tokens, alg: str, count: int) -> list[str]:
    """``count`` access tokens signed with ``alg``'s key, ``fx.tokens[alg]`` first, each of
    another user and login: what a server hears from that many clients (the HTTP
    benchmark rotates over them as it rotates over session ids)."""
    key = fx.keys[alg]
    issuer = AccessTokens(KeyRing([key], active=key.kid), fx.settings)
    more = [
        issuer.issue(f"user-{i:04d}-bench", f"sid-bench-{i:04d}", scope=SCOPE).token
        for i in range(1, count)
    ]
    return [fx.tokens[alg], *more]


def tokens_to_json(fx: Tokens) -> dict[str, Any]:
    """The keys (private JWKs) and tokens, for another process (:func:`tokens_from_json`)."""
    return {"keys": {alg: key.private_jwk() for alg, key in fx.keys.items()}, "tokens": fx.tokens}


def tokens_from_json(data: dict[str, Any]) -> Tokens:
    """The same :class:`Tokens` as the process that wrote ``data`` holds."""
    keys = {alg: SigningKey.from_jwk(jwk) for alg, jwk in data["keys"].items()}
    settings = TokenSettings(issuer=ISSUER, audience=AUDIENCE, access_ttl=6 * 3600)
    keyring = KeyRing(keys.values(), active=keys["EdDSA"].kid)
    return Tokens(keys, keyring, settings, dict(data["tokens"]))


# -- sessions --------------------------------------------------------------------------


def session_id(index: int, salt: str) -> str:
    """The deterministic 43-character session id number ``index`` of a population."""
    digest = hashlib.sha256(f"{salt}:{index}".encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _fields(index: int, salt: str) -> tuple[str, str, str, str]:
    """id_hash, sid, user_id, csrf_secret of session ``index``.

    sid and user_id are derived from the id hash, so rows sorted by primary key are sorted
    in every index too, and building a million-row file stays a sequential write.
    """
    id_hash = hash_token(session_id(index, salt))
    return id_hash, "s" + id_hash[1:22], "u" + id_hash[1:16], id_hash[::-1]


def session_record(index: int, salt: str, now: float | None = None) -> SessionRecord:
    """The stored record of session ``index`` (long-lived: a cached store stays valid)."""
    now = time.time() if now is None else now
    id_hash, sid, user_id, csrf_secret = _fields(index, salt)
    return SessionRecord(
        id_hash=id_hash,
        sid=sid,
        user_id=user_id,
        created_at=now,
        last_seen_at=now,
        expires_at=now + _LIFETIME,
        idle_ttl=_LIFETIME,
        csrf_secret=csrf_secret,
        ip="127.0.0.1",
        user_agent="gatepass-bench/1.0",
        data=json.loads(_SESSION_DATA),
    )


def session_rows(count: int, salt: str, now: float) -> Iterator[tuple[Any, ...]]:
    """Rows for the ``sessions`` table of the SQL stores (same columns, same order)."""
    expires = now + _LIFETIME
    for index in range(count):
        id_hash, sid, user_id, csrf_secret = _fields(index, salt)
        yield (
            id_hash, sid, user_id, now, now, expires, _LIFETIME, csrf_secret, "127.0.0.1",
            "gatepass-bench/1.0", _SESSION_DATA,
        )  # fmt: skip


def cache_dir() -> Path:
    """Where built databases are kept between runs (``GATEPASS_BENCH_CACHE`` overrides)."""
    configured = os.environ.get("GATEPASS_BENCH_CACHE")
    path = Path(configured) if configured else Path(tempfile.gettempdir()) / "gatepass-bench"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _usable(path: Path, count: int) -> bool:
    if not path.exists():
        return False
    try:
        conn = sqlite3.connect(path)
        try:
            if conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
                return False
            if conn.execute("SELECT count(*) FROM sessions").fetchone()[0] != count:
                return False
            row = conn.execute(
                "SELECT expires_at FROM sessions WHERE id_hash = ?",
                (hash_token(session_id(count - 1, SQLITE_SALT)),),
            ).fetchone()
            return row is not None and row[0] > time.time() + 30 * 24 * 3600
        finally:
            conn.close()
    except sqlite3.Error:
        return False


def sqlite_sessions(count: int, runner_run: Any) -> tuple[Path, float]:
    """A SQLite store file holding ``count`` sessions: reused if cached, else built.

    Built with the store's own schema (``SQLiteStore.open``), then one ``executemany``
    in one transaction, rows sorted by primary key. Returns the path and the seconds spent
    building (0 when the cached file was reused).
    """
    path = cache_dir() / f"sessions-s{SCHEMA_VERSION}-b2-{count}.db"
    if _usable(path, count):
        return path, 0.0
    start = time.perf_counter()
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    store = SQLiteStore(path)

    async def create_schema() -> None:
        await store.open()
        await store.aclose()

    runner_run(create_schema())
    rows = sorted(session_rows(count, SQLITE_SALT, time.time()))
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA cache_size = -262144")
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO sessions (id_hash, sid, user_id, created_at, last_seen_at, expires_at,"
            " idle_ttl, csrf_secret, ip, user_agent, data) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return path, time.perf_counter() - start


def lookup_sample(wanted: int, sizes: Sequence[int]) -> int:
    """How many distinct ids to look up at each of ``sizes`` sessions: the same number at
    every size (``wanted``, at most the smallest size), so that a growth ratio
    compares populations, not also how many ids the clients use. With more ids at the
    larger sizes, the 4,096-id memo of ``SessionManager.load`` (its id hashes) would serve
    the smallest size from memory and miss at every other one."""
    return min(wanted, *sizes)


def lookup_ids(count: int, sample: int, salt: str, seed: int = 7) -> list[str]:
    """``sample`` random existing session ids out of a population of ``count``."""
    import random

    rng = random.Random(seed)  # noqa: S311 - sampling, not secrets
    picks: Sequence[int] = (
        rng.sample(range(count), sample) if sample < count else list(range(count))
    )
    return [session_id(i, salt) for i in picks]


# -- servers ---------------------------------------------------------------------------


def redis_url() -> str:
    """The Redis database the benchmarks may write to (keys under their own prefix)."""
    return os.environ.get("GATEPASS_BENCH_REDIS_URL", "redis://127.0.0.1:6379/6")


def postgres_url() -> str:
    """The PostgreSQL database the benchmarks use (schema ``gatepass_bench``)."""
    return (
        os.environ.get("GATEPASS_BENCH_POSTGRES_URL")
        or os.environ.get("GATEPASS_TEST_POSTGRES_URL")
        or "postgresql://postgres@127.0.0.1:5432/test"
    )
