"""Request and response helpers of the auth server's JSON routes (API.md "Conventions").

Reading a body is strict and bounded:

- ``Content-Type`` must be ``application/json`` (parameters allowed; a ``charset``
  must be ``utf-8``); anything else is :class:`~gatepass.errors.UnsupportedMediaType`
  (415), so a cross-site "simple" form or ``text/plain`` post never reaches a route.
- more than ``max_bytes`` (64 KiB) is :class:`~gatepass.errors.PayloadTooLarge` (413),
  decided from ``Content-Length`` before reading and enforced again while streaming:
  no more than the cap is ever buffered.
- invalid UTF-8, malformed JSON, duplicate member names, ``NaN``/``Infinity``, and any
  top-level value but an object are :class:`~gatepass.errors.ValidationError` (422).

Routes whose body is optional (logout, cookie refresh, exchange) accept a request with
no body at all (no ``Content-Type``, empty body) and an empty body sent as
``application/json``; both read as ``{}``. A body of any other type is still 415.

Responses are JSON with ``Cache-Control: no-store`` whenever they carry a credential.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gatepass.errors import PayloadTooLarge, UnsupportedMediaType, ValidationError

__all__ = [
    "MAX_BODY_BYTES",
    "client_ip",
    "empty_response",
    "json_response",
    "optional_enum",
    "optional_str",
    "read_json",
    "require_str",
    "user_agent",
]

#: Largest request body any JSON route accepts (API.md: 64 KiB).
MAX_BODY_BYTES = 65536
#: Longest ``User-Agent`` kept with a login (longer ones are truncated).
MAX_USER_AGENT = 256


def _check_content_type(value: str | None) -> None:
    if value is None:
        raise UnsupportedMediaType("no Content-Type")
    media, _, params = value.partition(";")
    if media.strip(" \t").lower() != "application/json":
        raise UnsupportedMediaType("Content-Type is not application/json")
    for param in params.split(";"):
        name, _, raw = param.partition("=")
        if name.strip(" \t").lower() == "charset":
            charset = raw.strip(" \t").strip('"').lower()
            if charset not in ("utf-8", "utf8"):
                raise UnsupportedMediaType("only UTF-8 JSON is accepted")


def _declared_length(value: str | None, max_bytes: int) -> None:
    if value is None:
        return
    text = value.strip(" \t")
    if not text.isdigit() or not text.isascii():
        raise ValidationError("invalid Content-Length")
    if len(text) > 20 or int(text) > max_bytes:
        raise PayloadTooLarge("Content-Length exceeds the body limit")


async def _read_capped(request: Request, max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge("request body exceeds the body limit")
        chunks.append(chunk)
    return b"".join(chunks)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise ValueError("duplicate member name")
        result[name] = value
    return result


def _no_constants(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def parse_json_object(raw: bytes) -> dict[str, object]:
    """Strictly parse UTF-8 JSON bytes that must hold one object.

    Raises:
        ValidationError: invalid UTF-8, malformed JSON, a duplicate member name,
            ``NaN``/``Infinity``, absurd nesting, or a top-level value but an object.
    """
    try:
        text = raw.decode("utf-8")
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ValidationError("request body is not valid JSON") from exc
    if not isinstance(value, dict):
        raise ValidationError("request body must be a JSON object")
    return value


async def read_json(
    request: Request, max_bytes: int = MAX_BODY_BYTES, *, optional: bool = False
) -> dict[str, object]:
    """The request's JSON object body, after the type and size checks.

    Args:
        request: the Starlette request.
        max_bytes: the body size cap (API.md: 64 KiB).
        optional: the route's body is optional: no body at all, or an empty
            ``application/json`` body, reads as ``{}``.

    Raises:
        UnsupportedMediaType: the body is not ``application/json`` (415).
        PayloadTooLarge: the body is over ``max_bytes`` (413).
        ValidationError: the body is not one strict JSON object (422).
    """
    content_type = request.headers.get("content-type")
    declared = request.headers.get("content-length")
    _declared_length(declared, max_bytes)
    if content_type is None:
        if optional and not await _read_capped(request, max_bytes):
            return {}
        raise UnsupportedMediaType("a body without Content-Type")
    _check_content_type(content_type)
    raw = await _read_capped(request, max_bytes)
    if optional and not raw:
        return {}
    return parse_json_object(raw)


def _field(body: dict[str, object], name: str, max_len: int | None, text: bool) -> str:
    value = body[name]
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be a string", field=name)
    if max_len is not None and len(value) > max_len:
        raise ValidationError(f"{name} is too long", field=name)
    if text:
        # Identifiers (emails, tokens, scopes) must be real text: no lone surrogates
        # (which a store cannot encode) and no control characters.
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValidationError(f"{name} is not valid text", field=name) from exc
        if any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in value):
            raise ValidationError(f"{name} has control characters", field=name)
    return value


def require_str(
    body: dict[str, object], name: str, *, max_len: int | None = None, text: bool = True
) -> str:
    """A required string field.

    Args:
        body: the parsed JSON object.
        name: the field name.
        max_len: most code points allowed (``None``: no cap beyond the body size).
        text: refuse lone surrogates and control characters (pass ``False`` for
            passwords, which are taken exactly as sent).

    Raises:
        ValidationError: missing, not a string, too long or not text (``field=name``).
    """
    if name not in body:
        raise ValidationError(f"{name} is required", field=name)
    return _field(body, name, max_len, text)


def optional_str(
    body: dict[str, object], name: str, *, max_len: int | None = None, text: bool = True
) -> str | None:
    """An optional string field: ``None`` when absent or JSON ``null``."""
    if body.get(name) is None:
        return None
    return _field(body, name, max_len, text)


def optional_enum(
    body: dict[str, object], name: str, choices: Collection[str], default: str
) -> str:
    """An optional field that must be one of ``choices``; ``default`` when absent."""
    value = optional_str(body, name, max_len=64)
    if value is None:
        return default
    if value not in choices:
        raise ValidationError(f"{name} must be one of {sorted(choices)}", field=name)
    return value


def client_ip(request: Request) -> str | None:
    """The client address of the connection (ASGI ``client``; proxy headers are ignored)."""
    return request.client.host if request.client is not None else None


def user_agent(request: Request) -> str | None:
    """The request's ``User-Agent``, truncated to a sane length, or ``None``."""
    value = request.headers.get("user-agent")
    return value[:MAX_USER_AGENT] if value else None


def _finish(response: Response, no_store: bool, cookies: Sequence[str]) -> Response:
    if no_store:
        response.headers["cache-control"] = "no-store"
    for cookie in cookies:
        response.raw_headers.append((b"set-cookie", cookie.encode("latin-1")))
    return response


def json_response(
    data: object, status: int = 200, *, no_store: bool = False, cookies: Sequence[str] = ()
) -> Response:
    """A JSON response; ``no_store`` adds ``Cache-Control: no-store``; one header per cookie."""
    body = json.dumps(data, separators=(",", ":")).encode("ascii")
    response = Response(body, status_code=status, media_type="application/json")
    return _finish(response, no_store, cookies)


def empty_response(
    status: int = 204, *, no_store: bool = True, cookies: Sequence[str] = ()
) -> Response:
    """A response without a body (204 by default), with optional ``Set-Cookie`` headers."""
    return _finish(Response(status_code=status), no_store, cookies)
