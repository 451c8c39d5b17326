"""ASGI adapters: the auth middleware and the one error-to-HTTP mapping."""

from gatepass.asgi.errors import error_body as error_body
from gatepass.asgi.errors import error_headers as error_headers
from gatepass.asgi.errors import error_status as error_status
from gatepass.asgi.middleware import AuthMiddleware as AuthMiddleware
from gatepass.asgi.middleware import RequestAuth as RequestAuth
from gatepass.asgi.middleware import cached_require as cached_require
from gatepass.asgi.middleware import get_request_auth as get_request_auth

__all__ = [
    "AuthMiddleware",
    "RequestAuth",
    "cached_require",
    "error_body",
    "error_headers",
    "error_status",
]
