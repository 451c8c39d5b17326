"""Signing keys: allow-listed algorithms, ``SigningKey``, ``KeyRing``, persisted keys."""

from gatepass.keys.key import SigningKey as SigningKey
from gatepass.keys.keyring import KeyRing as KeyRing
from gatepass.keys.persisted import load_keyring as load_keyring
from gatepass.keys.persisted import retire_key as retire_key
from gatepass.keys.persisted import rotate_key as rotate_key

__all__ = ["KeyRing", "SigningKey", "load_keyring", "retire_key", "rotate_key"]
