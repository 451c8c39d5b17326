"""KeyRing: active key, rotation, retirement, JWKS publication, loading JWK Sets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gatepass.errors import ConfigurationError, GatepassError, InvalidKey, UnknownKey
from gatepass.keys import KeyRing, SigningKey
from gatepass.tokens.jws import sign_compact, verify_compact

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k"}
VECTORS = Path("/work/shared/vectors/json_web_key_test.json")


@pytest.fixture(scope="module")
def rsa_key() -> SigningKey:
    """One RSA key for the module (generation is slow)."""
    return SigningKey.generate("RS256")


def test_single_signing_key_becomes_active() -> None:
    """A ring built from one private key signs with it; the token verifies by its kid."""
    key = SigningKey.generate("EdDSA")
    ring = KeyRing([key])
    assert key is ring.active
    token = sign_compact({"sub": "a"}, ring.active)
    assert key.kid == verify_compact(token, ring).kid


def test_ring_without_signing_key_has_no_active() -> None:
    """An empty or verify-only ring raises ConfigurationError when asked to sign."""
    with pytest.raises(ConfigurationError):
        _ = KeyRing().active
    with pytest.raises(ConfigurationError):
        _ = KeyRing([SigningKey.generate("ES256").public()]).active


def test_several_signing_keys_need_an_explicit_active() -> None:
    """With two private keys and no active kid, nothing signs until one is named."""
    first, second = SigningKey.generate("ES256"), SigningKey.generate("ES256")
    with pytest.raises(ConfigurationError):
        _ = KeyRing([first, second]).active
    assert second is KeyRing([first, second], active=second.kid).active


def test_active_must_be_a_known_private_key() -> None:
    """Naming an unknown kid or a verify-only key as active is a configuration error."""
    key = SigningKey.generate("ES256")
    with pytest.raises(ConfigurationError):
        KeyRing([key], active="nope")
    with pytest.raises(ConfigurationError):
        KeyRing([key.public()], active=key.kid)
    with pytest.raises(ConfigurationError):
        KeyRing().add(key.public(), activate=True)


def test_duplicate_kid_is_refused() -> None:
    """Two different keys with one kid cannot share a ring; re-adding the same key is a no-op."""
    key = SigningKey.generate("ES256")
    ring = KeyRing([key])
    ring.add(key)
    with pytest.raises(ConfigurationError):
        ring.add(key.public())
    assert (key.kid,) == ring.kids


def test_rotate_keeps_the_former_key_verifying() -> None:
    """After rotate(), the new key signs and tokens of the former key still verify."""
    old, new = SigningKey.generate("ES256"), SigningKey.generate("ES256")
    ring = KeyRing([old])
    old_token = sign_compact({"sub": "a"}, ring.active)
    ring.rotate(new)
    assert new is ring.active
    assert (old.kid, new.kid) == ring.kids
    assert old.kid == verify_compact(old_token, ring).kid
    assert new.kid == verify_compact(sign_compact({"sub": "a"}, ring.active), ring).kid


def test_retire_stops_verification() -> None:
    """A retired key no longer verifies its tokens (UnknownKey)."""
    old, new = SigningKey.generate("EdDSA"), SigningKey.generate("EdDSA")
    ring = KeyRing([old])
    token = sign_compact({"sub": "a"}, ring.active)
    ring.rotate(new)
    ring.retire(old.kid)
    assert (new.kid,) == ring.kids
    assert ring.get(old.kid) is None
    with pytest.raises(UnknownKey):
        verify_compact(token, ring)


def test_active_and_unknown_keys_cannot_be_retired() -> None:
    """Retiring the active key or an unknown kid is a configuration error."""
    key = SigningKey.generate("EdDSA")
    ring = KeyRing([key])
    with pytest.raises(ConfigurationError):
        ring.retire(key.kid)
    with pytest.raises(ConfigurationError):
        ring.retire("unknown")
    assert key is ring.active


def test_jwks_publishes_every_verifying_asymmetric_key(rsa_key: SigningKey) -> None:
    """jwks() lists each asymmetric key's public JWK (kid, alg, use) and no HS256 key."""
    keys = [SigningKey.generate(alg) for alg in ("EdDSA", "Ed25519", "ES256", "HS256")]
    ring = KeyRing([*keys, rsa_key.public()], active=keys[0].kid)
    published = ring.jwks()["keys"]
    expected = {(k.kid, k.alg) for k in [*keys[:3], rsa_key]}
    assert expected == {(jwk["kid"], jwk["alg"]) for jwk in published}
    for jwk in published:
        assert set() == PRIVATE_MEMBERS & set(jwk)
        assert "sig" == jwk["use"]
        assert "oct" != jwk["kty"]
    assert keys[3].private_jwk()["k"] not in json.dumps(ring.jwks())


def test_jwks_round_trips_into_a_verifying_ring() -> None:
    """A ring built from the published JWKS verifies tokens of the signing ring."""
    ring = KeyRing([SigningKey.generate("Ed25519")])
    token = sign_compact({"sub": "a"}, ring.active)
    remote = KeyRing.from_jwks(json.dumps(ring.jwks()))
    assert b'{"sub":"a"}' == verify_compact(token, remote).payload
    with pytest.raises(ConfigurationError):
        _ = remote.active


def test_from_jwks_accepts_a_single_jwk_and_drops_private_parts() -> None:
    """A single private JWK loads as a verify-only ring."""
    key = SigningKey.generate("ES256")
    ring = KeyRing.from_jwks(key.private_jwk())
    loaded = ring.get(key.kid)
    assert loaded is not None
    assert not loaded.is_private
    assert key.public_jwk() == ring.jwks()["keys"][0]


def test_from_jwks_loads_symmetric_keys_for_verification() -> None:
    """An HS256 oct JWK loads (for jws verify --jwk) but is never published."""
    key = SigningKey.generate("HS256")
    ring = KeyRing.from_jwks({"keys": [key.private_jwk()]})
    token = sign_compact({"sub": "a"}, key)
    assert key.kid == verify_compact(token, ring).kid
    assert {"keys": []} == ring.jwks()


@pytest.mark.parametrize(
    "doc",
    [
        {"keys": []},
        {"keys": "nope"},
        {"keys": ["not a jwk"]},
        [],
        "not json",
        '{"keys": [], "keys": []}',
    ],
)
def test_from_jwks_refuses_malformed_documents(doc: Any) -> None:
    """Empty, non-list, non-object or non-JSON key sets are refused."""
    with pytest.raises(InvalidKey):
        KeyRing.from_jwks(doc)


def test_from_jwks_refuses_duplicate_kids_and_mixed_symmetry() -> None:
    """A set repeating a kid, or mixing oct with asymmetric keys, is refused."""
    ec = SigningKey.generate("ES256").public_jwk()
    oct_ = SigningKey.generate("HS256").private_jwk()
    with pytest.raises(InvalidKey):
        KeyRing.from_jwks({"keys": [ec, {**ec}]})
    with pytest.raises(InvalidKey):
        KeyRing.from_jwks({"keys": [ec, oct_]})


def test_from_jwks_strict_and_lenient_modes() -> None:
    """Strict mode refuses a set with an unusable key; lenient mode skips it."""
    good = SigningKey.generate("ES256").public_jwk()
    foreign = {**good, "kid": "enc-key", "use": "enc"}
    with pytest.raises(InvalidKey):
        KeyRing.from_jwks({"keys": [good, foreign]})
    assert (good["kid"],) == KeyRing.from_jwks({"keys": [good, foreign]}, strict=False).kids
    with pytest.raises(InvalidKey):
        KeyRing.from_jwks({"keys": [foreign]}, strict=False)


# -- Wycheproof json_web_key_test.json -----------------------------------------------------


def _wycheproof_key_cases() -> list[tuple[int, str, dict[str, Any], str, str]]:
    data = json.loads(VECTORS.read_text())
    cases = []
    for group in data["testGroups"]:
        keyset = group.get("public") or group["private"]
        for test in group["tests"]:
            cases.append((test["tcId"], group["comment"], keyset, test["jws"], test["result"]))
    return cases


WYCHEPROOF_KEY_CASES = _wycheproof_key_cases()
# Valid in Wycheproof but for HS384/HS512, which gatepass does not offer.
UNSUPPORTED_VALID = {14: "HS384", 15: "HS512"}


@pytest.mark.parametrize(
    ("tc_id", "comment", "keyset", "jws", "result"),
    WYCHEPROOF_KEY_CASES,
    ids=[f"tc{case[0]}-{case[1]}" for case in WYCHEPROOF_KEY_CASES],
)
def test_wycheproof_json_web_key_vectors(
    tc_id: int, comment: str, keyset: dict[str, Any], jws: str, result: str
) -> None:
    """Keysets Wycheproof marks invalid are refused at load or at verification; valid verify."""
    if result == "valid" and tc_id not in UNSUPPORTED_VALID:
        assert b"foo" == verify_compact(jws, KeyRing.from_jwks(keyset)).payload
        return
    with pytest.raises(GatepassError):
        verify_compact(jws, KeyRing.from_jwks(keyset))


@pytest.mark.parametrize(
    ("tc_id", "reason"),
    [
        (1, "mixed symmetric and asymmetric keys"),
        (4, "duplicate kid"),
        (6, "use enc"),
        (7, "ROCA modulus"),
        (8, "1024-bit RSA"),
        (9, "RSA exponent 1"),
        (10, "short HS256 key"),
        (16, "empty HS256 key"),
        (19, "alg ES521 on a P-256 key"),
        (20, "alg ES224 on a P-256 key"),
        (21, "use enc"),
        (22, "point not on the curve"),
        (23, "P-384 curve with P-256 coordinates"),
        (24, "kty RSA with EC members"),
        (25, "AES-GCM key"),
        (26, "AES key wrap key"),
    ],
)
def test_wycheproof_bad_keysets_are_refused_when_loaded(tc_id: int, reason: str) -> None:
    """These Wycheproof keysets fail at load time (InvalidKey), before any token is seen."""
    (keyset,) = [case[2] for case in WYCHEPROOF_KEY_CASES if case[0] == tc_id]
    with pytest.raises(InvalidKey):
        KeyRing.from_jwks(keyset)
    if len(keyset["keys"]) == 1:  # a single bad key: SigningKey.from_jwk refuses it too
        with pytest.raises(InvalidKey):
            SigningKey.from_jwk(keyset["keys"][0])
    else:  # a bad combination; its first key alone is usable
        assert "HS256" == SigningKey.from_jwk(keyset["keys"][0]).alg


def test_generation_counts_changes_to_the_verifying_keys() -> None:
    """Adding or retiring a key moves the generation (to a value no ring has had);
    re-adding a key or activating one does not."""
    first, second = SigningKey.generate("EdDSA"), SigningKey.generate("EdDSA")
    ring = KeyRing([first], active=first.kid)
    other = KeyRing([first], active=first.kid)
    seen = {ring.generation, other.generation}
    assert 2 == len(seen)
    ring.add(first)
    ring.activate(first.kid)
    assert ring.generation in seen
    ring.rotate(second)
    assert ring.generation not in seen
    seen.add(ring.generation)
    ring.retire(first.kid)
    assert ring.generation not in seen
