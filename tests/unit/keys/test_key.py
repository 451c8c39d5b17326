"""SigningKey: generation, JWK import/export, RFC vectors, refusal of unusable keys."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from gatepass._utils import b64url_decode, b64url_encode
from gatepass.errors import InvalidKey
from gatepass.keys import SigningKey
from gatepass.keys.algorithms import P256_ORDER, ecdsa_raw_to_der
from gatepass.keys.key import thumbprint

ALGS = ["EdDSA", "Ed25519", "ES256", "RS256", "HS256"]
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k"}

# RFC 7515 A.1-A.3 share this payload segment; A.4 (ES512) is out of scope.
RFC7515_PAYLOAD = (
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
)
# RFC 7515 A.1: HS256.
RFC7515_A1_JWK = {
    "kty": "oct",
    "alg": "HS256",
    "k": "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow",
}
RFC7515_A1_HEADER = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
RFC7515_A1_SIG = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
# RFC 7515 A.2: RS256. Public key, plus d (the RFC lists p, q, dp, dq, qi too; leaving them
# out exercises the prime-factor recovery of SigningKey.from_jwk).
RFC7515_A2_N = (
    "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm"
    "4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5"
    "z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7"
    "aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ"
)
RFC7515_A2_D = int(
    "2358310989939619510179986262349936882924652023566213765118606431955566700506538911356936879"
    "1375035973825159195156332424826433144231927041282965936729660618101493163206178940218227840"
    "2640746140338406535182197235078430096761014345948432406842767463968840591797744247280494307"
    "5439192026107319532117557545079086537982987982522396626690057355718157403493216553255260857"
    "7779656275291691958276221397723897601305717548346786798421811422524896176650301094455739780"
    "1270779301059273764049922001508339242591487784784045727824640276095588337699995119982770628"
    "5383471150643561410605789710883438795588594095047409018233862167884701"
)
RFC7515_A2_JWK = {"kty": "RSA", "n": RFC7515_A2_N, "e": "AQAB"}
RFC7515_A2_HEADER = "eyJhbGciOiJSUzI1NiJ9"
RFC7515_A2_SIG = (
    "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp"
    "5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMH"
    "lb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2"
    "w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw"
)
# RFC 7515 A.3: ES256.
RFC7515_A3_JWK = {
    "kty": "EC",
    "crv": "P-256",
    "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
    "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
    "d": "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI",
}
RFC7515_A3_HEADER = "eyJhbGciOiJFUzI1NiJ9"
RFC7515_A3_SIG = (
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"
)
# RFC 8037 A.1-A.5: Ed25519.
RFC8037_JWK = {
    "kty": "OKP",
    "crv": "Ed25519",
    "d": "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",
    "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
}
RFC8037_SIGNING_INPUT = b"eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"
RFC8037_SIG = (
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
)
# RFC 7638 section 3.1 example key and its thumbprint.
RFC7638_JWK = {
    "kty": "RSA",
    "e": "AQAB",
    "n": (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJ"
        "ECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FD"
        "W2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4v"
        "MQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    ),
    "alg": "RS256",
    "kid": "2011-04-29",
}


def _signing_input(header: str) -> bytes:
    return f"{header}.{RFC7515_PAYLOAD}".encode("ascii")


@pytest.fixture(scope="module")
def keys() -> dict[str, SigningKey]:
    """One generated key per algorithm (RSA generation is slow: do it once)."""
    return {alg: SigningKey.generate(alg) for alg in ALGS}


# -- generation, round trips ------------------------------------------------------------


@pytest.mark.parametrize("alg", ALGS)
def test_sign_verify_round_trip(keys: dict[str, SigningKey], alg: str) -> None:
    """A generated key verifies its own signature and refuses a tampered input or signature."""
    key = keys[alg]
    signature = key.sign(b"header.payload")
    assert key.verify(b"header.payload", signature)
    assert not key.verify(b"header.payloaD", signature)
    tampered = bytes([signature[0] ^ 1]) + signature[1:]
    assert not key.verify(b"header.payload", tampered)
    assert not key.verify(b"header.payload", signature[:-1])
    assert not key.verify(b"header.payload", b"")


@pytest.mark.parametrize("alg", ALGS)
def test_generated_key_carries_its_alg_name_exactly(keys: dict[str, SigningKey], alg: str) -> None:
    """The key keeps the configured name, so "Ed25519" stays "Ed25519" (RFC 9864)."""
    expected_kty = {"EdDSA": "OKP", "Ed25519": "OKP", "ES256": "EC", "RS256": "RSA"}
    assert alg == keys[alg].alg
    assert expected_kty.get(alg, "oct") == keys[alg].kty
    assert keys[alg].is_private


@pytest.mark.parametrize("alg", ALGS)
def test_generated_kid_is_the_rfc7638_thumbprint(keys: dict[str, SigningKey], alg: str) -> None:
    """A generated key's kid is the RFC 7638 thumbprint of its JWK."""
    key = keys[alg]
    assert thumbprint(key.private_jwk()) == key.kid


@pytest.mark.parametrize("alg", ALGS)
def test_private_jwk_round_trip(keys: dict[str, SigningKey], alg: str) -> None:
    """A key exported as a private JWK loads back with the same kid, alg and key material."""
    key = keys[alg]
    loaded = SigningKey.from_jwk(json.dumps(key.private_jwk()))
    assert (key.kid, key.alg, True) == (loaded.kid, loaded.alg, loaded.is_private)
    assert loaded.verify(b"data", key.sign(b"data"))
    assert key.verify(b"data", loaded.sign(b"data"))


@pytest.mark.parametrize("alg", ["EdDSA", "Ed25519", "ES256", "RS256"])
def test_public_copy_verifies_but_cannot_sign(keys: dict[str, SigningKey], alg: str) -> None:
    """public() keeps kid and alg, verifies, and refuses to sign or export private members."""
    key = keys[alg]
    public = key.public()
    assert (key.kid, key.alg, False) == (public.kid, public.alg, public.is_private)
    assert public.verify(b"data", key.sign(b"data"))
    with pytest.raises(InvalidKey):
        public.sign(b"data")
    with pytest.raises(InvalidKey):
        public.private_jwk()
    assert key.public_jwk() == public.public_jwk()


@pytest.mark.parametrize("alg", ["EdDSA", "Ed25519", "ES256", "RS256"])
def test_public_jwk_has_no_private_members(keys: dict[str, SigningKey], alg: str) -> None:
    """The public JWK has kid, alg and use=sig and none of d, p, q, dp, dq, qi, k."""
    jwk = keys[alg].public_jwk()
    assert set() == PRIVATE_MEMBERS & set(jwk)
    assert (keys[alg].kid, alg, "sig") == (jwk["kid"], jwk["alg"], jwk["use"])
    loaded = SigningKey.from_jwk(jwk)
    assert (keys[alg].kid, False) == (loaded.kid, loaded.is_private)


def test_symmetric_key_is_never_exported_publicly(keys: dict[str, SigningKey]) -> None:
    """An HS256 key has no public JWK, and public() returns the key itself."""
    key = keys["HS256"]
    with pytest.raises(InvalidKey):
        key.public_jwk()
    assert key is key.public()


@pytest.mark.parametrize("alg", ALGS)
def test_repr_never_shows_key_material(keys: dict[str, SigningKey], alg: str) -> None:
    """repr() names kid and alg only; no private member value appears in it."""
    key = keys[alg]
    text = repr(key) + str(key)
    assert f"SigningKey(kid={key.kid!r}, alg={alg!r}, private=True)" == repr(key)
    for name, value in key.private_jwk().items():
        if name in PRIVATE_MEMBERS:
            assert value not in text


def test_key_is_immutable(keys: dict[str, SigningKey]) -> None:
    """Attributes of a SigningKey cannot be reassigned or deleted."""
    key = keys["ES256"]
    with pytest.raises(AttributeError):
        key.alg = "HS256"
    with pytest.raises(AttributeError):
        del key.kid
    assert "ES256" == key.alg


def test_direct_construction_is_refused() -> None:
    """Keys come only from generate() or from_jwk(); the constructor refuses other callers."""
    with pytest.raises(InvalidKey):
        SigningKey(
            object(),
            alg="HS256",
            kid="k",
            members={},
            private=None,
            sign=None,
            verify=lambda data, signature: True,
        )


@pytest.mark.parametrize("alg", ["none", "None", "hs256", "HS384", "PS256", "RS512", "ES512", ""])
def test_generate_refuses_algorithms_outside_the_allow_list(alg: str) -> None:
    """generate() accepts only EdDSA, Ed25519, ES256, RS256 and HS256, exactly spelled."""
    with pytest.raises(InvalidKey):
        SigningKey.generate(alg)


def test_no_constructor_from_pem_or_raw_bytes_exists() -> None:
    """There is no way to build a key from PEM or raw bytes, so no HS/public-key confusion."""
    names = {name for name in dir(SigningKey) if not name.startswith("_")}
    assert {"from_jwk", "generate"} == {name for name in names if "from" in name or "gen" in name}
    pem = (
        "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----"
    )
    with pytest.raises(InvalidKey):
        SigningKey.from_jwk(pem)


# -- RFC vectors ------------------------------------------------------------------------------


def test_rfc7515_a1_hs256_vector() -> None:
    """RFC 7515 A.1: the HMAC over the RFC's signing input equals the RFC's signature."""
    key = SigningKey.from_jwk(RFC7515_A1_JWK)
    signing_input = _signing_input(RFC7515_A1_HEADER)
    assert key.verify(signing_input, b64url_decode(RFC7515_A1_SIG))
    assert RFC7515_A1_SIG == b64url_encode(key.sign(signing_input))


def test_rfc7515_a2_rs256_vector() -> None:
    """RFC 7515 A.2: the RFC's RS256 signature verifies, and re-signing reproduces it."""
    public = SigningKey.from_jwk(RFC7515_A2_JWK)
    signing_input = _signing_input(RFC7515_A2_HEADER)
    assert public.verify(signing_input, b64url_decode(RFC7515_A2_SIG))
    private = SigningKey.from_jwk({**RFC7515_A2_JWK, "d": b64url_encode(_to_bytes(RFC7515_A2_D))})
    assert RFC7515_A2_SIG == b64url_encode(private.sign(signing_input))
    assert public.kid == private.kid


def test_rfc7515_a3_es256_vector() -> None:
    """RFC 7515 A.3: the RFC's ES256 signature and its (r, n - s) twin both verify."""
    key = SigningKey.from_jwk(RFC7515_A3_JWK)
    signing_input = _signing_input(RFC7515_A3_HEADER)
    signature = b64url_decode(RFC7515_A3_SIG)
    assert key.verify(signing_input, signature)
    s = int.from_bytes(signature[32:], "big")
    malleated = signature[:32] + (P256_ORDER - s).to_bytes(32, "big")
    assert key.verify(signing_input, malleated)
    assert key.verify(signing_input, key.sign(signing_input))


def test_rfc8037_a4_ed25519_vector() -> None:
    """RFC 8037 A.4: the Ed25519 signature verifies and signing reproduces it exactly."""
    key = SigningKey.from_jwk(RFC8037_JWK)
    assert "EdDSA" == key.alg
    assert key.verify(RFC8037_SIGNING_INPUT, b64url_decode(RFC8037_SIG))
    assert RFC8037_SIG == b64url_encode(key.sign(RFC8037_SIGNING_INPUT))


def test_rfc8037_ed25519_alias_verifies_the_same_vector() -> None:
    """The same OKP key declared with alg "Ed25519" verifies the RFC 8037 signature."""
    key = SigningKey.from_jwk({**RFC8037_JWK, "alg": "Ed25519"})
    assert "Ed25519" == key.alg
    assert key.verify(RFC8037_SIGNING_INPUT, b64url_decode(RFC8037_SIG))


@pytest.mark.parametrize(
    ("jwk", "expected"),
    [
        (RFC7638_JWK, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"),  # RFC 7638 3.1
        (RFC8037_JWK, "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"),  # RFC 8037 A.3
        (RFC7515_A3_JWK, "oKIywvGUpTVTyxMQ3bwIIeQUudfr_CkLMjCE19ECD-U"),
    ],
)
def test_thumbprint_matches_published_values(jwk: dict[str, str], expected: str) -> None:
    """thumbprint() reproduces published RFC 7638 thumbprints (extra members are ignored)."""
    assert expected == thumbprint(jwk)


def test_kid_defaults_to_thumbprint_and_honours_given_kid() -> None:
    """A JWK without kid gets its thumbprint; a JWK with kid keeps it."""
    assert "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k" == SigningKey.from_jwk(RFC8037_JWK).kid
    assert "2011-04-29" == SigningKey.from_jwk(RFC7638_JWK).kid


def _to_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


# -- signature encodings ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("r", "s"),
    [(0, 0), (0, 1), (1, 0), (P256_ORDER, 1), (1, P256_ORDER), (P256_ORDER, P256_ORDER)],
)
def test_es256_out_of_range_r_s_never_reach_the_primitive(r: int, s: int) -> None:
    """r or s equal to 0 or >= n is refused before cryptography (CVE-2022-21449)."""
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    assert ecdsa_raw_to_der(raw) is None
    key = SigningKey.from_jwk(RFC7515_A3_JWK)
    assert not key.verify(_signing_input(RFC7515_A3_HEADER), raw)


def test_es256_refuses_der_and_wrong_length_signatures() -> None:
    """An ES256 signature must be the 64-byte R || S; DER, 63 and 65 bytes are refused."""
    key = SigningKey.from_jwk(RFC7515_A3_JWK)
    signing_input = _signing_input(RFC7515_A3_HEADER)
    raw = b64url_decode(RFC7515_A3_SIG)
    der = ecdsa_raw_to_der(raw)
    assert der is not None
    for bad in (der, raw[:-1], raw + b"\x00", b"\x00" + raw, b"\x00" * 64):
        assert not key.verify(signing_input, bad)


def test_ed25519_refuses_non_canonical_s() -> None:
    """An Ed25519 signature with S + L (malleated) is refused."""
    key = SigningKey.from_jwk(RFC8037_JWK)
    signature = b64url_decode(RFC8037_SIG)
    order = 2**252 + 27742317777372353535851937790883648493
    s = int.from_bytes(signature[32:], "little") + order
    malleated = signature[:32] + s.to_bytes(32, "little")
    assert not key.verify(RFC8037_SIGNING_INPUT, malleated)


def test_rs256_refuses_signature_of_wrong_length() -> None:
    """An RS256 signature must be exactly as long as the modulus."""
    key = SigningKey.from_jwk(RFC7515_A2_JWK)
    signature = b64url_decode(RFC7515_A2_SIG)
    signing_input = _signing_input(RFC7515_A2_HEADER)
    assert not key.verify(signing_input, b"\x00" + signature)
    assert not key.verify(signing_input, signature[1:])


def test_hs256_refuses_truncated_mac() -> None:
    """A truncated HMAC (16 bytes, the 'tagSize 128' case) is refused."""
    key = SigningKey.from_jwk(RFC7515_A1_JWK)
    mac = b64url_decode(RFC7515_A1_SIG)
    assert not key.verify(_signing_input(RFC7515_A1_HEADER), mac[:16])


# -- JWK validation ----------------------------------------------------------------------------


def _rsa_jwk(bits: int) -> dict[str, Any]:
    numbers = rsa.generate_private_key(65537, bits).public_key().public_numbers()
    return {"kty": "RSA", "n": b64url_encode(_to_bytes(numbers.n)), "e": "AQAB"}


OCT_31 = {"kty": "oct", "alg": "HS256", "k": b64url_encode(b"\x01" * 31)}
OCT_32 = {"kty": "oct", "alg": "HS256", "k": b64url_encode(b"\x01" * 32)}
EC_PUBLIC = {key: value for key, value in RFC7515_A3_JWK.items() if key != "d"}
BAD_JWKS: list[tuple[str, object]] = [
    ("not an object", ["kty", "oct"]),
    ("missing kty", {"k": OCT_32["k"], "alg": "HS256"}),
    ("unknown kty", {**OCT_32, "kty": "AES"}),
    ("oct without alg", {"kty": "oct", "k": OCT_32["k"]}),
    ("oct with AES alg", {**OCT_32, "alg": "A256GCM"}),
    ("alg none", {**OCT_32, "alg": "none"}),
    ("alg lower case", {**OCT_32, "alg": "hs256"}),
    ("alg HS384", {**OCT_32, "alg": "HS384"}),
    ("alg not a string", {**OCT_32, "alg": ["HS256"]}),
    ("short HMAC key", OCT_31),
    ("empty HMAC key", {**OCT_32, "k": ""}),
    ("HS256 alg on an EC key", {**EC_PUBLIC, "alg": "HS256"}),
    ("RS256 alg on an EC key", {**EC_PUBLIC, "alg": "RS256"}),
    ("ES256 alg on an oct key", {**OCT_32, "alg": "ES256"}),
    ("EdDSA alg on an EC key", {**EC_PUBLIC, "alg": "EdDSA"}),
    ("P-384 curve", {**EC_PUBLIC, "crv": "P-384"}),
    ("no curve", {key: value for key, value in EC_PUBLIC.items() if key != "crv"}),
    ("X25519 OKP", {**RFC8037_JWK, "crv": "X25519"}),
    ("point not on curve", {**EC_PUBLIC, "y": EC_PUBLIC["x"]}),
    ("EC d of another key", {**EC_PUBLIC, "d": RFC8037_JWK["d"]}),
    ("OKP d of another key", {**RFC8037_JWK, "d": EC_PUBLIC["x"]}),
    ("x too short", {**EC_PUBLIC, "x": EC_PUBLIC["x"][:-2]}),
    ("padded base64", {**OCT_32, "k": OCT_32["k"] + "="}),
    ("standard base64 alphabet", {**EC_PUBLIC, "y": EC_PUBLIC["y"].replace("_", "/")}),
    ("member not a string", {**EC_PUBLIC, "x": 12345}),
    ("use enc", {**OCT_32, "use": "enc"}),
    ("key_ops without verify", {**EC_PUBLIC, "key_ops": ["encrypt"]}),
    ("key_ops not a list", {**EC_PUBLIC, "key_ops": "verify"}),
    ("key_ops 'sign, verify' string", {**RFC7515_A3_JWK, "key_ops": ["sign, verify"]}),
    ("private key_ops without sign", {**RFC7515_A3_JWK, "key_ops": ["verify"]}),
    ("empty kid", {**OCT_32, "kid": ""}),
    ("kid too long", {**OCT_32, "kid": "k" * 257}),
    ("kid not a string", {**OCT_32, "kid": 7}),
    ("partial RSA CRT", {**RFC7515_A2_JWK, "d": "AQAB", "p": "AQAB"}),
    ("multi-prime RSA", {**RFC7515_A2_JWK, "d": "AQAB", "oth": []}),
    ("RSA exponent 1", {**RFC7515_A2_JWK, "e": "AQ"}),
    ("RSA even exponent", {**RFC7515_A2_JWK, "e": "AQAA"}),
    ("RSA d not matching", {**RFC7515_A2_JWK, "d": b64url_encode(b"\x05" * 200)}),
    ("JSON text with duplicate member", '{"kty":"oct","kty":"oct","alg":"HS256","k":"x"}'),
    ("JSON text with NaN", '{"kty":"oct","alg":"HS256","k":NaN}'),
    ("JSON text not an object", '["kty"]'),
    ("JSON text not JSON", "kty=oct"),
]


@pytest.mark.parametrize(("reason", "jwk"), BAD_JWKS, ids=[reason for reason, _ in BAD_JWKS])
def test_from_jwk_refuses_unusable_keys(reason: str, jwk: Any) -> None:
    """from_jwk raises InvalidKey for every unusable or inconsistent JWK."""
    with pytest.raises(InvalidKey):
        SigningKey.from_jwk(jwk)


def test_from_jwk_refuses_1024_bit_rsa() -> None:
    """RSA moduli below 2048 bits are refused (RFC 7518 section 3.3)."""
    with pytest.raises(InvalidKey):
        SigningKey.from_jwk(_rsa_jwk(1024))


def test_minimum_sizes_are_accepted() -> None:
    """A 32-byte HMAC key and a 2048-bit RSA key are the smallest accepted."""
    assert "HS256" == SigningKey.from_jwk(OCT_32).alg
    assert "RS256" == SigningKey.from_jwk(_rsa_jwk(2048)).alg


@pytest.mark.parametrize(
    ("jwk", "expected"),
    [(RFC8037_JWK, "EdDSA"), (RFC7515_A3_JWK, "ES256"), (RFC7515_A2_JWK, "RS256")],
)
def test_alg_is_inferred_for_asymmetric_keys(jwk: dict[str, str], expected: str) -> None:
    """Without alg, OKP Ed25519 -> EdDSA, EC P-256 -> ES256, RSA -> RS256."""
    assert expected == SigningKey.from_jwk(jwk).alg


def test_usage_members_that_allow_signing_are_accepted() -> None:
    """use=sig and key_ops with sign and verify are accepted on a private key."""
    key = SigningKey.from_jwk({**RFC7515_A3_JWK, "use": "sig", "key_ops": ["sign", "verify"]})
    assert key.is_private
    public = SigningKey.from_jwk({**EC_PUBLIC, "key_ops": ["verify"]})
    assert not public.is_private


def test_rsa_private_jwk_with_and_without_crt_members_is_the_same_key() -> None:
    """A private RSA JWK without p, q, dp, dq, qi loads to the same key as the full one."""
    d = b64url_encode(_to_bytes(RFC7515_A2_D))
    short = SigningKey.from_jwk({**RFC7515_A2_JWK, "d": d})
    full = SigningKey.from_jwk(short.private_jwk())
    assert short.private_jwk() == full.private_jwk()
    assert {"d", "p", "q", "dp", "dq", "qi"} <= set(full.private_jwk())


def test_es256_signing_is_deterministic_rfc6979() -> None:
    """ES256 signatures use RFC 6979 nonces: signing the same input twice gives one value."""
    key = SigningKey.generate("ES256")
    assert key.sign(b"payload") == key.sign(b"payload")
    assert key.verify(b"payload", key.sign(b"payload"))


def test_generated_rsa_keys_have_3072_bits() -> None:
    """Generated RS256 keys are 3072-bit (about 128-bit security, ASVS 5 11.2.3)."""
    n = SigningKey.generate("RS256").public_jwk()["n"]
    assert 3072 == len(b64url_decode(n)) * 8
