"""Three ``gatepass serve`` processes (A, B, C) sharing PostgreSQL + Redis, no stickiness.

A login on A works on B and C; a revocation on C (session logout, token logout,
``DELETE /auth/sessions/{id}``, logout-all, refresh-token reuse, and the old id of a
session that a password change gave a new one) is refused on A and B.
How fast is measured and reported, not asserted (the machine is shared): for each
trial, ``t0`` is the moment C's response to the revoking request arrives; A and B are
then polled with each revoked credential in a tight loop (all pairs concurrently, on
keep-alive connections) and an instance's ``t1`` is the arrival of the refusal (401) of
its last credential, so ``t1 - t0`` is an upper bound of the propagation delay that
includes one ``/auth/me`` round trip. What is asserted: every trial is refused within 2 s (the
feed's staleness bound, a liveness bound), no request sent later than that ever
succeeds, and once refused a credential stays refused.

The servers use a fresh PostgreSQL schema and a fresh Redis key prefix on the shared
test servers (``tests/contracts/pg.py``, ``redis_env.py``), removed afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
import pytest

from tests.cli.helpers import run_cli
from tests.scale.conftest import ScaleReport
from tests.scale.services import PASSWORD, GatepassServer, no_jar, running, shared_stores

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

#: The revocation feed's staleness bound (RevocationFeed default): the liveness bound.
STALENESS = 2.0
#: Trials per kind of revocation.
TRIALS = 20
#: Extra requests per instance and credential after the refusal (it must stay refused).
CONFIRMATIONS = 2

Headers = dict[str, str]


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[GatepassServer]]:
    """A, B and C on one PostgreSQL schema + one Redis prefix of the shared servers."""
    logs = tmp_path_factory.mktemp("multi")
    with shared_stores() as (store, redis_url):
        servers = [GatepassServer(n, store, redis_url, logs / f"{n}.log") for n in "ABC"]
        with running(servers):
            yield servers


@dataclass
class Instances:
    """One HTTP client per instance; no cookie jar (credentials travel as headers)."""

    a: httpx.AsyncClient
    b: httpx.AsyncClient
    c: httpx.AsyncClient
    rtts: list[float] = field(default_factory=list)

    async def me(self, client: httpx.AsyncClient, headers: Headers) -> httpx.Response:
        started = time.perf_counter()
        response = await client.get("/auth/me", headers=headers)
        self.rtts.append(time.perf_counter() - started)
        return response


@contextlib.asynccontextmanager
async def instances(servers: list[GatepassServer]) -> AsyncIterator[Instances]:
    """Async clients for A, B and C whose jars keep nothing: credentials are explicit."""
    async with contextlib.AsyncExitStack() as stack:
        clients = []
        for server in servers:
            client = httpx.AsyncClient(base_url=server.url, timeout=10, cookies=no_jar())
            clients.append(await stack.enter_async_context(client))
        yield Instances(clients[0], clients[1], clients[2])


async def register(client: httpx.AsyncClient, label: str) -> str:
    """Register a fresh user; return the email."""
    email = f"{label}-{secrets.token_hex(4)}@example.com"
    response = await client.post("/auth/register", json={"email": email, "password": PASSWORD})
    assert 201 == response.status_code, response.text
    return email


async def session_login(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD
) -> tuple[Headers, Headers]:
    """(credential headers, the same plus the CSRF header for unsafe requests)."""
    response = await client.post("/auth/session/login", json={"email": email, "password": password})
    assert 200 == response.status_code, response.text
    cookie = f"gp_session={response.cookies['gp_session']}; gp_csrf={response.cookies['gp_csrf']}"
    return {"Cookie": cookie}, {"Cookie": cookie, "X-CSRF-Token": response.json()["csrf_token"]}


async def token_login(client: httpx.AsyncClient, email: str) -> dict[str, Any]:
    """The bearer token login body (access_token, refresh_token, ...)."""
    response = await client.post("/auth/token/login", json={"email": email, "password": PASSWORD})
    assert 200 == response.status_code, response.text
    body: dict[str, Any] = response.json()
    return body


async def refresh(client: httpx.AsyncClient, refresh_token: str) -> dict[str, Any]:
    response = await client.post("/auth/token/refresh", json={"refresh_token": refresh_token})
    assert 200 == response.status_code, response.text
    body: dict[str, Any] = response.json()
    return body


def bearer(token: str) -> Headers:
    return {"Authorization": f"Bearer {token}"}


# -- one trial -----------------------------------------------------------------------------


@dataclass
class Trial:
    """Credentials issued on A (and B), and the request on C that revokes them all."""

    credentials: list[Headers]
    revoke: Callable[[], Awaitable[httpx.Response]]
    expected: tuple[int, str | None]  # status and error code of the revoking response


@dataclass
class Probe:
    """One request made after ``t0`` with a revoked credential (times relative to t0)."""

    instance: str
    sent: float
    received: float
    status: int


async def refused_after(
    nodes: Instances, client: httpx.AsyncClient, name: str, headers: Headers, t0: float
) -> tuple[float | None, list[Probe], list[Probe]]:
    """Poll with one credential until refused, then confirm it stays refused.

    Returns:
        t1 - t0 (None if the bound passed first), the polling probes, and the
        confirmation probes made after the refusal.
    """
    probes: list[Probe] = []
    while True:
        sent = time.perf_counter() - t0
        if sent > STALENESS:
            return None, probes, []
        response = await nodes.me(client, headers)
        received = time.perf_counter() - t0
        probes.append(Probe(name, sent, received, response.status_code))
        assert response.status_code in (200, 401), response.text
        if response.status_code == 401:
            break
    confirmations = []
    for _ in range(CONFIRMATIONS):
        sent = time.perf_counter() - t0
        response = await nodes.me(client, headers)
        confirmations.append(Probe(name, sent, time.perf_counter() - t0, response.status_code))
    return received, probes, confirmations


async def run_trial(nodes: Instances, trial: Trial) -> tuple[list[float | None], list[Probe], int]:
    """Warm every credential on A, B and C; revoke on C; time the refusals on A and B.

    Every (instance, credential) pair is polled concurrently; an instance's t1 is the
    refusal of its last credential.

    Returns:
        t1 - t0 on A and on B (None: not refused within the bound), every probe, and
        how many (instance, credential) pairs were refused at the very first probe.
    """
    for client in (nodes.a, nodes.b, nodes.c):
        for headers in trial.credentials:
            response = await nodes.me(client, headers)
            assert 200 == response.status_code, response.text
    response = await trial.revoke()
    t0 = time.perf_counter()
    error = response.json().get("error") if response.content else None
    assert trial.expected == (response.status_code, error), response.text
    pollers = [(name, client) for name, client in (("A", nodes.a), ("B", nodes.b))]
    results = await asyncio.gather(
        *(
            refused_after(nodes, client, name, headers, t0)
            for name, client in pollers
            for headers in trial.credentials
        )
    )
    first_try = sum(1 for _, polled, _ in results if polled and polled[0].status == 401)
    latencies: list[float | None] = []
    per_instance = len(trial.credentials)
    for i in range(len(pollers)):
        mine = [latency for latency, _, _ in results[i * per_instance : (i + 1) * per_instance]]
        latencies.append(None if None in mine else max(x for x in mine if x is not None))
    probes = [p for _, polled, confirmed in results for p in polled + confirmed]
    confirmations = [p for _, _, confirmed in results for p in confirmed]
    assert {401} == {p.status for p in confirmations}, "a refused credential was accepted again"
    return latencies, probes, first_try


# -- the five kinds of revocation -----------------------------------------------------------


async def session_logout(nodes: Instances, email: str, admin: Headers) -> Trial:
    """A browser session logged in on A, logged out on C."""
    credential, unsafe = await session_login(nodes.a, email)

    async def revoke() -> httpx.Response:
        return await nodes.c.post("/auth/session/logout", headers=unsafe)

    return Trial([credential], revoke, (204, None))


async def token_logout(nodes: Instances, email: str, admin: Headers) -> Trial:
    """A bearer token login on A, logged out on C with its access token."""
    tokens = await token_login(nodes.a, email)
    credential = bearer(tokens["access_token"])

    async def revoke() -> httpx.Response:
        return await nodes.c.post("/auth/token/logout", headers=credential)

    return Trial([credential], revoke, (204, None))


async def delete_login(nodes: Instances, email: str, admin: Headers) -> Trial:
    """A token login on A, revoked on C by another login of the user (DELETE by sid)."""
    tokens = await token_login(nodes.a, email)
    credential = bearer(tokens["access_token"])
    sid = (await nodes.me(nodes.b, credential)).json()["auth"]["sid"]

    async def revoke() -> httpx.Response:
        return await nodes.c.delete(f"/auth/sessions/{sid}", headers=admin)

    return Trial([credential], revoke, (204, None))


async def logout_all(nodes: Instances, email: str, admin: Headers) -> Trial:
    """A session and a token login on A; logout-all on C ends both."""
    tokens = await token_login(nodes.a, email)
    session, _ = await session_login(nodes.a, email)
    credential = bearer(tokens["access_token"])

    async def revoke() -> httpx.Response:
        return await nodes.c.post("/auth/logout-all", headers=credential)

    return Trial([credential, session], revoke, (204, None))


async def refresh_reuse(nodes: Instances, email: str, admin: Headers) -> Trial:
    """Login on A, refresh on B then A; the first refresh token replayed on C."""
    first = await token_login(nodes.a, email)
    second = await refresh(nodes.b, first["refresh_token"])
    third = await refresh(nodes.a, second["refresh_token"])

    async def revoke() -> httpx.Response:
        return await nodes.c.post(
            "/auth/token/refresh", json={"refresh_token": first["refresh_token"]}
        )

    credentials = [bearer(t["access_token"]) for t in (first, second, third)]
    return Trial(credentials, revoke, (401, "refresh_reused"))


#: The password of each user whose password a trial changed (others have PASSWORD).
_passwords: dict[str, str] = {}


async def password_change(nodes: Instances, email: str, admin: Headers) -> Trial:
    """A session logged in on A changes its password on C, which gives it a new id: the
    old id must die on A and B (their session caches hold it) like an ended session."""
    current = _passwords.get(email, PASSWORD)
    credential, unsafe = await session_login(nodes.a, email, current)
    new = f"{PASSWORD} {secrets.token_hex(4)}"

    async def revoke() -> httpx.Response:
        body = {"current_password": current, "new_password": new}
        response = await nodes.c.post("/auth/password", headers=unsafe, json=body)
        if response.status_code == 204:
            assert "gp_session" in response.cookies  # the session's new id
            _passwords[email] = new
        return response

    return Trial([credential], revoke, (204, None))


KINDS: dict[str, Callable[[Instances, str, Headers], Awaitable[Trial]]] = {
    "session logout": session_logout,
    "token logout": token_logout,
    "DELETE /auth/sessions/{id}": delete_login,
    "logout-all": logout_all,
    "refresh reuse": refresh_reuse,
    "password change (new session id)": password_change,
}


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


# -- tests ---------------------------------------------------------------------------------


async def test_a_login_on_a_works_on_b_and_c(deployment: list[GatepassServer]) -> None:
    """Session, token and refresh issued on one instance work on the others; keys are shared."""
    async with instances(deployment) as nodes:
        email = await register(nodes.a, "everywhere")
        session, _ = await session_login(nodes.a, email)
        tokens = await token_login(nodes.a, email)
        for client in (nodes.b, nodes.c):
            assert "session" == (await nodes.me(client, session)).json()["auth"]["method"]
            me = (await nodes.me(client, bearer(tokens["access_token"]))).json()
            assert (email, "jwt") == (me["email"], me["auth"]["method"])
        renewed = await refresh(nodes.b, tokens["refresh_token"])
        assert 200 == (await nodes.me(nodes.c, bearer(renewed["access_token"]))).status_code
        listed = await nodes.c.get("/auth/sessions", headers=bearer(renewed["access_token"]))
        assert ["jwt", "session"] == sorted(s["method"] for s in listed.json()["sessions"])
        jwks = [(await n.get("/.well-known/jwks.json")).json() for n in (nodes.a, nodes.b, nodes.c)]
        assert jwks[0] == jwks[1] == jwks[2]
        health = [(await n.get("/healthz")).json() for n in (nodes.a, nodes.b, nodes.c)]
        assert [("ok", "ok")] * 3 == [(h["store"], h["feed"]) for h in health]


@pytest.mark.parametrize("kind", list(KINDS))
async def test_revocation_on_c_is_refused_on_a_and_b(
    deployment: list[GatepassServer], scale_report: ScaleReport, kind: str
) -> None:
    """Each trial's revoked credential is refused on A and B within the staleness bound."""
    async with instances(deployment) as nodes:
        email = await register(nodes.a, kind.split()[0].strip("/").lower())
        admin = bearer((await token_login(nodes.b, email))["access_token"])
        latencies: list[float] = []
        late: list[str] = []
        probes: list[Probe] = []
        revoked: list[Headers] = []
        first_try = pairs = 0
        started = time.perf_counter()
        for n in range(TRIALS):
            trial = await KINDS[kind](nodes, email, admin)
            per_instance, trial_probes, first = await run_trial(nodes, trial)
            probes += trial_probes
            first_try += first
            pairs += 2 * len(trial.credentials)
            revoked += trial.credentials
            for name, latency in zip("AB", per_instance, strict=True):
                if latency is None:
                    late.append(f"trial {n} on {name}")
                else:
                    latencies.append(latency)
        # Every revoked credential stays refused everywhere once the bound has passed.
        await asyncio.sleep(max(0.0, started + STALENESS - time.perf_counter()))
        for client in (nodes.a, nodes.b, nodes.c):
            for headers in revoked:
                assert 401 == (await client.get("/auth/me", headers=headers)).status_code
        rtt = percentile(nodes.rtts, 50)
    assert [] == late, f"not refused within {STALENESS} s"
    assert [] == [p for p in probes if p.sent > STALENESS and p.status == 200]
    scale_report.add(
        "Revocation propagation, C -> A and B (ms; t0 = C's response, t1 = refusal received)",
        [
            {
                "kind": kind,
                "trials": TRIALS,
                "samples": len(latencies),
                "p50": 1000 * percentile(latencies, 50),
                "p99": 1000 * percentile(latencies, 99),
                "max": 1000 * max(latencies),
                "rtt_p50": 1000 * rtt,
                "first_probe_refused": f"{first_try}/{pairs}",
            }
        ],
        note="rtt_p50: median /auth/me round trip of the run (every t1 - t0 includes one); "
        "first_probe_refused: (instance, credential) pairs already refused at the first "
        "request after t0.",
    )


async def test_users_disable_without_redis_ends_the_sessions_kept_in_redis(
    deployment: list[GatepassServer],
) -> None:
    """``gatepass users disable`` given the SQL store only (no ``--redis``) cannot list or
    delete the sessions the servers keep in Redis, but the "revoked before" watermark it
    writes reaches every instance through the feed: the user's sessions are refused within
    the staleness bound, whether an instance holds them in its cache or reads them from
    Redis, and so is their token; another user's session is served throughout."""
    async with instances(deployment) as nodes:
        email = await register(nodes.a, "disabled")
        cached, _ = await session_login(nodes.a, email)
        unread, _ = await session_login(nodes.a, email)  # C reads it from Redis afterwards
        token = bearer((await token_login(nodes.a, email))["access_token"])
        bystander, _ = await session_login(nodes.a, await register(nodes.a, "bystander"))
        for client in (nodes.a, nodes.b, nodes.c):
            for headers in (cached, token, bystander):
                assert 200 == (await nodes.me(client, headers)).status_code
        assert 200 == (await nodes.me(nodes.a, unread)).status_code
        store = deployment[0].store
        result = await anyio.to_thread.run_sync(
            lambda: run_cli("users", "disable", "--email", email, "--store", store)
        )
        assert 0 == result.returncode, result.stderr
        # It ended the token family it could list; the two sessions were out of its reach.
        output = json.loads(result.stdout)
        assert (True, 1) == (output["disabled"], output["ended"])
        t0 = time.perf_counter()
        pairs = [(c, h) for c in (nodes.a, nodes.b, nodes.c) for h in (cached, token)]
        pairs.append((nodes.c, unread))
        refusals = await asyncio.gather(*(refused_after(nodes, c, "", h, t0) for c, h in pairs))
        assert [] == [i for i, (latency, _, _) in enumerate(refusals) if latency is None]
        for client in (nodes.a, nodes.b, nodes.c):
            assert 200 == (await nodes.me(client, bystander)).status_code
            assert 401 == (await nodes.me(client, unread)).status_code


def test_server_logs_show_no_errors(deployment: list[GatepassServer]) -> None:
    """No instance logged a traceback or answered 500 during the multi-instance tests."""
    for server in deployment:
        log = server.log()
        assert "Traceback" not in log, log[-4000:]
        assert '" 500 ' not in log
