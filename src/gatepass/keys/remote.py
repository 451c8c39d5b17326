"""RemoteJWKS: verification keys fetched from an auth server's JWKS URL (async, cached).

For API services that verify gatepass tokens without sharing its store: the JWK Set is
fetched with ``httpx`` (the ``remote`` extra, imported only here), cached for ``ttl``
seconds, and refreshed early when a token names an unknown ``kid`` (after a key
rotation), at most once per ``min_interval`` seconds, with a single fetch in flight
however many requests ask at once (single-flight).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import anyio

from gatepass.errors import ConfigurationError, InvalidKey, StoreUnavailable
from gatepass.keys.keyring import KeyRing
from gatepass.types import Clock

if TYPE_CHECKING:
    import httpx

__all__ = ["RemoteJWKS"]

#: Largest JWK Set accepted, in bytes.
MAX_JWKS_BYTES = 1 << 20


class RemoteJWKS:
    """A JWK Set at ``url``, kept as a verify-only :class:`~gatepass.keys.KeyRing`.

    Args:
        url: the ``https://`` (or loopback ``http://``) URL of the JWK Set.
        client: an ``httpx.AsyncClient`` to use (one is created if omitted).
        ttl: seconds a fetched set is used before it is fetched again.
        min_interval: least seconds between two fetches (unknown-``kid`` refreshes).
        timeout: seconds one fetch may take.
        clock: a monotonic time source.
    """

    def __init__(
        self,
        url: str,
        *,
        client: httpx.AsyncClient | None = None,
        ttl: float = 300.0,
        min_interval: float = 10.0,
        timeout: float = 5.0,
        clock: Clock = time.monotonic,
    ) -> None:
        if not url.startswith(("https://", "http://")):
            raise ConfigurationError("the JWKS URL must be http(s)")
        self.url = url
        self._client = client
        self.ttl = ttl
        self.min_interval = min_interval
        self.timeout = timeout
        self._clock = clock
        self._ring: KeyRing | None = None
        self._fetched_at = -float("inf")
        self._lock = anyio.Lock()
        #: How many fetches were made (for metrics and tests).
        self.fetches = 0

    async def keyring(self) -> KeyRing:
        """The current key ring, fetching it if there is none or it is older than ``ttl``."""
        if self._ring is None or self._clock() - self._fetched_at > self.ttl:
            await self.refresh()
        assert self._ring is not None  # refresh() sets it or raises
        return self._ring

    async def refresh(self, *, unknown_kid: str | None = None) -> KeyRing:
        """Fetch the set now (single-flight; rate-limited by ``min_interval``).

        With ``unknown_kid``, a fetch is skipped if another caller's fetch already
        brought that kid, or if the last fetch is more recent than ``min_interval``.

        Raises:
            StoreUnavailable: the URL could not be fetched (and no set is cached).
            InvalidKey: the document is not a usable JWK Set.
        """
        started = self._clock()
        async with self._lock:
            ring = self._ring
            if ring is not None and self._fetched_at >= started:
                return ring  # another caller fetched while we waited
            recent = started - self._fetched_at < self.min_interval
            if ring is not None and unknown_kid is not None and (unknown_kid in ring or recent):
                return ring
            try:
                self._ring = KeyRing.from_jwks(await self._fetch(), strict=False)
            except StoreUnavailable:
                if self._ring is None:
                    raise
            self._fetched_at = self._clock()
            assert self._ring is not None
            return self._ring

    async def _fetch(self) -> str:
        import httpx

        self.fetches += 1
        client = self._client or httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
        try:
            response = await client.get(self.url, headers={"Accept": "application/json"})
            body = response.content
        except httpx.HTTPError as exc:
            raise StoreUnavailable("JWKS fetch failed") from exc
        finally:
            if self._client is None:
                await client.aclose()
        if response.status_code != 200:
            raise StoreUnavailable(f"JWKS fetch answered {response.status_code}")
        if len(body) > MAX_JWKS_BYTES:
            raise InvalidKey("JWK Set too large")
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidKey("JWK Set is not UTF-8") from exc

    def __repr__(self) -> str:
        kids: Any = self._ring.kids if self._ring is not None else None
        return f"RemoteJWKS(url={self.url!r}, kids={kids!r})"
