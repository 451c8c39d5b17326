"""Login throttling per account and per client address, without permanent lockout.

Failed logins are counted over a sliding window in a
:class:`~gatepass.stores.base.ThrottleStore` (shared by every instance) under three
keys: the client address, the account, and the (account, address) pair. A login
attempt is refused with :class:`~gatepass.errors.RateLimited` (and checks no
password) when

- its address is over the limit (password spraying from one address), or
- its account is over the limit *and* this address has already failed for this
  account within the window.

So an attacker can lock an account only against the addresses they failed from: the
real user at a fresh address still gets to try (each such try that fails costs that
address its turn, so a botnet gets one guess per address per window). Nothing is
permanent: every counter forgets failures older than the window. A success clears
the pair and account counters.
"""

from __future__ import annotations

import math
import time

from gatepass._utils import hash_token
from gatepass.errors import RateLimited
from gatepass.stores.base import ThrottleStore
from gatepass.types import Clock

__all__ = ["LoginThrottle"]


class LoginThrottle:
    """Sliding-window failed-login counters.

    Args:
        store: where counters live.
        limit: failures allowed per window (API.md ``GATEPASS_LOGIN_LIMIT``).
        window: the window in seconds.
        clock: the time source.
    """

    def __init__(
        self, store: ThrottleStore, *, limit: int = 10, window: int = 60, clock: Clock = time.time
    ) -> None:
        self._store = store
        self.limit = limit
        self.window = window
        self._clock = clock

    @staticmethod
    def _keys(account: str, address: str | None) -> tuple[str, str, str]:
        # Hash the account so no email address is stored in the throttle table.
        acct = hash_token(account)[:32]
        addr = address or "unknown"
        return f"ip:{addr}", f"acct:{acct}", f"pair:{acct}:{addr}"

    async def check(self, account: str, address: str | None) -> None:
        """Raise RateLimited (with ``retry_after``) if this attempt must not proceed."""
        now = self._clock()
        ip_key, acct_key, pair_key = self._keys(account, address)
        ip_count, ip_oldest = await self._store.count(ip_key, now, self.window)
        if ip_count >= self.limit:
            raise RateLimited(
                "too many failures from this address", retry_after=self._retry(now, ip_oldest)
            )
        acct_count, acct_oldest = await self._store.count(acct_key, now, self.window)
        if acct_count >= self.limit:
            pair_count, pair_oldest = await self._store.count(pair_key, now, self.window)
            if pair_count > 0:
                oldest = max(x for x in (acct_oldest, pair_oldest) if x is not None)
                raise RateLimited(
                    "too many failures for this account", retry_after=self._retry(now, oldest)
                )

    async def failure(self, account: str, address: str | None) -> None:
        """Count one failed login."""
        now = self._clock()
        for key in self._keys(account, address):
            await self._store.hit(key, now, self.window)

    async def success(self, account: str, address: str | None) -> None:
        """A successful login clears the account's counters (not the address's)."""
        _, acct_key, pair_key = self._keys(account, address)
        await self._store.reset(acct_key)
        await self._store.reset(pair_key)

    def _retry(self, now: float, oldest: float | None) -> int:
        if oldest is None:
            return self.window
        return max(1, math.ceil(oldest + self.window - now))
