"""``gatepass keys``: generate a private JWK; rotate, list and retire keys in a store."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from gatepass.keys.key import SigningKey, thumbprint
from gatepass.keys.persisted import load_keyring
from gatepass.stores import KeyRecord, open_store
from tests.cli.helpers import clean_env, run_cli

pytestmark = pytest.mark.slow

ALGS = ("EdDSA", "Ed25519", "ES256", "RS256", "HS256")
PUBLIC_MEMBERS = {
    "OKP": ("crv", "kty", "x"),
    "EC": ("crv", "kty", "x", "y"),
    "RSA": ("e", "kty", "n"),
}


def _records(url: str) -> list[KeyRecord]:
    async def read() -> list[KeyRecord]:
        store = open_store(url)
        try:
            return await store.list_keys()
        finally:
            await store.aclose()

    return anyio.run(read)


@pytest.mark.parametrize("alg", ALGS)
def test_generate_prints_a_private_jwk_named_by_its_thumbprint(alg: str) -> None:
    """``keys generate --alg ALG`` prints one private JWK whose kid is its RFC 7638 thumbprint."""
    result = run_cli("keys", "generate", "--alg", alg)
    assert 0 == result.returncode, result.stderr
    jwk = json.loads(result.stdout)
    assert alg == jwk["alg"]
    key = SigningKey.from_jwk(result.stdout)
    assert key.is_private
    assert alg == key.alg
    assert jwk["kid"] == key.kid
    assert thumbprint(jwk) == jwk["kid"]
    if key.kty != "oct":
        assert "d" in jwk


def test_generate_defaults_to_eddsa() -> None:
    """Without ``--alg``, ``keys generate`` makes an EdDSA (Ed25519) key."""
    result = run_cli("keys", "generate")
    assert 0 == result.returncode
    assert "EdDSA" == json.loads(result.stdout)["alg"]


def test_rotate_list_retire_on_a_store(store_url: str) -> None:
    """Rotation activates a new key, older keys keep verifying, retire takes one out."""
    first = run_cli("keys", "rotate", "--store", store_url)
    second = run_cli("keys", "rotate", "--alg", "ES256", "--store", store_url)
    assert (0, 0) == (first.returncode, second.returncode)
    first_kid, second_kid = first.stdout.strip(), second.stdout.strip()

    listing = run_cli("keys", "list", "--store", store_url)
    assert 0 == listing.returncode
    rows = [line.split("\t") for line in listing.stdout.splitlines()]
    assert [(first_kid, "EdDSA", "verify"), (second_kid, "ES256", "active")] == [
        tuple(row[:3]) for row in rows
    ]
    assert all(row[3].endswith("Z") for row in rows)

    retired = run_cli("keys", "retire", first_kid, "--store", store_url)
    assert 0 == retired.returncode, retired.stderr
    statuses = {record.kid: record.status for record in _records(store_url)}
    assert {first_kid: "retired", second_kid: "active"} == statuses


def test_retire_takes_a_kid_that_starts_with_a_dash_after_double_dash(store_url: str) -> None:
    """A thumbprint kid can start with '-' (1 in 64): ``--`` makes it the KID, as help says."""
    key = SigningKey.generate("EdDSA")
    jwk = {**key.private_jwk(), "kid": "-" + key.kid[1:]}

    async def add() -> None:
        store = open_store(store_url)
        try:
            await store.add_key(KeyRecord(jwk["kid"], "EdDSA", json.dumps(jwk), 1.0, "verify"))
        finally:
            await store.aclose()

    assert 0 == run_cli("keys", "rotate", "--store", store_url).returncode
    anyio.run(add)
    assert "after '--'" in " ".join(run_cli("keys", "retire", "--help").stdout.split())
    retired = run_cli("keys", "retire", "--store", store_url, "--", jwk["kid"])
    assert 0 == retired.returncode, retired.stderr
    statuses = {record.kid: record.status for record in _records(store_url)}
    assert "retired" == statuses[jwk["kid"]]


def test_rotate_keeps_the_active_algorithm_and_the_server_picks_it_up(store_url: str) -> None:
    """Without ``--alg`` rotation keeps the active key's algorithm; load_keyring signs with it."""
    assert 0 == run_cli("keys", "rotate", "--alg", "RS256", "--store", store_url).returncode
    result = run_cli("keys", "rotate", "--store", store_url)
    assert 0 == result.returncode
    kid = result.stdout.strip()

    async def active_kid() -> str:
        store = open_store(store_url)
        try:
            return (await load_keyring(store, alg="RS256", clock=lambda: 0.0)).active.kid
        finally:
            await store.aclose()

    assert kid == anyio.run(active_kid)
    assert ["RS256", "RS256"] == [record.alg for record in _records(store_url)]


def test_list_never_shows_private_material(store_url: str) -> None:
    """``keys list`` (plain and --json) shows no private or public key member."""
    assert 0 == run_cli("keys", "rotate", "--alg", "HS256", "--store", store_url).returncode
    assert 0 == run_cli("keys", "rotate", "--store", store_url).returncode
    secrets = [json.loads(record.private_jwk) for record in _records(store_url)]
    for args in (("keys", "list"), ("keys", "list", "--json")):
        output = run_cli(*args, "--store", store_url).stdout
        for jwk in secrets:
            for name in ("d", "k", "x"):
                if name in jwk:
                    assert jwk[name] not in output


def test_list_json_has_one_object_per_key(store_url: str) -> None:
    """``keys list --json`` prints kid, alg, status and integer created_at per line."""
    kid = run_cli("keys", "rotate", "--store", store_url).stdout.strip()
    lines = run_cli("keys", "list", "--json", "--store", store_url).stdout.splitlines()
    assert 1 == len(lines)
    row = json.loads(lines[0])
    assert {"kid": kid, "alg": "EdDSA", "status": "active"} == {
        name: row[name] for name in ("kid", "alg", "status")
    }
    assert isinstance(row["created_at"], int)


def test_retire_refuses_the_active_key_and_unknown_kids(store_url: str) -> None:
    """Retiring the active key or an unknown kid exits 1 with the error code; nothing changes."""
    kid = run_cli("keys", "rotate", "--store", store_url).stdout.strip()
    active = run_cli("keys", "retire", kid, "--store", store_url)
    assert 1 == active.returncode
    assert "validation_error" in active.stderr
    unknown = run_cli("keys", "retire", "no-such-kid", "--store", store_url)
    assert 1 == unknown.returncode
    assert "not_found" in unknown.stderr
    assert ["active"] == [record.status for record in _records(store_url)]


def test_store_comes_from_gatepass_store_env(tmp_path: Path) -> None:
    """Without ``--store``, the commands use ``GATEPASS_STORE``."""
    url = f"sqlite:///{tmp_path / 'from-env.db'}"
    env = clean_env(GATEPASS_STORE=url)
    kid = run_cli("keys", "rotate", env=env, cwd=tmp_path).stdout.strip()
    assert [kid] == [record.kid for record in _records(url)]
    assert not (tmp_path / "gatepass.db").exists()


def test_default_store_is_gatepass_db_in_the_working_directory(tmp_path: Path) -> None:
    """With neither ``--store`` nor ``GATEPASS_STORE``, the store is ./gatepass.db."""
    kid = run_cli("keys", "rotate", cwd=tmp_path).stdout.strip()
    assert [kid] == [record.kid for record in _records(f"sqlite:///{tmp_path / 'gatepass.db'}")]
