"""Type aliases shared by every layer of gatepass (imports nothing from gatepass)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Literal, TypeAlias

__all__ = [
    "JSON",
    "Algorithm",
    "AuthMethod",
    "Clock",
    "JSONObject",
    "SameSite",
]

#: A clock returns the current time in Unix seconds. Inject one wherever time matters.
Clock: TypeAlias = Callable[[], float]

#: Any JSON value, as parsed by gatepass's strict JSON reader.
JSON: TypeAlias = "bool | int | float | str | list[JSON] | dict[str, JSON] | None"

#: A JSON object (JWS header, JWT claims).
JSONObject: TypeAlias = Mapping[str, object]

#: The JWS algorithms gatepass supports. There is no "none".
Algorithm: TypeAlias = Literal["EdDSA", "ES256", "RS256", "HS256"]

#: How a principal authenticated: a JWT access token or a server-side session.
AuthMethod: TypeAlias = Literal["jwt", "session"]

#: The SameSite attribute of a cookie.
SameSite: TypeAlias = Literal["lax", "strict", "none"]
