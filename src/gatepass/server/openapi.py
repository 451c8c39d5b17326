"""The OpenAPI 3.1 document of the auth server's JSON API (served at ``/openapi.json``).

Written by hand from API.md, so it says exactly what the routes do: request and
response schemas, the error responses (all one ``Error`` schema), and the security
schemes (Bearer token, session cookie, token cookies, the ``X-CSRF-Token`` header).
Cookie names follow the server's cookie prefix and mode (``__Host-`` except in ``--dev``).
"""

from __future__ import annotations

from typing import Any

from gatepass.server.settings import ServerSettings

__all__ = ["openapi_document"]

JSONDict = dict[str, Any]

_ERRORS: dict[str, tuple[str, str]] = {
    "401": ("Unauthorized", "Missing, invalid, expired or revoked credential."),
    "403": (
        "Forbidden",
        "The CSRF check failed (csrf_failed), or the action needs the password again "
        "(reauth_required).",
    ),
    "404": ("NotFound", "No such object, or it belongs to someone else (not_found)."),
    "409": ("Conflict", "An account with this email already exists (email_taken)."),
    "413": ("PayloadTooLarge", "The body is over 64 KiB (payload_too_large)."),
    "415": ("UnsupportedMediaType", "The body is not application/json."),
    "422": ("ValidationError", "Malformed JSON, missing fields or wrong types."),
    "429": ("RateLimited", "Too many failed logins; see Retry-After (rate_limited)."),
    "503": ("StoreUnavailable", "The store is unreachable (store_unavailable)."),
}


def _ref(name: str) -> JSONDict:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(props: JSONDict, required: list[str] | None = None) -> JSONDict:
    schema: JSONDict = {"type": "object", "properties": props}
    if required is not None:
        schema["required"] = required
    return schema


_INT = {"type": "integer"}
_STR = {"type": "string"}
_TIME = {"type": "integer", "description": "Unix seconds"}
_NULLABLE_STR = {"type": ["string", "null"]}

_SCHEMAS: JSONDict = {
    "Error": _obj({"error": _STR, "detail": _STR}, ["error", "detail"]),
    "User": _obj({"id": _STR, "email": _STR}, ["id", "email"]),
    "Credentials": _obj(
        {"email": {"type": "string", "maxLength": 254}, "password": _STR},
        ["email", "password"],
    ),
    "RegisterRequest": _obj(
        {
            "email": {"type": "string", "format": "email", "maxLength": 254},
            "password": {"type": "string", "minLength": 8, "maxLength": 1024},
        },
        ["email", "password"],
    ),
    "Registered": _obj(
        {"id": _STR, "email": _STR, "created_at": _TIME}, ["id", "email", "created_at"]
    ),
    "SessionLogin": _obj(
        {
            "user": _ref("User"),
            "session_id": {"type": "string", "description": "The login's public sid."},
            "csrf_token": _STR,
            "expires_at": _TIME,
        },
        ["user", "session_id", "csrf_token", "expires_at"],
    ),
    "TokenLoginRequest": {
        "allOf": [
            _ref("Credentials"),
            _obj(
                {
                    "transport": {
                        "type": "string",
                        "enum": ["bearer", "cookie"],
                        "default": "bearer",
                    },
                    "scope": {"type": "string", "description": "Space-separated scopes."},
                }
            ),
        ]
    },
    "BearerTokens": _obj(
        {
            "access_token": _STR,
            "token_type": {"const": "Bearer"},
            "expires_in": _INT,
            "refresh_token": _STR,
            "refresh_expires_in": _INT,
        },
        ["access_token", "token_type", "expires_in", "refresh_token", "refresh_expires_in"],
    ),
    "CookieTokens": _obj(
        {"user": _ref("User"), "csrf_token": _STR, "expires_in": _INT},
        ["user", "csrf_token", "expires_in"],
    ),
    "TokenResponse": {"oneOf": [_ref("BearerTokens"), _ref("CookieTokens")]},
    "RefreshRequest": _obj({"refresh_token": _STR}),
    "Me": _obj(
        {
            "id": _STR,
            "email": _STR,
            "auth": _obj(
                {
                    "method": {"type": "string", "enum": ["jwt", "session"]},
                    "sid": _STR,
                    "expires_at": _TIME,
                    "scopes": {"type": "array", "items": _STR},
                },
                ["method", "sid", "expires_at", "scopes"],
            ),
        },
        ["id", "email", "auth"],
    ),
    "Login": _obj(
        {
            "id": _STR,
            "method": {"type": "string", "enum": ["session", "jwt"]},
            "created_at": _TIME,
            "last_seen_at": _TIME,
            "expires_at": _TIME,
            "ip": _NULLABLE_STR,
            "user_agent": _NULLABLE_STR,
            "current": {"type": "boolean"},
        },
        ["id", "method", "created_at", "last_seen_at", "expires_at", "ip", "user_agent", "current"],
    ),
    "Sessions": _obj({"sessions": {"type": "array", "items": _ref("Login")}}, ["sessions"]),
    "ExchangeRequest": _obj({"audience": _STR, "scope": _STR}),
    "Reauthentication": _obj(
        {
            "password": {
                "type": "string",
                "description": "The account's password; needed when the login began more "
                "than GATEPASS_REAUTH_WINDOW seconds ago.",
            }
        }
    ),
    "PasswordChange": _obj(
        {"current_password": _STR, "new_password": _STR}, ["current_password", "new_password"]
    ),
    "ExchangeResponse": _obj(
        {"access_token": _STR, "token_type": {"const": "Bearer"}, "expires_in": _INT},
        ["access_token", "token_type", "expires_in"],
    ),
    "Health": _obj(
        {"status": {"enum": ["ok", "error"]}, "store": {"enum": ["ok", "down"]}},
        ["status", "store"],
    ),
    "JWKS": _obj(
        {
            "keys": {
                "type": "array",
                "items": _obj({"kid": _STR, "alg": _STR, "use": _STR, "kty": _STR}),
            }
        },
        ["keys"],
    ),
}


def _body(schema: str, *, required: bool = True) -> JSONDict:
    return {"required": required, "content": {"application/json": {"schema": _ref(schema)}}}


def _ok(schema: str | None, description: str, status: str = "200") -> JSONDict:
    if schema is None:
        return {status: {"description": description}}
    content = {"application/json": {"schema": _ref(schema)}}
    return {status: {"description": description, "content": content}}


def _op(
    summary: str,
    ok: JSONDict,
    errors: list[str],
    *,
    body: JSONDict | None = None,
    security: list[JSONDict] | None = None,
) -> JSONDict:
    op: JSONDict = {"summary": summary, "responses": dict(ok)}
    for status in errors:
        op["responses"][status] = {"$ref": f"#/components/responses/{_ERRORS[status][0]}"}
    if body is not None:
        op["requestBody"] = body
    op["security"] = security if security is not None else []
    return op


_ANY: list[JSONDict] = [
    {"bearer": []},
    {"accessCookie": [], "csrfHeader": []},
    {"sessionCookie": [], "csrfHeader": []},
]
_JSON_ERRORS = ["413", "415", "422"]


def _paths() -> JSONDict:
    session: list[JSONDict] = [{"sessionCookie": [], "csrfHeader": []}]
    return {
        "/auth/register": {
            "post": _op(
                "Create an account.",
                _ok("Registered", "Created.", "201"),
                ["409", *_JSON_ERRORS, "503"],
                body=_body("RegisterRequest"),
            )
        },
        "/auth/session/login": {
            "post": _op(
                "Sign in with a browser session (sets the session and CSRF cookies).",
                _ok("SessionLogin", "Signed in."),
                ["401", *_JSON_ERRORS, "429", "503"],
                body=_body("Credentials"),
            )
        },
        "/auth/session/logout": {
            "post": _op(
                "End this session and clear its cookies.",
                _ok(None, "Signed out.", "204"),
                ["401", "403", "415", "503"],
                security=session,
            )
        },
        "/auth/token/login": {
            "post": _op(
                "Start a token login (Bearer tokens in the body, or cookies).",
                _ok("TokenResponse", "Signed in."),
                ["401", *_JSON_ERRORS, "429", "503"],
                body=_body("TokenLoginRequest"),
            )
        },
        "/auth/token/refresh": {
            "post": _op(
                "Rotate a refresh token (body, or the refresh cookie with X-CSRF-Token); a "
                "spent token revokes its family (refresh_reused).",
                _ok("TokenResponse", "New tokens."),
                ["401", "403", *_JSON_ERRORS, "503"],
                body=_body("RefreshRequest", required=False),
                security=[{}, {"refreshCookie": [], "csrfHeader": []}],
            )
        },
        "/auth/token/logout": {
            "post": _op(
                "Revoke this token login's whole family and clear token cookies.",
                _ok(None, "Signed out.", "204"),
                ["401", "403", *_JSON_ERRORS, "503"],
                body=_body("RefreshRequest", required=False),
                security=[
                    {"bearer": []},
                    {"accessCookie": [], "csrfHeader": []},
                    {"refreshCookie": [], "csrfHeader": []},
                ],
            )
        },
        "/auth/logout-all": {
            "post": _op(
                "Revoke every session and token family of the user (re-authentication "
                "outside the window).",
                _ok(None, "Signed out everywhere.", "204"),
                ["401", "403", *_JSON_ERRORS, "429", "503"],
                body=_body("Reauthentication", required=False),
                security=_ANY,
            )
        },
        "/auth/me": {
            "get": _op(
                "The signed-in user and how the request authenticated.",
                _ok("Me", "The user."),
                ["401", "503"],
                security=_ANY,
            )
        },
        "/auth/sessions": {
            "get": _op(
                "Every live login of the user (sessions and token families).",
                _ok("Sessions", "The logins."),
                ["401", "503"],
                security=_ANY,
            )
        },
        "/auth/sessions/{id}": {
            "parameters": [
                {
                    "name": "id",
                    "in": "path",
                    "required": True,
                    "schema": _STR,
                    "description": "The login's public sid.",
                }
            ],
            "delete": _op(
                "Revoke one login of the user (another login than this one needs "
                "re-authentication outside the window).",
                _ok(None, "Revoked.", "204"),
                ["401", "403", "404", *_JSON_ERRORS, "429", "503"],
                body=_body("Reauthentication", required=False),
                security=_ANY,
            ),
        },
        "/auth/password": {
            "post": _op(
                "Change the password (the current one is checked); every other login of "
                "the user is ended, this one stays.",
                _ok(None, "Changed.", "204"),
                ["401", "403", *_JSON_ERRORS, "429", "503"],
                body=_body("PasswordChange"),
                security=_ANY,
            )
        },
        "/auth/token/exchange": {
            "post": _op(
                "Exchange the session for a short-lived JWT bound to it (sid claim).",
                _ok("ExchangeResponse", "A token."),
                ["401", "403", *_JSON_ERRORS, "503"],
                body=_body("ExchangeRequest", required=False),
                security=session,
            )
        },
        "/.well-known/jwks.json": {
            "get": _op("Every public verification key.", _ok("JWKS", "The JWK Set."), [])
        },
        "/healthz": {
            "get": _op(
                "Liveness and store reachability.",
                {**_ok("Health", "Healthy."), **_ok("Health", "The store is down.", "503")},
                [],
            )
        },
        "/openapi.json": {
            "get": _op("This document.", {"200": {"description": "The OpenAPI document."}}, [])
        },
    }


def _responses() -> JSONDict:
    out: JSONDict = {}
    for status, (name, description) in _ERRORS.items():
        response: JSONDict = {
            "description": description,
            "content": {"application/json": {"schema": _ref("Error")}},
        }
        if status == "401":
            response["headers"] = {"WWW-Authenticate": {"schema": _STR}}
        if status == "429":
            response["headers"] = {"Retry-After": {"schema": _INT}}
        out[name] = response
    return out


def openapi_document(settings: ServerSettings) -> JSONDict:
    """The OpenAPI 3.1 document for a server with these settings."""
    names = settings.cookies

    def cookie(name: str, description: str) -> JSONDict:
        full = names.full_name(name)
        return {"type": "apiKey", "in": "cookie", "name": full, "description": description}

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "gatepass",
            "version": "1",
            "description": "JWT and session authentication behind one API (API.md v1).",
        },
        "servers": [{"url": settings.base_url}],
        "paths": _paths(),
        "components": {
            "schemas": _SCHEMAS,
            "responses": _responses(),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "sessionCookie": cookie(names.session_name, "Server-side session id."),
                "accessCookie": cookie(names.access_name, "Access JWT (token-cookie transport)."),
                "refreshCookie": cookie(
                    names.refresh_name, "Refresh token (token-cookie transport)."
                ),
                "csrfHeader": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-CSRF-Token",
                    "description": "Required with cookie credentials on unsafe "
                    "methods; equals the login's csrf_token.",
                },
            },
        },
    }
