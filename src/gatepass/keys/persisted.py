"""Signing keys kept in the store: created on first start, rotated and retired by command.

Each key is a :class:`~gatepass.stores.base.KeyRecord` holding its private JWK. Status
``active`` signs (exactly one), ``verify`` still verifies, ``retired`` is ignored.
Instances that share a store therefore share their keys.

Creating, rotating and retiring a key is recorded as an audit event (``key.rotate``,
``key.retire``; ``detail`` names the kid and alg) in stores that keep an audit trail,
and logged on ``gatepass.audit``.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Protocol, runtime_checkable

from gatepass.errors import ConfigurationError, InvalidKey
from gatepass.keys import algorithms
from gatepass.keys.key import SigningKey
from gatepass.keys.keyring import KeyRing
from gatepass.stores.base import AuditEvent, KeyRecord, KeyStore
from gatepass.types import Clock

__all__ = ["load_keyring", "reload_keyring", "retire_key", "rotate_key"]

_audit_log = logging.getLogger("gatepass.audit")


@runtime_checkable
class _Audited(Protocol):
    async def append_audit(self, event: AuditEvent) -> None: ...


async def _audit(store: KeyStore, action: str, detail: str, now: float) -> None:
    """Log a key event on ``gatepass.audit`` and append it to the store's audit trail."""
    _audit_log.info("%s ok", action, extra={"detail": detail})
    if isinstance(store, _Audited):
        await store.append_audit(AuditEvent(action, "ok", now, detail=detail))


def _record(key: SigningKey, created_at: float) -> KeyRecord:
    text = json.dumps(key.private_jwk(), separators=(",", ":"), sort_keys=True)
    return KeyRecord(
        kid=key.kid, alg=key.alg, private_jwk=text, created_at=created_at, status="verify"
    )


def _load(record: KeyRecord) -> SigningKey:
    key = SigningKey.from_jwk(record.private_jwk)
    if key.kid != record.kid or key.alg != record.alg or not key.is_private:
        raise InvalidKey(f"stored key {record.kid!r} does not match its record")
    return key


async def _ring_from_store(store: KeyStore, alg: str, fallback: str | None) -> KeyRing | None:
    keys: list[SigningKey] = []
    active: SigningKey | None = None
    for record in await store.list_keys():
        if record.status == "retired":
            continue
        key = _load(record)
        keys.append(key)
        if record.status == "active":
            active = key
    if active is not None and active.alg == alg:
        return KeyRing(keys, active=active.kid)
    if fallback is not None and any(key.kid == fallback for key in keys):
        return KeyRing(keys, active=fallback)
    return None


async def load_keyring(store: KeyStore, *, alg: str, clock: Clock = time.time) -> KeyRing:
    """The ring of every non-retired stored key, signing with the active key of ``alg``.

    If no key is active, or the active key has another algorithm, a new ``alg`` key is
    generated, stored and activated (older keys keep verifying).

    Raises:
        InvalidKey: if ``alg`` is not allow-listed or a stored key is unusable.
        StoreError: if the store fails.
    """
    alg = algorithms.require_algorithm(alg)
    ring = await _ring_from_store(store, alg, None)
    if ring is not None:
        return ring
    key = await rotate_key(store, alg=alg, clock=clock)
    # Read back: if another instance activated its own key at the same moment, the
    # store's choice wins; our key stays in the store and verifies either way.
    ring = await _ring_from_store(store, alg, key.kid)
    if ring is None:  # pragma: no cover - only if the store lost the key just written
        raise ConfigurationError("the store did not keep the new signing key")
    return ring


async def reload_keyring(store: KeyStore, ring: KeyRing) -> bool:
    """Bring a running ring up to date with the store; True if anything changed.

    Keys new in the store are added, the store's active key becomes the signing key,
    and keys the store marks retired stop verifying. Keys the store does not know are
    left alone (a ring built in code next to an empty store keeps its keys), and keys
    already in the ring keep their objects. This is how a rotation or a retirement made
    by ``gatepass keys`` (or another instance's first start) reaches every running
    instance without a restart.

    Raises:
        InvalidKey: if a stored key is unusable.
        StoreError: if the store fails.
    """
    changed = False
    retired: set[str] = set()
    active: str | None = None
    for record in await store.list_keys():
        if record.status == "retired":
            retired.add(record.kid)
            continue
        if record.kid not in ring:
            ring.add(_load(record))
            changed = True
        if record.status == "active":
            active = record.kid
    try:
        current = ring.active.kid
    except ConfigurationError:
        current = None
    if active is not None and active != current:
        ring.activate(active)
        current, changed = active, True
    for kid in ring.kids:
        if kid in retired and kid != current:
            ring.retire(kid)
            changed = True
    return changed


async def rotate_key(store: KeyStore, *, alg: str, clock: Clock = time.time) -> SigningKey:
    """Generate a key of ``alg``, store it and make it the active one.

    The former active key becomes ``verify``. Running instances pick the new key up
    when they reload their ring.

    Raises:
        InvalidKey: if ``alg`` is not allow-listed.
        StoreError: if the store fails.
    """
    key = SigningKey.generate(alg)
    now = clock()
    await store.add_key(_record(key, now))
    await store.activate_key(key.kid)
    await _audit(store, "key.rotate", f"kid={key.kid} alg={key.alg}", now)
    return key


async def retire_key(store: KeyStore, kid: str, *, clock: Clock = time.time) -> None:
    """Mark ``kid`` retired: tokens it signed stop verifying once rings reload.

    Raises:
        ConfigurationError: if ``kid`` is unknown or is the active key.
        StoreError: if the store fails.
    """
    for record in await store.list_keys():
        if record.kid == kid:
            if record.status == "active":
                raise ConfigurationError("cannot retire the active key; rotate first")
            await store.set_key_status(kid, "retired")
            await _audit(store, "key.retire", f"kid={kid} alg={record.alg}", clock())
            return
    raise ConfigurationError(f"unknown kid {kid!r}")
