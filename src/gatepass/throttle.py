"""Login throttling per account and per client address, without permanent lockout.

Failed logins are counted in a :class:`~gatepass.stores.base.ThrottleStore` (shared by
every instance). Three rules decide whether an attempt may check a password; when one
refuses, :class:`~gatepass.errors.RateLimited` (with ``retry_after``) is raised and no
password is checked:

1. **Per address** (``GATEPASS_LOGIN_LIMIT``, a short window): an address with
   ``limit`` failures in the window is refused for every account (password spraying).
2. **Per account, per window**: an account with ``limit`` failures in the window is
   refused from the addresses that already failed for it in that window. An attacker
   locks it only against their own addresses; a success clears these counters.
3. **Account-wide cap** (``GATEPASS_ACCOUNT_LIMIT``, default ``100/hour``; ASVS 4
   2.2.1): every failure also counts against the account over the cap's window, from
   whatever address. Once the account is at the cap, an address is refused unless it is
   *trusted* for this account: a successful login from it within :data:`TRUST_TTL`
   (30 days). A trusted address is still held to rules 1-2 and to the cap for its own
   failures, so it too gets at most ``account_limit`` failures per cap window. A
   success does **not** reset the cap counter (else the real user logging in would
   refill an attacker's budget).

What an attacker gets per account and cap window: ``account_limit`` failures from any
number of addresses (a botnet's budget), plus at most ``account_limit`` from each address
the real user signed in from in the last 30 days (an attacker behind the same NAT). Refused
attempts are not counted, so every counter stays bounded.

The trade-off, stated plainly: rule 3 lets a botnet shut *untrusted* addresses out of an
account. The real user at an address they used before is never affected by failures from
elsewhere. At a new address they wait until the oldest counted failure leaves the window
(``Retry-After``, at most one cap window). An attacker who keeps spending a fresh guess
each time a slot frees can keep new addresses out for as long as they keep attacking: the
throttle holds no permanent state, but no counter can tell that attacker from the user at a
new address. A client whose address is unknown is never trusted.

Concurrency: a password check takes a while (argon2), and a failure is only counted when
it is over. So that a burst of parallel guesses cannot all pass :meth:`LoginThrottle.check`
before the first is counted, callers guard each check with :meth:`LoginThrottle.attempt`:
attempts in flight on this instance count as failures for every rule until their outcome
is known (so concurrent logins from one address may see 429 sooner, with ``Retry-After:
1`` when only the ones in flight tip the count). Across *k* instances sharing a store, a
burst can overshoot a limit by at most what the other instances have in flight.

Trust marks are stored as one throttle entry per (account, address) at the time the
trust *ends* (``now + TRUST_TTL``), and read as "an entry later than now". Stores purge
throttle entries older than :data:`~gatepass.stores.base.PURGE_MARGIN` (a day); a mark
dated in the future survives that until it has expired.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from gatepass._utils import hash_token
from gatepass.errors import RateLimited
from gatepass.stores.base import ThrottleStore
from gatepass.types import Clock

__all__ = ["TRUST_TTL", "Attempt", "LoginThrottle"]

#: Seconds an address stays trusted for an account after a successful login from it.
TRUST_TTL = 30 * 86400


@dataclass(frozen=True, slots=True)
class _Keys:
    ip: str  # failures from the address (short window)
    acct: str  # failures for the account (short window; a success resets it)
    pair: str  # failures for the account from the address (short window; reset too)
    cap: str  # failures for the account (cap window; never reset by a success)
    cap_pair: str  # failures for the account from the address (cap window)
    trusted: str  # one entry dated when the address's trust for the account ends

    @property
    def counted(self) -> tuple[str, str, str, str, str]:
        """The keys a failure is counted under (and an attempt in flight holds)."""
        return self.ip, self.acct, self.pair, self.cap, self.cap_pair


class Attempt:
    """One password check guarded by :meth:`LoginThrottle.attempt`: say how it ended."""

    __slots__ = ("outcome",)

    def __init__(self) -> None:
        #: True (the password was right), False (wrong), None (not known: nothing counted).
        self.outcome: bool | None = None

    def failed(self) -> None:
        """The password was wrong: count a failure."""
        self.outcome = False

    def succeeded(self) -> None:
        """The password was right: clear the account's counters, trust the address."""
        self.outcome = True


class LoginThrottle:
    """Failed-login counters: per address, per account, and an account-wide cap.

    Args:
        store: where counters live.
        limit: failures allowed per window (API.md ``GATEPASS_LOGIN_LIMIT``).
        window: the window in seconds.
        account_limit: failures per account per ``account_window`` before untrusted
            addresses are refused (``GATEPASS_ACCOUNT_LIMIT``).
        account_window: the cap's window in seconds.
        trust_ttl: seconds a successful login makes its address trusted for the account.
        clock: the time source.
    """

    def __init__(
        self,
        store: ThrottleStore,
        *,
        limit: int = 10,
        window: int = 60,
        account_limit: int = 100,
        account_window: int = 3600,
        trust_ttl: int = TRUST_TTL,
        clock: Clock = time.time,
    ) -> None:
        self._store = store
        self.limit = limit
        self.window = window
        self.account_limit = account_limit
        self.account_window = account_window
        self.trust_ttl = trust_ttl
        self._clock = clock
        #: Attempts in flight on this instance, per counted key.
        self._in_flight: Counter[str] = Counter()

    @staticmethod
    def _keys(account: str, address: str | None) -> _Keys:
        # Hash the account so no email address is stored in the throttle table. Every
        # prefix differs, so no two counters ever share a key.
        acct = hash_token(account)[:32]
        addr = address or "unknown"
        return _Keys(
            ip=f"ip:{addr}",
            acct=f"acct:{acct}",
            pair=f"pair:{acct}:{addr}",
            cap=f"cap:{acct}",
            cap_pair=f"cappair:{acct}:{addr}",
            trusted=f"ok:{acct}:{addr}",
        )

    @contextlib.asynccontextmanager
    async def attempt(self, account: str, address: str | None) -> AsyncIterator[Attempt]:
        """Guard one password check: refuse it (RateLimited) counting the attempts in
        flight on this instance as failures, then count how it ended.

        Usage::

            async with throttle.attempt(account, address) as attempt:
                ok = await check_the_password()
                attempt.succeeded() if ok else attempt.failed()
        """
        keys = self._keys(account, address)
        held = keys.counted
        self._in_flight.update(held)  # before any await: the next attempt sees this one
        try:
            await self._check(keys, address, others=lambda key: self._in_flight[key] - 1)
            attempt = Attempt()
            try:
                yield attempt
            finally:
                if attempt.outcome is False:
                    await self._failure(keys)
                elif attempt.outcome is True:
                    await self._success(keys, address)
        finally:
            self._in_flight.subtract(held)
            for key in held:
                if self._in_flight[key] <= 0:
                    del self._in_flight[key]

    async def check(self, account: str, address: str | None) -> None:
        """Raise RateLimited (with ``retry_after``) if an attempt must not proceed now
        (counting only recorded failures: use :meth:`attempt` around a password check)."""
        await self._check(self._keys(account, address), address, others=lambda _: 0)

    async def _check(
        self, keys: _Keys, address: str | None, *, others: Callable[[str], int]
    ) -> None:
        now = self._clock()

        def refuse(why: str, recorded: bool, oldest: float | None, window: int) -> None:
            # ``recorded``: the recorded failures alone are over the limit. Otherwise only
            # the attempts in flight tip it over, and they end within seconds.
            wait = self._retry(now, oldest, window) if recorded else 1
            raise RateLimited(why, retry_after=wait)

        ip_count, ip_oldest = await self._store.count(keys.ip, now, self.window)
        if ip_count + others(keys.ip) >= self.limit:
            recorded = ip_count >= self.limit
            refuse("too many failures from this address", recorded, ip_oldest, self.window)
        cap_count, cap_oldest = await self._store.count(keys.cap, now, self.account_window)
        if cap_count + others(keys.cap) >= self.account_limit:
            if not await self._trusted(keys, address, now):
                recorded = cap_count >= self.account_limit
                why = "too many failures for this account this hour"
                refuse(why, recorded, cap_oldest, self.account_window)
            own, own_oldest = await self._store.count(keys.cap_pair, now, self.account_window)
            if own + others(keys.cap_pair) >= self.account_limit:
                recorded = own >= self.account_limit
                why = "too many failures for this account from this address"
                refuse(why, recorded, own_oldest, self.account_window)
        acct_count, acct_oldest = await self._store.count(keys.acct, now, self.window)
        if acct_count + others(keys.acct) >= self.limit:
            pair_count, pair_oldest = await self._store.count(keys.pair, now, self.window)
            if pair_count + others(keys.pair) > 0:
                recorded = acct_count >= self.limit and pair_count > 0
                dated = [x for x in (acct_oldest, pair_oldest) if x is not None]
                oldest = max(dated) if dated else None
                refuse("too many failures for this account", recorded, oldest, self.window)

    async def failure(self, account: str, address: str | None) -> None:
        """Count one failed login."""
        await self._failure(self._keys(account, address))

    async def _failure(self, keys: _Keys) -> None:
        now = self._clock()
        for key in (keys.ip, keys.acct, keys.pair):
            await self._store.hit(key, now, self.window)
        for key in (keys.cap, keys.cap_pair):
            await self._store.hit(key, now, self.account_window)

    async def success(self, account: str, address: str | None) -> None:
        """A successful login clears the account's short-window counters (not the
        address's, nor the account-wide cap) and trusts the address for the account."""
        await self._success(self._keys(account, address), address)

    async def _success(self, keys: _Keys, address: str | None) -> None:
        await self._store.reset(keys.acct)
        await self._store.reset(keys.pair)
        if address is not None:
            # One entry per pair, dated when the trust ends (see the module docstring).
            await self._store.reset(keys.trusted)
            await self._store.hit(keys.trusted, self._clock() + self.trust_ttl, self.trust_ttl)

    async def _trusted(self, keys: _Keys, address: str | None, now: float) -> bool:
        """Whether a login from this address succeeded for the account within the TTL."""
        if address is None:
            return False
        # Entries dated in (now, now + ttl]: a trust that has not ended yet.
        count, _ = await self._store.count(keys.trusted, now + self.trust_ttl, self.trust_ttl)
        return count > 0

    @staticmethod
    def _retry(now: float, oldest: float | None, window: int) -> int:
        if oldest is None:
            return window
        return max(1, math.ceil(oldest + window - now))
