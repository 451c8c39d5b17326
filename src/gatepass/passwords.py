"""Password hashing (argon2id in background threads) and the password policy.

Hashing is the one CPU- and memory-heavy step of a login, and an attacker can start
as many logins as they like. So :class:`Argon2Hasher` runs every hash and verify in a
thread of its own (the event loop keeps serving requests) behind a capacity limiter of
one fewer than the cores by default (a login storm queues instead of running more hashes
at once, each holding ``memory_cost`` KiB, and leaves a core to the event loop). On Linux
those threads run at the lowest CPU priority (``SCHED_IDLE``): a hash takes only the CPU
time that requests and everything else on the machine leave over, so a login storm
slows logins far more than the requests of users already signed in. It still progresses
on a saturated machine (the kernel gives such a thread a small share), only more
slowly; ``PasswordSettings(background_priority=False)`` hashes at normal priority.

An unknown user is verified too: ``verify(None, password)`` checks the password
against a hash of a random password made with the same parameters and returns
``False``, so "no such user" and "wrong password" take about the same time
(SECURITY.md AA-04, S-23).

The policy (:func:`check_password_policy`) follows ASVS 5 / OWASP: a length between
``min_length`` and ``max_length`` code points, checked before any hashing; no
truncation, no Unicode normalisation, no composition rules; refuse the shipped list
of common passwords, the configured extra words, and the user's own email.
"""

from __future__ import annotations

import functools
import logging
import os
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from typing import Protocol, TypeVar, runtime_checkable

import anyio
import anyio.to_thread
import argon2
import argon2.exceptions

from gatepass.config import PasswordSettings
from gatepass.errors import ConfigurationError, WeakPassword

__all__ = [
    "Argon2Hasher",
    "PasswordHasher",
    "check_password_policy",
    "common_passwords",
    "is_common_password",
]

_log = logging.getLogger(__name__)

_COMMON_LIST = "common-passwords.txt"

_T = TypeVar("_T")


def _lower_thread_priority() -> None:
    """Make the calling thread yield the CPU to everything else (Linux: SCHED_IDLE).

    Linux scheduling attributes are per thread, so this touches only the hashing
    thread. Elsewhere it does nothing: ``nice`` there applies to the whole process.
    """
    idle = getattr(os, "SCHED_IDLE", None)
    if idle is None or not hasattr(os, "sched_setscheduler"):
        return
    try:
        os.sched_setscheduler(0, idle, os.sched_param(0))
    except OSError:  # refused by a seccomp profile or the like: hash at normal priority
        _log.debug("could not lower the hashing thread's CPU priority", exc_info=True)


def _call_in(executor: ThreadPoolExecutor, fn: Callable[..., _T], *args: object) -> _T:
    """Run ``fn(*args)`` in one of ``executor``'s threads; block until it is done."""
    return executor.submit(fn, *args).result()


@runtime_checkable
class PasswordHasher(Protocol):
    """Hashes new passwords and verifies login attempts against stored hashes."""

    async def hash(self, password: str) -> str:
        """Hash ``password`` with a fresh salt; returns a self-describing string."""
        ...

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Whether ``password`` matches ``password_hash``.

        ``None`` stands for an unknown user: the same work is done and the answer
        is ``False``. Never raises for a wrong password or a malformed hash.
        """
        ...

    def needs_rehash(self, password_hash: str) -> bool:
        """Whether ``password_hash`` was made with other parameters than the current."""
        ...


def _encode(password: str) -> bytes:
    # Exactly as received: no normalisation. "surrogatepass" so that a lone surrogate
    # (valid in a JSON string) hashes deterministically instead of raising.
    return password.encode("utf-8", "surrogatepass")


class Argon2Hasher:
    """argon2id via argon2-cffi, off the event loop, at most N hashes at once.

    Args:
        settings: argon2 parameters, ``max_concurrency`` (default: the number of
            CPUs minus one, at least one) and ``background_priority`` (default: hash
            in threads of the lowest CPU priority, on Linux). The defaults are OWASP's
            minimum: m=19456 KiB, t=2, p=1.

    A password longer than ``settings.max_length`` code points never reaches argon2:
    :meth:`verify` answers ``False`` at once (the policy never lets such a password
    be stored, and refusing it early bounds the work one request can cause).
    """

    def __init__(self, settings: PasswordSettings | None = None) -> None:
        self._settings = settings or PasswordSettings()
        s = self._settings
        try:
            self._hasher = argon2.PasswordHasher(
                time_cost=s.time_cost,
                memory_cost=s.memory_cost,
                parallelism=s.parallelism,
                hash_len=s.hash_len,
                salt_len=s.salt_len,
                type=argon2.Type.ID,
            )
        except (argon2.exceptions.Argon2Error, ValueError) as exc:
            raise ConfigurationError("argon2 parameters are not usable") from exc
        # Default: one core fewer than the machine has (at least one), so that a login
        # storm leaves a core to the event loop serving authenticated requests.
        default = max(1, (os.cpu_count() or 1) - 1)
        tokens = s.max_concurrency if s.max_concurrency is not None else default
        if tokens < 1:
            raise ConfigurationError("max_concurrency must be at least 1")
        self._tokens = tokens
        # Created on first use, inside the event loop (anyio binds it to the backend).
        self._limiter: anyio.CapacityLimiter | None = None
        # Threads of their own (made on first use, lowered by the initializer): a thread
        # cannot raise its priority again without privilege, so hashing cannot run in
        # anyio's shared worker threads, which also run store writes.
        self._background = (
            ThreadPoolExecutor(
                max_workers=tokens,
                thread_name_prefix="gatepass-argon2",
                initializer=_lower_thread_priority,
            )
            if s.background_priority
            else None
        )
        # A hash of a random password, for unknown users; made on first need.
        self._dummy_hash: str | None = None

    @property
    def settings(self) -> PasswordSettings:
        """The parameters this hasher uses."""
        return self._settings

    @property
    def max_concurrency(self) -> int:
        """How many hashes may run at once."""
        return self._tokens

    async def _run(self, fn: Callable[..., _T], *args: object) -> _T:
        # The limiter queues hashes beyond max_concurrency in the event loop; the anyio
        # worker thread that holds a token waits while a background thread hashes.
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self._tokens)
        if self._background is None:
            return await anyio.to_thread.run_sync(fn, *args, limiter=self._limiter)
        return await anyio.to_thread.run_sync(
            _call_in, self._background, fn, *args, limiter=self._limiter
        )

    async def hash(self, password: str) -> str:
        """Hash ``password`` (argon2id, fresh random salt) into a PHC string.

        The password is hashed exactly as given; apply :func:`check_password_policy`
        to new passwords first.

        Raises:
            ConfigurationError: argon2 could not run with these parameters (for
                example, not enough memory).
        """
        return await self._run(self._hash_sync, _encode(password))

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Whether ``password`` matches ``password_hash``; ``False`` for ``None``.

        ``None`` (unknown user) runs a real argon2 verify against a hash of a random
        password made with the same parameters, then answers ``False``. A wrong
        password, a malformed or foreign stored hash, or an over-long password all
        give ``False``; nothing secret is logged.
        """
        if len(password) > self._settings.max_length:
            return False
        data = _encode(password)
        if password_hash is None:
            return await self._run(self._dummy_verify_sync, data)
        return await self._run(self._verify_sync, password_hash, data)

    def needs_rehash(self, password_hash: str) -> bool:
        """Whether the hash should be replaced (other type or parameters, or malformed).

        Call it after a successful :meth:`verify`, and store a new hash if ``True``.
        """
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except (argon2.exceptions.InvalidHashError, ValueError):
            return True

    # -- blocking parts, run in worker threads ------------------------------------------

    def _hash_sync(self, password: bytes) -> str:
        try:
            return self._hasher.hash(password)
        except argon2.exceptions.HashingError as exc:
            raise ConfigurationError("argon2 could not hash with these parameters") from exc

    def _verify_sync(self, password_hash: str, password: bytes) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except argon2.exceptions.VerifyMismatchError:
            return False
        except (
            argon2.exceptions.VerificationError,
            argon2.exceptions.InvalidHashError,
            ValueError,  # a non-ASCII "hash" (UnicodeEncodeError)
        ):
            _log.warning("stored password hash is not a usable argon2 hash")
            return False

    def _dummy_verify_sync(self, password: bytes) -> bool:
        if self._dummy_hash is None:
            self._dummy_hash = self._hash_sync(secrets.token_bytes(32))
        self._verify_sync(self._dummy_hash, password)
        return False


# -- policy ------------------------------------------------------------------------------


@functools.cache
def common_passwords() -> frozenset[str]:
    """The shipped common-password list (lower-case), loaded once on first use.

    See ``gatepass/data/README.md`` for its origin and licence.
    """
    text = resources.files("gatepass").joinpath("data", _COMMON_LIST).read_text("utf-8")
    return frozenset(line for line in text.splitlines() if line)


def is_common_password(password: str) -> bool:
    """Whether ``password`` is on the common-password list (case-insensitive)."""
    return password.lower() in common_passwords()


def check_password_policy(
    password: str, settings: PasswordSettings, *, email: str | None = None
) -> None:
    """Check a new password against the policy; run it before hashing.

    Rules: ``min_length <= len(password) <= max_length`` in code points (the
    password is never truncated or normalised, and whitespace counts); not on the
    common-password list when ``settings.refuse_common``; not one of
    ``settings.extra_forbidden``; not equal to ``email`` or its local part (all
    comparisons ignore case). There are no composition rules.

    Raises:
        WeakPassword: with ``field="password"``; the detail names the rule, never
            the password.
    """
    length = len(password)
    if length < settings.min_length:
        raise WeakPassword(
            f"password is shorter than {settings.min_length} characters", field="password"
        )
    if length > settings.max_length:
        raise WeakPassword(
            f"password is longer than {settings.max_length} characters", field="password"
        )
    lowered = password.lower()
    if settings.refuse_common and lowered in common_passwords():
        raise WeakPassword("password is on the common-password list", field="password")
    if settings.extra_forbidden and lowered in {w.lower() for w in settings.extra_forbidden}:
        raise WeakPassword("password is on the forbidden list", field="password")
    if email:
        address = email.strip().lower()
        local = address.rpartition("@")[0] if "@" in address else address
        if lowered in {address, local}:
            raise WeakPassword("password is the same as the email address", field="password")
