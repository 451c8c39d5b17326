"""Real processes for the scale-out tests: gatepass servers and private Redis / PostgreSQL.

The machine's shared Redis (127.0.0.1:6379) and PostgreSQL (127.0.0.1:5432) are used by
other test runs, so nothing here ever stops or restarts them: the fault tests start
**private** instances on free loopback ports (:class:`PrivateRedis`,
:class:`PrivatePostgres`) and break those. When a binary they need is missing the
tests skip, except under ``CI=true``, where they fail (the contract tests' policy).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path

import asyncpg
import httpx
import redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from tests.contracts.pg import admin_connection, postgres_url
from tests.contracts.redis_env import delete_prefix, require_redis, unique_prefix
from tests.servers import free_port, unavailable, wait_until

__all__ = [
    "ISSUER",
    "PASSWORD",
    "GatepassServer",
    "PrivatePostgres",
    "PrivateRedis",
    "free_port",
    "no_jar",
    "private_postgres",
    "private_redis",
    "running",
    "shared_stores",
    "unavailable",
    "wait_until",
    "with_query",
]

#: The password of every test user (argon2 cost is the server's default).
PASSWORD = "correct horse battery staple"
#: The issuer every instance of one deployment shares (it must be the public URL).
ISSUER = "https://auth.scale.test"
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


def no_jar() -> CookieJar:
    """A cookie jar that keeps nothing, for httpx clients: credentials are sent explicitly.

    (Give httpx the CookieJar itself: an ``httpx.Cookies`` is copied into a default jar,
    and the policy is lost.)
    """
    return CookieJar(DefaultCookiePolicy(allowed_domains=[]))


# -- gatepass serve ------------------------------------------------------------------------


class GatepassServer:
    """One ``gatepass serve --dev`` subprocess on loopback, on the given stores.

    Args:
        name: A short label (A, B, C) for logs and reports.
        store: The ``--store`` URL.
        redis_url: The ``--redis`` URL, or None.
        log: Where stdout and stderr of the process go (appended across restarts).
        extra: More ``gatepass serve`` flags.
    """

    def __init__(
        self, name: str, store: str, redis_url: str | None, log: Path, *extra: str
    ) -> None:
        self.name = name
        self.store = store
        self.redis_url = redis_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log
        self.extra = extra
        self.proc: subprocess.Popen[bytes] | None = None

    def launch(self) -> GatepassServer:
        """Start the process without waiting for it (see :meth:`wait_ready`)."""
        argv = [
            sys.executable, "-m", "gatepass", "serve", "--dev",
            "--host", "127.0.0.1", "--port", str(self.port), "--store", self.store,
            "--issuer", ISSUER, "--login-limit", "100000/minute", *self.extra,
        ]  # fmt: skip
        if self.redis_url is not None:
            argv += ["--redis", self.redis_url]
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEPASS_")}
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
        return self

    def wait_ready(self) -> GatepassServer:
        """Wait for the announcement, then ``/healthz``: 200 with the feed ``ok``."""
        assert self.proc is not None

        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"server {self.name} exited early:\n{self.log()}")
            if f"gatepass listening on {self.url}" not in self.log():
                return False
            try:
                response = httpx.get(f"{self.url}/healthz", timeout=1.0)
            except httpx.TransportError:
                return False
            # "feed": "ok" once the first feed round is done (checks come from memory).
            return 200 == response.status_code and "ok" == response.json().get("feed")

        try:
            wait_until(ready, STARTUP_TIMEOUT, f"server {self.name} to become healthy")
        except AssertionError:
            self.kill()
            raise AssertionError(f"server {self.name} did not start:\n{self.log()}") from None
        return self

    def start(self) -> GatepassServer:
        """Start the process and wait until it is healthy."""
        return self.launch().wait_ready()

    def log(self) -> str:
        """Everything the process printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> int:
        """SIGTERM and wait; return the exit code (kill after :data:`STOP_TIMEOUT`)."""
        if self.proc is None:
            return 0
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return -9

    def kill(self) -> None:
        """SIGKILL, if still running."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            self.proc = None


@contextlib.contextmanager
def running(servers: list[GatepassServer]) -> Iterator[list[GatepassServer]]:
    """Start the first server alone (it creates the schema and the signing key), then
    the others in parallel; stop them all (SIGTERM) afterwards."""
    try:
        servers[0].start()
        for server in servers[1:]:
            server.launch()
        for server in servers[1:]:
            server.wait_ready()
        yield servers
    finally:
        codes = {s.name: s.stop() for s in servers}
        bad = {name: code for name, code in codes.items() if code != 0}
        assert not bad, f"servers did not stop cleanly: {bad}"


# -- a private Redis -----------------------------------------------------------------------


class PrivateRedis:
    """A ``redis-server`` subprocess of our own on a free loopback port.

    Args:
        root: A directory for its log (and its append-only file when durable).
        durable: ``--appendonly yes --appendfsync always`` (a restart keeps every
            acknowledged write); otherwise ``--save "" --appendonly no`` (a restart
            loses everything).
    """

    def __init__(self, root: Path, *, durable: bool) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            unavailable("redis-server is not installed (apt-get install redis-server)")
        self.binary = binary
        self.root = root
        self.durable = durable
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> PrivateRedis:
        """Start (or start again, on the same port) and wait for PONG."""
        argv = [
            self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
            "--daemonize", "no", "--save", "", "--dir", str(self.root),
        ]  # fmt: skip
        if self.durable:
            argv += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            argv += ["--appendonly", "no"]
        with (self.root / "redis.log").open("ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        wait_until(self.answers, 10, f"private redis on port {self.port}")
        return self

    def client(self) -> redis.Redis:
        """A synchronous admin client (no retries, short timeouts)."""
        return redis.Redis.from_url(
            self.url, socket_timeout=2, socket_connect_timeout=2, retry=Retry(NoBackoff(), 0)
        )

    def answers(self) -> bool:
        """True if the server answers PING."""
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"private redis exited: {self.proc.returncode}")
        try:
            with self.client() as client:
                return bool(client.ping())
        except (RedisError, OSError):
            return False

    def client_kill(self, kind: str) -> int:
        """``CLIENT KILL TYPE kind`` (normal, pubsub); return how many were killed."""
        with self.client() as client:
            return int(client.execute_command("CLIENT", "KILL", "TYPE", kind))

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Send ``sig`` (TERM: clean shutdown, KILL: crash) and wait for the exit."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(sig)
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def private_redis(*, durable: bool) -> Iterator[PrivateRedis]:
    """A started :class:`PrivateRedis` in a temporary directory, stopped afterwards."""
    with tempfile.TemporaryDirectory(prefix="gp-redis-") as root:
        server = PrivateRedis(Path(root), durable=durable)
        try:
            yield server.start()
        finally:
            server.stop(signal.SIGKILL)


# -- a private PostgreSQL ------------------------------------------------------------------


def _postgres_bindir() -> Path:
    """The newest ``/usr/lib/postgresql/<ver>/bin`` holding initdb and pg_ctl."""
    base = Path("/usr/lib/postgresql")
    versions = sorted(
        (p for p in base.iterdir() if p.name.isdigit()), key=lambda p: int(p.name), reverse=True
    ) if base.is_dir() else []  # fmt: skip
    for version in versions:
        bindir = version / "bin"
        if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists():
            return bindir
    found = shutil.which("initdb")
    if found is not None and shutil.which("pg_ctl") is not None:
        return Path(found).parent
    return unavailable("PostgreSQL server binaries (initdb, pg_ctl) are not installed")


class PrivatePostgres:
    """A throwaway PostgreSQL cluster on a free loopback port (trust auth, user postgres).

    ``initdb`` refuses to run as root, so as root every server command runs as the
    ``postgres`` user (``runuser``) in a directory that user owns.
    """

    def __init__(self) -> None:
        self.bindir = _postgres_bindir()
        self._as_root = os.geteuid() == 0
        if self._as_root and shutil.which("runuser") is None:
            unavailable("runuser is needed to run initdb as the postgres user")
        self.dir = Path(tempfile.mkdtemp(prefix="gp-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str, timeout: float = 60) -> None:
        command = [str(self.bindir / argv[0]), *argv[1:]]
        if self._as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise AssertionError(f"{argv[0]} failed ({done.returncode}):\n{done.stderr}")

    def init(self) -> PrivatePostgres:
        """Create the cluster (``initdb``) and start it."""
        if self._as_root:
            shutil.chown(self.dir, user="postgres", group="postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        return self.start()

    def _options(self) -> str:
        return f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=on"

    def start(self) -> PrivatePostgres:
        """``pg_ctl start`` and wait until it accepts connections."""
        log = str(self.dir / "log")
        self._run("pg_ctl", "-D", str(self.data), "-o", self._options(), "-l", log, "-w", "start")
        return self

    def stop(self, mode: str = "fast") -> None:
        """``pg_ctl stop -m mode`` (smart, fast, immediate)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self, mode: str = "fast") -> None:
        """``pg_ctl restart -m mode``."""
        log = str(self.dir / "log")
        self._run(
            "pg_ctl", "-D", str(self.data), "-o", self._options(), "-l", log,
            "-m", mode, "-w", "restart",
        )  # fmt: skip

    def destroy(self) -> None:
        """Stop immediately (if running) and remove the directory."""
        with contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A started :class:`PrivatePostgres`, destroyed afterwards."""
    cluster = PrivatePostgres()
    try:
        yield cluster.init()
    finally:
        cluster.destroy()


# -- the machine's shared PostgreSQL + Redis, isolated per test module -----------------------


def with_query(url: str, name: str, value: str) -> str:
    """``url`` with ``name=value`` appended to its query string."""
    return f"{url}{'&' if '?' in url else '?'}{name}={value}"


async def _schema(action: str, schema: str) -> None:
    conn: asyncpg.Connection = await admin_connection()
    try:
        # An identifier cannot be a parameter; ours is made of hex digits only.
        await conn.execute(f"{action} SCHEMA {schema}{' CASCADE' if action == 'DROP' else ''}")
    finally:
        await conn.close()


@contextlib.contextmanager
def shared_stores() -> Iterator[tuple[str, str]]:
    """(``--store``, ``--redis``) URLs on the shared servers, private to the caller.

    A fresh PostgreSQL schema (dropped afterwards) and a fresh Redis key prefix (its
    keys deleted afterwards with SCAN + DEL; never FLUSHDB, other runs share the server).
    Skips, or fails under ``CI=true``, when either server is unreachable.
    """
    redis_base = require_redis()
    schema = f"gp_scale_{secrets.token_hex(6)}"
    asyncio.run(_schema("CREATE", schema))
    prefix = unique_prefix()
    try:
        yield with_query(postgres_url(), "schema", schema), with_query(redis_base, "prefix", prefix)
    finally:
        try:
            delete_prefix(redis_base, prefix)
        finally:
            asyncio.run(_schema("DROP", schema))
