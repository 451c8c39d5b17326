"""The one result of authentication, whatever the credential was."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from gatepass.types import AuthMethod

__all__ = ["CredentialSource", "Principal"]

#: Where the credential arrived: the Authorization header or a cookie. Cookie
#: credentials need CSRF checks on unsafe methods; Bearer ones do not.
CredentialSource = Literal["bearer", "cookie"]


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated user, as seen by the application.

    Attributes:
        user_id: the user's id (the ``sub`` claim for JWTs).
        method: ``"jwt"`` or ``"session"``.
        sid: the public id of the login (session or token family) this came from.
        scopes: granted scopes.
        expires_at: when the credential stops being valid (Unix seconds).
        source: ``"bearer"`` or ``"cookie"``.
        claims: the validated JWT claims (empty for sessions).
        csrf_secret: for session principals, the secret CSRF tokens are bound to.
    """

    user_id: str
    method: AuthMethod
    sid: str
    scopes: frozenset[str] = frozenset()
    expires_at: float = 0.0
    source: CredentialSource = "bearer"
    claims: Mapping[str, object] = field(default_factory=dict)
    jti: str | None = None
    csrf_secret: str | None = field(default=None, repr=False)

    def has_scopes(self, required: frozenset[str] | set[str]) -> bool:
        """True if every required scope is granted."""
        return set(required) <= self.scopes
