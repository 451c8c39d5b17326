"""Access tokens: short-lived JWTs (RFC 9068 ``typ: at+jwt``) signed by the KeyRing."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from types import MappingProxyType

from gatepass._utils import constant_time_equals, hash_token, random_token
from gatepass.config import TokenSettings
from gatepass.errors import InvalidClaim
from gatepass.keys.key import SigningKey
from gatepass.keys.keyring import KeyRing
from gatepass.principal import CredentialSource, Principal
from gatepass.tokens.claims import ClaimsValidator, ValidatedClaims
from gatepass.tokens.jws import parse_json_object, sign_compact, verify_compact
from gatepass.types import Clock

__all__ = [
    "ACCESS_TYP",
    "CSRF_CLAIM",
    "AccessTokens",
    "CachedToken",
    "IssuedAccessToken",
    "VerifiedTokenCache",
    "csrf_token_matches",
    "principal_from_claims",
]

#: The JOSE ``typ`` of access tokens (RFC 9068) that gatepass signs.
ACCESS_TYP = "at+jwt"
#: What verification accepts: RFC 9068 section 4 requires both forms to be accepted.
ACCEPTED_TYPS = frozenset({ACCESS_TYP, "application/at+jwt"})
#: Private claim of cookie-transport access tokens: SHA-256 of the login's CSRF token.
CSRF_CLAIM = "gp_csrf"


@dataclass(frozen=True, slots=True)
class IssuedAccessToken:
    """A freshly signed access token and what it says."""

    token: str = field(repr=False)
    jti: str
    sid: str
    expires_at: int
    claims: dict[str, object] = field(repr=False)


class CachedToken:
    """One verified token: its claims, the key that verified it, and its Principals.

    The Principals (one per credential source) are built on the first hit that needs
    them and then shared: a Principal is immutable, so every later hit of the same
    token gets the same object instead of a new one.
    """

    __slots__ = ("bearer", "claims", "cookie", "deadline", "key", "ring_seen", "unrevoked_at")

    def __init__(self, claims: ValidatedClaims, key: SigningKey | None, leeway: int) -> None:
        self.claims = claims
        self.key = key
        #: ``exp`` plus the leeway: from then on the cache no longer serves the token.
        #: Kept here so that a hit reads this object alone, not the claims as well.
        self.deadline = claims.exp + leeway
        self.bearer: Principal | None = None
        self.cookie: Principal | None = None
        #: The KeyRing.generation at which ``key`` was last found in the ring.
        self.ring_seen = -1
        #: The RevocationSet.generation at which the token was last found unrevoked
        #: (kept by the caller that checks revocation; -1: never).
        self.unrevoked_at = -1

    def principal(self, source: CredentialSource) -> Principal:
        """This token's Principal for a credential that arrived from ``source``."""
        if source == "bearer":
            if self.bearer is None:
                self.bearer = principal_from_claims(self.claims, "bearer")
            return self.bearer
        if self.cookie is None:
            self.cookie = principal_from_claims(self.claims, "cookie")
        return self.cookie


class VerifiedTokenCache:
    """A bounded map from a verified token to its claims, valid until the token's ``exp``.

    Only tokens that passed every check get in, so an attacker cannot fill it without
    valid signatures. A hit still requires the signing key to be in the ring (a retired
    key's tokens stop verifying at once) and ``now`` before ``exp + leeway``. Revocation
    is *not* cached: the caller checks it on every hit. When full, the oldest entry goes.
    """

    __slots__ = ("_clock", "_entries", "_leeway", "hits", "max_entries", "misses")

    def __init__(
        self, *, clock: Clock = time.time, leeway: int = 0, max_entries: int = 10_000
    ) -> None:
        self.max_entries = max_entries
        self._clock = clock
        self._leeway = leeway
        self._entries: dict[str, CachedToken] = {}
        #: Lookups answered from the cache / not (for metrics).
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def entry(self, token: str, keyring: KeyRing) -> CachedToken | None:
        """The cached entry if the token is cached, its key still in ``keyring``, and
        unexpired. The ring is the caller's current one (a JWKS refresh replaces it)."""
        entry = self.lookup(token, keyring)
        if entry is None:
            self.misses += 1
        else:
            self.hits += 1
        return entry

    def lookup(self, token: str, keyring: KeyRing) -> CachedToken | None:
        """:meth:`entry` without counting a hit or a miss.

        For the per-request fast path, which counts only the hits it serves: when it
        cannot serve one, the slow path's :meth:`entry` counts the request.
        """
        entry = self._entries.get(token)
        if entry is None:
            return None
        if self._clock() >= entry.deadline or (
            entry.ring_seen != keyring.generation and not self._key_trusted(entry, keyring)
        ):
            del self._entries[token]
            return None
        return entry

    @staticmethod
    def _key_trusted(entry: CachedToken, keyring: KeyRing) -> bool:
        """Whether the entry's key is still the ring's key for its kid (after a change)."""
        key = entry.key
        if key is None or keyring.get(key.kid) is not key:
            return False
        entry.ring_seen = keyring.generation
        return True

    def put(self, token: str, claims: ValidatedClaims, key: SigningKey) -> CachedToken:
        """Remember a token that passed every check; return its entry."""
        entry = CachedToken(claims, key, self._leeway)
        if self.max_entries <= 0:
            return entry
        if len(self._entries) >= self.max_entries:
            del self._entries[next(iter(self._entries))]
        self._entries[token] = entry
        return entry

    def clear(self) -> None:
        """Forget every entry."""
        self._entries.clear()


class AccessTokens:
    """Issues and verifies access tokens (signature, typ, claims; not revocation).

    Args:
        keyring: the active key signs; every verifying key checks.
        settings: issuer, audience, TTL, leeway, size cap.
        clock: the time source.
        cache_size: how many verified tokens to remember (0 turns the cache off).
    """

    def __init__(
        self,
        keyring: KeyRing,
        settings: TokenSettings | None = None,
        *,
        clock: Clock = time.time,
        cache_size: int = 10_000,
    ) -> None:
        self.keyring = keyring
        self.settings = settings or TokenSettings()
        self._clock = clock
        self.cache = VerifiedTokenCache(
            clock=clock, leeway=self.settings.leeway, max_entries=cache_size
        )
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

    def cached(self, token: str) -> CachedToken | None:
        """The verified-token cache's entry for ``token`` (a hit), or None.

        A hit passed every check of :meth:`verify` when it was cached, and is still
        unexpired and signed by a key in the ring; revocation is the caller's to check.
        """
        return self.cache.entry(token, self.keyring)

    def verify(self, token: str) -> ValidatedClaims:
        """Verify signature (algorithm pinned to the key by ``kid``), ``typ`` and claims.

        Raises:
            TokenError: any subclass, with the precise reason.
        """
        cached = self.cached(token)
        if cached is not None:
            return cached.claims
        return self.verify_uncached(token).claims

    def verify_uncached(self, token: str) -> CachedToken:
        """:meth:`verify` without the cache lookup (after a miss); caches the result.

        Returns the new cache entry (not cached if the cache is off).
        """
        verified = verify_compact(token, self.keyring, max_bytes=self.settings.max_token_bytes)
        typ = verified.header.get("typ")
        if not isinstance(typ, str) or typ not in ACCEPTED_TYPS:
            raise InvalidClaim("typ is not at+jwt", claim="typ")
        validated = self._validator.validate(parse_json_object(verified.payload))
        if validated.sid is None:
            raise InvalidClaim("sid is required", claim="sid")
        key = self.keyring.get(verified.kid)
        if key is None:  # retired between the check and now: verified, but not cached
            return CachedToken(validated, None, self.settings.leeway)
        return self.cache.put(token, validated, key)


def principal_from_claims(claims: ValidatedClaims, source: CredentialSource) -> Principal:
    """The Principal of a verified (and unrevoked) access token.

    Its ``claims`` are a read-only view: the verified-token cache shares one Principal
    between every request that presents the same token.
    """
    return Principal(
        user_id=claims.sub,
        method="jwt",
        sid=claims.sid or "",
        scopes=claims.scopes,
        expires_at=claims.exp,
        source=source,
        claims=MappingProxyType(claims.raw),
        jti=claims.jti,
    )


def csrf_token_matches(principal: Principal, token: str | None) -> bool:
    """True if ``token`` is the CSRF token bound to a token-cookie login.

    Access tokens of the cookie transport carry :data:`CSRF_CLAIM`, the SHA-256 of the
    login's CSRF token, so any service that verifies the token can run the CSRF rule
    without a store (compared in constant time). False for tokens without the claim.
    """
    expected = principal.claims.get(CSRF_CLAIM)
    if token is None or not isinstance(expected, str):
        return False
    return constant_time_equals(hash_token(token), expected)
