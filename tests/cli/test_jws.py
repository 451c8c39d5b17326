"""``gatepass jws verify``: strict compact JWS checks, one token or a batch from stdin."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from pathlib import Path

import pytest

from gatepass.keys.key import SigningKey
from gatepass.keys.keyring import KeyRing
from gatepass.tokens.jws import sign_compact
from tests.cli.helpers import run_cli, run_cli_bytes

pytestmark = pytest.mark.slow

PAYLOAD = {"sub": "user-1", "note": "h\u00e9llo"}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _payload_text(payload: Mapping[str, object]) -> str:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def _tamper(token: str) -> str:
    header, _payload, signature = token.split(".")
    changed = _b64url(b'{"sub":"admin"}')
    return f"{header}.{changed}.{signature}"


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey.generate("EdDSA")


@pytest.fixture
def jwk_file(tmp_path: Path, key: SigningKey) -> Path:
    """A public JWK of ``key`` in a file."""
    path = tmp_path / "key.jwk"
    path.write_text(json.dumps(key.public_jwk()))
    return path


@pytest.mark.parametrize("alg", ["ES256", "HS256"])
def test_single_valid_token_prints_the_payload(tmp_path: Path, alg: str) -> None:
    """A valid token exits 0 with its payload, as UTF-8 text, on stdout (JWK or JWK Set)."""
    key = SigningKey.generate(alg)
    path = tmp_path / "keys.json"
    doc = {"keys": [key.public_jwk()]} if alg != "HS256" else key.private_jwk()
    path.write_text(json.dumps(doc))
    token = sign_compact(PAYLOAD, key)
    result = run_cli("jws", "verify", "--jwk", str(path), token)
    assert 0 == result.returncode, result.stderr
    assert _payload_text(PAYLOAD) + "\n" == result.stdout
    assert "" == result.stderr


def test_tampered_token_exits_1_with_invalid_token(jwk_file: Path, key: SigningKey) -> None:
    """A token whose payload was changed exits 1 with ``invalid_token`` on stderr, no stdout."""
    token = _tamper(sign_compact(PAYLOAD, key))
    result = run_cli("jws", "verify", "--jwk", str(jwk_file), token)
    assert 1 == result.returncode
    assert "invalid_token" == result.stderr.strip()
    assert "" == result.stdout


def test_verbose_adds_the_reason(jwk_file: Path, key: SigningKey) -> None:
    """With ``--verbose`` the error code is followed by the reason."""
    token = _tamper(sign_compact(PAYLOAD, key))
    result = run_cli("jws", "verify", "-v", "--jwk", str(jwk_file), token)
    assert 1 == result.returncode
    assert result.stderr.startswith("invalid_token: ")


def test_token_for_another_key_is_refused(jwk_file: Path) -> None:
    """A token signed by a key not in the file (unknown kid) exits 1 with ``invalid_token``."""
    token = sign_compact(PAYLOAD, SigningKey.generate("EdDSA"))
    result = run_cli("jws", "verify", "--jwk", str(jwk_file), token)
    assert (1, "invalid_token") == (result.returncode, result.stderr.strip())


def test_missing_token_argument_is_a_usage_error(jwk_file: Path) -> None:
    """``jws verify --jwk FILE`` without a token exits 2 with a usage message."""
    result = run_cli("jws", "verify", "--jwk", str(jwk_file))
    assert 2 == result.returncode
    assert "usage:" in result.stderr


def test_missing_jwk_file_is_a_usage_error(tmp_path: Path) -> None:
    """A ``--jwk`` file that does not exist exits 2 with ``configuration_error``."""
    result = run_cli("jws", "verify", "--jwk", str(tmp_path / "nope.jwk"), "a.b.c")
    assert 2 == result.returncode
    assert "configuration_error" in result.stderr


def test_unusable_jwk_exits_1_with_invalid_key(tmp_path: Path) -> None:
    """A ``--jwk`` file that is not a usable key exits 1 with ``invalid_key``."""
    path = tmp_path / "bad.jwk"
    path.write_text('{"kty": "oct", "k": "c2hvcnQ", "alg": "HS256"}')
    result = run_cli("jws", "verify", "--jwk", str(path), "a.b.c")
    assert 1 == result.returncode
    assert "invalid_key" in result.stderr


def test_batch_reports_each_line_in_order(jwk_file: Path, key: SigningKey) -> None:
    """``-`` answers every stdin line with one JSON line, in order, and exits 0."""
    good = sign_compact(PAYLOAD, key)
    other = sign_compact({"n": 2}, key, typ=None)
    lines = [
        good.encode(),
        _tamper(good).encode(),
        b"garbage",
        b"",
        b"\xff\xfe\x00 not ascii",
        sign_compact(PAYLOAD, SigningKey.generate("EdDSA")).encode(),
        b"a" * 20_000,
        other.encode() + b"\r",
        b" " + good.encode(),
    ]
    result = run_cli_bytes("jws", "verify", "--jwk", str(jwk_file), "-", stdin=b"\n".join(lines))
    assert 0 == result.returncode, result.stderr
    answers = [json.loads(line) for line in result.stdout.decode().splitlines()]
    invalid = {"valid": False, "error": "invalid_token"}
    assert [
        {"valid": True, "payload": _b64url(_payload_text(PAYLOAD).encode())},
        invalid,
        invalid,
        invalid,
        invalid,
        invalid,
        invalid,
        {"valid": True, "payload": _b64url(b'{"n":2}')},
        invalid,
    ] == answers


def test_batch_verbose_adds_details(jwk_file: Path) -> None:
    """In a batch, ``--verbose`` adds a ``detail`` member to each failure."""
    result = run_cli("jws", "verify", "--verbose", "--jwk", str(jwk_file), "-", stdin="x.y\n")
    answer = json.loads(result.stdout)
    assert (False, "invalid_token") == (answer["valid"], answer["error"])
    assert isinstance(answer["detail"], str)


def test_batch_of_two_thousand_lines_finishes(jwk_file: Path, key: SigningKey) -> None:
    """A batch of 2,000 tokens (some invalid) completes with 2,000 answers."""
    good = sign_compact(PAYLOAD, key)
    bad = _tamper(good)
    tokens = [good if i % 4 else bad for i in range(2000)]
    result = run_cli("jws", "verify", "--jwk", str(jwk_file), "-", stdin="\n".join(tokens) + "\n")
    assert 0 == result.returncode
    answers = [json.loads(line)["valid"] for line in result.stdout.splitlines()]
    assert [bool(i % 4) for i in range(2000)] == answers


def test_jwk_set_with_several_keys_picks_by_kid(tmp_path: Path) -> None:
    """A JWK Set verifies tokens of each of its keys (the kid selects the key)."""
    keys = [SigningKey.generate("EdDSA"), SigningKey.generate("RS256")]
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(KeyRing(keys).jwks()))
    tokens = [sign_compact({"i": i}, key) for i, key in enumerate(keys)]
    result = run_cli("jws", "verify", "--jwk", str(path), "-", stdin="\n".join(tokens))
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [_b64url(b'{"i":0}'), _b64url(b'{"i":1}')] == [a["payload"] for a in answers]
