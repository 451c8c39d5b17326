"""Starlette helpers: get the Principal in an endpoint, and the error handler."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from gatepass.asgi.errors import error_body, error_headers, error_status
from gatepass.asgi.middleware import cached_require, get_request_auth
from gatepass.errors import GatepassError, MethodNotAllowed, NotFound
from gatepass.principal import Principal

__all__ = [
    "exception_handlers",
    "gatepass_error_handler",
    "http_exception_handler",
    "require_principal",
    "server_error_handler",
]

logger = logging.getLogger("gatepass.server")


async def require_principal(
    conn: HTTPConnection, scopes: Iterable[str] = (), *, csrf_token: str | None = None
) -> Principal:
    """The request's Principal after the CSRF rule and scope checks (raises otherwise)."""
    required = tuple(scopes)  # read twice below: an iterator must not run dry
    if csrf_token is None:
        principal = cached_require(conn.scope, required)
        if principal is not None:
            return principal
    return await get_request_auth(conn.scope).require(required, csrf_token=csrf_token)


def _response(exc: GatepassError, headers: dict[str, str] | None = None) -> Response:
    return Response(
        error_body(exc),
        status_code=error_status(exc),
        headers={**dict(error_headers(exc)), **(headers or {})},
        media_type="application/json",
    )


async def gatepass_error_handler(request: Request, exc: Exception) -> Response:
    """Turn a GatepassError into gatepass's JSON error response."""
    if not isinstance(exc, GatepassError):  # pragma: no cover - registered for GatepassError
        raise exc
    return _response(exc)


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 (unknown path, wrong method) as gatepass JSON errors."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status == 405 and isinstance(exc, HTTPException):
        return _response(MethodNotAllowed(), dict(exc.headers or {}))
    if status == 404:
        return _response(NotFound())
    logger.error("unexpected HTTP error %s on %s", status, request.url.path)
    return _response(GatepassError("unexpected HTTP error"))


async def server_error_handler(request: Request, exc: Exception) -> Response:
    """Any uncaught exception: logged with its traceback, answered with a generic 500."""
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return _response(GatepassError("unhandled error"))


def exception_handlers() -> dict[Any, Any]:
    """The handlers a Starlette app needs so that every error body is gatepass JSON."""
    return {
        GatepassError: gatepass_error_handler,
        HTTPException: http_exception_handler,
        Exception: server_error_handler,
    }
