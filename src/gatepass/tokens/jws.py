"""Strict compact JWS (RFC 7515): sign, verify, and the strict JSON reader.

Verification order, cheapest and most hostile-input-proof first:

1. size cap (before any other work), str or ASCII bytes;
2. exactly three segments (a five-segment JWE, the JSON serialization, stray dots or
   characters are :class:`~gatepass.errors.MalformedToken`);
3. each segment canonical base64url (no padding, no ``+/``, no whitespace, zero trailing
   bits);
4. header: strict JSON object; ``alg`` an allow-listed string, ``kid`` a short string;
5. key = ``keys.get(kid)`` (the ``kid`` is only ever a dict key);
6. header ``alg`` equal to the key's ``alg``, exactly (the key pins the algorithm);
7. header members only ``alg``, ``kid``, ``typ`` (``crit``, ``b64``, ``jku``, ``jwk``,
   ``x5u``, ``x5c``, ``zip``, ``enc``... are refused, never honoured);
8. the signature, through the key's primitive.

The payload is returned as bytes; parsing it (:func:`parse_json_object`) and checking
claims (:mod:`gatepass.tokens.claims`) are separate, visible steps.
"""

from __future__ import annotations

import json
import math
import re
from binascii import a2b_base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from gatepass._utils import b64url_encode
from gatepass.errors import (
    DisallowedAlgorithm,
    InvalidSignature,
    MalformedToken,
    TokenTooLarge,
    UnknownKey,
    UnsupportedHeader,
    ValidationError,
)
from gatepass.keys.algorithms import ALGORITHMS
from gatepass.keys.key import MAX_KID_LENGTH, SigningKey
from gatepass.keys.keyring import KeyRing

__all__ = [
    "DEFAULT_MAX_BYTES",
    "VerifiedJWS",
    "parse_json_object",
    "sign_compact",
    "verify_compact",
]

#: Default cap on a token's size in bytes (API.md: credentials over 8 KiB are refused).
DEFAULT_MAX_BYTES: Final = 8192
#: The only header members gatepass accepts.
ALLOWED_HEADER: Final = frozenset({"alg", "kid", "typ"})
_MAX_INT_CHARS: Final = 20  # fits every int64 and uint64, with sign


@dataclass(frozen=True, slots=True)
class VerifiedJWS:
    """A compact JWS whose signature checked out with the key named by ``kid``."""

    header: dict[str, object]
    payload: bytes
    kid: str


# -- strict JSON --------------------------------------------------------------------------


def _object_pairs(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate member name")
    return result


def _parse_int(text: str) -> int:
    if len(text) > _MAX_INT_CHARS:
        raise ValueError("integer too long")
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


def _parse_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


_DECODER: Final = json.JSONDecoder(
    object_pairs_hook=_object_pairs,
    parse_float=_parse_float,
    parse_int=_parse_int,
    parse_constant=_parse_constant,
    strict=True,
)
_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_SCAN: Final[Callable[[str, int], tuple[object, int]]] = _DECODER.scan_once  # type: ignore[attr-defined]
_JSON_SPACE: Final = " \t\n\r"
# Last character of a segment with len % 4 == 2 (4 data bits) or 3 (2 data bits): the
# unused low bits must be zero, so that every byte string has exactly one encoding.
_TAIL_2: Final = frozenset("AQgw")
_TAIL_3: Final = frozenset("AEIMQUYcgkosw048")
_TO_STANDARD: Final = bytes.maketrans(b"-_", b"+/")
_STRING: Final = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET: Final = re.compile(r"[\[\]{}]")


def _check_depth(text: str, max_depth: int) -> None:
    depth = 0
    for match in _BRACKET.finditer(_STRING.sub("", text)):
        if match.group() in "[{":
            depth += 1
            if depth > max_depth:
                raise MalformedToken(f"JSON nested deeper than {max_depth}")
        else:
            depth -= 1


def _check_strings(value: object) -> None:
    """Refuse lone surrogates (``"\\ud800"``), which are not Unicode text."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise MalformedToken("JSON string holds a lone surrogate") from exc
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def parse_json_object(data: bytes, *, max_depth: int = 32) -> dict[str, object]:
    """Parse strict UTF-8 JSON whose top level is an object.

    Refused: invalid UTF-8 (overlong forms, encoded surrogates, UTF-16/32, a BOM),
    duplicate member names, ``NaN``/``Infinity``, numbers that overflow a float,
    integers longer than 20 characters, lone surrogate escapes, nesting deeper than
    ``max_depth`` (checked without recursion), any top level but an object.

    Raises:
        MalformedToken: for every failure.
    """
    try:
        text = data.decode("utf-8")
    except (UnicodeDecodeError, AttributeError) as exc:
        raise MalformedToken("JSON is not UTF-8") from exc
    if data.count(b"{") + data.count(b"[") > max_depth:
        _check_depth(text, max_depth)
    try:
        if text[:1] == "{":  # the usual case: call the C scanner directly
            value, end = _SCAN(text, 0)
            if end != len(text) and text[end:].strip(_JSON_SPACE):
                raise ValueError("data after the JSON value")
        else:  # leading whitespace, or not an object (a BOM is not whitespace)
            value = _DECODER.decode(text)
    except (ValueError, RecursionError, StopIteration) as exc:
        raise MalformedToken("not strict JSON") from exc
    if type(value) is not dict:
        raise MalformedToken("JSON top level is not an object")
    if "\\u" in text:
        _check_strings(value)
    return value


def _b64decode(segment: str) -> bytes:
    """Canonical base64url decoding of one segment, as :func:`gatepass._utils.b64url_decode`.

    Inlined for the hot path: the caller has already refused ``+``, ``/``, ``=`` and
    non-ASCII text; ``a2b_base64`` in strict mode refuses every other stray character.
    """
    rem = len(segment) & 3
    if rem:
        if rem == 1:
            raise ValueError("impossible base64url length")
        if segment[-1] not in (_TAIL_2 if rem == 2 else _TAIL_3):
            raise ValueError("non-canonical base64url trailing bits")
        segment += "==" if rem == 2 else "="
    return a2b_base64(segment.encode("ascii").translate(_TO_STANDARD), strict_mode=True)


# -- sign / verify --------------------------------------------------------------------------


def sign_compact(
    payload: Mapping[str, object], key: SigningKey, *, typ: str | None = "at+jwt"
) -> str:
    """Sign ``payload`` as a compact JWS with header ``{"alg", "kid", "typ"}``.

    Raises:
        ValidationError: if the payload is not a JSON object (non-string member names,
            NaN, unserialisable values) or ``typ`` is not a string.
        InvalidKey: if ``key`` cannot sign.
    """
    header: dict[str, object] = {"alg": key.alg, "kid": key.kid}
    if typ is not None:
        if not isinstance(typ, str):
            raise ValidationError("typ must be a string", field="typ")
        header["typ"] = typ
    try:
        if not all(isinstance(name, str) for name in payload):
            raise TypeError("member names must be strings")
        payload_json = _ENCODER.encode(dict(payload)).encode("utf-8")
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValidationError("the payload is not a JSON object", field="payload") from exc
    header_json = _ENCODER.encode(header).encode("utf-8")
    signing_input = b64url_encode(header_json) + "." + b64url_encode(payload_json)
    signature = key.sign(signing_input.encode("ascii"))
    return signing_input + "." + b64url_encode(signature)


def verify_compact(
    token: str | bytes, keys: KeyRing, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> VerifiedJWS:
    """Verify a compact JWS strictly (see the module docstring for the order).

    Returns:
        The header, the raw payload bytes (not parsed) and the ``kid``.

    Raises:
        TokenTooLarge: over ``max_bytes``, before any other work.
        MalformedToken: bad segments, base64url, JSON or header member types.
        DisallowedAlgorithm: ``alg`` missing, not a string, not allow-listed, or not
            the algorithm of the key named by ``kid``.
        UnknownKey: ``kid`` missing, not a short string, or not in ``keys``.
        UnsupportedHeader: a header member other than ``alg``, ``kid``, ``typ``.
        InvalidSignature: empty or wrong signature.
    """
    if isinstance(token, str):
        if len(token) > max_bytes:
            raise TokenTooLarge(f"token longer than {max_bytes} bytes")
        text = token
    elif isinstance(token, bytes):
        if len(token) > max_bytes:
            raise TokenTooLarge(f"token longer than {max_bytes} bytes")
        try:
            text = token.decode("ascii")
        except UnicodeDecodeError as exc:
            raise MalformedToken("token is not ASCII") from exc
    else:
        raise MalformedToken("token must be str or bytes")
    parts = text.split(".")
    if len(parts) != 3:
        if len(parts) == 5:
            raise MalformedToken("JWE tokens are not accepted")
        raise MalformedToken("a compact JWS has exactly 3 segments")
    if not text.isascii() or "=" in text or "+" in text or "/" in text:
        raise MalformedToken("segment is not base64url")
    header_b64, payload_b64, signature_b64 = parts
    try:
        header_json = _b64decode(header_b64)
        payload = _b64decode(payload_b64)
        signature = _b64decode(signature_b64)
    except ValueError as exc:
        raise MalformedToken("segment is not canonical base64url") from exc
    header = parse_json_object(header_json, max_depth=4)
    alg = header.get("alg")
    if type(alg) is not str or alg not in ALGORITHMS:
        raise DisallowedAlgorithm("header alg is not allow-listed", alg=alg)
    kid = header.get("kid")
    if type(kid) is not str or not 0 < len(kid) <= MAX_KID_LENGTH:
        raise UnknownKey("header kid is missing or not a short string")
    key = keys.get(kid)
    if key is None:
        raise UnknownKey("no trusted key has this kid", kid=kid)
    if alg != key.alg:
        raise DisallowedAlgorithm("header alg is not the key's algorithm", alg=alg)
    if len(header) > 2 and not header.keys() <= ALLOWED_HEADER:
        name = next(name for name in header if name not in ALLOWED_HEADER)
        raise UnsupportedHeader(f"header member {name!r} is not accepted", name=name)
    if "typ" in header and type(header["typ"]) is not str:
        raise MalformedToken("header typ must be a string")
    if not signature:
        raise InvalidSignature("empty signature")
    signing_input = text[: len(header_b64) + 1 + len(payload_b64)].encode("ascii")
    if not key.verify(signing_input, signature):
        raise InvalidSignature("signature does not verify")
    return VerifiedJWS(header, payload, kid)
