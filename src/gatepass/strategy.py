"""The Strategy protocol: what a credential is and how it is checked.

JWT access tokens and server-side sessions are the two strategies; both turn an
opaque credential string into a :class:`~gatepass.principal.Principal` and can revoke
one login (by ``sid``) or every login of a user. Strategies never touch HTTP.
"""

from __future__ import annotations

from typing import Protocol

from gatepass.principal import CredentialSource, Principal
from gatepass.types import AuthMethod

__all__ = ["Strategy"]


class Strategy(Protocol):
    #: ``"jwt"`` or ``"session"``.
    method: AuthMethod

    async def authenticate(self, credential: str, *, source: CredentialSource) -> Principal:
        """Verify the credential; raise an AuthenticationError subclass if it is not good."""

    async def revoke(self, principal: Principal) -> None:
        """End the login the principal belongs to, at once."""

    async def revoke_subject(self, user_id: str) -> None:
        """End every login of this user of this strategy's kind."""
