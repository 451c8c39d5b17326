"""Starlette helpers: get the Principal in an endpoint, and the error handler."""

from __future__ import annotations

from collections.abc import Iterable

from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from gatepass.asgi.errors import error_body, error_headers, error_status
from gatepass.asgi.middleware import get_request_auth
from gatepass.errors import GatepassError
from gatepass.principal import Principal

__all__ = ["gatepass_error_handler", "require_principal"]


async def require_principal(
    conn: HTTPConnection, scopes: Iterable[str] = (), *, csrf_token: str | None = None
) -> Principal:
    """The request's Principal after the CSRF rule and scope checks (raises otherwise)."""
    return await get_request_auth(conn.scope).require(scopes, csrf_token=csrf_token)


async def gatepass_error_handler(request: Request, exc: Exception) -> Response:
    """Turn a GatepassError into gatepass's JSON error response."""
    if not isinstance(exc, GatepassError):  # pragma: no cover - registered for GatepassError
        raise exc
    return Response(
        error_body(exc),
        status_code=error_status(exc),
        headers=dict(error_headers(exc)),
        media_type="application/json",
    )
