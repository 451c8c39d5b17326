"""JWTStrategy: the JWT column of the seed as a Strategy (stateless check + revocation)."""

from __future__ import annotations

from gatepass.errors import TokenRevoked
from gatepass.principal import CredentialSource, Principal
from gatepass.revocation import Revoker
from gatepass.tokens.access import AccessTokens, principal_from_claims
from gatepass.tokens.refresh import RefreshTokens
from gatepass.types import AuthMethod

__all__ = ["JWTStrategy"]


class JWTStrategy:
    """Verifies access tokens by signature and claims, then checks revocation.

    Revocation (by ``jti``, by ``sid``, and the user's "revoked before" watermark) is
    checked on every verification, so a logout takes effect at once.
    """

    method: AuthMethod = "jwt"

    def __init__(self, access: AccessTokens, refresh: RefreshTokens, revoker: Revoker) -> None:
        self.access = access
        self.refresh = refresh
        self._revoker = revoker

    async def authenticate(self, credential: str, *, source: CredentialSource) -> Principal:
        """The principal of a valid, unrevoked access token."""
        claims = self.access.verify(credential)
        if await self._revoker.is_revoked(
            jti=claims.jti, sid=claims.sid, user_id=claims.sub, iat=claims.iat
        ):
            raise TokenRevoked("access token revoked")
        return principal_from_claims(claims, source)

    async def revoke(self, principal: Principal) -> None:
        """End the token login: its family (if any) and every token carrying its sid."""
        if principal.jti is not None:
            await self._revoker.revoke_jti(principal.jti, expires_at=principal.expires_at)
        if await self.refresh.revoke(principal.sid) is None:
            await self._revoker.revoke_sid(principal.sid, expires_at=principal.expires_at)

    async def revoke_subject(self, user_id: str) -> None:
        """End every token login of the user."""
        await self.refresh.revoke_user(user_id)
