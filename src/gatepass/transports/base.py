"""Types shared by the transports: what a request carries, framework-free.

A transport sees only plain mappings of headers and cookies (never a framework
``Request``) and hands out opaque :class:`Credential` strings; it never imports
``gatepass.tokens`` or ``gatepass.sessions``. Deciding which strategy checks a
credential, and which credential wins when a request carries several, is the
caller's job (the ASGI middleware).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, TypeAlias

__all__ = ["CookieMap", "Credential", "CredentialKind", "HeaderMap"]

#: Request headers by lower-case name (one value per name, as the server joined them).
HeaderMap: TypeAlias = Mapping[str, str]

#: Request cookies by exact (case-sensitive) name, as parsed from the ``Cookie`` header.
CookieMap: TypeAlias = Mapping[str, str]

#: Where a credential came from.
CredentialKind: TypeAlias = Literal["bearer", "access_cookie", "refresh_cookie", "session_cookie"]


@dataclass(frozen=True, slots=True, repr=False)
class Credential:
    """An opaque credential and where it travelled; its value is never shown in a repr.

    Attributes:
        kind: ``"bearer"`` (``Authorization`` header), ``"access_cookie"``,
            ``"refresh_cookie"`` or ``"session_cookie"``.
        value: the raw token or session id, exactly as sent.
    """

    kind: CredentialKind
    value: str

    @property
    def from_cookie(self) -> bool:
        """Whether a browser attaches it by itself (so unsafe methods need CSRF checks)."""
        return self.kind != "bearer"

    def __repr__(self) -> str:
        return f"Credential(kind={self.kind!r}, value='***')"
