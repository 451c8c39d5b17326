"""``KeyRing``: keys by ``kid``; one active key signs, every listed key verifies.

Rotation adds a new active key while the former one keeps verifying the tokens it
signed; retiring a key removes it, so its tokens stop verifying. Lookup is by ``kid``
only (a dict lookup), never by trying every key.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping

from gatepass.errors import ConfigurationError, InvalidKey
from gatepass.keys.key import SigningKey, load_jwk_json

__all__ = ["KeyRing"]

_GENERATIONS = itertools.count(1)


class KeyRing:
    """Trusted keys by ``kid``, with at most one active signing key.

    Args:
        keys: the keys; ``kid`` values must be unique.
        active: the ``kid`` of the signing key. If omitted and exactly one of ``keys``
            can sign, that one is active; otherwise the ring only verifies until a key
            is activated.

    Raises:
        ConfigurationError: duplicate ``kid``, unknown ``active``, or an ``active`` key
            that cannot sign.
    """

    __slots__ = ("_active", "_keys", "generation")

    def __init__(self, keys: Iterable[SigningKey] = (), *, active: str | None = None) -> None:
        self._keys: dict[str, SigningKey] = {}
        self._active: str | None = None
        #: Changes with the set of verifying keys (a key added or retired): a key found
        #: in the ring when this was ``g`` is still there while it is ``g``. Drawn from
        #: one process-wide counter, so no two rings ever share a value.
        self.generation = next(_GENERATIONS)
        for key in keys:
            self.add(key)
        if active is not None:
            self._activate(active)
        else:
            signers = [key.kid for key in self._keys.values() if key.is_private]
            if len(signers) == 1:
                self._active = signers[0]

    def __repr__(self) -> str:
        return f"KeyRing(kids={list(self._keys)!r}, active={self._active!r})"

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, kid: object) -> bool:
        return kid in self._keys

    @property
    def active(self) -> SigningKey:
        """The key that signs new tokens.

        Raises:
            ConfigurationError: if the ring has no active key (a verify-only ring).
        """
        if self._active is None:
            raise ConfigurationError("the key ring has no active signing key")
        return self._keys[self._active]

    @property
    def kids(self) -> tuple[str, ...]:
        """Every verifying ``kid``, oldest first."""
        return tuple(self._keys)

    def get(self, kid: str) -> SigningKey | None:
        """The key with this ``kid``, or None. ``kid`` is only ever a dict key here."""
        return self._keys.get(kid)

    def add(self, key: SigningKey, *, activate: bool = False) -> None:
        """Trust ``key`` for verification; with ``activate``, also sign with it.

        Raises:
            ConfigurationError: if another key already has this ``kid``, or ``activate``
                is asked of a verify-only key.
        """
        if not isinstance(key, SigningKey):
            raise ConfigurationError("KeyRing holds SigningKey objects only")
        existing = self._keys.get(key.kid)
        if existing is not None and existing is not key:
            raise ConfigurationError(f"duplicate kid {key.kid!r}")
        if activate and not key.is_private:
            raise ConfigurationError(f"key {key.kid!r} cannot sign")
        if existing is None:
            self._keys[key.kid] = key
            self.generation = next(_GENERATIONS)
        if activate:
            self._active = key.kid

    def activate(self, kid: str) -> None:
        """Sign with the key ``kid``, already in the ring.

        Raises:
            ConfigurationError: if ``kid`` is unknown or cannot sign.
        """
        self._activate(kid)

    def rotate(self, new_key: SigningKey) -> None:
        """Make ``new_key`` the active key; the former active key keeps verifying."""
        self.add(new_key, activate=True)

    def retire(self, kid: str) -> None:
        """Stop trusting ``kid``: tokens it signed no longer verify.

        Raises:
            ConfigurationError: if ``kid`` is unknown or is the active key.
        """
        if kid not in self._keys:
            raise ConfigurationError(f"unknown kid {kid!r}")
        if kid == self._active:
            raise ConfigurationError("cannot retire the active key; rotate first")
        del self._keys[kid]
        self.generation = next(_GENERATIONS)

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The JWK Set of every verifying asymmetric key (public members only)."""
        return {"keys": [key.public_jwk() for key in self._keys.values() if key.kty != "oct"]}

    def _activate(self, kid: str) -> None:
        key = self._keys.get(kid)
        if key is None:
            raise ConfigurationError(f"active kid {kid!r} is not in the ring")
        if not key.is_private:
            raise ConfigurationError(f"key {kid!r} cannot sign")
        self._active = kid

    @classmethod
    def from_jwks(cls, doc: Mapping[str, object] | str, *, strict: bool = True) -> KeyRing:
        """A verify-only ring from a JWK Set (``{"keys": [...]}``) or a single JWK.

        Private members are dropped (asymmetric keys become public-only). A set may
        not mix symmetric and asymmetric keys, nor repeat a ``kid``.

        Args:
            doc: the JWK Set or JWK, as a mapping or JSON text.
            strict: if False, keys gatepass cannot use (other algorithms, ``use:
                "enc"``...) are skipped instead of refused; at least one must load.

        Raises:
            InvalidKey: if the document or any key (with ``strict``) is unusable.
        """
        if isinstance(doc, str):
            doc = load_jwk_json(doc)
        if not isinstance(doc, Mapping):
            raise InvalidKey("a JWK Set must be a JSON object")
        entries: object = doc.get("keys", [doc])
        if not isinstance(entries, list) or not entries:
            raise InvalidKey("a JWK Set needs a non-empty 'keys' list")
        keys: list[SigningKey] = []
        for entry in entries:
            try:
                if not isinstance(entry, Mapping):
                    raise InvalidKey("each JWK must be a JSON object")
                key = SigningKey.from_jwk(entry)
            except InvalidKey:
                if strict:
                    raise
                continue
            keys.append(key.public())
        if not keys:
            raise InvalidKey("no usable key in the JWK Set")
        if len({key.kid for key in keys}) != len(keys):
            raise InvalidKey("duplicate kid in the JWK Set")
        if len({key.kty == "oct" for key in keys}) > 1:
            raise InvalidKey("a JWK Set must not mix symmetric and asymmetric keys")
        ring = cls(keys)
        ring._active = None
        return ring
