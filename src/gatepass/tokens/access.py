"""Access tokens: short-lived JWTs (RFC 9068 ``typ: at+jwt``) signed by the KeyRing."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from gatepass._utils import random_token
from gatepass.config import TokenSettings
from gatepass.errors import InvalidClaim
from gatepass.keys.keyring import KeyRing
from gatepass.tokens.claims import ClaimsValidator, ValidatedClaims
from gatepass.tokens.jws import parse_json_object, sign_compact, verify_compact
from gatepass.types import Clock

__all__ = ["ACCESS_TYP", "AccessTokens", "IssuedAccessToken"]

#: The JOSE ``typ`` of access tokens (RFC 9068); any other typ is refused.
ACCESS_TYP = "at+jwt"


@dataclass(frozen=True, slots=True)
class IssuedAccessToken:
    """A freshly signed access token and what it says."""

    token: str = field(repr=False)
    jti: str
    sid: str
    expires_at: int
    claims: dict[str, object] = field(repr=False)


class AccessTokens:
    """Issues and verifies access tokens (signature, typ, claims; not revocation).

    Args:
        keyring: the active key signs; every verifying key checks.
        settings: issuer, audience, TTL, leeway, size cap.
        clock: the time source.
    """

    def __init__(
        self, keyring: KeyRing, settings: TokenSettings | None = None, *, clock: Clock = time.time
    ) -> None:
        self.keyring = keyring
        self.settings = settings or TokenSettings()
        self._clock = clock
        self._validator = ClaimsValidator(
            issuer=self.settings.issuer,
            audience=self.settings.audience,
            leeway=self.settings.leeway,
            clock=clock,
        )

    def issue(
        self,
        user_id: str,
        sid: str,
        *,
        scope: str = "",
        audience: str | None = None,
        ttl: int | None = None,
        not_after: float | None = None,
        extra: dict[str, object] | None = None,
    ) -> IssuedAccessToken:
        """Sign a new access token for ``user_id`` in the login ``sid``.

        ``not_after`` caps ``exp`` (a token never outlives the login it belongs to).
        ``audience`` defaults to the configured one; a token for another audience will
        not verify here.
        """
        now = int(self._clock())
        exp = now + (ttl or self.settings.access_ttl)
        if not_after is not None:
            exp = min(exp, int(not_after))
        claims: dict[str, object] = {
            "iss": self.settings.issuer,
            "sub": user_id,
            "aud": audience or self.settings.audience,
            "exp": exp,
            "iat": now,
            "nbf": now,
            "jti": random_token(16),
            "sid": sid,
            "scope": scope,
        }
        if extra:
            for name in extra:
                if name in claims:
                    raise InvalidClaim(f"cannot override registered claim {name}", claim=name)
            claims.update(extra)
        token = sign_compact(claims, self.keyring.active, typ=ACCESS_TYP)
        return IssuedAccessToken(token, str(claims["jti"]), sid, exp, claims)

    def verify(self, token: str) -> ValidatedClaims:
        """Verify signature (algorithm pinned to the key by ``kid``), ``typ`` and claims.

        Raises:
            TokenError: any subclass, with the precise reason.
        """
        verified = verify_compact(token, self.keyring, max_bytes=self.settings.max_token_bytes)
        if verified.header.get("typ") != ACCESS_TYP:
            raise InvalidClaim("typ is not at+jwt", claim="typ")
        validated = self._validator.validate(parse_json_object(verified.payload))
        if validated.sid is None:
            raise InvalidClaim("sid is required", claim="sid")
        return validated
