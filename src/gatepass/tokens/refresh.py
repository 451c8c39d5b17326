"""Refresh tokens: opaque ``<family>.<secret>``, rotated on every use, reuse detected.

Only the SHA-256 of a secret is stored. A spent secret presented again within the
grace window (two tabs refreshing at once) gets the *same* successor: the successor
is kept sealed under a key derived from the spent secret, so only its holder can
open it and a leaked database yields nothing usable. Past the window, or for any
older generation, the whole family is revoked (and, via its ``sid``, every access
token of that login).
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass, field

from gatepass._utils import b64url_decode, b64url_encode, constant_time_equals, hash_token
from gatepass._utils import random_token as _random_token
from gatepass.config import TokenSettings
from gatepass.errors import (
    MalformedToken,
    RefreshTokenReused,
    TokenError,
    TokenExpired,
    TokenRevoked,
)
from gatepass.revocation import Revoker
from gatepass.stores.base import FamilyRecord, RefreshStore
from gatepass.types import Clock

__all__ = ["IssuedRefreshToken", "RefreshTokens", "parse_refresh_token"]

_TOKEN = re.compile(r"([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})")
_SEAL_CONTEXT = b"gatepass/refresh-grace/v1\x00"


@dataclass(frozen=True, slots=True)
class IssuedRefreshToken:
    """A refresh token and the family (login) it belongs to."""

    token: str = field(repr=False)
    family: FamilyRecord


def parse_refresh_token(token: str) -> tuple[str, str]:
    """Split ``<family>.<secret>``; raise MalformedToken unless exactly that shape."""
    match = _TOKEN.fullmatch(token) if len(token) <= 128 else None
    if match is None:
        raise MalformedToken("not a refresh token")
    return match.group(1), match.group(2)


def _seal(successor: str, spent: str) -> str:
    pad = hashlib.sha256(_SEAL_CONTEXT + spent.encode("ascii")).digest()
    raw = b64url_decode(successor)
    return b64url_encode(bytes(a ^ b for a, b in zip(raw, pad, strict=True)))


_unseal = _seal  # XOR with the same pad


class RefreshTokens:
    """Starts, rotates and revokes refresh-token families."""

    def __init__(
        self,
        store: RefreshStore,
        revoker: Revoker,
        settings: TokenSettings | None = None,
        *,
        clock: Clock = time.time,
    ) -> None:
        self._store = store
        self._revoker = revoker
        self.settings = settings or TokenSettings()
        self._clock = clock

    async def start(
        self,
        user_id: str,
        *,
        scope: str = "",
        audience: str | None = None,
        ip: str | None = None,
        user_agent: str | None = None,
        csrf_hash: str | None = None,
    ) -> IssuedRefreshToken:
        """Begin a new family (one token login) with an absolute lifetime."""
        now = self._clock()
        family_id = _random_token(16)
        secret = _random_token(32)
        record = FamilyRecord(
            family_id=family_id,
            user_id=user_id,
            created_at=now,
            expires_at=now + self.settings.refresh_ttl,
            current_hash=hash_token(secret),
            last_used_at=now,
            scope=scope,
            audience=audience,
            ip=ip,
            user_agent=user_agent,
            csrf_hash=csrf_hash,
        )
        await self._store.create_family(record)
        return IssuedRefreshToken(f"{family_id}.{secret}", record)

    async def rotate(self, token: str) -> IssuedRefreshToken:
        """Spend ``token`` and return its successor.

        Raises:
            MalformedToken: not a refresh token.
            TokenError: unknown family or a secret it never issued (nothing changes).
            TokenExpired: the family passed its absolute lifetime.
            TokenRevoked: the family was revoked (logout, earlier reuse).
            RefreshTokenReused: a spent token; the family is now revoked.
        """
        family_id, secret = parse_refresh_token(token)
        successor = _random_token(32)
        result = await self._store.rotate_refresh(
            family_id,
            hash_token(secret),
            hash_token(successor),
            _seal(successor, secret),
            self._clock(),
            self.settings.refresh_grace,
        )
        family = result.family
        if result.status == "rotated" and family is not None:
            return IssuedRefreshToken(f"{family_id}.{successor}", family)
        if result.status == "grace" and family is not None and family.sealed_successor:
            same = _unseal(family.sealed_successor, secret)
            if constant_time_equals(hash_token(same), family.current_hash):
                return IssuedRefreshToken(f"{family_id}.{same}", family)
        if result.status == "reused" and family is not None:
            await self._revoke_login(family)
            raise RefreshTokenReused("spent refresh token presented again", family=family_id)
        if result.status == "expired":
            raise TokenExpired("refresh family expired", expired_at=_expiry(family))
        if result.status == "revoked":
            raise TokenRevoked("refresh family revoked")
        raise TokenError("unknown refresh token")

    async def get(self, family_id: str) -> FamilyRecord | None:
        """The family record, or None."""
        return await self._store.get_family(family_id)

    async def revoke(self, family_id: str) -> FamilyRecord | None:
        """Revoke one family and every access token of its login; None if unknown."""
        record = await self._store.revoke_family(family_id)
        if record is not None:
            await self._revoke_login(record)
        return record

    async def revoke_user(self, user_id: str) -> list[FamilyRecord]:
        """Revoke every live family of the user."""
        records = await self._store.revoke_user_families(user_id)
        for record in records:
            await self._revoke_login(record)
        return records

    async def list_user(self, user_id: str) -> list[FamilyRecord]:
        """The user's live families."""
        return await self._store.list_user_families(user_id, self._clock())

    async def _revoke_login(self, family: FamilyRecord) -> None:
        # Access tokens of the family carry its id as sid and live at most access_ttl
        # past the family's last rotation, which cannot be after its expiry.
        until = max(family.expires_at, self._clock() + self.settings.access_ttl)
        await self._revoker.revoke_sid(family.family_id, expires_at=until)


def _expiry(family: FamilyRecord | None) -> float | None:
    return family.expires_at if family is not None else None
