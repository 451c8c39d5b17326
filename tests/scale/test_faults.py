"""Faults under load: Redis connections killed, Redis crashed or wiped, PostgreSQL restarted.

Two ``gatepass serve`` instances (A, B) share a **private** PostgreSQL cluster and a
**private** Redis (``tests/scale/services.py``), so breaking them disturbs no one else.
During a bounded load (three client tasks for ~10 s: ``/auth/me`` with valid, revoked
and unknown credentials; registrations and logins; logins revoked on the other instance)
the stores are broken and brought back. Asserted, for every response: the correct
answer or 503 ``store_unavailable`` (fail closed), never a 200 for a revoked or unknown
credential, never a 500; afterwards, nothing acknowledged is lost (every 201
registration logs in, every session and token family still works) and the service
answers again within seconds (the recovery times are reported).

A Redis restart that loses its data (no persistence) ends every session (expected,
fail closed) but must lose no revocation: revocations and their feed live in the
durable store (``SplitStore``), which the ``TestRedisWipe`` tests prove.
"""

from __future__ import annotations

import contextlib
import functools
import secrets
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from tests.scale.conftest import ScaleReport
from tests.scale.services import (
    PASSWORD,
    GatepassServer,
    PrivatePostgres,
    PrivateRedis,
    no_jar,
    private_postgres,
    private_redis,
    running,
)

pytestmark = pytest.mark.slow

STALENESS = 2.0  # the revocation feed's staleness bound
DOWNTIME = 3.0  # how long a store stays down (past the staleness bound)
RECOVERY_BOUND = 15.0  # service must answer again within this many seconds
Headers = dict[str, str]
#: Per fault event: {"me": seconds, "login": seconds} until service came back.
Recoveries = dict[str, dict[str, float]]


@dataclass
class Deployment:
    """A and B on a private PostgreSQL and a private Redis."""

    pg: PrivatePostgres
    redis: PrivateRedis
    servers: list[GatepassServer]

    @contextlib.contextmanager
    def clients(self) -> Iterator[dict[str, httpx.Client]]:
        """A synchronous client per instance (closed afterwards)."""
        with contextlib.ExitStack() as stack:
            yield {
                s.name: stack.enter_context(
                    httpx.Client(base_url=s.url, timeout=10, cookies=no_jar())
                )
                for s in self.servers
            }


@contextlib.contextmanager
def deployment(root: Path, *, durable_redis: bool, names: str = "AB") -> Iterator[Deployment]:
    """Private stores and the instances ``names`` on them; all torn down afterwards."""
    with private_postgres() as pg, private_redis(durable=durable_redis) as redis_server:
        servers = [GatepassServer(n, pg.url, redis_server.url, root / f"{n}.log") for n in names]
        with running(servers):
            yield Deployment(pg, redis_server, servers)


# -- credentials ---------------------------------------------------------------------------


def register(client: httpx.Client, label: str) -> str:
    email = f"{label}-{secrets.token_hex(4)}@example.com"
    response = client.post("/auth/register", json={"email": email, "password": PASSWORD})
    assert 201 == response.status_code, response.text
    return email


def session_login(client: httpx.Client, email: str) -> tuple[Headers, Headers]:
    """(credential headers, the same plus the CSRF header)."""
    response = client.post("/auth/session/login", json={"email": email, "password": PASSWORD})
    assert 200 == response.status_code, response.text
    cookie = f"gp_session={response.cookies['gp_session']}; gp_csrf={response.cookies['gp_csrf']}"
    return {"Cookie": cookie}, {"Cookie": cookie, "X-CSRF-Token": response.json()["csrf_token"]}


def token_login(client: httpx.Client, email: str) -> dict[str, Any]:
    response = client.post("/auth/token/login", json={"email": email, "password": PASSWORD})
    assert 200 == response.status_code, response.text
    body: dict[str, Any] = response.json()
    return body


def bearer(token: str) -> Headers:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Fixed:
    """Credentials made before the faults, each with the answers it may get."""

    email: str
    refresh_token: str
    checks: dict[str, tuple[Headers, frozenset[int]]] = field(default_factory=dict)


def fixed_credentials(clients: dict[str, httpx.Client]) -> Fixed:
    """Valid, revoked and unknown credentials (issued on A, revoked on B)."""
    a, b = clients["A"], clients["B"]
    email = register(a, "fixed")
    valid = token_login(a, email)
    session, _ = session_login(a, email)
    gone = token_login(a, email)
    assert 204 == b.post("/auth/token/logout", headers=bearer(gone["access_token"])).status_code
    ended, ended_unsafe = session_login(a, email)
    assert 204 == b.post("/auth/session/logout", headers=ended_unsafe).status_code
    header, payload, signature = valid["access_token"].split(".")
    forged = f"{header}.{payload}.{signature[::-1]}"
    ok, refused = frozenset({200, 503}), frozenset({401, 503})
    fixed = Fixed(email, valid["refresh_token"])
    fixed.checks = {
        "valid token": (bearer(valid["access_token"]), ok),
        "valid session": (session, ok),
        "revoked token": (bearer(gone["access_token"]), refused),
        "revoked session": (ended, refused),
        "unknown session": ({"Cookie": f"gp_session={secrets.token_urlsafe(32)}"}, refused),
        "forged token": (bearer(forged), frozenset({401})),
    }
    return fixed


# -- the load ------------------------------------------------------------------------------


@dataclass
class Outcome:
    """One request of the load (times: seconds since the load started)."""

    task: str
    what: str
    instance: str
    sent: float
    status: int  # 0: no HTTP response (transport error)


@dataclass
class Load:
    """Three client tasks against A and B until stopped (or the hard time cap)."""

    urls: dict[str, str]
    fixed: Fixed
    cap: float = 30.0
    outcomes: list[Outcome] = field(default_factory=list)
    registered: list[str] = field(default_factory=list)
    families: list[str] = field(default_factory=list)
    revoked: list[tuple[float, Headers]] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    stop: anyio.Event = field(default_factory=anyio.Event)

    def now(self) -> float:
        return time.monotonic() - self.started

    def running(self) -> bool:
        return not self.stop.is_set() and self.now() < self.cap

    async def call(
        self, client: httpx.AsyncClient, task: str, what: str, name: str, send: Awaitable[Any]
    ) -> httpx.Response | None:
        sent = self.now()
        try:
            response: httpx.Response = await send
        except httpx.TransportError:
            self.outcomes.append(Outcome(task, what, name, sent, 0))
            return None
        self.outcomes.append(Outcome(task, what, name, sent, response.status_code))
        return response

    async def checker(self, clients: dict[str, httpx.AsyncClient]) -> None:
        """/auth/me with every fixed credential and every credential revoked so far."""
        while self.running():
            for name, client in clients.items():
                for what, (headers, _) in self.fixed.checks.items():
                    await self.call(
                        client, "check", what, name, client.get("/auth/me", headers=headers)
                    )
                for t0, headers in list(self.revoked):
                    what = "revoked late" if self.now() > t0 + STALENESS else "revoked early"
                    await self.call(
                        client, "check", what, name, client.get("/auth/me", headers=headers)
                    )
            await anyio.sleep(0.01)

    async def registrar(self, clients: dict[str, httpx.AsyncClient]) -> None:
        """Register fresh users and log registered ones in, alternating instances."""
        names = list(clients)
        n = 0
        while self.running():
            name = names[n % len(names)]
            client = clients[name]
            email = f"load{n}-{secrets.token_hex(3)}@example.com"
            body = {"email": email, "password": PASSWORD}
            response = await self.call(
                client, "register", "register", name, client.post("/auth/register", json=body)
            )
            if response is not None and response.status_code == 201:
                self.registered.append(email)
            if self.registered:
                body = {
                    "email": self.registered[n // 2 % len(self.registered)],
                    "password": PASSWORD,
                }
                other = names[(n + 1) % len(names)]
                response = await self.call(
                    clients[other], "login", "token login (registered)", other,
                    clients[other].post("/auth/token/login", json=body),
                )  # fmt: skip
                if response is not None and response.status_code == 200:
                    self.families.append(response.json()["refresh_token"])
            n += 1

    async def revoker(self, clients: dict[str, httpx.AsyncClient]) -> None:
        """Token login on A, logout on B; a 204 makes the token 'revoked' from then on."""
        a, b = clients["A"], clients["B"]
        body = {"email": self.fixed.email, "password": PASSWORD}
        while self.running():
            response = await self.call(
                a, "revoke", "token login", "A", a.post("/auth/token/login", json=body)
            )
            if response is None or response.status_code != 200:
                await anyio.sleep(0.1)
                continue
            headers = bearer(response.json()["access_token"])
            response = await self.call(
                b, "revoke", "token logout", "B", b.post("/auth/token/logout", headers=headers)
            )
            if response is not None and response.status_code == 204:
                self.revoked.append((self.now(), headers))
            await anyio.sleep(0.2)

    async def run(self) -> None:
        """Run the three tasks until :attr:`stop` is set or the cap passes."""
        async with contextlib.AsyncExitStack() as stack:
            clients = {
                name: await stack.enter_async_context(
                    httpx.AsyncClient(base_url=url, timeout=15, cookies=no_jar())
                )
                for name, url in self.urls.items()
            }
            async with anyio.create_task_group() as tg:
                for task in (self.checker, self.registrar, self.revoker):
                    tg.start_soon(task, clients)

    def violations(self) -> list[str]:
        """Every response that is neither the right answer nor a fail-closed 503."""
        allowed: dict[tuple[str, str], frozenset[int]] = {
            ("check", what): codes for what, (_, codes) in self.fixed.checks.items()
        }
        allowed[("check", "revoked early")] = frozenset({200, 401, 503})
        allowed[("check", "revoked late")] = frozenset({401, 503})
        allowed[("register", "register")] = frozenset({201, 503})
        allowed[("login", "token login (registered)")] = frozenset({200, 503})
        allowed[("revoke", "token login")] = frozenset({200, 503})
        allowed[("revoke", "token logout")] = frozenset({204, 503})
        bad = Counter(
            f"{o.task}/{o.what} on {o.instance}: {o.status}"
            for o in self.outcomes
            if o.status not in allowed[(o.task, o.what)]
        )
        return [f"{k} x{v}" for k, v in sorted(bad.items())]

    def summary(self) -> dict[str, int]:
        """How many requests the load made, and how many were refused with 503."""
        statuses = Counter(o.status for o in self.outcomes)
        return {"requests": len(self.outcomes), "503": statuses[503]}


async def recovered(urls: dict[str, str], fixed: Fixed, since: float) -> dict[str, float]:
    """Seconds from ``since`` (monotonic) until every instance answers 200 again.

    Per instance, concurrently: ``/auth/me`` with the valid token and with the valid
    session (``me``), and a token login (``login``, which includes an argon2 verify);
    each value is the last of the first successes.
    """
    me_token = fixed.checks["valid token"][0]
    me_session = fixed.checks["valid session"][0]
    login = {"email": fixed.email, "password": PASSWORD}
    firsts: dict[str, list[float]] = {"me": [], "login": []}

    async def until_ok(kind: str, request: Callable[[], Awaitable[httpx.Response]]) -> None:
        while True:
            with contextlib.suppress(httpx.TransportError):
                if (await request()).status_code == 200:
                    firsts[kind].append(time.monotonic() - since)
                    return
            await anyio.sleep(0.02)

    with anyio.fail_after(RECOVERY_BOUND):
        async with contextlib.AsyncExitStack() as stack, anyio.create_task_group() as tg:
            for url in urls.values():
                c = await stack.enter_async_context(
                    httpx.AsyncClient(base_url=url, timeout=5, cookies=no_jar())
                )
                tg.start_soon(
                    until_ok, "me", functools.partial(c.get, "/auth/me", headers=me_token)
                )
                tg.start_soon(
                    until_ok, "me", functools.partial(c.get, "/auth/me", headers=me_session)
                )
                tg.start_soon(
                    until_ok, "login", functools.partial(c.post, "/auth/token/login", json=login)
                )
    return {kind: max(values) for kind, values in firsts.items()}


def check_nothing_lost(clients: dict[str, httpx.Client], load: Load, fixed: Fixed) -> None:
    """Every acknowledged registration and family, and the fixed credentials, still work."""
    names = list(clients)
    for n, email in enumerate(load.registered):
        client = clients[names[n % 2]]
        response = client.post("/auth/token/login", json={"email": email, "password": PASSWORD})
        assert 200 == response.status_code, (email, response.text)
    for n, token in enumerate(load.families[-10:]):
        response = clients[names[n % 2]].post("/auth/token/refresh", json={"refresh_token": token})
        assert 200 == response.status_code, response.text
    response = clients["B"].post("/auth/token/refresh", json={"refresh_token": fixed.refresh_token})
    assert 200 == response.status_code, response.text
    for client in clients.values():
        for what, (headers, codes) in fixed.checks.items():
            status = client.get("/auth/me", headers=headers).status_code
            assert status in codes - {503}, (what, status)
        for _, headers in load.revoked:
            assert 401 == client.get("/auth/me", headers=headers).status_code


def check_revocation_propagates(clients: dict[str, httpx.Client], fixed: Fixed) -> None:
    """After the faults a logout on B is refused on A within the staleness bound."""
    token = bearer(token_login(clients["A"], fixed.email)["access_token"])
    assert 200 == clients["A"].get("/auth/me", headers=token).status_code
    assert 204 == clients["B"].post("/auth/token/logout", headers=token).status_code
    deadline = time.monotonic() + STALENESS
    while clients["A"].get("/auth/me", headers=token).status_code != 401:
        assert time.monotonic() < deadline, "revocation did not reach A after the faults"


async def under_load(
    dep: Deployment, fixed: Fixed, faults: Callable[[Load], Awaitable[Recoveries]]
) -> tuple[Load, Recoveries]:
    """Run the load, run ``faults`` (which returns recovery times) meanwhile, stop the load."""
    urls = {s.name: s.url for s in dep.servers}
    load = Load(urls, fixed)
    recoveries: Recoveries = {}

    async def drive() -> None:
        await anyio.sleep(1.0)
        recoveries.update(await faults(load))
        await anyio.sleep(2.0)
        load.stop.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(load.run)
        tg.start_soon(drive)
    return load, recoveries


def report(scale_report: ScaleReport, scenario: str, load: Load, recoveries: Recoveries) -> None:
    """Add one row per fault event to the run's report."""
    rows = [
        {"scenario": scenario, "event": event, "me_s": r["me"], "login_s": r["login"]}
        | load.summary()
        for event, r in recoveries.items()
    ]
    scale_report.add(
        "Fault recovery under load, A and B (seconds from the end of the fault: kill sent, "
        "or store answering again)",
        rows,
        note="me_s: /auth/me with a valid token and session is 200 again on both; login_s: a "
        "token login (argon2 verify included) succeeds on both. requests/503: the whole load "
        "of the scenario (every 503 is store_unavailable; no other error was allowed).",
    )


# -- tests ---------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_redis_connections_killed_and_redis_crashed(
    tmp_path: Path, scale_report: ScaleReport
) -> None:
    """CLIENT KILL and a crash of a durable Redis: fail closed, lose nothing, come back."""
    with deployment(tmp_path, durable_redis=True) as dep, dep.clients() as clients:
        fixed = fixed_credentials(clients)
        urls = {s.name: s.url for s in dep.servers}

        async def faults(load: Load) -> Recoveries:
            times = {}
            # The servers' Redis connections are the sessions' and throttle counters'
            # (the revocation feed follows PostgreSQL, see SplitStore).
            assert dep.redis.client_kill("normal") >= 1
            times["CLIENT KILL TYPE normal"] = await recovered(urls, fixed, time.monotonic())
            await anyio.sleep(1.0)
            await anyio.to_thread.run_sync(dep.redis.stop, signal.SIGKILL)
            await anyio.sleep(DOWNTIME)
            await anyio.to_thread.run_sync(dep.redis.start)
            times["SIGKILL, 3 s down, restart (AOF)"] = await recovered(
                urls, fixed, time.monotonic()
            )
            return times

        load, recoveries = await under_load(dep, fixed, faults)
        assert [] == load.violations()
        assert load.summary()["503"] > 0  # the outage was seen (and failed closed)
        check_nothing_lost(clients, load, fixed)
        check_revocation_propagates(clients, fixed)
        report(scale_report, "redis (appendfsync always)", load, recoveries)


@pytest.mark.anyio
async def test_postgres_restarted(tmp_path: Path, scale_report: ScaleReport) -> None:
    """PostgreSQL restarted, then down for 3 s: fail closed, lose nothing, come back."""
    with deployment(tmp_path, durable_redis=True) as dep, dep.clients() as clients:
        fixed = fixed_credentials(clients)
        urls = {s.name: s.url for s in dep.servers}

        async def faults(load: Load) -> Recoveries:
            times = {}
            await anyio.to_thread.run_sync(dep.pg.restart)
            times["pg_ctl restart -m fast"] = await recovered(urls, fixed, time.monotonic())
            await anyio.sleep(1.0)
            await anyio.to_thread.run_sync(dep.pg.stop)
            await anyio.sleep(DOWNTIME)
            await anyio.to_thread.run_sync(dep.pg.start)
            times["stop -m fast, 3 s down, start"] = await recovered(urls, fixed, time.monotonic())
            return times

        load, recoveries = await under_load(dep, fixed, faults)
        assert [] == load.violations()
        assert load.summary()["503"] > 0
        check_nothing_lost(clients, load, fixed)
        check_revocation_propagates(clients, fixed)
        report(scale_report, "postgresql", load, recoveries)


# -- a Redis that loses its data --------------------------------------------------------------


@dataclass
class Wiped:
    """Two instances whose private Redis (no persistence) was stopped and started empty."""

    dep: Deployment
    clients: dict[str, httpx.Client]
    email: str
    valid: dict[str, Any]
    session: Headers
    revoked: list[Headers]
    revoked_refresh: str
    window: dict[str, Counter[int]]


def require(condition: bool, message: str) -> None:
    """A precondition: pytest.fail (not an AssertionError, which an xfail would absorb)."""
    if not condition:
        pytest.fail(message)


def until_status(client: httpx.Client, headers: Headers, status: int, within: float) -> int:
    """GET /auth/me until it answers ``status`` or ``within`` seconds pass; the last status."""
    deadline = time.monotonic() + within
    while True:
        got = client.get("/auth/me", headers=headers).status_code
        if got == status or time.monotonic() > deadline:
            return got
        time.sleep(0.01)


@pytest.fixture(scope="module")
def wiped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Wiped]:
    """Revoke three logins, wipe Redis (stop, start empty), watch the first 2 s after."""
    root = tmp_path_factory.mktemp("wipe")
    with deployment(root, durable_redis=False) as dep, dep.clients() as clients:
        a, b = clients["A"], clients["B"]
        email = register(a, "wipe")
        valid = token_login(a, email)
        session, _ = session_login(a, email)
        revoked, revoked_refresh = [], ""
        for _ in range(3):  # six log entries (a jti and a sid each)
            tokens = token_login(a, email)
            headers = bearer(tokens["access_token"])
            require(200 == b.get("/auth/me", headers=headers).status_code, "login on A")
            require(204 == b.post("/auth/token/logout", headers=headers).status_code, "logout")
            require(401 == until_status(a, headers, 401, STALENESS), "revoked before the wipe")
            revoked.append(headers)
            revoked_refresh = tokens["refresh_token"]
        dep.redis.stop(signal.SIGTERM)  # --save "" --appendonly no: everything is lost
        time.sleep(DOWNTIME)
        dep.redis.start()
        # Right after Redis is back, the instances' feeds may still be reconnecting.
        window: dict[str, Counter[int]] = {"A": Counter(), "B": Counter()}
        deadline = time.monotonic() + STALENESS
        while time.monotonic() < deadline:
            for name in ("A", "B"):
                window[name][clients[name].get("/auth/me", headers=revoked[0]).status_code] += 1
        for client in (a, b):
            deadline = time.monotonic() + RECOVERY_BOUND
            while client.get("/healthz").json().get("feed") != "ok":
                require(time.monotonic() < deadline, "the feed did not recover")
                time.sleep(0.05)
        yield Wiped(dep, clients, email, valid, session, revoked, revoked_refresh, window)


class TestRedisWipe:
    """A Redis restarted without persistence: sessions end; revocations must not be lost."""

    def test_sessions_end_and_durable_records_survive(self, wiped: Wiped) -> None:
        """Sessions are gone (401); users, token families and valid tokens keep working."""
        for client in wiped.clients.values():
            assert 401 == client.get("/auth/me", headers=wiped.session).status_code
            token = bearer(wiped.valid["access_token"])
            assert 200 == client.get("/auth/me", headers=token).status_code
            for headers in wiped.revoked:  # still in the running instances' memory
                assert 401 == client.get("/auth/me", headers=headers).status_code
        b = wiped.clients["B"]
        response = b.post("/auth/token/refresh", json={"refresh_token": wiped.revoked_refresh})
        assert 401 == response.status_code  # the family's revocation is in PostgreSQL
        response = b.post(
            "/auth/token/refresh", json={"refresh_token": wiped.valid["refresh_token"]}
        )
        assert 200 == response.status_code
        token_login(wiped.clients["A"], wiped.email)  # users are in PostgreSQL

    def test_revoked_token_refused_while_the_feeds_reconnect(self, wiped: Wiped) -> None:
        """Right after the empty Redis is back, a token revoked before is never accepted.

        While a feed is stale, checks go to the store: the durable one, which still
        knows the revocation.
        """
        assert {"A": 0, "B": 0} == {name: c[200] for name, c in wiped.window.items()}

    def test_revocation_after_the_wipe_reaches_the_other_instance(self, wiped: Wiped) -> None:
        """A logout on B after the wipe is refused on A within the staleness bound.

        The feed follows the durable store's log, whose numbering a Redis wipe cannot
        reset.
        """
        a, b = wiped.clients["A"], wiped.clients["B"]
        headers = bearer(token_login(a, wiped.email)["access_token"])
        require(200 == a.get("/auth/me", headers=headers).status_code, "fresh login works")
        require(204 == b.post("/auth/token/logout", headers=headers).status_code, "logout on B")
        require(401 == b.get("/auth/me", headers=headers).status_code, "B refuses it")
        assert 401 == until_status(a, headers, 401, STALENESS)

    def test_instance_started_after_the_wipe_refuses_earlier_revocations(
        self, wiped: Wiped, tmp_path: Path
    ) -> None:
        """A new instance (scale-up, rolling restart) refuses tokens revoked before the wipe."""
        dep = wiped.dep
        late = GatepassServer("C", dep.pg.url, dep.redis.url, tmp_path / "C.log")
        with running([late]), httpx.Client(base_url=late.url, cookies=no_jar()) as c:
            token = bearer(wiped.valid["access_token"])
            require(200 == c.get("/auth/me", headers=token).status_code, "C verifies tokens")
            statuses = [c.get("/auth/me", headers=h).status_code for h in wiped.revoked]
        assert [401] * len(wiped.revoked) == statuses
