"""Small private helpers: strict base64url, random ids, hashing, constant-time compare."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets

__all__ = [
    "b64url_decode",
    "b64url_encode",
    "constant_time_equals",
    "hash_token",
    "random_token",
]

_B64URL = re.compile(r"[A-Za-z0-9_-]*")
# The last character of a base64url string with n % 4 == 2 encodes 4 bits of data, with
# n % 4 == 3 it encodes 2: the remaining low bits must be zero (canonical encoding).
_TAIL_2 = frozenset("AQgw")  # last char when 4 data bits remain: low 4 bits zero
_TAIL_3 = frozenset("AEIMQUYcgkosw048")  # last char when 2 data bits remain: low 2 bits zero


def b64url_encode(data: bytes) -> str:
    """Encode bytes as base64url without padding (RFC 7515 section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode exact, canonical base64url without padding.

    Raises:
        ValueError: on any other alphabet, padding, impossible length or non-zero
            trailing bits (so every byte string has exactly one accepted encoding).
    """
    if not _B64URL.fullmatch(text):
        raise ValueError("not base64url")
    rem = len(text) % 4
    if rem == 1:
        raise ValueError("impossible base64url length")
    if rem == 2 and text[-1] not in _TAIL_2:
        raise ValueError("non-canonical base64url trailing bits")
    if rem == 3 and text[-1] not in _TAIL_3:
        raise ValueError("non-canonical base64url trailing bits")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:  # pragma: no cover - guarded above
        raise ValueError("not base64url") from exc


def random_token(nbytes: int = 32) -> str:
    """A base64url string of ``nbytes`` bytes from the OS CSPRNG (default 256 bits)."""
    return b64url_encode(secrets.token_bytes(nbytes))


def hash_token(token: str) -> str:
    """SHA-256 of a secret token as 64 hex chars: the only form stored at rest."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def constant_time_equals(a: str | bytes, b: str | bytes) -> bool:
    """Compare two secrets without an early exit (``hmac.compare_digest``)."""
    if isinstance(a, str):
        a = a.encode("utf-8", "surrogatepass")
    if isinstance(b, str):
        b = b.encode("utf-8", "surrogatepass")
    return hmac.compare_digest(a, b)
