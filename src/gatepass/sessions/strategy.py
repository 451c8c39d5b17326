"""SessionStrategy: the session column of the seed as a Strategy."""

from __future__ import annotations

from gatepass.principal import CredentialSource, Principal
from gatepass.sessions.manager import SessionManager
from gatepass.types import AuthMethod

__all__ = ["SessionStrategy"]


class SessionStrategy:
    """Authenticates a session id by a server-side lookup (by its SHA-256)."""

    method: AuthMethod = "session"

    def __init__(self, manager: SessionManager) -> None:
        self.manager = manager

    async def authenticate(self, credential: str, *, source: CredentialSource) -> Principal:
        """The principal of a live session; raises SessionNotFound / SessionExpired."""
        return await self.manager.load_principal(credential, source)

    async def revoke(self, principal: Principal) -> None:
        """End the principal's session."""
        await self.manager.destroy_sid(principal.sid)

    async def revoke_subject(self, user_id: str) -> None:
        """End every session of the user."""
        await self.manager.destroy_user(user_id)
