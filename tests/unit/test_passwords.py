"""Password hashing (argon2id off the event loop) and the password policy."""

from __future__ import annotations

import os
import re
import threading
import time
import unicodedata

import anyio
import argon2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatepass.config import PasswordSettings
from gatepass.errors import ConfigurationError, ValidationError, WeakPassword
from gatepass.passwords import (
    Argon2Hasher,
    PasswordHasher,
    check_password_policy,
    common_passwords,
    is_common_password,
)

PHC = re.compile(r"\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}")
POLICY = PasswordSettings()
# Cheap parameters for tests that hash many times and do not look at the parameters.
FAST = PasswordSettings(time_cost=1, memory_cost=1024)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class CountingHasher(Argon2Hasher):
    """Records every real argon2 verify and the peak number of concurrent hashes."""

    def __init__(self, settings: PasswordSettings | None = None) -> None:
        super().__init__(settings)
        self.verified: list[str] = []
        self.active = 0
        self.peak = 0
        self._lock = threading.Lock()

    def _verify_sync(self, password_hash: str, password: bytes) -> bool:
        self.verified.append(password_hash)
        return super()._verify_sync(password_hash, password)

    def _hash_sync(self, password: bytes) -> str:
        with self._lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            return super()._hash_sync(password)
        finally:
            with self._lock:
                self.active -= 1


# -- hashing and verifying ---------------------------------------------------------------


@pytest.mark.anyio
async def test_hash_is_argon2id_phc_with_owasp_parameters() -> None:
    """A hash is an argon2id PHC string with m=19456 KiB, t=2, p=1, 16-byte salt."""
    hashed = await Argon2Hasher().hash("correct horse battery staple")
    assert PHC.fullmatch(hashed), hashed


@pytest.mark.anyio
async def test_same_password_hashes_differently() -> None:
    """Two hashes of the same password differ (a fresh salt each time)."""
    hasher = Argon2Hasher(FAST)
    assert await hasher.hash("same password") != await hasher.hash("same password")


@pytest.mark.anyio
async def test_verify_right_and_wrong_password() -> None:
    """verify is True for the right password and False for a wrong one."""
    hasher = Argon2Hasher()
    hashed = await hasher.hash("correct horse battery staple")
    assert await hasher.verify(hashed, "correct horse battery staple") is True
    assert await hasher.verify(hashed, "correct horse battery stapler") is False


@pytest.mark.anyio
async def test_verify_is_exact_without_normalisation() -> None:
    """Whitespace, case and Unicode form are significant: nothing is stripped or normalised."""
    hasher = Argon2Hasher(FAST)
    password = "  caf\u00e9 au lait\t"
    hashed = await hasher.hash(password)
    assert await hasher.verify(hashed, password) is True
    assert await hasher.verify(hashed, password.strip()) is False
    assert await hasher.verify(hashed, password.upper()) is False
    assert await hasher.verify(hashed, unicodedata.normalize("NFD", password)) is False


@pytest.mark.anyio
async def test_lone_surrogate_password_round_trips() -> None:
    """A password with a lone surrogate (legal in JSON) hashes and verifies instead of raising."""
    hasher = Argon2Hasher(FAST)
    hashed = await hasher.hash("abc\ud800defgh")
    assert await hasher.verify(hashed, "abc\ud800defgh") is True
    assert await hasher.verify(hashed, "abc\ud801defgh") is False


@pytest.mark.anyio
async def test_unknown_user_runs_a_real_verify_and_fails() -> None:
    """verify(None, ...) runs argon2 verify on a same-parameter dummy hash and returns False."""
    hasher = CountingHasher()
    start = time.perf_counter()
    assert await hasher.verify(None, "correct horse battery staple") is False
    elapsed = time.perf_counter() - start
    assert 1 == len(hasher.verified)
    assert PHC.fullmatch(hasher.verified[0])
    # A 19 MiB argon2 pass takes milliseconds; a shortcut would take microseconds.
    assert elapsed > 0.001
    assert await hasher.verify(None, "another guess") is False
    assert 2 == len(hasher.verified)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "stored",
    [
        "",
        "garbage",
        "$argon2id$v=19$m=19456,t=2,p=1$AAAA$BBBB",
        "$argon2id$v=19$m=19456,t=2,p=1$not base64!$@@@",
        "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
        "$argon2id$\u00e9\u00e9",
        "pbkdf2_sha256$600000$salt$hash",
    ],
)
async def test_malformed_stored_hash_verifies_false(stored: str) -> None:
    """A malformed or foreign stored hash makes verify return False, never raise."""
    assert await Argon2Hasher(FAST).verify(stored, "password") is False


@pytest.mark.anyio
async def test_over_long_password_is_refused_without_hashing() -> None:
    """A password over max_length never reaches argon2 at verify time (bounded work)."""
    hasher = CountingHasher(FAST)
    long_password = "x" * (FAST.max_length + 1)
    hashed = await hasher.hash(long_password)
    assert await hasher.verify(hashed, long_password) is False
    assert [] == hasher.verified


@pytest.mark.anyio
async def test_needs_rehash_for_weaker_or_foreign_hashes() -> None:
    """needs_rehash is False for current parameters, True for weaker ones, argon2i or junk."""
    current = Argon2Hasher()
    weaker = Argon2Hasher(PasswordSettings(time_cost=1, memory_cost=8192))
    assert current.needs_rehash(await current.hash("password-one")) is False
    assert current.needs_rehash(await weaker.hash("password-one")) is True
    argon2i = argon2.PasswordHasher(
        time_cost=2, memory_cost=19456, parallelism=1, type=argon2.Type.I
    )
    assert current.needs_rehash(argon2i.hash("password-one")) is True
    assert current.needs_rehash("not a hash") is True
    assert current.needs_rehash("$argon2id$\u00e9") is True


@pytest.mark.anyio
async def test_weaker_hash_still_verifies() -> None:
    """A hash made with older parameters still verifies (so the login can rehash it)."""
    weaker = Argon2Hasher(PasswordSettings(time_cost=1, memory_cost=8192))
    hashed = await weaker.hash("old password hash")
    assert await Argon2Hasher().verify(hashed, "old password hash") is True


def test_argon2_hasher_satisfies_protocol() -> None:
    """Argon2Hasher is a PasswordHasher."""
    assert isinstance(Argon2Hasher(FAST), PasswordHasher)


def test_default_concurrency_leaves_a_core_to_the_event_loop() -> None:
    """By default hashing uses every core but one (and at least one)."""
    assert max(1, (os.cpu_count() or 1) - 1) == Argon2Hasher().max_concurrency
    assert 3 == Argon2Hasher(PasswordSettings(max_concurrency=3)).max_concurrency


@pytest.mark.anyio
async def test_concurrency_is_capped() -> None:
    """Eight concurrent hashes with max_concurrency=2 never run more than two at once."""
    hasher = CountingHasher(PasswordSettings(max_concurrency=2))
    results: list[str] = []

    async def one(i: int) -> None:
        results.append(await hasher.hash(f"password number {i}"))

    async with anyio.create_task_group() as tg:
        for i in range(8):
            tg.start_soon(one, i)
    assert 8 == len(set(results))
    assert 2 == hasher.peak


@pytest.mark.anyio
async def test_event_loop_keeps_running_while_hashing() -> None:
    """A ticker task keeps ticking while hashes run, because they run in worker threads."""
    hasher = Argon2Hasher(PasswordSettings(max_concurrency=1))
    ticks = 0
    done = anyio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await anyio.sleep(0.001)

    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        start = time.perf_counter()
        for i in range(4):
            await hasher.hash(f"password number {i}")
        elapsed = time.perf_counter() - start
        done.set()
    # Four sequential ~20 ms hashes: a blocked loop would tick about 4 times at most.
    assert elapsed > 0.02
    assert ticks >= 10, (ticks, elapsed)


class PolicyRecordingHasher(Argon2Hasher):
    """Records the scheduling policy and name of the thread each hash and verify ran in."""

    def __init__(self, settings: PasswordSettings | None = None) -> None:
        super().__init__(settings)
        self.seen: list[tuple[int, str]] = []

    def _record(self) -> None:
        self.seen.append((os.sched_getscheduler(0), threading.current_thread().name))

    def _hash_sync(self, password: bytes) -> str:
        self._record()
        return super()._hash_sync(password)

    def _verify_sync(self, password_hash: str, password: bytes) -> bool:
        self._record()
        return super()._verify_sync(password_hash, password)


linux_only = pytest.mark.skipif(
    not hasattr(os, "SCHED_IDLE"), reason="thread scheduling policies are Linux's"
)


@linux_only
@pytest.mark.anyio
async def test_hashes_run_in_idle_priority_threads_of_their_own() -> None:
    """Hash, verify and the unknown-user verify all run at SCHED_IDLE, in gatepass threads."""
    hasher = PolicyRecordingHasher(FAST)
    stored = await hasher.hash("correct horse battery")
    assert await hasher.verify(stored, "correct horse battery")
    assert not await hasher.verify(None, "correct horse battery")
    # hash, verify, the dummy hash made on first need, the dummy verify
    assert 4 == len(hasher.seen)
    for policy, name in hasher.seen:
        assert os.SCHED_IDLE == policy
        assert name.startswith("gatepass-argon2")


@linux_only
@pytest.mark.anyio
async def test_shared_worker_threads_keep_their_priority() -> None:
    """The lowered threads are the hasher's own: anyio's pool (store writes) is untouched."""
    hasher = Argon2Hasher(PasswordSettings(time_cost=1, memory_cost=1024, max_concurrency=4))

    async def one(i: int) -> None:
        await hasher.hash(f"password number {i}")

    async with anyio.create_task_group() as tg:
        for i in range(8):
            tg.start_soon(one, i)
    policies = set()
    for _ in range(8):
        policies.add(await anyio.to_thread.run_sync(os.sched_getscheduler, 0))
    assert {os.SCHED_OTHER} == policies


@linux_only
@pytest.mark.anyio
async def test_background_priority_can_be_turned_off() -> None:
    """background_priority=False hashes in anyio's worker threads at normal priority."""
    hasher = PolicyRecordingHasher(
        PasswordSettings(time_cost=1, memory_cost=1024, background_priority=False)
    )
    stored = await hasher.hash("correct horse battery")
    assert await hasher.verify(stored, "correct horse battery")
    assert 2 == len(hasher.seen)
    for policy, name in hasher.seen:
        assert os.SCHED_OTHER == policy
        assert not name.startswith("gatepass-argon2")


@pytest.mark.anyio
async def test_hashing_still_works_where_the_priority_cannot_be_lowered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A refused priority change (seccomp, another OS) leaves hashing working."""
    calls = 0

    def refuse(*args: object) -> None:
        nonlocal calls
        calls += 1
        raise PermissionError("not allowed here")

    monkeypatch.setattr(os, "sched_setscheduler", refuse, raising=False)
    monkeypatch.setattr(os, "SCHED_IDLE", 5, raising=False)
    monkeypatch.setattr(os, "sched_param", lambda priority: priority, raising=False)
    hasher = Argon2Hasher(PasswordSettings(time_cost=1, memory_cost=1024, max_concurrency=1))
    stored = await hasher.hash("correct horse battery")
    assert await hasher.verify(stored, "correct horse battery")
    assert 1 == calls  # one thread, tried once


@pytest.mark.anyio
@pytest.mark.parametrize("background", [True, False])
async def test_argon2_failure_is_a_configuration_error(background: bool) -> None:
    """argon2 failing to allocate its memory surfaces as ConfigurationError from its thread."""
    hasher = Argon2Hasher(
        PasswordSettings(time_cost=1, memory_cost=2**32 - 1, background_priority=background)
    )
    with pytest.raises(ConfigurationError):
        await hasher.hash("correct horse battery")


# -- policy ------------------------------------------------------------------------------


@pytest.mark.parametrize("password", ["Tr0ub4d", "a" * 7, "\u00e9" * 7, " " * 7])
def test_seven_characters_are_refused(password: str) -> None:
    """A password shorter than 8 code points is refused with field 'password'."""
    with pytest.raises(WeakPassword) as info:
        check_password_policy(password, POLICY)
    assert "password" == info.value.field
    assert "validation_error" == info.value.code
    assert password not in str(info.value)


@pytest.mark.parametrize(
    "password",
    [
        "Tr0ub4d&",
        "x" * 1024,
        "\U0001f510" * 8,
        "        ",
        "  pass phrase  ",
        "p\u00e4ssw\u00f6rd!",
    ],
)
def test_lengths_between_8_and_1024_code_points_are_accepted(password: str) -> None:
    """8 to 1024 code points pass whatever their bytes, whitespace or script (no composition)."""
    check_password_policy(password, POLICY)


def test_1025_characters_are_refused() -> None:
    """A password of 1025 code points is refused (checked before hashing, not truncated)."""
    with pytest.raises(WeakPassword):
        check_password_policy("x" * 1025, POLICY)


def test_length_counts_code_points_not_bytes() -> None:
    """1024 four-byte characters pass; the limit is in code points."""
    check_password_policy("\U0001f510" * 1024, POLICY)
    with pytest.raises(WeakPassword):
        check_password_policy("\U0001f510" * 1025, POLICY)


@pytest.mark.parametrize(
    "password", ["password1", "qwertyuiop", "PassWord1", "QWERTYUIOP", "iloveyou"]
)
def test_common_passwords_are_refused(password: str) -> None:
    """Passwords on the common list are refused, comparing case-insensitively."""
    assert is_common_password(password)
    with pytest.raises(WeakPassword):
        check_password_policy(password, POLICY)


def test_common_list_can_be_turned_off() -> None:
    """With refuse_common=False a common password passes the policy."""
    check_password_policy("password1", PasswordSettings(refuse_common=False))


def test_common_list_is_large_lower_case_and_clean() -> None:
    """The shipped list has at least 10,000 lower-case, non-blank entries."""
    words = common_passwords()
    assert len(words) >= 10_000
    assert all(w == w.lower() and w.strip() == w and w for w in words)
    assert not is_common_password("correct horse battery staple")


def test_extra_forbidden_words_are_refused() -> None:
    """Words in settings.extra_forbidden are refused, case-insensitively."""
    policy = PasswordSettings(extra_forbidden=frozenset({"Gatepass-Demo"}))
    with pytest.raises(WeakPassword):
        check_password_policy("gatepass-demo", policy)
    check_password_policy("gatepass-demo", POLICY)


@pytest.mark.parametrize(
    "password", ["alice.smith@example.org", "Alice.Smith", "ALICE.SMITH@EXAMPLE.ORG"]
)
def test_email_or_local_part_is_refused(password: str) -> None:
    """The user's email address or its local part is refused as a password."""
    with pytest.raises(WeakPassword):
        check_password_policy(password, POLICY, email="alice.smith@example.org")


def test_password_containing_email_is_accepted() -> None:
    """Only equality with the email is refused, not a password that merely contains it."""
    check_password_policy("alice.smith rides bikes", POLICY, email="alice.smith@example.org")


def test_weak_password_is_a_validation_error() -> None:
    """WeakPassword is a ValidationError (422 validation_error)."""
    with pytest.raises(ValidationError):
        check_password_policy("short", POLICY)


@settings(max_examples=300)
@given(st.text(max_size=40), st.one_of(st.none(), st.emails(), st.text(max_size=20)))
def test_policy_never_raises_anything_but_weak_password(password: str, email: str | None) -> None:
    """On arbitrary text the policy either accepts or raises WeakPassword (field 'password')."""
    field: str | None = "accepted"
    try:
        check_password_policy(password, POLICY, email=email)
    except WeakPassword as exc:
        field = exc.field
    if field == "accepted":
        assert 8 <= len(password) <= 1024
    else:
        assert "password" == field
