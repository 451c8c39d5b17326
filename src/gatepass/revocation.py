"""Revocation: by ``jti``, by ``sid`` (a session or a token family) and per user.

The :class:`Revoker` is the one place both columns record and check revocations, so a
logout in one column reaches credentials of the other (a session's exchanged JWTs
carry its ``sid``). Every verification calls :meth:`Revoker.is_revoked`.
"""

from __future__ import annotations

import time

from gatepass.stores.base import RevocationEvent, RevocationStore
from gatepass.types import Clock

__all__ = ["Revoker"]


class Revoker:
    """Records and checks revocations in a :class:`~gatepass.stores.base.RevocationStore`.

    Args:
        store: where revocations live (shared by every instance of a deployment).
        clock: the time source.
    """

    def __init__(self, store: RevocationStore, *, clock: Clock = time.time) -> None:
        self._store = store
        self._clock = clock

    async def revoke_jti(self, jti: str, *, expires_at: float) -> RevocationEvent:
        """Refuse the one access token with this ``jti`` until it would expire anyway."""
        return await self._store.add_revocation("jti", jti, expires_at, self._clock())

    async def revoke_sid(self, sid: str, *, expires_at: float) -> RevocationEvent:
        """Refuse every credential of the login ``sid`` (session or token family)."""
        return await self._store.add_revocation("sid", sid, expires_at, self._clock())

    async def revoke_user(self, user_id: str, *, expires_at: float) -> RevocationEvent:
        """Refuse every token of the user issued before now (a "revoked before" watermark).

        ``expires_at`` is how long the watermark must be kept: the longest lifetime of
        any credential it covers.
        """
        now = self._clock()
        return await self._store.add_revocation(
            "user", user_id, expires_at, now, not_before=float(int(now))
        )

    async def is_revoked(
        self,
        *,
        jti: str | None = None,
        sid: str | None = None,
        user_id: str | None = None,
        iat: float | None = None,
    ) -> bool:
        """True if the jti or the sid is revoked, or ``iat`` is below the user's watermark."""
        return await self._store.is_revoked(jti=jti, sid=sid, user_id=user_id, iat=iat)
