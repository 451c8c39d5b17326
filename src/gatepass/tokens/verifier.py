"""TokenVerifier: verify gatepass access tokens in another service.

An API service needs only the auth server's JWKS URL to check signatures and claims,
and (for instant revocation) the revocation feed of the shared store::

    jwks = RemoteJWKS("https://auth.example/.well-known/jwks.json")
    store = open_store("redis://cache:6379/0")         # the deployment's shared store
    verifier = TokenVerifier(jwks, issuer="https://auth.example", audience="orders",
                             revoker=Revoker(store, feed=RevocationFeed(store, RevocationSet())))
    principal = await verifier.verify(token)           # run verifier.revoker.feed.run() too
"""

from __future__ import annotations

import time

from gatepass.config import TokenSettings
from gatepass.errors import TokenRevoked, UnknownKey
from gatepass.keys.remote import RemoteJWKS
from gatepass.principal import CredentialSource, Principal
from gatepass.revocation import Revoker
from gatepass.tokens.access import AccessTokens, principal_from_claims
from gatepass.types import Clock

__all__ = ["TokenVerifier"]


class TokenVerifier:
    """Signature, claims and revocation checks for gatepass access tokens, remotely keyed.

    Args:
        jwks: where the verification keys come from.
        issuer: the exact ``iss`` of the auth server.
        audience: this service's audience (must be in the token's ``aud``).
        revoker: revocation checks (a Revoker over the shared store, with a running
            feed for in-memory checks); None verifies signature and claims only, so a
            revoked token is accepted until it expires.
        leeway: allowed clock skew, seconds.
        clock: the time source.
    """

    def __init__(
        self,
        jwks: RemoteJWKS,
        *,
        issuer: str,
        audience: str,
        revoker: Revoker | None,
        leeway: int = 5,
        clock: Clock = time.time,
    ) -> None:
        self.jwks = jwks
        self.revoker = revoker
        settings = TokenSettings(issuer=issuer, audience=audience, leeway=leeway)
        self._access: AccessTokens | None = None
        self._settings = settings
        self._clock = clock

    async def verify(self, token: str, *, source: CredentialSource = "bearer") -> Principal:
        """The principal of a valid, unrevoked access token.

        An unknown ``kid`` refreshes the JWK Set once (single-flight, rate-limited) and
        retries, so a key rotation on the auth server is picked up without a restart.
        """
        ring = await self.jwks.keyring()
        if self._access is None:
            self._access = AccessTokens(ring, self._settings, clock=self._clock)
        access = self._access
        access.keyring = ring
        try:
            claims = access.verify(token)
        except UnknownKey as exc:
            access.keyring = await self.jwks.refresh(unknown_kid=exc.kid)
            claims = access.verify(token)
        if self.revoker is not None and await self.revoker.is_revoked(
            jti=claims.jti, sid=claims.sid, user_id=claims.sub, iat=claims.iat
        ):
            raise TokenRevoked("access token revoked")
        return principal_from_claims(claims, source)
