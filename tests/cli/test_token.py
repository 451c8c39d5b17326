"""``gatepass token verify``: full access-token validation against a JWKS file or URL."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gatepass.config import TokenSettings
from gatepass.keys.key import SigningKey
from gatepass.keys.keyring import KeyRing
from gatepass.tokens.access import AccessTokens
from gatepass.tokens.jws import sign_compact
from tests.cli.helpers import run_cli
from tests.conftest import FakeClock

pytestmark = pytest.mark.slow

ISSUER = "https://auth.example.test"
AUDIENCE = "orders-api"


@pytest.fixture(scope="module")
def keyring() -> KeyRing:
    key = SigningKey.generate("EdDSA")
    return KeyRing([key], active=key.kid)


@pytest.fixture
def tokens(keyring: KeyRing) -> AccessTokens:
    """Access tokens minted now (wall clock: the CLI verifies with the real time)."""
    return AccessTokens(keyring, TokenSettings(issuer=ISSUER, audience=AUDIENCE))


@pytest.fixture
def jwks_file(tmp_path: Path, keyring: KeyRing) -> Path:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(keyring.jwks()))
    return path


def _verify(jwks: str, *args: str, stdin: str = "") -> tuple[int, str, str]:
    result = run_cli(
        "token",
        "verify",
        "--jwks",
        jwks,
        "--issuer",
        ISSUER,
        "--audience",
        AUDIENCE,
        *args,
        stdin=stdin,
    )
    return result.returncode, result.stdout, result.stderr


def test_valid_token_prints_its_claims(jwks_file: Path, tokens: AccessTokens) -> None:
    """A valid access token exits 0 and prints exactly its claims as JSON."""
    issued = tokens.issue("user-1", "sid-1", scope="read write")
    code, out, err = _verify(str(jwks_file), issued.token)
    assert (0, "") == (code, err)
    assert issued.claims == json.loads(out)


def test_wrong_issuer_is_invalid(jwks_file: Path, keyring: KeyRing) -> None:
    """A token from another issuer exits 1 with ``invalid_token``."""
    other = AccessTokens(keyring, TokenSettings(issuer="https://evil.test", audience=AUDIENCE))
    code, out, err = _verify(str(jwks_file), other.issue("user-1", "sid-1").token)
    assert (1, "", "invalid_token") == (code, out, err.strip())


def test_wrong_audience_is_invalid(jwks_file: Path, tokens: AccessTokens) -> None:
    """A token for another audience exits 1 with ``invalid_token``."""
    token = tokens.issue("user-1", "sid-1", audience="billing-api").token
    code, _, err = _verify(str(jwks_file), token)
    assert (1, "invalid_token") == (code, err.strip())


def test_expired_token_reports_token_expired(jwks_file: Path, keyring: KeyRing) -> None:
    """A token whose exp has passed exits 1 with ``token_expired``."""
    past = AccessTokens(
        keyring, TokenSettings(issuer=ISSUER, audience=AUDIENCE), clock=FakeClock(1_700_000_000)
    )
    code, _, err = _verify(str(jwks_file), past.issue("user-1", "sid-1").token)
    assert (1, "token_expired") == (code, err.strip())


def test_leeway_accepts_a_just_expired_token(jwks_file: Path, keyring: KeyRing) -> None:
    """``--leeway`` widens the expiry check: a token 30 s past exp passes with --leeway 120."""
    clock = FakeClock(time.time() - 90)
    minted = AccessTokens(
        keyring, TokenSettings(issuer=ISSUER, audience=AUDIENCE, access_ttl=60), clock=clock
    )
    token = minted.issue("user-1", "sid-1").token
    assert 1 == _verify(str(jwks_file), token)[0]
    assert 0 == _verify(str(jwks_file), token, "--leeway", "120")[0]


def test_out_of_range_leeway_is_a_usage_error(jwks_file: Path, tokens: AccessTokens) -> None:
    """A leeway above 300 seconds exits 2 with ``configuration_error``."""
    code, _, err = _verify(str(jwks_file), tokens.issue("u", "s").token, "--leeway", "301")
    assert 2 == code
    assert "configuration_error" in err


def test_plain_jws_without_typ_is_refused(jwks_file: Path, keyring: KeyRing) -> None:
    """A correctly signed JWS that is not typ at+jwt is not an access token (exit 1)."""
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "u",
        "jti": "j",
        "sid": "s",
        "iat": now,
        "exp": now + 60,
    }
    code, _, err = _verify(str(jwks_file), sign_compact(claims, keyring.active, typ="JWT"))
    assert (1, "invalid_token") == (code, err.strip())


def test_batch_mixes_valid_and_invalid(jwks_file: Path, tokens: AccessTokens) -> None:
    """``-`` prints one JSON answer per line, with the claims of the valid tokens."""
    good = tokens.issue("user-1", "sid-1")
    wrong_aud = tokens.issue("user-2", "sid-2", audience="other").token
    stdin = "\n".join([good.token, wrong_aud, "garbage", ""]) + "\n"
    code, out, _ = _verify(str(jwks_file), "-", stdin=stdin)
    assert 0 == code
    answers = [json.loads(line) for line in out.splitlines()]
    invalid = {"valid": False, "error": "invalid_token"}
    assert [{"valid": True, "claims": good.claims}, invalid, invalid, invalid] == answers


class _JWKSHandler(BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        if self.path != "/.well-known/jwks.json":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def jwks_url(keyring: KeyRing) -> Iterator[str]:
    """A loopback HTTP server publishing the key ring's JWKS."""
    handler = type("Handler", (_JWKSHandler,), {"body": json.dumps(keyring.jwks()).encode()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_jwks_from_url(jwks_url: str, tokens: AccessTokens) -> None:
    """``--jwks`` may be an http URL; the fetched JWKS verifies the token."""
    issued = tokens.issue("user-1", "sid-1")
    code, out, err = _verify(jwks_url, issued.token)
    assert (0, "") == (code, err)
    assert issued.claims == json.loads(out)


def test_jwks_url_not_found_exits_1(jwks_url: str, tokens: AccessTokens) -> None:
    """A JWKS URL answering 404 exits 1 with ``invalid_key``."""
    code, _, err = _verify(jwks_url.replace("jwks.json", "nope"), tokens.issue("u", "s").token)
    assert 1 == code
    assert "invalid_key" in err


def test_unreachable_jwks_url_exits_1(tokens: AccessTokens) -> None:
    """A JWKS URL nobody listens on exits 1 with ``invalid_key``."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code, _, err = _verify(f"http://127.0.0.1:{port}/jwks.json", tokens.issue("u", "s").token)
    assert 1 == code
    assert "invalid_key" in err


def test_non_http_jwks_url_is_a_usage_error(jwks_file: Path, tokens: AccessTokens) -> None:
    """Only http(s) URLs are fetched: ``file://`` exits 2 with ``configuration_error``."""
    code, _, err = _verify(f"file://{jwks_file}", tokens.issue("u", "s").token)
    assert 2 == code
    assert "configuration_error" in err


def test_missing_required_flags_is_a_usage_error(jwks_file: Path) -> None:
    """``token verify`` without ``--issuer`` exits 2 with a usage message."""
    result = run_cli("token", "verify", "--jwks", str(jwks_file), "--audience", AUDIENCE, "x")
    assert 2 == result.returncode
    assert "--issuer" in result.stderr
