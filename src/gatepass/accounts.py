"""Account changes: re-authentication, password change, disabling (SECURITY.md RT-05,
SES-09, SES-13, PW-06).

:class:`AccountChanges` is a base class of :class:`~gatepass.authenticator.Authenticator`:
its methods are the Authenticator's (``auth.change_password(...)``), kept here so that one
concept lives in one module. They use the Authenticator's store, hasher, session manager,
refresh tokens and audit trail.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from gatepass.config import PasswordSettings
from gatepass.errors import InvalidCredentials, NotFound, ReauthenticationRequired
from gatepass.passwords import PasswordHasher, check_password_policy
from gatepass.principal import Principal
from gatepass.sessions.manager import SessionManager
from gatepass.stores.base import Store, UserRecord
from gatepass.tokens.refresh import RefreshTokens
from gatepass.types import AuthMethod, Clock

__all__ = ["DISABLED_WATERMARK_TTL", "AccountChanges", "Login"]

#: Least seconds a disabled account's "revoked before" watermark is kept (a year). It
#: ends the sessions that disabling cannot delete (``gatepass users disable`` without
#: ``--redis``: a ``--redis`` server's), however long the server lets a session live; the
#: command does not know the server's lifetimes. One entry per disabled account.
DISABLED_WATERMARK_TTL = 366 * 86400.0


@dataclass(frozen=True, slots=True)
class Login:
    """One live login of a user: a session or a token family."""

    id: str
    method: AuthMethod
    created_at: float
    last_seen_at: float
    expires_at: float
    ip: str | None
    user_agent: str | None


class AccountChanges:
    """The account-change methods of the Authenticator (see the module docstring)."""

    store: Store
    hasher: PasswordHasher
    password_settings: PasswordSettings
    sessions: SessionManager
    refresh_tokens: RefreshTokens
    _clock: Clock

    if TYPE_CHECKING:  # provided by the Authenticator

        async def audit(
            self,
            action: str,
            outcome: Literal["ok", "failed"],
            *,
            user_id: str | None = None,
            sid: str | None = None,
            ip: str | None = None,
            user_agent: str | None = None,
            detail: str | None = None,
        ) -> None: ...

        async def list_logins(self, user_id: str) -> list[Login]: ...

        async def revoke_login(
            self, user_id: str, sid: str, *, ip: str | None = None, user_agent: str | None = None
        ) -> None: ...

        async def logout_all(
            self,
            user_id: str,
            *,
            ip: str | None = None,
            user_agent: str | None = None,
            keep_watermark: float = 0.0,
        ) -> int: ...

    async def reauthenticate(
        self,
        user_id: str,
        password: str,
        *,
        sid: str | None = None,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> UserRecord:
        """Check the account's password again before a sensitive action.

        Raises ReauthenticationRequired when it is wrong, or the account is gone or
        disabled (same cost either way). Audited as ``reauth``. Callers that face the
        network count failures in the login throttle: a stolen cookie must not become a
        password-guessing oracle.
        """
        user = await self.store.get_user(user_id)
        checked = await self._password_matches(user, password)
        if checked is None:
            await self.audit(
                "reauth", "failed", user_id=user_id, sid=sid, ip=ip, user_agent=user_agent
            )
            raise ReauthenticationRequired("the password did not match")
        await self.audit("reauth", "ok", user_id=user_id, sid=sid, ip=ip, user_agent=user_agent)
        return checked

    async def _password_matches(self, user: UserRecord | None, password: str) -> UserRecord | None:
        """The user if the password is theirs and the account enabled, else None.

        One argon2 verify whatever the case (a dummy hash for no user, an empty password
        for one over the maximum length), so a miss costs what a hit costs. A hash made
        with older parameters is upgraded; the returned record carries the new hash.
        """
        too_long = len(password) > self.password_settings.max_length
        ok = await self.hasher.verify(
            user.password_hash if user is not None else None, "" if too_long else password
        )
        if user is None or not ok or user.disabled:
            return None
        if self.hasher.needs_rehash(user.password_hash):
            rehashed = await self.hasher.hash(password)
            await self.store.set_password_hash(user.id, rehashed)
            user = replace(user, password_hash=rehashed)
        return user

    async def login_started_at(self, principal: Principal) -> float | None:
        """When the password was entered for the principal's login (None if it is gone).

        A token exchanged for a session (its ``sid`` is the session's) counts from the
        session's start.
        """
        session = await self.sessions.get_by_sid(principal.sid)
        if session is not None and session.user_id == principal.user_id:
            return session.created_at
        family = await self.refresh_tokens.get(principal.sid)
        if family is not None and family.user_id == principal.user_id:
            return family.created_at
        return None

    async def is_recent_login(self, principal: Principal, window: float) -> bool:
        """True if the principal's login began at most ``window`` seconds ago."""
        started = await self.login_started_at(principal)
        return started is not None and self._clock() - started <= window

    async def end_other_logins(
        self, principal: Principal, *, ip: str | None = None, user_agent: str | None = None
    ) -> int:
        """Revoke every login of the user but the principal's own; how many were ended."""
        ended = 0
        for login in await self.list_logins(principal.user_id):
            if login.id == principal.sid:
                continue
            with contextlib.suppress(NotFound):  # ended meanwhile
                await self.revoke_login(principal.user_id, login.id, ip=ip, user_agent=user_agent)
                ended += 1
        return ended

    async def change_password(
        self,
        principal: Principal,
        current_password: str,
        new_password: str,
        *,
        end_other_logins: bool = True,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> int:
        """Replace the password after checking the current one (ASVS 5.0 6.2.3).

        Every other login of the user (sessions, token families and their access
        tokens) is ended unless ``end_other_logins`` is False (ASVS 5.0 7.4.3); the
        principal's own login stays. Returns how many logins were ended. Raises
        ReauthenticationRequired (wrong current password) or WeakPassword.
        """
        # The policy first: a refusal must not tell whether the current password was right.
        known = await self.store.get_user(principal.user_id)
        if known is not None:
            check_password_policy(new_password, self.password_settings, email=known.email)
        user = await self.reauthenticate(
            principal.user_id, current_password, sid=principal.sid, ip=ip, user_agent=user_agent
        )
        await self.store.set_password_hash(user.id, await self.hasher.hash(new_password))
        ended = (
            await self.end_other_logins(principal, ip=ip, user_agent=user_agent)
            if end_other_logins
            else 0
        )
        await self.audit(
            "password.change",
            "ok",
            user_id=user.id,
            sid=principal.sid,
            ip=ip,
            user_agent=user_agent,
            detail=f"ended {ended} other logins",
        )
        return ended

    async def set_disabled(
        self,
        user_id: str,
        disabled: bool,
        *,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> int:
        """Disable (or enable again) an account; NotFound if there is no such user.
        Returns how many logins (sessions and token families) disabling ended.

        Disabling ends every login of the user at once (ASVS 5.0 7.4.2) and refuses
        every later login, refresh and re-authentication; a login racing with it is
        ended by the check after its creation. Its "revoked before" watermark is kept
        at least :data:`DISABLED_WATERMARK_TTL`. Enabling lets the user sign in again.
        """
        await self.store.set_user_disabled(user_id, disabled)
        ended = (
            await self.logout_all(
                user_id, ip=ip, user_agent=user_agent, keep_watermark=DISABLED_WATERMARK_TTL
            )
            if disabled
            else 0
        )
        action = "user.disable" if disabled else "user.enable"
        await self.audit(action, "ok", user_id=user_id, ip=ip, user_agent=user_agent)
        return ended

    async def _still_valid(self, user: UserRecord, sid: str) -> None:
        """End a login just created if the account was disabled, or its password
        changed, since ``user`` (the record its password was checked against) was read.

        :meth:`set_disabled` and :meth:`change_password` write the user first and then
        end every login they can list; a login whose password check came before that
        write and whose record came after the listing is caught here, because this read
        comes after the record. (Two logins that both upgrade an old hash at once: the
        loser is refused and signs in again.)
        """
        current = await self.store.get_user(user.id)
        if current is None or current.disabled or current.password_hash != user.password_hash:
            with contextlib.suppress(NotFound):
                await self.revoke_login(user.id, sid)
            raise InvalidCredentials("email or password incorrect")
