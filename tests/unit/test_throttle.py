"""LoginThrottle over the memory store with a FakeClock: the account-wide cap (AA-02).

The cap here is the default 100/hour, with the short-window limit at 10/minute. Every
refusal test has its positive control next to it (the same attempt allowed elsewhere, or
before, or after), so a refusal is the rule's, not a broken fixture's.
"""

from __future__ import annotations

import anyio
import pytest

from gatepass.errors import RateLimited
from gatepass.stores.memory import MemoryStore
from gatepass.throttle import TRUST_TTL, LoginThrottle
from tests.conftest import FakeClock

pytestmark = pytest.mark.anyio

VICTIM = "victim@example.com"
HOUR = 3600


@pytest.fixture
def throttle(memory_store: MemoryStore, clock: FakeClock) -> LoginThrottle:
    return LoginThrottle(memory_store, limit=10, window=60, clock=clock)


def bot(n: int) -> str:
    """The n-th address of a botnet (distinct for n < 65536)."""
    return f"198.51.{n // 256}.{n % 256}"


async def allowed(throttle: LoginThrottle, account: str, address: str | None) -> bool:
    try:
        await throttle.check(account, address)
    except RateLimited:
        return False
    return True


async def botnet_run(
    throttle: LoginThrottle, clock: FakeClock, n: int, *, first: int = 0, step: float = 1.0
) -> None:
    """n failures for VICTIM, one per fresh address, each checked first (as the routes do)."""
    for i in range(first, first + n):
        await throttle.check(VICTIM, bot(i))  # raises if the throttle refuses
        await throttle.failure(VICTIM, bot(i))
        clock.advance(step)


async def test_101st_address_is_refused_after_100_distributed_failures(
    throttle: LoginThrottle, clock: FakeClock
) -> None:
    """100 addresses each fail once (all allowed: the per-address rules never trigger);
    the 101st fresh address is refused before any password check."""
    start = clock.now
    await botnet_run(throttle, clock, 100)  # positive control: 100 checks passed
    with pytest.raises(RateLimited) as refused:
        await throttle.check(VICTIM, bot(100))
    # Retry-After: when the oldest counted failure (at `start`) leaves the hour.
    assert refused.value.retry_after == pytest.approx(start + HOUR - clock.now, abs=1)
    assert 1 <= refused.value.retry_after <= HOUR


async def test_99_failures_leave_fresh_addresses_alone(
    throttle: LoginThrottle, clock: FakeClock
) -> None:
    """Below the cap nothing changes: the cap counts failures, not attempts."""
    await botnet_run(throttle, clock, 99)
    assert await allowed(throttle, VICTIM, bot(500))


async def test_trusted_address_passes_over_the_cap(
    throttle: LoginThrottle, clock: FakeClock
) -> None:
    """A success trusts its address: the botnet's failures never refuse it, days later."""
    await throttle.success(VICTIM, "203.0.113.7")
    clock.advance(86400 * 2)
    await botnet_run(throttle, clock, 100)
    assert not await allowed(throttle, VICTIM, "192.0.2.99")  # a fresh address: refused
    assert await allowed(throttle, VICTIM, "203.0.113.7")  # the user's known address
    await throttle.success(VICTIM, "203.0.113.7")
    assert not await allowed(throttle, VICTIM, "192.0.2.99")  # a success refills nothing


async def test_trust_is_per_account_and_expires(throttle: LoginThrottle, clock: FakeClock) -> None:
    """An address trusted for another account is not trusted for this one; trust ends
    TRUST_TTL after the last success."""
    await throttle.success(VICTIM, "203.0.113.7")
    await throttle.success("other@example.com", "203.0.113.8")
    clock.advance(TRUST_TTL - 2 * HOUR)
    await botnet_run(throttle, clock, 100, step=0)
    assert await allowed(throttle, VICTIM, "203.0.113.7")
    assert not await allowed(throttle, VICTIM, "203.0.113.8")
    assert not await allowed(throttle, VICTIM, None)  # an unknown address is never trusted
    clock.advance(2 * HOUR - 30)
    await botnet_run(throttle, clock, 100, first=1000, step=0)
    assert await allowed(throttle, VICTIM, "203.0.113.7")  # 30 s of trust left
    clock.advance(31)
    assert not await allowed(throttle, VICTIM, "203.0.113.7")  # trust ended


async def test_unknown_address_success_trusts_nothing(
    throttle: LoginThrottle, clock: FakeClock
) -> None:
    await throttle.success(VICTIM, None)
    await botnet_run(throttle, clock, 100)
    assert not await allowed(throttle, VICTIM, None)


async def test_a_fresh_address_is_allowed_again_once_the_hour_slides(
    throttle: LoginThrottle, clock: FakeClock
) -> None:
    """The refusal ends when the oldest counted failure leaves the hour, exactly."""
    await botnet_run(throttle, clock, 100)  # failures at t0 .. t0+99
    fresh = "192.0.2.50"
    with pytest.raises(RateLimited) as refused:
        await throttle.check(VICTIM, fresh)
    clock.advance(refused.value.retry_after - 1)
    assert not await allowed(throttle, VICTIM, fresh)  # one second early: still capped
    clock.advance(1)
    assert await allowed(throttle, VICTIM, fresh)  # the first failure left the hour
    await throttle.failure(VICTIM, fresh)  # the slot it freed is spent again
    assert not await allowed(throttle, VICTIM, "192.0.2.51")


async def test_refused_attempts_are_not_counted(
    throttle: LoginThrottle, clock: FakeClock, memory_store: MemoryStore
) -> None:
    """Attempts refused by the cap never reach failure(): the counter stays at the cap."""
    await botnet_run(throttle, clock, 100)
    for i in range(100, 150):
        assert not await allowed(throttle, VICTIM, bot(i))
    clock.advance(HOUR)
    assert await allowed(throttle, VICTIM, bot(150))


async def test_success_does_not_refill_the_hourly_budget(
    throttle: LoginThrottle, clock: FakeClock
) -> None:
    """60 failures, the real user signs in, 40 more: the cap is reached at 100 in total."""
    await botnet_run(throttle, clock, 60)
    await throttle.success(VICTIM, "203.0.113.7")
    await botnet_run(throttle, clock, 40, first=60)
    assert not await allowed(throttle, VICTIM, bot(100))
    assert await allowed(throttle, VICTIM, "203.0.113.7")  # positive control


async def test_the_cap_is_per_account(throttle: LoginThrottle, clock: FakeClock) -> None:
    await botnet_run(throttle, clock, 100)
    assert not await allowed(throttle, VICTIM, bot(200))
    assert await allowed(throttle, "bystander@example.com", bot(200))


async def test_trusted_address_has_its_own_cap(throttle: LoginThrottle, clock: FakeClock) -> None:
    """An attacker at a trusted address (same NAT) is not exempt from the cap: its own
    failures for the account stop at account_limit per hour too."""
    await throttle.success(VICTIM, "203.0.113.7")
    for _ in range(100):  # 10 per minute (the short-window limit), 100 in 10 minutes
        await throttle.check(VICTIM, "203.0.113.7")
        await throttle.failure(VICTIM, "203.0.113.7")
        clock.advance(6)
    clock.advance(60)  # the short window is clear; only the hourly counters remain
    with pytest.raises(RateLimited, match="from this address") as refused:
        await throttle.check(VICTIM, "203.0.113.7")
    assert 1 <= refused.value.retry_after <= HOUR
    assert not await allowed(throttle, VICTIM, "192.0.2.1")  # the account is at the cap


async def test_short_window_rules_still_apply(throttle: LoginThrottle, clock: FakeClock) -> None:
    """The existing rules are unchanged: 10 failures from one address lock that address."""
    for _ in range(10):
        await throttle.check(VICTIM, "192.0.2.1")
        await throttle.failure(VICTIM, "192.0.2.1")
    with pytest.raises(RateLimited) as refused:
        await throttle.check(VICTIM, "192.0.2.1")
    assert 1 <= refused.value.retry_after <= 60
    assert await allowed(throttle, VICTIM, "192.0.2.2")  # a fresh address still tries


async def test_keys_never_collide_and_hide_the_email(
    throttle: LoginThrottle, memory_store: MemoryStore
) -> None:
    """One failure and one success write six distinct keys, none containing the email."""
    await throttle.failure(VICTIM, "192.0.2.1")
    await throttle.success(VICTIM, "192.0.2.1")
    await throttle.failure(VICTIM, "192.0.2.1")
    keys = set(memory_store._hits)
    assert 6 == len(keys)
    assert {"ip", "acct", "pair", "cap", "cappair", "ok"} == {k.split(":")[0] for k in keys}
    assert not [k for k in keys if "victim" in k or "example" in k]


# -- attempts in flight ------------------------------------------------------------------


async def guess(throttle: LoginThrottle, address: str, gate: anyio.Event, seen: list[str]) -> None:
    """One guarded wrong-password check that lasts until ``gate`` is set."""
    try:
        async with throttle.attempt(VICTIM, address) as attempt:
            seen.append("checked")
            await gate.wait()  # the argon2 time, during which the others arrive
            attempt.failed()
    except RateLimited as exc:
        seen.append(f"refused {exc.retry_after}")


async def test_parallel_guesses_count_while_in_flight(throttle: LoginThrottle) -> None:
    """30 wrong guesses at once from one address: only `limit` (10) reach the password
    check, the others are refused at once (Retry-After 1: only attempts in flight tipped
    it); once the 10 are recorded, the next is refused for the window."""
    gate, seen = anyio.Event(), list[str]()
    async with anyio.create_task_group() as tg:
        for _ in range(30):
            tg.start_soon(guess, throttle, "192.0.2.1", gate, seen)
        await wait_all(seen, 30)
        gate.set()
    assert 10 == seen.count("checked")
    assert 20 == seen.count("refused 1")
    with pytest.raises(RateLimited) as refused:
        await throttle.check(VICTIM, "192.0.2.1")
    assert refused.value.retry_after > 1
    assert await allowed(throttle, "someone-else@example.com", "192.0.2.2")  # control


async def test_parallel_guesses_from_a_botnet_stop_at_the_cap(throttle: LoginThrottle) -> None:
    """150 addresses guess at once: only 100 (the cap) reach the password check."""
    gate, seen = anyio.Event(), list[str]()
    async with anyio.create_task_group() as tg:
        for n in range(150):
            tg.start_soon(guess, throttle, bot(n), gate, seen)
        await wait_all(seen, 150)
        gate.set()
    assert 100 == seen.count("checked")
    assert not await allowed(throttle, VICTIM, bot(1000))


async def test_an_attempt_that_ends_otherwise_counts_nothing_and_frees_its_slot(
    throttle: LoginThrottle,
) -> None:
    """An attempt whose check raised something else (a store error, say) records no
    failure and leaves nothing in flight."""
    for _ in range(10):
        with pytest.raises(LookupError):
            async with throttle.attempt(VICTIM, "192.0.2.1"):
                raise LookupError("the store went away")
    assert await allowed(throttle, VICTIM, "192.0.2.1")
    async with throttle.attempt(VICTIM, "192.0.2.1") as attempt:
        attempt.succeeded()
    assert await allowed(throttle, VICTIM, "192.0.2.1")


async def wait_all(seen: list[str], n: int) -> None:
    """Until every task has either passed the guard or been refused."""
    with anyio.fail_after(5):
        while len(seen) < n:
            await anyio.sleep(0.001)
