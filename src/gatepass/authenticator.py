"""The one API: passwords in, credentials out, any credential back to a Principal.

:class:`Authenticator` wires the two columns of the seed over one store: a JWT
strategy (access tokens + refresh families) and a session strategy, one revocation
mechanism, one audit trail. An app accepts both credentials on the same route by
handing every credential the request carries to :meth:`Authenticator.authenticate`.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import anyio

from gatepass._utils import constant_time_equals, hash_token, random_token
from gatepass.accounts import AccountChanges, Login
from gatepass.config import PasswordSettings, SessionSettings, TokenSettings
from gatepass.errors import (
    AuthenticationError,
    CSRFError,
    EmailTaken,
    InvalidCredentials,
    MissingCredential,
    NotFound,
    RefreshTokenReused,
    StoreConflict,
    StoreError,
    ValidationError,
)
from gatepass.keys.keyring import KeyRing
from gatepass.keys.persisted import reload_keyring
from gatepass.passwords import Argon2Hasher, PasswordHasher, check_password_policy
from gatepass.principal import Principal
from gatepass.revocation import RevocationFeed, RevocationSet, Revoker
from gatepass.sessions.manager import IssuedSession, SessionManager
from gatepass.sessions.strategy import SessionStrategy
from gatepass.stores.base import AuditEvent, FamilyRecord, Store, UserRecord
from gatepass.tokens.access import (
    CSRF_CLAIM,
    AccessTokens,
    IssuedAccessToken,
    csrf_token_matches,
)
from gatepass.tokens.refresh import RefreshTokens, parse_refresh_token
from gatepass.tokens.strategy import JWTStrategy
from gatepass.transports.base import Credential
from gatepass.transports.csrf import make_csrf_token, verify_csrf_token
from gatepass.types import Clock

__all__ = ["AuthStats", "Authenticator", "Login", "SessionLogin", "TokenPair"]

logger = logging.getLogger("gatepass.audit")

#: Seconds between two background reloads of the signing keys from the store.
KEY_REFRESH_INTERVAL = 30.0
#: Seconds between two writes of the queued session ``last_seen_at`` updates.
TOUCH_FLUSH_INTERVAL = 1.0
#: Seconds between two purges of long-dead records.
PURGE_INTERVAL = 3600.0
#: Least seconds between two reloads caused by tokens naming an unknown ``kid`` (so that
#: forged kids cannot make every request read the store).
UNKNOWN_KID_RELOAD_INTERVAL = 5.0

_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+")


@dataclass(slots=True)
class AuthStats:
    """Counters of what the Authenticator did (read by the server's ``/metrics``)."""

    refreshes: int = 0
    refresh_failures: int = 0
    reuse_detected: int = 0
    revocations: int = 0


@dataclass(frozen=True, slots=True)
class TokenPair:
    """The result of a token login or refresh."""

    access_token: str = field(repr=False)
    expires_in: int
    refresh_token: str = field(repr=False)
    refresh_expires_in: int
    sid: str
    user_id: str
    #: For cookie transport only: the CSRF token bound to the login.
    csrf_token: str | None = field(default=None, repr=False)
    token_type: str = "Bearer"


@dataclass(frozen=True, slots=True)
class SessionLogin:
    """The result of a session login: the cookie secret, its CSRF token, the record."""

    session: IssuedSession
    csrf_token: str = field(repr=False)

    @property
    def session_id(self) -> str:
        """The secret id to put in the session cookie (never in a body or a log)."""
        return self.session.session_id

    @property
    def sid(self) -> str:
        """The public id of this login."""
        return self.session.record.sid


async def _every(interval: float, job: Callable[[], Awaitable[object]]) -> None:
    """Run ``job`` every ``interval`` seconds until cancelled; store errors are retried."""
    while True:
        await anyio.sleep(interval)
        with contextlib.suppress(StoreError):
            await job()


def normalize_email(email: str) -> str:
    """Strip and lower-case an email; raise ValidationError unless it looks like one."""
    value = email.strip().lower()
    if len(value) > 254 or not _EMAIL.fullmatch(value):
        raise ValidationError("not a valid email address", field="email")
    return value


class Authenticator(AccountChanges):
    """Both columns of the seed behind one object.

    Args:
        store: every record family (users, sessions, families, revocations, audit).
        keyring: signing and verification keys for access tokens.
        tokens, sessions, passwords: settings of each part.
        hasher: password hasher (argon2id in worker threads by default).
        allowed_scopes: scopes a session may ask for in a token exchange.
        clock: the time source for everything time-dependent.
    """

    def __init__(
        self,
        *,
        store: Store,
        keyring: KeyRing,
        tokens: TokenSettings | None = None,
        sessions: SessionSettings | None = None,
        passwords: PasswordSettings | None = None,
        hasher: PasswordHasher | None = None,
        allowed_scopes: Iterable[str] = (),
        clock: Clock = time.time,
    ) -> None:
        self.store = store
        self.token_settings = tokens or TokenSettings()
        self.password_settings = passwords or PasswordSettings()
        self.hasher: PasswordHasher = hasher or Argon2Hasher(self.password_settings)
        self.allowed_scopes = frozenset(allowed_scopes)
        self._clock = clock
        #: Counters for monitoring.
        self.stats = AuthStats()
        #: Follows the store's revocation log; run it with :meth:`run_feed` so that
        #: revocation checks are answered from memory (until then they go to the store).
        self.feed = RevocationFeed(store, RevocationSet(), clock=clock)
        self.revoker = Revoker(store, clock=clock, feed=self.feed)
        self.access = AccessTokens(keyring, self.token_settings, clock=clock)
        self.refresh_tokens = RefreshTokens(store, self.revoker, self.token_settings, clock=clock)
        self.sessions = SessionManager(store, self.revoker, sessions, clock=clock)
        self.jwt = JWTStrategy(
            self.access, self.refresh_tokens, self.revoker, on_unknown_key=self._unknown_key
        )
        self.session_strategy = SessionStrategy(self.sessions)
        self._keys_lock = anyio.Lock()
        self._keys_loaded_at = -math.inf  # time.monotonic() of the last key reload

    async def run_feed(self) -> None:
        """Follow the revocation feed until cancelled (start it in the app's lifespan)."""
        await self.feed.run()

    async def run_background(
        self, *, key_refresh: float = KEY_REFRESH_INTERVAL, purge: float = PURGE_INTERVAL
    ) -> None:
        """Everything a long-running process should run, until cancelled: the revocation
        feed; a reload of the signing keys every ``key_refresh`` seconds (rotations and
        retirements made with ``gatepass keys``, or by another instance, reach this one
        without a restart); every ``purge`` seconds a purge of records dead for a day
        (sessions, families, revocations, throttle hits), so the store stays bounded; and
        the sessions' ``last_seen_at`` writes, batched every second off the request path
        (flushed once more when cancelled)."""
        self.sessions.defer_touches = True
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self.run_feed)
                tg.start_soon(_every, key_refresh, self.reload_keys)
                tg.start_soon(_every, purge, self.purge_expired)
                tg.start_soon(_every, TOUCH_FLUSH_INTERVAL, self.sessions.flush_touches)
        finally:
            self.sessions.defer_touches = False
            with anyio.CancelScope(shield=True):
                await self.sessions.flush_touches()

    async def purge_expired(self) -> int:
        """Drop records that have been dead for longer than the store's margin."""
        removed = await self.store.purge_expired(self._clock())
        self.feed.revocations.prune(self._clock())
        return removed

    async def reload_keys(self) -> bool:
        """Re-read the signing keys from the store (single-flight); True if they changed."""
        started = time.monotonic()
        async with self._keys_lock:
            if self._keys_loaded_at >= started:
                return False  # another caller reloaded while we waited
            changed = await reload_keyring(self.store, self.keyring)
            self._keys_loaded_at = time.monotonic()
        return changed

    async def _unknown_key(self) -> bool:
        """A token named a kid we lack: reload the keys, at most once per interval."""
        if time.monotonic() - self._keys_loaded_at < UNKNOWN_KID_RELOAD_INTERVAL:
            return False
        try:
            return await self.reload_keys()
        except StoreError:
            return False

    @property
    def keyring(self) -> KeyRing:
        """The key ring access tokens are signed and verified with."""
        return self.access.keyring

    # -- users and passwords ------------------------------------------------------

    async def register(self, email: str, password: str) -> UserRecord:
        """Create a user after the password policy; raise EmailTaken if the email exists."""
        normalized = normalize_email(email)
        check_password_policy(password, self.password_settings, email=normalized)
        user = UserRecord(
            id=str(uuid.uuid4()),
            email=normalized,
            password_hash=await self.hasher.hash(password),
            created_at=self._clock(),
        )
        try:
            await self.store.create_user(user)
        except StoreConflict as exc:
            raise EmailTaken("email already registered", field="email") from exc
        await self.audit("register", "ok", user_id=user.id)
        return user

    async def verify_password(
        self, email: str, password: str, *, ip: str | None = None, user_agent: str | None = None
    ) -> UserRecord:
        """The user with this email and password, or InvalidCredentials.

        Unknown emails run a dummy hash check, so they cost the same time and get the
        same error as a wrong password. A hash made with older parameters is upgraded.
        """
        try:
            normalized: str | None = normalize_email(email)
        except ValidationError:
            normalized = None
        user = None
        if normalized is not None and len(password) <= self.password_settings.max_length:
            user = await self.store.get_user_by_email(normalized)
        checked = await self._password_matches(user, password)
        if checked is None:
            await self.audit(
                "login", "failed", user_id=user.id if user else None, ip=ip, user_agent=user_agent
            )
            raise InvalidCredentials("email or password incorrect")
        return checked

    # -- session column -------------------------------------------------------------

    async def login_session(
        self,
        user: UserRecord,
        *,
        replaces: str | None = None,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> SessionLogin:
        """Start a session (a fresh id; any presented id is ended: fixation-safe)."""
        issued = await self.sessions.create(
            user.id, replaces=replaces, ip=ip, user_agent=user_agent
        )
        await self._still_valid(user, issued.record.sid)
        await self.audit(
            "login.session",
            "ok",
            user_id=user.id,
            sid=issued.record.sid,
            ip=ip,
            user_agent=user_agent,
        )
        return SessionLogin(issued, make_csrf_token(issued.record.csrf_secret))

    # -- token column -----------------------------------------------------------------

    async def login_tokens(
        self,
        user: UserRecord,
        *,
        transport: Literal["bearer", "cookie"] = "bearer",
        scope: str = "",
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> TokenPair:
        """Start a token family and return an access + refresh token pair."""
        scope = self._checked_scope(scope)
        csrf_token = random_token(32) if transport == "cookie" else None
        issued = await self.refresh_tokens.start(
            user.id,
            scope=scope,
            ip=ip,
            user_agent=user_agent,
            csrf_hash=hash_token(csrf_token) if csrf_token else None,
        )
        await self._still_valid(user, issued.family.family_id)
        await self.audit(
            "login.token",
            "ok",
            user_id=user.id,
            sid=issued.family.family_id,
            ip=ip,
            user_agent=user_agent,
        )
        return self._pair(
            issued.token,
            issued.family.family_id,
            user.id,
            scope,
            issued.family.expires_at,
            issued.family.csrf_hash,
            csrf_token,
        )

    async def refresh(
        self,
        refresh_token: str,
        *,
        from_cookie: bool = False,
        csrf_token: str | None = None,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> TokenPair:
        """Rotate a refresh token; a spent one revokes its whole family.

        A refresh token that arrived in a cookie needs the request's CSRF token, which
        must match the one bound to the login; it is checked before anything is spent.
        A failure is audited with the family's user and sid when the family exists
        (``detail`` ``refresh_reused`` marks a detected reuse).
        """
        if from_cookie:
            family_id, _ = parse_refresh_token(refresh_token)
            bound = await self.refresh_tokens.get(family_id)
            expected = bound.csrf_hash if bound is not None else None
            if (
                csrf_token is None
                or expected is None
                or not constant_time_equals(hash_token(csrf_token), expected)
            ):
                raise CSRFError("refresh cookie without the login's CSRF token")
        try:
            issued = await self.refresh_tokens.rotate(refresh_token)
        except AuthenticationError as exc:
            self.stats.refresh_failures += 1
            if isinstance(exc, RefreshTokenReused):
                self.stats.reuse_detected += 1
                self.stats.revocations += 1
            known = await self._family_of(refresh_token)
            await self.audit(
                "refresh",
                "failed",
                user_id=known.user_id if known else None,
                sid=known.family_id if known else getattr(exc, "family", None),
                ip=ip,
                user_agent=user_agent,
                detail=exc.code,
            )
            raise
        self.stats.refreshes += 1
        family = issued.family
        await self.audit(
            "refresh",
            "ok",
            user_id=family.user_id,
            sid=family.family_id,
            ip=ip,
            user_agent=user_agent,
        )
        return self._pair(
            issued.token,
            family.family_id,
            family.user_id,
            family.scope,
            family.expires_at,
            family.csrf_hash,
            csrf_token,
        )

    async def exchange(
        self,
        principal: Principal,
        *,
        audience: str | None = None,
        scope: str = "",
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> IssuedAccessToken:
        """Mint a short-lived JWT bound to a session (``sid``); it dies with the session."""
        if principal.method != "session":
            raise ValidationError("only a session can be exchanged for a token")
        token = self.access.issue(
            principal.user_id,
            principal.sid,
            scope=self._checked_scope(scope),
            audience=audience,
            not_after=principal.expires_at,
        )
        await self.audit(
            "token.exchange",
            "ok",
            user_id=principal.user_id,
            sid=principal.sid,
            ip=ip,
            user_agent=user_agent,
        )
        return token

    # -- any credential -------------------------------------------------------------

    def cached_principal(
        self, bearer: str | None, access: str | None, session: str | None
    ) -> Principal | None:
        """What :meth:`authenticate` would return for these credentials, if memory can say.

        The per-request fast path, given the Bearer token, the access-token cookie and
        the session cookie (None where absent), chosen in :meth:`authenticate`'s order:
        a verified-token cache hit or a local session-cache hit, revocation answered by
        the in-memory set of a healthy feed. Never raises and never awaits; None means
        "await :meth:`authenticate`" (a miss, a stale feed, a revoked or expired
        credential: the slow path gives the precise answer).
        """
        if bearer is not None:
            return self.jwt.cached(bearer, "bearer")
        if access is not None:
            return self.jwt.cached(access, "cookie")
        if session is not None:
            return self.sessions.cached_principal(session, "cookie")
        return None

    async def authenticate(self, credentials: Sequence[Credential]) -> Principal:
        """Turn the request's credentials into a Principal.

        A Bearer header wins and is never second-guessed by a cookie; otherwise the
        access-token cookie, then the session cookie. Raises MissingCredential if there
        is none, or the precise AuthenticationError of the credential that was tried.
        """
        bearer = access = session = None
        for credential in credentials:  # of a kind given twice, the last one counts
            if credential.kind == "bearer":
                bearer = credential.value
            elif credential.kind == "session_cookie":
                session = credential.value
            elif credential.kind == "access_cookie":
                access = credential.value
        if bearer is not None:
            return await self.jwt.authenticate(bearer, source="bearer")
        error: AuthenticationError | None = None
        if access is not None:
            try:
                return await self.jwt.authenticate(access, source="cookie")
            except AuthenticationError as exc:
                error = exc
        if session is not None:
            return await self.session_strategy.authenticate(session, source="cookie")
        if error is not None:
            raise error
        raise MissingCredential("no credential")

    def check_csrf(self, principal: Principal, token: str | None) -> bool:
        """True if ``token`` is the CSRF token bound to the principal's login."""
        if token is None:
            return False
        if principal.method == "session" and principal.csrf_secret:
            return verify_csrf_token(principal.csrf_secret, token)
        return csrf_token_matches(principal, token)

    # -- logout and revocation ------------------------------------------------------------

    async def logout(
        self, principal: Principal, *, ip: str | None = None, user_agent: str | None = None
    ) -> None:
        """End the login the principal belongs to (session or token family), at once."""
        if principal.method == "session":
            await self.session_strategy.revoke(principal)
        else:
            await self.jwt.revoke(principal)
            await self.sessions.destroy_sid(principal.sid)
        self.stats.revocations += 1
        await self.audit(
            "logout",
            "ok",
            user_id=principal.user_id,
            sid=principal.sid,
            ip=ip,
            user_agent=user_agent,
        )

    async def revoke_login(
        self, user_id: str, sid: str, *, ip: str | None = None, user_agent: str | None = None
    ) -> None:
        """Revoke one login of this user by its public id; NotFound if not theirs."""
        session = await self.sessions.get_by_sid(sid)
        if session is not None and session.user_id == user_id:
            await self.sessions.destroy_sid(sid)
        else:
            family = await self.refresh_tokens.get(sid)
            live = family is not None and not family.revoked and family.expires_at > self._clock()
            if family is None or family.user_id != user_id or not live:
                raise NotFound("no such login")
            await self.refresh_tokens.revoke(sid)
        self.stats.revocations += 1
        await self.audit(
            "session.revoke", "ok", user_id=user_id, sid=sid, ip=ip, user_agent=user_agent
        )

    async def logout_all(
        self,
        user_id: str,
        *,
        ip: str | None = None,
        user_agent: str | None = None,
        keep_watermark: float = 0.0,
    ) -> int:
        """End every session and token family of the user, and every token issued so far;
        return how many sessions and token families were ended. The user's "revoked
        before" watermark is kept as long as any of them could live, and at least
        ``keep_watermark`` seconds (disabling an account keeps it a year)."""
        sessions = await self.sessions.destroy_user(user_id)
        families = await self.refresh_tokens.revoke_user(user_id)
        # The watermark outlives every credential it covers: access tokens issued before
        # it, and sessions begun before it (which it ends wherever they are stored, see
        # SessionManager._ended) and which end at their absolute deadline at the latest.
        lifetime = max(
            self.token_settings.access_ttl, self.sessions.settings.absolute_ttl, keep_watermark
        )
        until = self._clock() + lifetime + self.token_settings.leeway
        await self.revoker.revoke_user(user_id, expires_at=until)
        self.stats.revocations += 1
        await self.audit("logout.all", "ok", user_id=user_id, ip=ip, user_agent=user_agent)
        return len(sessions) + len(families)

    async def list_logins(self, user_id: str) -> list[Login]:
        """Every live login of the user: sessions and token families, oldest first."""
        logins = [
            Login(s.sid, "session", s.created_at, s.last_seen_at, s.deadline(), s.ip, s.user_agent)
            for s in await self.sessions.list_user(user_id)
        ]
        logins += [
            Login(
                f.family_id,
                "jwt",
                f.created_at,
                f.last_used_at or f.created_at,
                f.expires_at,
                f.ip,
                f.user_agent,
            )
            for f in await self.refresh_tokens.list_user(user_id)
        ]
        return sorted(logins, key=lambda login: (login.created_at, login.id))

    # -- helpers --------------------------------------------------------------------------

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
    ) -> None:
        """Record an audit event in the store and the ``gatepass.audit`` log."""
        event = AuditEvent(action, outcome, self._clock(), user_id, sid, ip, user_agent, detail)
        logger.info(
            "%s %s",
            action,
            outcome,
            extra={
                "user_id": user_id,
                "sid": sid,
                "ip": ip,
                "user_agent": user_agent,
                "detail": detail,
            },
        )
        await self.store.append_audit(event)

    async def _family_of(self, refresh_token: str) -> FamilyRecord | None:
        """The family a (possibly spent or forged) refresh token names, if it exists."""
        try:
            family_id, _ = parse_refresh_token(refresh_token)
        except AuthenticationError:
            return None
        return await self.refresh_tokens.get(family_id)

    def _checked_scope(self, scope: str) -> str:
        requested = frozenset(scope.split())
        if not requested <= self.allowed_scopes:
            raise ValidationError("scope not allowed", field="scope")
        return " ".join(sorted(requested))

    def _pair(
        self,
        refresh_token: str,
        sid: str,
        user_id: str,
        scope: str,
        family_expires_at: float,
        csrf_hash: str | None,
        csrf_token: str | None,
    ) -> TokenPair:
        extra: dict[str, object] | None = {CSRF_CLAIM: csrf_hash} if csrf_hash else None
        access = self.access.issue(
            user_id, sid, scope=scope, not_after=family_expires_at, extra=extra
        )
        now = self._clock()
        return TokenPair(
            access_token=access.token,
            expires_in=max(0, int(access.expires_at - now)),
            refresh_token=refresh_token,
            refresh_expires_in=max(0, int(family_expires_at - now)),
            sid=sid,
            user_id=user_id,
            csrf_token=csrf_token,
        )
