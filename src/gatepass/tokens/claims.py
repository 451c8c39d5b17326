"""JWT claim validation (RFC 7519), separate from signature verification.

Rules, each failure an :class:`~gatepass.errors.InvalidClaim` naming the claim (or the
subclass :class:`~gatepass.errors.TokenNotYetValid`, or
:class:`~gatepass.errors.TokenExpired`):

- ``exp``, ``iat``, ``nbf`` are JSON integers (not booleans, not floats); ``exp`` and
  ``iat`` are required. Expired when ``now >= exp + leeway``; not yet valid when
  ``now + leeway < nbf`` or ``iat > now + leeway``.
- ``iss`` is a string equal to the configured issuer (no substring or list match:
  CVE-2024-53861).
- ``aud`` is a string or a non-empty list of strings; one member must equal the
  configured audience exactly. As in RFC 7519 section 4.1.3, a token with several
  audiences is accepted when any of them is ours.
- ``sub`` and ``jti`` are required non-empty strings of at most 256 characters; ``sid``
  is optional, the same shape.
- ``scope`` is optional: space-separated RFC 6749 scope tokens.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from gatepass.errors import ConfigurationError, InvalidClaim, TokenExpired, TokenNotYetValid
from gatepass.types import Clock

__all__ = ["ALWAYS_REQUIRED", "ClaimsValidator", "ValidatedClaims"]

#: Claims every access token must carry; ``required`` may add to them, never remove.
ALWAYS_REQUIRED: Final = frozenset({"exp", "iat", "sub", "jti"})
_MAX_ID_LENGTH: Final = 256
_ABSENT: Final = object()
# RFC 6749 section 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ), joined by one space.
_SCOPE: Final = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+(?: [\x21\x23-\x5b\x5d-\x7e]+)*")


@dataclass(frozen=True)
class ValidatedClaims:
    """The claims of a token that passed every check."""

    sub: str
    exp: int
    iat: int
    nbf: int | None
    jti: str
    sid: str | None
    scopes: frozenset[str]
    aud: tuple[str, ...]
    iss: str
    raw: Mapping[str, object] = field(compare=False)


def _invalid_type(name: str, expected: str) -> InvalidClaim:
    return InvalidClaim(f"{name} must be {expected}", claim=name)


def _identifier(value: object, name: str) -> str:
    if type(value) is not str or not 0 < len(value) <= _MAX_ID_LENGTH:
        raise _invalid_type(name, f"a string of 1 to {_MAX_ID_LENGTH} characters")
    return value


@functools.lru_cache(maxsize=1024)
def _scopes(value: str) -> frozenset[str]:
    if not value:
        return frozenset()
    if _SCOPE.fullmatch(value) is None:
        raise InvalidClaim("scope must be space-separated scope tokens", claim="scope")
    return frozenset(value.split(" "))


class ClaimsValidator:
    """Validates JWT claims against the configured issuer, audience and clock.

    Args:
        issuer: the exact expected ``iss``.
        audience: the audience this service is; it must be among the token's ``aud``.
        leeway: allowed clock skew in seconds (0 to 300).
        clock: the time source.
        required: claims that must be present; always includes ``exp``, ``iat``,
            ``sub``, ``jti`` (and ``iss``, ``aud``, which are checked anyway).

    Raises:
        ConfigurationError: empty issuer or audience, leeway out of range, or
            ``required`` without the always-required claims.
    """

    __slots__ = ("_audience", "_clock", "_issuer", "_leeway", "_required")

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        leeway: int = 5,
        clock: Clock = time.time,
        required: frozenset[str] = ALWAYS_REQUIRED,
    ) -> None:
        if not isinstance(issuer, str) or not issuer:
            raise ConfigurationError("issuer must be a non-empty string")
        if not isinstance(audience, str) or not audience:
            raise ConfigurationError("audience must be a non-empty string")
        if type(leeway) is not int or not 0 <= leeway <= 300:
            raise ConfigurationError("leeway must be an integer from 0 to 300 seconds")
        if not required >= ALWAYS_REQUIRED:
            missing = sorted(ALWAYS_REQUIRED - required)
            raise ConfigurationError(f"required claims must include {missing}")
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway
        self._clock = clock
        self._required = tuple(sorted(required | {"iss", "aud"}))

    def validate(self, claims: Mapping[str, object]) -> ValidatedClaims:
        """Check every rule (see the module docstring) and return the typed claims.

        Raises:
            TokenExpired: ``exp`` has passed (with the leeway).
            TokenNotYetValid: ``nbf`` or ``iat`` lies in the future (beyond the leeway).
            InvalidClaim: any other failure; ``claim`` names the claim.
        """
        get = claims.get
        for name in self._required:
            if name not in claims:
                raise InvalidClaim(f"{name} is required", claim=name)
        exp, iat, nbf = claims["exp"], claims["iat"], get("nbf", _ABSENT)
        if type(exp) is not int or exp < 0:
            raise _invalid_type("exp", "a non-negative integer")
        if type(iat) is not int or iat < 0:
            raise _invalid_type("iat", "a non-negative integer")
        not_before: int | None = None
        if nbf is not _ABSENT:
            if type(nbf) is not int or nbf < 0:
                raise _invalid_type("nbf", "a non-negative integer")
            not_before = nbf
        now = self._clock()
        leeway = self._leeway
        if now >= exp + leeway:
            raise TokenExpired("the token has expired", expired_at=exp)
        if not_before is not None and now + leeway < not_before:
            raise TokenNotYetValid("the token is not valid yet (nbf)", claim="nbf")
        if iat > now + leeway:
            raise TokenNotYetValid("the token was issued in the future (iat)", claim="iat")
        iss = get("iss")
        if type(iss) is not str or iss != self._issuer:
            raise InvalidClaim("iss is not the expected issuer", claim="iss")
        aud = get("aud")
        if type(aud) is str:
            audiences: tuple[str, ...] = (aud,)
        elif type(aud) is list and aud and all(type(item) is str for item in aud):
            audiences = tuple(aud)
        else:
            raise _invalid_type("aud", "a string or a non-empty list of strings")
        if self._audience not in audiences:
            raise InvalidClaim("aud does not include this audience", claim="aud")
        sid = get("sid", _ABSENT)
        scope = get("scope", _ABSENT)
        if scope is _ABSENT:
            scopes: frozenset[str] = frozenset()
        elif type(scope) is str:
            scopes = _scopes(scope)
        else:
            raise _invalid_type("scope", "a string")
        # A frozen dataclass's __init__ sets each field through object.__setattr__;
        # filling __dict__ at once is the same object, several times faster.
        result = object.__new__(ValidatedClaims)
        result.__dict__.update(
            sub=_identifier(get("sub"), "sub"),
            exp=exp,
            iat=iat,
            nbf=not_before,
            jti=_identifier(get("jti"), "jti"),
            sid=None if sid is _ABSENT else _identifier(sid, "sid"),
            scopes=scopes,
            aud=audiences,
            iss=iss,
            raw=MappingProxyType(dict(claims)),
        )
        return result
