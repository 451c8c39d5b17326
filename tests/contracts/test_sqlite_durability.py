"""The SQLite backend on real files: crash safety, schema on first use, hashes at rest."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest

from gatepass._utils import hash_token, random_token
from gatepass.errors import ConfigurationError, StoreUnavailable
from gatepass.stores import FamilyRecord, SessionRecord, UserRecord
from gatepass.stores.sqlite import SCHEMA_VERSION, SQLiteStore

pytestmark = pytest.mark.anyio

TABLES = {
    "audit",
    "families",
    "keys",
    "revocation_log",
    "revoked",
    "sessions",
    "spent_hashes",
    "throttle",
    "users",
}

_WRITER_CHILD = """
import sys, anyio
from gatepass.stores.sqlite import SQLiteStore
from gatepass.stores.base import SessionRecord, UserRecord

async def main() -> None:
    store = SQLiteStore(sys.argv[1])
    n = 0
    while True:
        uid = f"user-{n}"
        await store.create_user(UserRecord(uid, f"{uid}@example.com", "argon", float(n)))
        await store.create_session(
            SessionRecord(f"hash-{n}", f"sid-{n}", uid, n, n, 1e12, 1e9, "csrf", data={"n": n})
        )
        print(uid, flush=True)
        n += 1

anyio.run(main)
"""


def _kill_mid_write(path: Path, seconds: float) -> list[str]:
    """Run a writer child, read its committed ids for ``seconds``, SIGKILL it, return the ids."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER_CHILD, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    committed: list[str] = []
    try:
        deadline = time.monotonic() + 15  # generous bound for the child to start
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            committed.append(line)
            if len(committed) == 1:
                deadline = time.monotonic() + seconds
        proc.send_signal(signal.SIGKILL)
        rest, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert -signal.SIGKILL == proc.returncode, err
    # Lines the child printed before dying were committed too; a torn last line is not.
    committed.extend(rest.splitlines(keepends=True))
    return [line.strip() for line in committed if line.endswith("\n")]


def _integrity(path: Path) -> list[tuple[str, ...]]:
    with sqlite3.connect(path) as conn:
        rows: list[tuple[str, ...]] = conn.execute("PRAGMA integrity_check").fetchall()
    conn.close()
    return rows


@pytest.mark.slow
async def test_sigkill_loses_no_committed_write(tmp_path: Path) -> None:
    """After a SIGKILL mid-write, every write the child saw commit is there; the file is sound."""
    path = tmp_path / "crash.db"
    committed = await anyio.to_thread.run_sync(_kill_mid_write, path, 1.0)
    assert len(committed) >= 10, "the child committed too little to prove anything"
    assert [("ok",)] == await anyio.to_thread.run_sync(_integrity, path)
    store = SQLiteStore(path)
    try:
        for uid in committed:
            n = int(uid.removeprefix("user-"))
            user = await store.get_user(uid)
            assert user is not None, uid
            session = await store.get_session_by_sid(f"sid-{n}")
            assert session is not None, uid
            assert {"n": n} == session.data
        # The store keeps working on the recovered file.
        await store.create_user(UserRecord("after", "after@example.com", "argon", 0.0))
        assert await store.get_user("after") is not None
    finally:
        await store.aclose()


async def test_schema_created_on_first_use(tmp_path: Path) -> None:
    """The first operation creates the file, the WAL-mode schema and its version."""
    path = tmp_path / "new.db"
    store = SQLiteStore(path)
    assert not path.exists()
    try:
        assert None is await store.get_user("nobody")
        await store.open()  # idempotent
    finally:
        await store.aclose()
    with sqlite3.connect(path) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    conn.close()
    assert TABLES <= names
    assert (SCHEMA_VERSION, "wal") == (version, mode)


async def test_both_connections_map_a_large_file_for_reads(tmp_path: Path) -> None:
    """Reads of a store up to SQLite's map limit are memory reads, not pread() calls.

    A file of 10^6 sessions is about 560 MiB; the map must cover it on the reader (the
    per-request lookups) and the writer (reads inside write transactions). SQLite caps
    the map at its compile-time limit (2 GiB - 64 KiB by default), so the expected size
    is what this SQLite grants a plain connection that asks for 2 GiB.
    """
    probe = sqlite3.connect(tmp_path / "probe.db")
    try:
        probe.execute(f"PRAGMA mmap_size = {2 * 1024**3}")
        granted = probe.execute("PRAGMA mmap_size").fetchone()[0]
    finally:
        probe.close()
    store = SQLiteStore(tmp_path / "mapped.db")
    try:
        await store.open()
        connections = [store._reader, store._writer]
        sizes = [c.execute("PRAGMA mmap_size").fetchone()[0] for c in connections if c]
    finally:
        await store.aclose()
    assert [granted, granted] == sizes


async def test_reopening_keeps_data(tmp_path: Path) -> None:
    """A closed store's data is all there when the file is opened again."""
    path = tmp_path / "keep.db"
    user = UserRecord("u1", "u1@example.com", "argon", 1.0)
    first = SQLiteStore(path)
    await first.create_user(user)
    event = await first.add_revocation("sid", "s1", 100.0, 1.0)
    await first.aclose()
    second = SQLiteStore(path)
    try:
        assert user == await second.get_user("u1")
        assert [event] == await second.revocations_since(0)
        later = await second.add_revocation("sid", "s2", 100.0, 1.0)
        assert later.seq > event.seq
    finally:
        await second.aclose()


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    """A file written by a newer schema version is a ConfigurationError, not a silent misuse."""
    path = tmp_path / "future.db"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    store = SQLiteStore(path)
    with pytest.raises(ConfigurationError):
        await store.open()
    await store.aclose()


async def test_missing_directory_is_a_configuration_error(tmp_path: Path) -> None:
    """A database path in a directory that does not exist is a ConfigurationError."""
    store = SQLiteStore(tmp_path / "no" / "such" / "dir.db")
    with pytest.raises(ConfigurationError):
        await store.get_user("u1")
    await store.aclose()


async def test_not_a_database_is_unavailable(tmp_path: Path) -> None:
    """A file that is not SQLite makes the store unavailable (mapped, never a raw sqlite3 error)."""
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not a database at all" * 200)
    store = SQLiteStore(path)
    with pytest.raises(StoreUnavailable):
        await store.ping()
    await store.aclose()


def _file_bytes(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(directory.glob("secrets.db*")))


async def test_file_holds_only_hashes(tmp_path: Path) -> None:
    """Session and refresh secrets never reach the file: only their SHA-256 hashes do."""
    session_secret, refresh_secret = random_token(), random_token()
    store = SQLiteStore(tmp_path / "secrets.db")
    try:
        await store.create_session(
            SessionRecord(hash_token(session_secret), "sid-1", "u1", 1.0, 1.0, 9e9, 60.0, "c5")
        )
        await store.create_family(
            FamilyRecord("fam-1", "u1", 1.0, 9e9, current_hash=hash_token(refresh_secret))
        )
        await store.rotate_refresh(
            "fam-1", hash_token(refresh_secret), hash_token("next"), "sealed", 2.0, 10.0
        )
        on_disk = await anyio.to_thread.run_sync(_file_bytes, tmp_path)  # WAL still live
    finally:
        await store.aclose()
    after_close = await anyio.to_thread.run_sync(_file_bytes, tmp_path)  # checkpointed
    for blob in (on_disk, after_close):
        assert hash_token(session_secret).encode() in blob  # the search does find things
        assert hash_token(refresh_secret).encode() in blob
        assert session_secret.encode() not in blob
        assert refresh_secret.encode() not in blob
