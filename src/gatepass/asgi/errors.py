"""The only place gatepass maps errors to HTTP: status, headers, and a generic body.

Clients get ``{"error": code, "detail": sentence}`` where the sentence is the error
class's fixed :attr:`~gatepass.errors.GatepassError.public_detail`: never the input,
a stack trace, SQL, a path or key material.
"""

from __future__ import annotations

import json

from gatepass.errors import (
    AuthenticationError,
    GatepassError,
    InvalidCredentials,
    MissingCredential,
    PermissionDenied,
    RateLimited,
)
from gatepass.transports.bearer import challenge

__all__ = ["STATUS_BY_CODE", "error_body", "error_headers", "error_status"]

#: HTTP status for every stable error code (API.md's table).
STATUS_BY_CODE: dict[str, int] = {
    "validation_error": 422,
    "unsupported_media_type": 415,
    "email_taken": 409,
    "invalid_credentials": 401,
    "invalid_token": 401,
    "token_expired": 401,
    "token_revoked": 401,
    "session_expired": 401,
    "refresh_reused": 401,
    "csrf_failed": 403,
    "reauth_required": 403,
    "forbidden": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "payload_too_large": 413,
    "rate_limited": 429,
    "store_unavailable": 503,
    "store_conflict": 503,
}


def error_status(exc: GatepassError) -> int:
    """The HTTP status of an error (500 only for configuration errors)."""
    return STATUS_BY_CODE.get(exc.code, 500)


def error_body(exc: GatepassError) -> bytes:
    """The JSON error body: the stable code and a fixed generic sentence."""
    code = exc.code if exc.code in STATUS_BY_CODE else "server_error"
    detail = exc.public_detail if code != "server_error" else "The server failed."
    return json.dumps({"error": code, "detail": detail}).encode()


def error_headers(exc: GatepassError) -> list[tuple[str, str]]:
    """Headers the error requires: ``WWW-Authenticate`` on 401/403, ``Retry-After`` on 429."""
    headers: list[tuple[str, str]] = [("cache-control", "no-store")]
    if isinstance(exc, MissingCredential | InvalidCredentials):
        headers.append(("www-authenticate", challenge()))
    elif isinstance(exc, AuthenticationError):
        headers.append(("www-authenticate", challenge("invalid_token")))
    elif isinstance(exc, PermissionDenied):
        scope = " ".join(sorted(exc.required_scopes)) or None
        headers.append(("www-authenticate", challenge("insufficient_scope", scope=scope)))
    elif isinstance(exc, RateLimited):
        headers.append(("retry-after", str(max(1, int(exc.retry_after)))))
    return headers
