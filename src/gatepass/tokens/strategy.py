"""JWTStrategy: the JWT column of the seed as a Strategy (stateless check + revocation)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from gatepass.errors import TokenRevoked, UnknownKey
from gatepass.principal import CredentialSource, Principal
from gatepass.revocation import Revoker
from gatepass.tokens.access import AccessTokens
from gatepass.tokens.refresh import RefreshTokens
from gatepass.types import AuthMethod

__all__ = ["JWTStrategy"]


class JWTStrategy:
    """Verifies access tokens by signature and claims, then checks revocation.

    Revocation (by ``jti``, by ``sid``, and the user's "revoked before" watermark) is
    checked on every verification, so a logout takes effect at once.
    """

    method: AuthMethod = "jwt"

    def __init__(
        self,
        access: AccessTokens,
        refresh: RefreshTokens,
        revoker: Revoker,
        *,
        on_unknown_key: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        self.access = access
        self.refresh = refresh
        self._revoker = revoker
        #: Called when a token names a kid the ring lacks; True if the ring changed (the
        #: token is then verified once more). The Authenticator reloads keys here.
        self._on_unknown_key = on_unknown_key

    def cached(self, credential: str, source: CredentialSource) -> Principal | None:
        """The principal if process memory alone vouches for the token, else None.

        The per-request fast path: a verified-token cache hit (unexpired, its key still
        in the ring) while the revocation feed is healthy and its set has the token
        unrevoked. The set is only looked up when it changed since this token was last
        found unrevoked in it (its ``generation`` moved), so a hit between revocations
        costs a few comparisons. Never raises and never awaits: None means "ask
        :meth:`authenticate`", which gives the precise answer or error.
        """
        access = self.access
        cache = access.cache
        entry = cache.lookup(credential, access.keyring)
        if entry is None:
            return None
        feed = self._revoker.feed
        if feed is None or time.monotonic() > feed.trusted_until:  # not feed.healthy
            return None
        revocations = feed.revocations
        if entry.unrevoked_at != revocations.generation:
            claims = entry.claims
            if revocations.is_revoked(claims.jti, claims.sid, claims.sub, claims.iat):
                return None
            entry.unrevoked_at = revocations.generation
        principal = entry.bearer if source == "bearer" else entry.cookie
        if principal is None:
            principal = entry.principal(source)
        cache.hits += 1  # counted here only when served (see VerifiedTokenCache.lookup)
        return principal

    async def authenticate(self, credential: str, *, source: CredentialSource) -> Principal:
        """The principal of a valid, unrevoked access token.

        A verified-token cache hit costs a dict lookup and, while the revocation feed is
        healthy, an in-memory revocation check without I/O (:meth:`cached`); its
        Principal is built once per token and source, then shared (it is immutable).
        """
        principal = self.cached(credential, source)
        if principal is not None:
            return principal
        entry = self.access.cached(credential)  # counts the hit or the miss
        if entry is not None:  # but revoked, or the feed is stale
            claims = entry.claims
            revoked = self._revoker.revoked_now(claims.jti, claims.sid, claims.sub, claims.iat)
            if revoked is None:  # the feed is stale: ask the store (fails closed)
                revoked = await self._revoker.is_revoked(
                    jti=claims.jti, sid=claims.sid, user_id=claims.sub, iat=claims.iat
                )
            if revoked:
                raise TokenRevoked("access token revoked")
            return entry.principal(source)
        try:
            entry = self.access.verify_uncached(credential)
        except UnknownKey:
            if self._on_unknown_key is None or not await self._on_unknown_key():
                raise
            entry = self.access.verify_uncached(credential)
        claims = entry.claims
        if await self._revoker.is_revoked(
            jti=claims.jti, sid=claims.sid, user_id=claims.sub, iat=claims.iat
        ):
            raise TokenRevoked("access token revoked")
        return entry.principal(source)

    async def revoke(self, principal: Principal) -> None:
        """End the token login: its family (if any) and every token carrying its sid."""
        if principal.jti is not None:
            await self._revoker.revoke_jti(principal.jti, expires_at=principal.expires_at)
        if await self.refresh.revoke(principal.sid) is None:
            await self._revoker.revoke_sid(principal.sid, expires_at=principal.expires_at)

    async def revoke_subject(self, user_id: str) -> None:
        """End every token login of the user."""
        await self.refresh.revoke_user(user_id)
