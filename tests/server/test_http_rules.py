"""API.md conventions on every JSON endpoint: media type, body size, strict JSON, fields."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from gatepass.server.settings import ServerSettings
from tests.server.conftest import (
    PASSWORD,
    LiveApp,
    assert_error,
    bearer,
    csrf,
    register,
    session_login,
    token_login,
)

pytestmark = pytest.mark.anyio

JSON_POSTS = [
    "/auth/register",
    "/auth/session/login",
    "/auth/session/logout",
    "/auth/token/login",
    "/auth/token/refresh",
    "/auth/token/logout",
    "/auth/logout-all",
    "/auth/token/exchange",
]
CREDENTIALS = {"email": "alice@example.com", "password": PASSWORD}


@pytest.mark.parametrize("path", JSON_POSTS)
@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
async def test_non_json_bodies_get_415(
    client: httpx.AsyncClient, path: str, content_type: str
) -> None:
    """Every JSON POST refuses a simple-request content type with 415, whatever the body."""
    await register(client)
    response = await client.post(
        path, content=json.dumps(CREDENTIALS), headers={"Content-Type": content_type}
    )
    assert_error(response, 415, "unsupported_media_type")
    assert "set-cookie" not in response.headers


async def test_text_plain_login_never_logs_in(client: httpx.AsyncClient) -> None:
    """A text/plain login with the right password sets no cookie and starts no session."""
    user = await register(client)
    for path in ("/auth/session/login", "/auth/token/login"):
        response = await client.post(
            path, content=json.dumps(CREDENTIALS), headers={"Content-Type": "text/plain"}
        )
        assert_error(response, 415, "unsupported_media_type")
        assert "set-cookie" not in response.headers
    token = (await token_login(client))["access_token"]
    sessions = (await client.get("/auth/sessions", headers=bearer(token))).json()["sessions"]
    assert 1 == len(sessions)
    assert user["id"] == (await client.get("/auth/me", headers=bearer(token))).json()["id"]


async def test_text_plain_logout_changes_nothing(client: httpx.AsyncClient) -> None:
    """A text/plain logout carrying the session cookie and CSRF token is 415; the session lives."""
    await register(client)
    login = await session_login(client)
    response = await client.post(
        "/auth/session/logout",
        content="{}",
        headers={"Content-Type": "text/plain", **csrf(login["csrf_token"])},
    )
    assert_error(response, 415, "unsupported_media_type")
    assert 200 == (await client.get("/auth/me")).status_code


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "APPLICATION/JSON;charset=UTF-8"],
)
async def test_json_content_type_parameters_are_accepted(
    client: httpx.AsyncClient, content_type: str
) -> None:
    """application/json is accepted in any case and with a UTF-8 charset parameter."""
    response = await client.post(
        "/auth/register",
        content=json.dumps(CREDENTIALS),
        headers={"Content-Type": content_type},
    )
    assert 201 == response.status_code


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=latin-1", "application/jsonp", "json"]
)
async def test_other_json_lookalikes_get_415(client: httpx.AsyncClient, content_type: str) -> None:
    """A non-UTF-8 charset or a look-alike media type is 415."""
    response = await client.post(
        "/auth/register", content=json.dumps(CREDENTIALS), headers={"Content-Type": content_type}
    )
    assert_error(response, 415, "unsupported_media_type")


async def test_body_without_content_type_gets_415(client: httpx.AsyncClient) -> None:
    """A body sent with no Content-Type at all is 415, even to an optional-body route."""
    for path in ("/auth/register", "/auth/token/refresh"):
        response = await client.post(path, content=b'{"refresh_token": "x"}')
        assert "content-type" not in response.request.headers
        assert_error(response, 415, "unsupported_media_type")


@pytest.mark.parametrize("path", JSON_POSTS)
async def test_bodies_over_64_kib_get_413(client: httpx.AsyncClient, path: str) -> None:
    """A JSON body over 64 KiB is refused with 413 before parsing."""
    body = json.dumps({**CREDENTIALS, "pad": "x" * 65536})
    response = await client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert_error(response, 413, "payload_too_large")


async def test_streamed_body_over_64_kib_gets_413(client: httpx.AsyncClient) -> None:
    """A chunked body with no Content-Length is cut off at 64 KiB while streaming."""

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"email": "alice@example.com", "password": "'
        for _ in range(100):
            yield b"x" * 1024
        yield b'"}'

    response = await client.post(
        "/auth/register", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    assert_error(response, 413, "payload_too_large")


async def test_body_just_under_the_cap_is_parsed(client: httpx.AsyncClient) -> None:
    """A body of exactly 64 KiB is read (and judged on its fields, not its size)."""
    prefix = json.dumps({**CREDENTIALS, "pad": ""})[:-2]
    body = prefix + "x" * (65536 - len(prefix) - 2) + '"}'
    assert 65536 == len(body)
    response = await client.post(
        "/auth/register", content=body, headers={"Content-Type": "application/json"}
    )
    assert 201 == response.status_code


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"{",
        b"[]",
        b'"x"',
        b"null",
        b"1",
        b'{"email": "a@example.com", "email": "b@example.com", "password": "x"}',
        b'{"email": NaN}',
        b'{"email": Infinity}',
        b"\xff\xfe{}",
        b'\xef\xbb\xbf{"email": "a"}',
        b'{"email": "\xc3\x28"}',
        b"[" * 20000 + b"]" * 20000,
    ],
)
async def test_malformed_json_gets_422(client: httpx.AsyncClient, raw: bytes) -> None:
    """Malformed JSON, non-objects, duplicates, NaN, bad UTF-8 and deep nesting are 422."""
    response = await client.post(
        "/auth/register", content=raw, headers={"Content-Type": "application/json"}
    )
    assert_error(response, 422, "validation_error")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"email": "alice@example.com"},
        {"password": PASSWORD},
        {"email": 123, "password": PASSWORD},
        {"email": "alice@example.com", "password": ["x"]},
        {"email": None, "password": PASSWORD},
        {"email": {"$ne": ""}, "password": PASSWORD},
        {"email": "alice@example.com", "password": True},
    ],
)
@pytest.mark.parametrize("path", ["/auth/register", "/auth/session/login", "/auth/token/login"])
async def test_missing_fields_and_wrong_types_get_422(
    client: httpx.AsyncClient, path: str, body: dict[str, object]
) -> None:
    """Missing fields and wrong field types are 422 on every credential endpoint."""
    assert_error(await client.post(path, json=body), 422, "validation_error")


async def test_wrong_optional_field_types_get_422(client: httpx.AsyncClient) -> None:
    """transport must be bearer|cookie; refresh_token and scope must be strings."""
    await register(client)
    bad = [
        ("/auth/token/login", {**CREDENTIALS, "transport": "carrier-pigeon"}),
        ("/auth/token/login", {**CREDENTIALS, "transport": 1}),
        ("/auth/token/login", {**CREDENTIALS, "scope": ["read"]}),
        ("/auth/token/login", {**CREDENTIALS, "scope": "admin"}),
        ("/auth/token/refresh", {"refresh_token": 42}),
        ("/auth/token/logout", {"refresh_token": {}}),
    ]
    for path, body in bad:
        assert_error(await client.post(path, json=body), 422, "validation_error")


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("x" * 250 + "@example.com", PASSWORD),
        ("alice@example.com", "p" * 1025),
        ("alice@example.com", "short"),
        ("alice@example.com", "12345678"),
        ("not-an-email", PASSWORD),
        ("\ud800@example.com", PASSWORD),
        ("ali\u0000ce@example.com", PASSWORD),
        ("ali\u0085ce@example.com", PASSWORD),
    ],
)
async def test_register_refuses_bad_emails_and_passwords(
    client: httpx.AsyncClient, email: str, password: str
) -> None:
    """Huge, malformed, control-character or lone-surrogate emails and weak passwords: 422."""
    body = json.dumps({"email": email, "password": password})  # \u escapes, as JSON allows
    response = await client.post(
        "/auth/register", content=body, headers={"Content-Type": "application/json"}
    )
    assert_error(response, 422, "validation_error")


async def test_huge_password_at_login_is_just_invalid_credentials(
    client: httpx.AsyncClient,
) -> None:
    """A 60 000-character password at login is a plain 401 invalid_credentials."""
    await register(client)
    response = await client.post(
        "/auth/session/login", json={"email": "alice@example.com", "password": "p" * 60000}
    )
    assert_error(response, 401, "invalid_credentials")


async def test_unicode_passwords_are_taken_exactly(client: httpx.AsyncClient) -> None:
    """Passwords are not normalised: the NFD spelling of an NFC password does not log in."""
    nfc = "caf\u00e9 \U0001f510 m\u00f6tley pass"
    nfd = "cafe\u0301 \U0001f510 mo\u0308tley pass"
    await register(client, "u@example.com", nfc)
    await session_login(client, "u@example.com", nfc)
    response = await client.post(
        "/auth/session/login", json={"email": "u@example.com", "password": nfd}
    )
    assert_error(response, 401, "invalid_credentials")


@pytest.fixture
def server_settings(request: pytest.FixtureRequest, tmp_path: Path) -> ServerSettings:
    """The app's settings: the default, or with ``indirect`` param "sqlite" a file store."""
    if getattr(request, "param", None) == "sqlite":
        store = f"sqlite:///{tmp_path}/gp.db"
    else:
        store = "memory://"
    return ServerSettings(store=store, dev=True, login_limit="50/minute")


@pytest.mark.parametrize("server_settings", ["memory", "sqlite"], indirect=True)
async def test_sql_metacharacters_are_plain_data(live_app: LiveApp) -> None:
    """Quotes, semicolons and comment markers in emails are stored and matched literally."""
    client = live_app.client()
    odd = "o'brien\";--+x@example.com"
    await register(client, odd)
    await session_login(client, odd)
    for probe in ("' OR '1'='1@example.com", "x'--@example.com", "%@example.com", "_@example.com"):
        response = await client.post(
            "/auth/session/login", json={"email": probe, "password": PASSWORD}
        )
        assert_error(response, 401, "invalid_credentials")


async def test_error_bodies_leak_nothing(client: httpx.AsyncClient) -> None:
    """Error bodies are only {error, detail} with a fixed sentence: no input, path or trace."""
    await register(client)
    probes = [
        ("/auth/register", {"email": "alice@example.com", "password": PASSWORD}),
        ("/auth/register", {"email": "SELECT * FROM users@x.com", "password": PASSWORD}),
        ("/auth/session/login", {"email": "alice@example.com", "password": "wrong-" * 10}),
        ("/auth/token/refresh", {"refresh_token": "../../etc/passwd"}),
    ]
    for path, body in probes:
        response = await client.post(path, json=body)
        assert response.status_code >= 400
        text = response.text
        for leak in ("Traceback", "File ", ".py", "SELECT", "passwd", "wrong-", "sqlite"):
            assert leak not in text


async def test_optional_body_routes_accept_no_body_and_empty_json(
    client: httpx.AsyncClient,
) -> None:
    """Logout-all accepts no body at all, and an empty application/json body."""
    await register(client)
    token = (await token_login(client))["access_token"]
    assert 204 == (await client.post("/auth/logout-all", headers=bearer(token))).status_code
    token = (await token_login(client))["access_token"]
    headers = {**bearer(token), "Content-Type": "application/json"}
    response = await client.post("/auth/logout-all", content=b"", headers=headers)
    assert 204 == response.status_code


async def test_lone_surrogates_never_crash(client: httpx.AsyncClient) -> None:
    """A lone surrogate is fine in a password (taken as sent) and a 422 in a login email."""
    headers = {"Content-Type": "application/json"}
    password = "pa\ud83dss-word-long"
    body = json.dumps({"email": "s@example.com", "password": password})
    assert 201 == (await client.post("/auth/register", content=body, headers=headers)).status_code
    response = await client.post("/auth/session/login", content=body, headers=headers)
    assert 200 == response.status_code
    bad = json.dumps({"email": "\udfff@example.com", "password": password})
    response = await client.post("/auth/session/login", content=bad, headers=headers)
    assert_error(response, 422, "validation_error")


async def test_oversized_credentials_are_refused_before_parsing(
    client: httpx.AsyncClient,
) -> None:
    """A Bearer header or session cookie over 8 KiB is a 401, never parsed or looked up."""
    response = await client.get("/auth/me", headers=bearer("a" * 9000))
    assert_error(response, 401, "invalid_token")
    assert 'Bearer error="invalid_token"' == response.headers["www-authenticate"]
    client.cookies.set("gp_session", "a" * 9000, domain="127.0.0.1")
    assert_error(await client.get("/auth/me"), 401, "invalid_token")
