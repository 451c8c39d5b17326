"""SECURITY.md section 2, J-01 to J-32: one named regression test per attack.

Every test runs the attack twice: (a) through the library (``AccessTokens.verify`` with
the server's own keys, issuer and audience; the Authenticator where revocation is
involved) and (b) over HTTP against a real ``gatepass serve`` process: ``GET /auth/me``
with the attack token as Bearer must answer 401 with the expected error code and
``WWW-Authenticate: Bearer error="invalid_token"``. Attacks that depend on the algorithm
run against each server (EdDSA, ES256, RS256, HS256), forged from that server's own
material: a token it issued, its JWKS key, or (for "insider" forgeries that differ from
a genuine token only in the attacked property) its private key read from its store.
Each test first shows a control being accepted (200), so none passes vacuously.

Items that do not apply as attacks still get a test proving why: J-08/J-09 (no URL is
ever fetched: a local listener sees zero connections), J-10 (x5c is never used),
J-25/J-28 (no JWE support: five segments are refused at the format stage, before any
decryption or decompression), J-32 (no public key needs to stay secret: the key pins
the algorithm).
"""

from __future__ import annotations

import base64
import hmac
import json
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
import jwt as pyjwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.x509.oid import NameOID
from joserfc import jwe
from joserfc.errors import SecurityWarning
from joserfc.jwk import ECKey, OctKey, RSAKey

from gatepass._utils import b64url_decode, b64url_encode
from gatepass.authenticator import Authenticator
from gatepass.config import TokenSettings
from gatepass.errors import (
    DisallowedAlgorithm,
    GatepassError,
    InvalidKey,
    InvalidSignature,
    MalformedToken,
    TokenError,
    TokenRevoked,
    UnknownKey,
    UnsupportedHeader,
)
from gatepass.keys.algorithms import P256_ORDER, ecdsa_der_to_raw
from gatepass.keys.key import SigningKey
from gatepass.keys.keyring import KeyRing
from gatepass.stores.memory import MemoryStore
from gatepass.tokens.access import AccessTokens
from gatepass.transports.base import Credential
from tests.conftest import FAST_PASSWORDS, FakeClock
from tests.security.conftest import (
    ALGS,
    AUDIENCE,
    ISSUER,
    GatepassServer,
    TokenLogin,
    run_cli,
    start_all,
    stop_all,
    token_claims,
    token_header,
)
from tests.security.vectors import (
    changed_unused_bits,
    ecdsa_join,
    ecdsa_malleate,
    ecdsa_split,
    ed25519_high_s,
    enc,
    json_bytes,
    mac_input,
    padded,
    raw_json,
    sign_input,
    split,
    std_alphabet,
)

pytestmark = pytest.mark.slow

#: Pass as a header or claim value to leave the member out (None is JSON null).
DROP = "<drop>"
WWW_AUTHENTICATE = 'Bearer error="invalid_token"'


# -- forging helpers -----------------------------------------------------------------------


def crypto_key(jwk: dict[str, Any]) -> Any:
    """The ``cryptography`` key object (or HMAC bytes) of a JWK, via PyJWT's parser."""
    return pyjwt.PyJWK(jwk).key


def self_signed_certificate(private_key: Any) -> x509.Certificate:
    """A self-signed certificate for an attacker's key (for x5c / x5u / PEM confusion)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "attacker.example")])
    now = datetime.now(UTC)
    eddsa = isinstance(private_key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey)
    algorithm = None if eddsa else hashes.SHA256()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(private_key, algorithm)
    )


def public_key_encodings(jwk: dict[str, Any], private_jwk: dict[str, Any]) -> dict[str, bytes]:
    """Every way SECURITY.md J-04 lists of writing a public key as HMAC secret bytes."""
    public = crypto_key(jwk)
    fmt = serialization.PublicFormat
    pem = public.public_bytes(serialization.Encoding.PEM, fmt.SubjectPublicKeyInfo)
    encodings = {
        "PEM": pem,
        "PEM CRLF": pem.replace(b"\n", b"\r\n"),
        "PEM no trailing newline": pem.rstrip(b"\n"),
        "DER SPKI": public.public_bytes(serialization.Encoding.DER, fmt.SubjectPublicKeyInfo),
        "OpenSSH": public.public_bytes(serialization.Encoding.OpenSSH, fmt.OpenSSH),
        "JWK JSON (as served)": json.dumps(jwk).encode(),
        "JWK JSON (compact)": json_bytes(jwk),
        "x5c certificate PEM": self_signed_certificate(crypto_key(private_jwk)).public_bytes(
            serialization.Encoding.PEM
        ),
    }
    if jwk["kty"] == "RSA":
        encodings["PKCS#1 PEM"] = public.public_bytes(serialization.Encoding.PEM, fmt.PKCS1)
        encodings["modulus bytes"] = b64url_decode(jwk["n"])
    return encodings


# -- targets: a server and the library configured like it ----------------------------------


@dataclass
class Target:
    """One server under attack, with its private key and the library verifier alike."""

    server: GatepassServer
    key: SigningKey
    login: TokenLogin
    clock: FakeClock
    verifier: AccessTokens = field(init=False)

    def __post_init__(self) -> None:
        ring = KeyRing(self.server.signing_keys().values())
        settings = TokenSettings(issuer=ISSUER, audience=AUDIENCE)
        self.verifier = AccessTokens(ring, settings, clock=self.clock, cache_size=0)

    @property
    def alg(self) -> str:
        return self.key.alg

    @property
    def kid(self) -> str:
        return self.key.kid

    def header(self, **changes: Any) -> dict[str, Any]:
        """The header the server writes, with members changed (DROP removes one)."""
        header = {"alg": self.key.alg, "kid": self.key.kid, "typ": "at+jwt", **changes}
        return {k: v for k, v in header.items() if v != DROP}

    def claims(self, **changes: Any) -> dict[str, Any]:
        """A fresh set of the shared user's claims, with members changed (DROP removes)."""
        now = int(self.clock())
        claims = token_claims(self.login.access_token)
        claims.update(iat=now, nbf=now, exp=now + 600, jti=f"forged-{time.monotonic_ns()}")
        claims.update(changes)
        return {k: v for k, v in claims.items() if v != DROP}

    def mint(self, header: dict[str, Any] | str | bytes | None = None, claims: Any = None) -> str:
        """An insider token: any header and claims, signed with the server's own key."""
        head = enc(self.header() if header is None else header)
        body = enc(self.claims() if claims is None else claims)
        return sign_input(self.key, head, body)


@pytest.fixture(scope="module")
def logins(servers: dict[str, GatepassServer]) -> dict[str, TokenLogin]:
    """One user logged in on each server for the whole module (never logged out)."""
    return {alg: server.login() for alg, server in servers.items()}


@pytest.fixture(scope="module")
def server_keys(servers: dict[str, GatepassServer]) -> dict[str, SigningKey]:
    """Each server's active private key, read from its store."""
    return {alg: server.active_key() for alg, server in servers.items()}


@pytest.fixture
def target(
    alg: str,
    servers: dict[str, GatepassServer],
    server_keys: dict[str, SigningKey],
    logins: dict[str, TokenLogin],
    clock: FakeClock,
) -> Target:
    """The server of ``alg`` (from the test's parametrisation), clock set to now."""
    clock.now = time.time()
    return Target(servers[alg], server_keys[alg], logins[alg], clock)


def sendable(token: str) -> bool:
    """True if an HTTP client can put the token in a header value as is."""
    return token == token.strip() and all(" " <= c <= "~" for c in token)


def assert_accepted(target: Target, token: str) -> None:
    """The library verifies the token and the server answers 200 for its user."""
    assert target.login.user_id == target.verifier.verify(token).sub
    response = target.server.me(token)
    assert 200 == response.status_code, response.text
    assert target.login.user_id == response.json()["id"]


def assert_http_refused(
    server: GatepassServer, token: str, code: str = "invalid_token", label: str = ""
) -> None:
    """401 with the code, the generic body and the RFC 6750 challenge."""
    response = server.me(token)
    assert 401 == response.status_code, f"{label}: {response.status_code} {response.text}"
    body = response.json()
    assert ["detail", "error"] == sorted(body), label
    assert code == body["error"], label
    assert WWW_AUTHENTICATE == response.headers["www-authenticate"], label


def assert_refused(
    target: Target,
    token: str,
    code: str = "invalid_token",
    label: str = "",
    error: type[GatepassError] = TokenError,
) -> None:
    """The library raises ``error`` with ``code``, and the server answers 401 ``code``.

    A token no HTTP client can send as a header value (control characters, non-ASCII,
    surrounding whitespace) is checked through the library only.
    """
    with pytest.raises(error) as info:
        target.verifier.verify(token)
    assert code == info.value.code, f"{label}: library gave {info.value!r}"
    if sendable(token):
        assert_http_refused(target.server, token, code, label)


def assert_controls(target: Target) -> str:
    """The server's own token and an insider re-mint are accepted; return the latter."""
    assert_accepted(target, target.login.access_token)
    control = target.mint()
    assert_accepted(target, control)
    return control


# -- J-01 .. J-03: the alg header -----------------------------------------------------------


@pytest.mark.parametrize("alg", ALGS)
def test_j01_alg_none_variants_cve_2015_2951(target: Target) -> None:
    """alg none in every casing, with or without kid/typ, empty or kept signature: 401."""
    _, payload, signature = split(assert_controls(target))
    for none in ("none", "None", "NONE", "nOnE"):
        for header in (
            target.header(alg=none),
            {"alg": none},
            {"alg": none, "typ": "JWT"},
            {"alg": none, "kid": target.kid},
        ):
            for sig in ("", signature):
                assert_refused(
                    target,
                    f"{enc(header)}.{payload}.{sig}",
                    label=f"{header}",
                    error=DisallowedAlgorithm,
                )


@pytest.mark.parametrize("alg", ALGS)
def test_j02_alg_null_empty_missing_or_not_a_string(target: Target) -> None:
    """alg "", missing, null, a list, a number, a boolean or an object: 401, even signed."""
    assert_controls(target)
    for value in ("", DROP, None, [target.alg], 0, True, {"alg": target.alg}):
        header = target.header(alg=value)
        assert_refused(target, target.mint(header), label=repr(value), error=DisallowedAlgorithm)
        assert_refused(
            target,
            target.mint(header).rsplit(".", 1)[0] + ".",
            label=repr(value),
            error=DisallowedAlgorithm,
        )


@pytest.mark.parametrize("alg", ALGS)
def test_j03_alg_case_and_whitespace_variants(target: Target) -> None:
    """The server's alg in another case or with spaces/NUL, signed by its key: 401."""
    assert_controls(target)
    alg = target.alg
    variants = {
        alg.lower(),
        alg.upper(),
        alg.swapcase(),
        alg[0].swapcase() + alg[1:],
        f"{alg} ",
        f" {alg}",
        f"{alg}\x00",
        f"{alg}\n",
    } - {alg}
    assert len(variants) >= 6
    for variant in sorted(variants):
        assert_refused(
            target,
            target.mint(target.header(alg=variant)),
            label=repr(variant),
            error=DisallowedAlgorithm,
        )


# -- J-04 .. J-06: key and algorithm confusion ----------------------------------------------


def _assert_hmac_confusion_refused(target: Target) -> None:
    jwks = target.server.jwks()["keys"]
    (jwk,) = [key for key in jwks if key["kid"] == target.kid]
    payload = enc(target.claims())
    encodings = public_key_encodings(jwk, target.key.private_jwk())
    assert len(encodings) >= 8
    for name, secret in encodings.items():
        for header in (target.header(alg="HS256"), {"alg": "HS256", "typ": "JWT"}):
            token = mac_input(secret, enc(header), payload)
            assert_refused(target, token, label=f"HS256 keyed with {name}, {header}")
    # The library has no way to make an HMAC key out of a public key at all.
    with pytest.raises(InvalidKey):
        SigningKey.from_jwk({**jwk, "alg": "HS256"})
    with pytest.raises(InvalidKey):
        KeyRing.from_jwks({"keys": [jwk, {"kty": "oct", "alg": "HS256", "k": enc(b"k" * 32)}]})


@pytest.mark.parametrize("alg", ["RS256"])
def test_j04_hs_rs_confusion_cve_2015_9235(target: Target) -> None:
    """HS256 MAC'd with the RS256 server's public key in any encoding (PEM, DER...): 401."""
    assert_controls(target)
    _assert_hmac_confusion_refused(target)


@pytest.mark.parametrize("alg", ["EdDSA", "ES256"])
def test_j05_hs_ec_ed_confusion_cve_2022_29217_cve_2024_33663(target: Target) -> None:
    """HS256 MAC'd with the EC / Ed25519 public key (OpenSSH, DER, PEM, JWK...): 401."""
    assert_controls(target)
    _assert_hmac_confusion_refused(target)


@pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
def test_j05b_curve_and_alg_mismatch(target: Target) -> None:
    """Other curves and hash sizes under the server's kid are refused; such JWKs never load."""
    assert_controls(target)
    payload = enc(target.claims())
    public = {k: v for k, v in target.key.public_jwk().items() if k not in ("kid", "use")}
    if target.alg == "ES256":
        p256 = crypto_key(target.key.private_jwk())
        p384 = ec.generate_private_key(ec.SECP384R1())
        for alg, signer, digest, size in (
            ("ES384", p256, hashes.SHA384(), 32),
            ("ES512", p256, hashes.SHA512(), 32),
            ("ES384", p384, hashes.SHA384(), 48),
            ("ES256", p384, hashes.SHA256(), 48),
        ):
            head = enc(target.header(alg=alg))
            der = signer.sign(f"{head}.{payload}".encode(), ec.ECDSA(digest))
            r, s = decode_dss_signature(der)
            token = f"{head}.{payload}.{b64url_encode(ecdsa_join(r, s, size))}"
            assert_refused(target, token, label=f"{alg} on a {size * 8}-bit curve")
        for alg in ("ES384", "ES521", "ES224", "ES512"):
            with pytest.raises(InvalidKey):
                SigningKey.from_jwk({**public, "alg": alg})
        p384_jwk = json.loads(pyjwt.algorithms.ECAlgorithm.to_jwk(p384.public_key()))
        with pytest.raises(InvalidKey):
            SigningKey.from_jwk(p384_jwk)
        return
    ed = ed448.Ed448PrivateKey.generate()
    head = enc(target.header())
    token = f"{head}.{payload}.{b64url_encode(ed.sign(f'{head}.{payload}'.encode()))}"
    assert_refused(target, token, label="Ed448 signature under the Ed25519 kid")
    for alg in ("Ed448", "Ed25519"):  # Ed25519 is the same primitive, but not this key's name
        assert_refused(target, target.mint(target.header(alg=alg)), label=alg)
    with pytest.raises(InvalidKey):
        SigningKey.from_jwk({**public, "crv": "Ed448"})


#: Sibling algorithms a server's own key can also compute.
FAMILY = {
    "RS256": ("PS256", "RS384", "RS512", "PS512"),
    "ES256": ("ES384", "ES512"),
    "HS256": ("HS384", "HS512"),
    "EdDSA": ("Ed25519", "Ed448"),
}


def _family_signatures(target: Target, data: bytes) -> dict[str, bytes]:
    """Signatures of ``data`` by the server's own key under sibling algorithms."""
    private = crypto_key(target.key.private_jwk())
    if target.alg == "RS256":
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        return {
            "PS256": private.sign(data, pss, hashes.SHA256()),
            "RS384": private.sign(data, padding.PKCS1v15(), hashes.SHA384()),
            "RS512": private.sign(data, padding.PKCS1v15(), hashes.SHA512()),
            "PS512": private.sign(
                data, padding.PSS(padding.MGF1(hashes.SHA512()), 64), hashes.SHA512()
            ),
        }
    if target.alg == "ES256":
        return {
            alg: ecdsa_der_to_raw(private.sign(data, ec.ECDSA(digest)))
            for alg, digest in (("ES384", hashes.SHA384()), ("ES512", hashes.SHA512()))
        }
    if target.alg == "HS256":
        return {
            alg: hmac.digest(private, data, digest)
            for alg, digest in (("HS384", "sha384"), ("HS512", "sha512"))
        }
    return {"Ed25519": target.key.sign(data), "Ed448": target.key.sign(data)}


@pytest.mark.parametrize("alg", ALGS)
def test_j06_algorithm_substitution_within_a_family(target: Target) -> None:
    """A token relabelled (RS256 -> PS256, HS256 -> HS512...) or re-signed so: 401."""
    _, payload, signature = split(assert_controls(target))
    for other in sorted(
        {"EdDSA", "Ed25519", "ES256", "RS256", "HS256", "PS256", "none"} - {target.alg}
    ):
        relabelled = f"{enc(target.header(alg=other))}.{payload}.{signature}"
        assert_refused(target, relabelled, label=f"relabelled {other}", error=DisallowedAlgorithm)
    for other in FAMILY[target.alg]:
        head = enc(target.header(alg=other))
        data = f"{head}.{payload}".encode("ascii")
        token = f"{head}.{payload}.{b64url_encode(_family_signatures(target, data)[other])}"
        assert_refused(target, token, label=f"re-signed as {other}", error=DisallowedAlgorithm)


# -- J-07 .. J-11: key material and key ids from the token ------------------------------------


class SpyListener:
    """A loopback HTTP listener that counts connections and serves an attacker's JWKS."""

    def __init__(self, body: bytes) -> None:
        self.connections = 0
        self._body = body
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.settimeout(1.0)
                try:
                    conn.recv(65536)
                    head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(self._body)}\r\n"
                    conn.sendall(f"{head}Connection: close\r\n\r\n".encode() + self._body)
                except OSError:
                    pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._sock.close()


@pytest.fixture(scope="module")
def attacker() -> SigningKey:
    """The attacker's own RS256 key pair (jwt_tool -X s / -X i use RS256)."""
    return SigningKey.from_jwk({**SigningKey.generate("RS256").private_jwk(), "kid": "attacker"})


@pytest.fixture
def spy(attacker: SigningKey) -> Iterator[SpyListener]:
    """A listener serving the attacker's JWKS; asserts the test itself could reach it."""
    listener = SpyListener(json.dumps({"keys": [attacker.public_jwk()]}).encode())
    try:
        assert 200 == httpx.get(f"{listener.url}/jwks.json", timeout=2).status_code
        assert 1 == listener.connections  # the listener works and counts
        yield listener
    finally:
        listener.close()


@pytest.mark.parametrize("alg", ALGS)
def test_j07_embedded_jwk_header_cve_2018_0114(target: Target, attacker: SigningKey) -> None:
    """A key embedded in the header (RSA, same-alg or oct) is never used: 401."""
    assert_controls(target)
    own = SigningKey.generate(target.alg)
    claims = target.claims()
    cases: list[tuple[str, str]] = []
    for signer in (attacker, own):
        embedded = (
            signer.public_jwk()
            if signer.kty != "oct"
            else {"kty": "oct", "k": signer.private_jwk()["k"]}
        )
        for kid in (target.kid, signer.kid):
            header = {"alg": signer.alg, "kid": kid, "typ": "at+jwt", "jwk": embedded}
            cases.append(
                (
                    f"jwk of {signer.alg}, kid {kid[:8]}",
                    sign_input(signer, enc(header), enc(claims)),
                )
            )
    oct_secret = b"attacker-chosen-secret-32-bytes!"
    oct_header = target.header(alg="HS256", jwk={"kty": "oct", "k": enc(oct_secret)})
    cases.append(("oct jwk", mac_input(oct_secret, enc(oct_header), enc(claims))))
    if target.alg != "HS256":  # the server's own public key embedded, genuinely signed
        genuine = target.header(jwk=target.key.public_jwk())
        cases.append(("own jwk, valid signature", target.mint(genuine)))
    for label, token in cases:
        assert_refused(target, token, label=label)


def _url_header_attack(target: Target, attacker: SigningKey, spy: SpyListener, name: str) -> None:
    claims = enc(target.claims())
    urls = [
        f"{spy.url}/jwks.json",
        f"{spy.url.replace('127.0.0.1', 'localhost')}/.well-known/jwks.json",
        "https://gatepass.security.test.attacker.example/jwks.json",
        "https://gatepass.security.test@attacker.example/jwks.json",
        "http://169.254.169.254/latest/meta-data/",
        "file:///etc/passwd",
    ]
    for url in urls:
        for kid in ("attacker", target.kid):
            header = {"alg": attacker.alg, "kid": kid, "typ": "at+jwt", name: url}
            assert_refused(target, sign_input(attacker, enc(header), claims), label=f"{name} {url}")
        assert_refused(target, target.mint(target.header(**{name: url})), label=f"insider {name}")
    time.sleep(0.05)  # a fetch would have happened during the requests; let the spy see it
    assert 1 == spy.connections  # only the test's own probe: the server fetched nothing


@pytest.mark.parametrize("alg", ALGS)
def test_j08_jku_spoof_makes_no_outbound_connection(
    target: Target, attacker: SigningKey, spy: SpyListener
) -> None:
    """jku pointing at a live attacker JWKS (and SSRF targets) is refused, with 0 fetches."""
    assert_controls(target)
    _url_header_attack(target, attacker, spy, "jku")


@pytest.mark.parametrize("alg", ALGS)
def test_j09_x5u_url_makes_no_outbound_connection(
    target: Target, attacker: SigningKey, spy: SpyListener
) -> None:
    """x5u pointing at a live attacker listener is refused, with 0 fetches."""
    assert_controls(target)
    _url_header_attack(target, attacker, spy, "x5u")


@pytest.mark.parametrize("alg", ALGS)
def test_j10_x5c_embedded_chain_is_not_trusted(target: Target, attacker: SigningKey) -> None:
    """A self-signed attacker certificate in x5c, signed with its key: 401 (x5c unused)."""
    assert_controls(target)
    cert = self_signed_certificate(crypto_key(attacker.private_jwk()))
    x5c = [base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()]
    claims = enc(target.claims())
    for kid in ("attacker", target.kid, None):
        header = {"alg": "RS256", "kid": kid, "typ": "at+jwt", "x5c": x5c}
        header = {k: v for k, v in header.items() if v is not None}
        assert_refused(target, sign_input(attacker, enc(header), claims), label=f"x5c kid={kid}")
    assert_refused(target, target.mint(target.header(x5c=x5c)), label="insider x5c")


KID_INJECTIONS: list[tuple[str, bytes]] = [
    ("../../../../../../dev/null", b""),
    ("/dev/null", b""),
    ("/invalid_path", b""),
    ("nul", b""),
    ("/proc/sys/kernel/randomize_va_space", b"2\n"),
    ("x' UNION SELECT '1';--", b"1"),
    ("invalid-key' UNION SELECT 'attacker-controlled-key'--", b"attacker-controlled-key"),
    ("|sleep 10", b""),
    ("| curl http://127.0.0.1:9/", b""),
    ("", b""),
    ("unknown-kid", b"k" * 32),
]


@pytest.mark.parametrize("alg", ALGS)
def test_j11_kid_injection_path_sql_command(
    target: Target, server_keys: dict[str, SigningKey]
) -> None:
    """Injection-shaped kids (with the key they would induce) and foreign kids: 401, fast."""
    assert_controls(target)
    claims = enc(target.claims())
    for kid, induced in KID_INJECTIONS:
        hs = mac_input(induced, enc({"alg": "HS256", "kid": kid, "typ": "at+jwt"}), claims)
        started = time.monotonic()
        assert_refused(target, hs, label=f"kid {kid!r} HMAC")
        assert time.monotonic() - started < 5.0  # "|sleep 10" ran nothing
        assert_refused(target, target.mint(target.header(kid=kid)), label=f"kid {kid!r} signed")
    for other, key in server_keys.items():  # another server's kid (another key type)
        if other != target.alg:
            foreign = sign_input(
                key, enc({**target.header(), "alg": key.alg, "kid": key.kid}), claims
            )
            assert_refused(target, foreign, label=f"kid of the {other} server")
    assert 200 == target.server.client.get("/healthz").status_code


# -- J-12 .. J-17b: signatures -----------------------------------------------------------------


@pytest.mark.parametrize("alg", ALGS)
def test_j12_tampered_payload_header_or_signature(target: Target) -> None:
    """A changed payload, kid, or a truncated / flipped signature: 401."""
    control = assert_controls(target)
    head, payload, signature = split(control)
    raw_sig = b64url_decode(signature)
    escalated = enc(target.claims(scope="admin"))
    other_user = enc({**token_claims(control), "sub": "00000000-0000-0000-0000-000000000000"})
    first = "f" if payload[0] != "f" else "e"
    flipped_first = b64url_encode(bytes([raw_sig[0] ^ 0x80]) + raw_sig[1:])
    flipped_last = b64url_encode(raw_sig[:-1] + bytes([raw_sig[-1] ^ 1]))
    variants = {
        "payload scope=admin, signature kept": f"{head}.{escalated}.{signature}",
        "payload other sub, signature kept": f"{head}.{other_user}.{signature}",
        "payload first char changed": f"{head}.{first}{payload[1:]}.{signature}",
        "kid changed": f"{enc(target.header(kid=target.kid + 'x'))}.{payload}.{signature}",
        "signature minus 4 chars": f"{head}.{payload}.{signature[:-4]}",
        "signature minus 3 chars": f"{head}.{payload}.{signature[:-3]}",
        "signature first bit flipped": f"{head}.{payload}.{flipped_first}",
        "signature last byte flipped": f"{head}.{payload}.{flipped_last}",
    }
    for label, token in variants.items():
        assert_refused(target, token, label=label)


@pytest.mark.parametrize("alg", ALGS)
def test_j13_null_and_stripped_signature_cve_2020_28042(target: Target) -> None:
    """h.p., h.p, .p.s, h..s, "", extra dots or segments: 401."""
    head, payload, signature = split(assert_controls(target))
    for token in (
        f"{head}.{payload}.",
        f"{head}.{payload}",
        f".{payload}.{signature}",
        f"{head}..{signature}",
        f"{head}.{payload}.{signature}.",
        f"{head}.{payload}.{signature}.foo",
        f"{head}.{payload}..{signature}",
        ".foo",
        "..",
    ):
        assert_refused(target, token, label=token[-20:])
    with pytest.raises(TokenError):
        target.verifier.verify("")
    empty = target.server.client.get("/auth/me", headers={"Authorization": "Bearer"})
    assert 401 == empty.status_code
    assert WWW_AUTHENTICATE == empty.headers["www-authenticate"]


#: A sample of jwt_tool's jwt-common.txt secrets plus the blank one (J-14).
WEAK_SECRETS = [b"", b"secret", b"12345", b"My super secret key!", b"password", b"changeme",
                b"your-256-bit-secret", b"jwt", b"key", b"gatepass", b"secretkey"]  # fmt: skip


@pytest.mark.parametrize("alg", ALGS)
def test_j14_blank_and_weak_hmac_secrets_cve_2019_20933_cve_2020_28637(target: Target) -> None:
    """Weak secrets cannot be configured at all, and tokens MAC'd with them are refused."""
    assert_controls(target)
    for secret in [*WEAK_SECRETS, b"k" * 31]:
        with pytest.raises(InvalidKey):
            SigningKey.from_jwk({"kty": "oct", "alg": "HS256", "k": enc(secret)})
    assert 32 <= len(b64url_decode(SigningKey.generate("HS256").private_jwk()["k"]))
    claims = enc(target.claims())
    for secret in WEAK_SECRETS:
        for header in (target.header(alg="HS256"), {"alg": "HS256", "typ": "JWT"}):
            assert_refused(target, mac_input(secret, enc(header), claims), label=repr(secret))


@pytest.mark.parametrize("alg", ALGS)
def test_j15_signature_by_another_key(
    target: Target, servers: dict[str, GatepassServer], logins: dict[str, TokenLogin]
) -> None:
    """A same-alg key under the server's kid or its own, another server's token: 401."""
    assert_controls(target)
    other = SigningKey.generate(target.alg)
    claims = enc(target.claims())
    assert_refused(target, sign_input(other, enc(target.header()), claims), label="same kid")
    assert_refused(
        target, sign_input(other, enc(target.header(kid=other.kid)), claims), label="own kid"
    )
    for alg, login in logins.items():
        if alg != target.alg:
            assert 200 == servers[alg].me(login.access_token).status_code
            assert_refused(target, login.access_token, label=f"genuine {alg} server token")


PSYCHIC_VALUES = (0, 1, P256_ORDER - 1, P256_ORDER)


@pytest.mark.parametrize("alg", ALGS)
def test_j16_psychic_signature_cve_2022_21449(target: Target) -> None:
    """ES256: r, s in {0, 1, n-1, n} (16 pairs), DER r=s=0; every alg: all-0/all-1 bits."""
    head, payload, signature = split(assert_controls(target))
    size = len(b64url_decode(signature))
    forged = [bytes(size), b"\xff" * size]
    if target.alg == "ES256":
        forged += [ecdsa_join(r, s) for r in PSYCHIC_VALUES for s in PSYCHIC_VALUES]
        forged.append(encode_dss_signature(0, 0))  # MAYCAQACAQA
        assert "MAYCAQACAQA" == b64url_encode(encode_dss_signature(0, 0))
        assert 19 == len(forged)
    for sig in forged:
        assert_refused(
            target,
            f"{head}.{payload}.{b64url_encode(sig)}",
            label=sig.hex()[:16],
            error=InvalidSignature,
        )


@pytest.mark.parametrize("alg", ["ES256"])
def test_j17_ecdsa_signature_encoding_edge_cases(target: Target) -> None:
    """DER signatures, 63/65/66-byte signatures, r or s >= n, 2^256 - 1: 401."""
    head, payload, signature = split(assert_controls(target))
    raw = b64url_decode(signature)
    r, s = ecdsa_split(raw)
    variants = {
        "DER": encode_dss_signature(r, s),
        "65 bytes (trailing zero)": raw + b"\x00",
        "63 bytes": raw[:-1],
        "65 bytes (leading zero)": b"\x00" + raw,
        "66 bytes (33-byte r and s)": ecdsa_join(r, s, 33),
        "r + n as 33 bytes": (r + P256_ORDER).to_bytes(33, "big") + s.to_bytes(32, "big"),
        "s + n as 33 bytes": r.to_bytes(32, "big") + (s + P256_ORDER).to_bytes(33, "big"),
        "r = n": ecdsa_join(P256_ORDER, s),
        "s = n": ecdsa_join(r, P256_ORDER),
        "r = 2^256 - 1": ecdsa_join(2**256 - 1, s),
        "s = 2^256 - 1": ecdsa_join(r, 2**256 - 1),
    }
    if r + P256_ORDER < 2**256:
        variants["r + n in 32 bytes"] = ecdsa_join(r + P256_ORDER, s)
    for label, sig in variants.items():
        assert_refused(
            target, f"{head}.{payload}.{b64url_encode(sig)}", label=label, error=InvalidSignature
        )


@pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
def test_j17b_signature_malleability_denylist_keys_on_jti(target: Target) -> None:
    """ES256 (r, n-s) verifies (documented) yet dies with its login; Ed25519 S+L is refused."""
    login = target.server.login()
    head, payload, signature = split(login.access_token)
    raw = b64url_decode(signature)
    if target.alg == "EdDSA":
        assert_accepted(target, target.login.access_token)
        twin = f"{head}.{payload}.{b64url_encode(ed25519_high_s(raw))}"
        assert_refused(target, twin, label="Ed25519 S + L")
        return
    _library_logout_scenario("ES256", target.clock)  # the twin verifies, then dies too
    twin = f"{head}.{payload}.{b64url_encode(ecdsa_malleate(raw))}"
    assert twin != login.access_token
    assert login.user_id == target.verifier.verify(twin).sub  # library: both verify
    for token in (login.access_token, twin):
        assert 200 == target.server.me(token).status_code
    response = target.server.client.post(
        "/auth/token/logout", headers={"Authorization": f"Bearer {twin}"}
    )
    assert 204 == response.status_code, response.text  # logging out with the twin works too
    for token in (login.access_token, twin):
        assert_http_refused(target.server, token, "token_revoked", "after logout")


# -- J-18 .. J-24: claims, encoding and header rules -------------------------------------------


@pytest.mark.parametrize("alg", ALGS)
def test_j18_expired_not_yet_valid_and_malformed_time_claims(target: Target) -> None:
    """exp passed (401 token_expired), nbf/iat ahead, exp missing or not an integer: 401."""
    assert_controls(target)
    now = int(target.clock())
    for exp in (now - 10, now - 6, 0):
        assert_refused(
            target, target.mint(claims=target.claims(exp=exp)), "token_expired", f"exp {exp - now}"
        )
    # The leeway (5 s) boundary, on the library's frozen clock: exp + 5 > now is still valid.
    assert (
        target.login.user_id
        == target.verifier.verify(target.mint(claims=target.claims(exp=now - 4))).sub
    )
    with pytest.raises(TokenError) as info:
        target.verifier.verify(target.mint(claims=target.claims(exp=now - 5)))
    assert "token_expired" == info.value.code
    for label, claims in {
        "nbf now + 60": target.claims(nbf=now + 60),
        "iat now + 3600": target.claims(iat=now + 3600),
        "exp missing": {k: v for k, v in target.claims().items() if k != "exp"},
    }.items():
        assert_refused(target, target.mint(claims=claims), label=label)
    base = {k: v for k, v in target.claims().items() if k != "exp"}
    for literal in ("NaN", "Infinity", "-Infinity", "1e999", "true", "null", f"[{now + 600}]",
                    f'"{now + 600}"', f"{now + 600}.5", f"{now + 600}.0", "9" * 5000):  # fmt: skip
        assert_refused(target, target.mint(claims=raw_json(base, exp=literal)), label=literal[:12])


@pytest.mark.parametrize("alg", ALGS)
def test_j19_issuer_and_audience_tricks_cve_2024_53861(target: Target) -> None:
    """aud missing/empty/other/case/prefix/nested, iss partial/slash/list: 401; multi-aud ok."""
    assert_controls(target)
    # RFC 7519 section 4.1.3 policy (SECURITY.md section 5.1): any member may match.
    assert_accepted(target, target.mint(claims=target.claims(aud=["attacker", AUDIENCE])))
    cases: dict[str, dict[str, Any]] = {
        "aud missing": {k: v for k, v in target.claims().items() if k != "aud"},
        "iss missing": {k: v for k, v in target.claims().items() if k != "iss"},
    }
    for aud in (
        "",
        [],
        ["attacker"],
        f"{AUDIENCE} ",
        AUDIENCE.upper(),
        AUDIENCE[:-2],
        [[AUDIENCE]],
        123,
        [123],
    ):
        cases[f"aud {aud!r}"] = target.claims(aud=aud)
    for iss in (
        ISSUER[:-3],
        ISSUER + "/",
        ISSUER.upper(),
        [ISSUER],
        f" {ISSUER}",
        "https://attacker.example",
    ):
        cases[f"iss {iss!r}"] = target.claims(iss=iss)
    for label, claims in cases.items():
        assert_refused(target, target.mint(claims=claims), label=label)


@pytest.mark.parametrize("alg", ALGS)
def test_j20_non_canonical_base64url_and_format(target: Target) -> None:
    """Padding, std alphabet, changed unused bits, inserted characters, payload 'AB': 401."""
    control = assert_controls(target)
    while not any(c in control for c in "-_"):  # make sure std_alphabet changes something
        control = target.mint()
    head, payload, signature = split(control)
    variants: dict[str, str] = {
        "std alphabet": ".".join(std_alphabet(s) for s in (head, payload, signature)),
        "padded signature": f"{head}.{payload}.{padded(signature)}",
        "padded header": f"{padded(head)}.{payload}.{signature}",
        "padded payload": f"{head}.{padded(payload)}.{signature}",
        "'?' in payload": f"{head}.{payload[:5]}?{payload[5:]}.{signature}",
        "space in payload": f"{head}.{payload[:5]} {payload[5:]}.{signature}",
        "newline in payload": f"{head}.{payload[:5]}\n{payload[5:]}.{signature}",
        "leading space": f" {control}",
        "trailing newline": f"{control}\n",
    }
    for index, segment in enumerate((head, payload, signature)):
        variant = changed_unused_bits(segment)
        if variant is not None:
            parts = [head, payload, signature]
            parts[index] = variant
            variants[f"unused bits changed in segment {index}"] = ".".join(parts)
    assert any(label.startswith("unused bits") for label in variants)
    # A signature valid over the literal input "header.AB" ("AB" has non-zero unused bits).
    variants["payload 'AB', signed literally"] = sign_input(target.key, head, "AB")
    for label, token in variants.items():
        assert token != control
        assert_refused(target, token, label=label, error=MalformedToken)


@pytest.mark.parametrize("alg", ALGS)
def test_j21_token_type_confusion(target: Target) -> None:
    """Refresh token as access token and back, wrong or missing typ, ID-token shape: 401."""
    assert_controls(target)
    login = target.server.login()
    assert_refused(target, login.refresh_token, label="refresh token as Bearer")
    client = target.server.client
    wrong = client.post("/auth/token/refresh", json={"refresh_token": login.access_token})
    assert 401 == wrong.status_code
    assert "invalid_token" == wrong.json()["error"]
    right = client.post("/auth/token/refresh", json={"refresh_token": login.refresh_token})
    assert 200 == right.status_code, right.text  # the control: the real refresh token works
    for typ in (
        DROP,
        None,
        "JWT",
        "at+JWT",
        "AT+JWT",
        "at+jwt ",
        "refresh+jwt",
    ):
        header = target.header(typ=typ)
        assert_refused(target, target.mint(header), label=f"typ {typ!r}")
    id_token = target.claims(aud="some-client", nonce="n-0S6_WzA2Mj", azp="some-client")
    assert_refused(target, target.mint(target.header(typ="JWT"), id_token), label="ID token")


@pytest.mark.parametrize("alg", ALGS)
def test_j22_crit_header_cve_2025_59420(target: Target) -> None:
    """crit with an unknown, empty, non-list, absent or standard name, validly signed: 401."""
    assert_controls(target)
    crits: list[dict[str, Any]] = [
        {"crit": ["x-custom-policy"], "x-custom-policy": "require-mfa"},
        {"crit": []},
        {"crit": "b64"},
        {"crit": ["exp"]},
        {"crit": ["alg"]},
        {"crit": ["b64"], "b64": True},
    ]
    for crit in crits:
        assert_refused(
            target, target.mint(target.header(**crit)), label=f"{crit}", error=UnsupportedHeader
        )


@pytest.mark.parametrize("alg", ALGS)
def test_j23_b64_false_unencoded_payload_rfc7797(target: Target) -> None:
    """b64=false (with crit, raw or encoded payload) validly signed, and panva's token: 401."""
    assert_controls(target)
    header = enc(target.header(b64=False, crit=["b64"]))
    raw = json.dumps(target.claims(), separators=(",", ":"))
    unencoded = f"{header}.{raw}.{b64url_encode(target.key.sign(f'{header}.{raw}'.encode()))}"
    assert_refused(target, unencoded, label="raw payload", error=MalformedToken)
    assert_refused(
        target,
        target.mint(target.header(b64=False, crit=["b64"])),
        label="encoded",
        error=UnsupportedHeader,
    )
    assert_refused(
        target,
        target.mint(target.header(b64=False)),
        label="b64 without crit",
        error=UnsupportedHeader,
    )
    panva = (
        "eyJhbGciOiJIUzI1NiIsImI2NCI6ZmFsc2UsImNyaXQiOlsiYjY0Il19.foo."
        "VklKdp4tVYD61VNPDBTqxqdEQcUL3JK-D4dGXu9NvWs"
    )
    assert_refused(target, panva, label="panva static token")


@pytest.mark.parametrize("alg", ALGS)
def test_j24_duplicate_json_members(target: Target) -> None:
    """Duplicate alg/kid/typ in the header or sub in the claims, validly signed: 401."""
    assert_controls(target)
    alg, kid = target.alg, target.kid
    headers = [
        f'{{"alg":"none","alg":"{alg}","kid":"{kid}","typ":"at+jwt"}}',
        f'{{"alg":"{alg}","alg":"none","kid":"{kid}","typ":"at+jwt"}}',
        f'{{"alg":"{alg}","kid":"other","kid":"{kid}","typ":"at+jwt"}}',
        f'{{"alg":"{alg}","kid":"{kid}","typ":"JWT","typ":"at+jwt"}}',
        f'{{"alg":"{alg}","kid":"{kid}","typ":"at+jwt","\\u0061lg":"none"}}',
    ]
    for header in headers:
        assert_refused(target, target.mint(header), label=header, error=MalformedToken)
    claims = target.claims()
    as_text = json.dumps(claims, separators=(",", ":"))
    assert_accepted(target, target.mint(claims=as_text))  # the same text, no duplicate
    duplicated = as_text[:-1] + ',"sub":"00000000-0000-0000-0000-000000000000"}'
    assert_refused(
        target, target.mint(claims=duplicated), label="duplicate sub", error=MalformedToken
    )
    first = '{"sub":"00000000-0000-0000-0000-000000000000",' + as_text[1:]
    assert_refused(
        target,
        target.mint(claims=first),
        label="duplicate sub, real one last",
        error=MalformedToken,
    )


# -- J-25 .. J-28: other formats and resource exhaustion -----------------------------------------


def _jwe_for(target: Target, plaintext: bytes, **header: Any) -> str:
    """A real compact JWE aimed at the server: to its public key, or keyed with its secret."""
    private = target.key.private_jwk()
    public: dict[str, str | list[str]] = {  # an attacker ignores "use": "sig"
        k: v for k, v in private.items() if k not in ("use", "d", "p", "q", "dp", "dq", "qi")
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)
        if target.alg == "RS256":
            key: Any = RSAKey.import_key(public)
            protected = {"alg": "RSA-OAEP-256", "enc": "A128GCM"}
        elif target.alg == "ES256":
            key = ECKey.import_key(public)
            protected = {"alg": "ECDH-ES+A128KW", "enc": "A128GCM"}
        elif target.alg == "HS256":  # sign/encrypt confusion: the MAC key as a CEK
            key = OctKey.import_key(b64url_decode(private["k"]))
            protected = {"alg": "dir", "enc": "A256GCM"}
        else:  # no ECDH with an Ed25519 key: the attacker's own key-wrapping key
            key = OctKey.import_key(b"attacker-aes-key")
            protected = {"alg": "A128KW", "enc": "A128GCM"}
        protected.update(kid=target.kid, typ="at+jwt", **header)
        algorithms = [
            protected["alg"],
            protected["enc"],
            *([header["zip"]] if "zip" in header else []),
        ]
        return jwe.encrypt_compact(protected, plaintext, key, algorithms=algorithms)


@pytest.mark.parametrize("alg", ALGS)
def test_j25_jwe_and_json_serialization_cve_2023_51774(target: Target) -> None:
    """A real JWE of valid claims, and the JSON serializations of a valid JWS: 401."""
    control = assert_controls(target)
    head, payload, signature = split(control)
    token = _jwe_for(target, json_bytes(target.claims()))
    assert 4 == token.count(".")
    assert_refused(target, token, label="compact JWE", error=MalformedToken)
    assert_refused(
        target,
        _jwe_for(target, control.encode(), cty="JWT"),
        label="nested JWE",
        error=MalformedToken,
    )
    flat = {"protected": head, "payload": payload, "signature": signature}
    general = {"payload": payload, "signatures": [{"protected": head, "signature": signature}]}
    for label, value in (("flattened", flat), ("general", general)):
        assert_refused(
            target, json.dumps(value, separators=(",", ":")), label=label, error=MalformedToken
        )
        assert_refused(target, enc(value), label=f"{label}, base64url", error=MalformedToken)


@pytest.mark.parametrize("alg", ALGS)
def test_j26_non_utf8_json(target: Target) -> None:
    """UTF-16/32 header or claims, overlong UTF-8, lone surrogates, validly signed: 401."""
    assert_controls(target)
    assert_accepted(target, target.mint(claims=target.claims(name="Zoë ✓")))  # UTF-8 is fine
    header_text = json.dumps(target.header())
    claims_text = json.dumps(target.claims())
    cases: dict[str, tuple[bytes | str | dict[str, Any], bytes | str | dict[str, Any]]] = {}
    for codec in ("utf-16", "utf-16-le", "utf-32", "utf-8-sig"):
        cases[f"header {codec}"] = (header_text.encode(codec), target.claims())
        cases[f"claims {codec}"] = (target.header(), claims_text.encode(codec))
    overlong = claims_text.encode().replace(b'"scope":', b'"x":"\xc0\xaf","scope":')
    cases["overlong '/'"] = (target.header(), overlong)
    cases["invalid byte"] = (
        target.header(),
        claims_text.encode().replace(b'"scope":', b'"x":"\xff","scope":'),
    )
    cases["encoded surrogate"] = (
        target.header(),
        claims_text.encode().replace(b'"scope":', b'"x":"\xed\xa0\x80","scope":'),
    )
    cases["lone surrogate escape"] = (
        target.header(),
        claims_text.replace('"scope":', '"x":"\\ud800","scope":'),
    )
    cases["lone surrogate in sub"] = (target.header(), target.claims(sub="\ud800"))  # escaped
    for label, (header, claims) in cases.items():
        assert_refused(target, target.mint(header, claims), label=label, error=MalformedToken)


@pytest.mark.parametrize("alg", ALGS)
def test_j27_oversized_and_deeply_nested_tokens(target: Target) -> None:
    """1 MB tokens, 9 KB signed tokens, deep nesting, 5000-digit numbers, 10^5 claims: 401, fast."""
    control = assert_controls(target)
    head, payload, signature = split(control)
    many = {**target.claims(), **{f"c{i}": 0 for i in range(100_000)}}
    cases = {
        "1 MB": "a" * 1_000_000,
        "1 MB of dots": "." * 1_000_000,
        "1 MB header": f"{'e' * 1_000_000}.{payload}.{signature}",
        "9 KB, validly signed": target.mint(claims=target.claims(pad="x" * 9000)),
        "10^5 claims, validly signed": target.mint(claims=many),
        "payload nested 40 deep": target.mint(
            claims=raw_json(target.claims(), x="[" * 40 + "]" * 40)
        ),
        "payload nested 5000 deep": target.mint(
            claims=raw_json(target.claims(), x="[" * 5000 + "]" * 5000)
        ),
        "header nested": target.mint(raw_json(target.header(), x="{" + '"a":{' * 10 + "}" * 11)),
        "5000-digit claim": target.mint(claims=raw_json(target.claims(), n="9" * 5000)),
        "segment length 1 mod 4": f"{head}.{payload}A.{signature}",
    }
    for label, token in cases.items():
        started = time.monotonic()
        assert_refused(target, token, label=label)
        assert time.monotonic() - started < 2.0, label
    with pytest.raises(TokenError):  # 100 MB never gets past the size check
        target.verifier.verify("e" * 100_000_000)
    assert 200 == target.server.client.get("/healthz").status_code


@pytest.mark.parametrize("alg", ALGS)
def test_j28_jwe_zip_bomb_and_pbes2_count_cve_2024_33664_cve_2024_28180_cve_2024_28102(
    target: Target,
) -> None:
    """A JWE inflating to 5 MB and a PBES2 p2c=2^31 JWE are refused at the format stage, fast."""
    assert_controls(target)
    bomb = _jwe_for(target, b"u" * 5_000_000, zip="DEF")
    assert len(bomb) < 8192  # small enough to reach the verifier
    pbes2 = {"alg": "PBES2-HS256+A128KW", "enc": "A128GCM", "p2c": 2**31, "p2s": enc(b"salt" * 4)}
    fake = ".".join([enc(pbes2), enc(b"k" * 24), enc(b"i" * 12), enc(b"c" * 32), enc(b"t" * 16)])
    for label, token in (("zip DEF", bomb), ("PBES2 p2c 2^31", fake)):
        started = time.monotonic()
        assert_refused(target, token, label=label, error=MalformedToken)
        assert time.monotonic() - started < 2.0, label


# -- J-29 .. J-32: revocation and key secrecy -----------------------------------------------------


def _malleated(token: str, alg: str) -> dict[str, str]:
    """Byte-level variants of a token that a lax decoder or verifier might treat as it."""
    head, payload, signature = split(token)
    variants = {
        "padded": f"{head}.{payload}.{padded(signature)}",
        "std alphabet": ".".join(std_alphabet(s) for s in (head, payload, signature)),
    }
    bits = changed_unused_bits(signature)
    if bits is not None:
        variants["unused bits"] = f"{head}.{payload}.{bits}"
    if alg == "ES256":
        variants["(r, n - s)"] = (
            f"{head}.{payload}.{b64url_encode(ecdsa_malleate(b64url_decode(signature)))}"
        )
    return {label: variant for label, variant in variants.items() if variant != token}


def _library_logout_scenario(alg: str, clock: FakeClock) -> None:
    """Through the Authenticator: log in, log out, replay the token and its twins."""

    async def scenario() -> None:
        store = MemoryStore(clock=clock)
        key = SigningKey.generate(alg)
        auth = Authenticator(
            store=store,
            keyring=KeyRing([key], active=key.kid),
            tokens=TokenSettings(issuer=ISSUER, audience=AUDIENCE),
            passwords=FAST_PASSWORDS,
            clock=clock,
        )
        user = await auth.register("lib@example.com", "correct horse battery staple")
        pair = await auth.login_tokens(user)
        principal = await auth.authenticate([Credential("bearer", pair.access_token)])
        twins = _malleated(pair.access_token, alg)
        if alg == "ES256":  # the (r, n - s) twin is a valid signature: it authenticates
            twin = twins["(r, n - s)"]
            assert user.id == (await auth.authenticate([Credential("bearer", twin)])).user_id
        await auth.logout(principal)
        with pytest.raises(TokenRevoked):
            await auth.authenticate([Credential("bearer", pair.access_token)])
        for label, token in twins.items():
            revoked = label == "(r, n - s)"  # verifies, then the denylist (sid, jti) hits
            with pytest.raises(TokenRevoked if revoked else MalformedToken):
                await auth.authenticate([Credential("bearer", token)])
        other = await auth.login_tokens(user)  # logout-all kills every login of the user
        await auth.authenticate([Credential("bearer", other.access_token)])
        await auth.logout_all(user.id)
        with pytest.raises(TokenRevoked):
            await auth.authenticate([Credential("bearer", other.access_token)])
        await store.aclose()

    anyio.run(scenario)


@pytest.mark.parametrize("alg", ALGS)
def test_j29_denylist_bypass_by_malleated_variants(target: Target) -> None:
    """After logout, the token and its padded / std-b64 / unused-bit / (r, n-s) twins: 401."""
    _library_logout_scenario(target.alg, target.clock)
    login = target.server.login()
    for _ in range(20):  # a token with '-' or '_', so that the std-alphabet twin differs
        if any(c in login.access_token for c in "-_"):
            break
        login = target.server.login(login.email)
    assert_accepted(target, target.login.access_token)
    assert 200 == target.server.me(login.access_token).status_code
    twins = _malleated(login.access_token, target.alg)
    assert {"padded", "std alphabet"} <= twins.keys()
    # A signature whose length is a multiple of 3 bytes (RSA-3072: 384) has no unused bits.
    has_unused_bits = len(b64url_decode(split(login.access_token)[2])) % 3 != 0
    assert has_unused_bits == ("unused bits" in twins)
    response = target.server.client.post(
        "/auth/token/logout", headers={"Authorization": f"Bearer {login.access_token}"}
    )
    assert 204 == response.status_code, response.text
    assert_http_refused(target.server, login.access_token, "token_revoked", "original")
    for label, twin in twins.items():
        code = "token_revoked" if label == "(r, n - s)" else "invalid_token"
        assert_http_refused(target.server, twin, code, label)
    assert 200 == target.server.me(target.login.access_token).status_code  # others unaffected


@pytest.mark.parametrize("alg", ALGS)
def test_j30_replay_after_logout_and_logout_all(target: Target) -> None:
    """Access and refresh tokens replayed after logout and after logout-all: 401."""
    _library_logout_scenario(target.alg, target.clock)
    assert_controls(target)
    client = target.server.client
    first = target.server.login()
    second = target.server.login(first.email)
    third = target.server.login(first.email)
    for login in (first, second, third):
        assert 200 == target.server.me(login.access_token).status_code
    bearer = {"Authorization": f"Bearer {first.access_token}"}
    assert 204 == client.post("/auth/token/logout", headers=bearer).status_code
    assert_http_refused(target.server, first.access_token, "token_revoked", "after logout")
    replay = client.post("/auth/token/refresh", json={"refresh_token": first.refresh_token})
    assert 401 == replay.status_code
    assert 200 == target.server.me(second.access_token).status_code  # only that login ended
    bearer = {"Authorization": f"Bearer {second.access_token}"}
    assert 204 == client.post("/auth/logout-all", headers=bearer).status_code
    for login in (second, third):
        assert_http_refused(target.server, login.access_token, "token_revoked", "after logout-all")
        replay = client.post("/auth/token/refresh", json={"refresh_token": login.refresh_token})
        assert 401 == replay.status_code
    assert 200 == target.server.me(target.login.access_token).status_code  # other users unaffected


def test_j30_replay_after_key_rotation_and_retirement(tmp_path: Path, clock: FakeClock) -> None:
    """After `keys rotate` old tokens still verify; after `keys retire` and a restart: 401."""
    clock.now = time.time()
    for alg in ALGS:  # the library: rotation keeps verifying, retirement ends it
        old, new = SigningKey.generate(alg), SigningKey.generate(alg)
        ring = KeyRing([old], active=old.kid)
        settings = TokenSettings(issuer=ISSUER, audience=AUDIENCE)
        tokens = AccessTokens(ring, settings, clock=clock, cache_size=0)
        token = tokens.issue("user", "sid").token
        ring.rotate(new)
        assert "user" == tokens.verify(token).sub
        ring.retire(old.kid)
        with pytest.raises(UnknownKey):
            tokens.verify(token)
    # Servers of their own (rotation changes their keys for good), one asymmetric whose JWKS
    # changes and the symmetric one, driven together to share the restart time.
    servers = [GatepassServer(alg, tmp_path / alg) for alg in ("EdDSA", "HS256")]
    try:
        start_all(servers)
        logins = [server.login() for server in servers]
        old_kids = [server.active_key().kid for server in servers]
        for server, login in zip(servers, logins, strict=True):
            assert 200 == server.me(login.access_token).status_code
        new_kids = [
            out.strip()
            for out in run_cli([(s, ("keys", "rotate", "--store", "{store}")) for s in servers])
        ]
        stop_all(servers)
        start_all(servers)
        fresh = []
        for server, login, old_kid, new_kid in zip(
            servers, logins, old_kids, new_kids, strict=True
        ):
            assert new_kid != old_kid
            assert 200 == server.me(login.access_token).status_code  # rotation alone: still valid
            fresh.append(server.login(login.email).access_token)
            assert new_kid == token_header(fresh[-1])["kid"]
        run_cli(
            [
                (s, ("keys", "retire", "--store", "{store}", "--", kid))
                for s, kid in zip(servers, old_kids, strict=True)
            ]
        )
        stop_all(servers)
        start_all(servers)
        for server, login, token, new_kid in zip(servers, logins, fresh, new_kids, strict=True):
            assert_http_refused(
                server, login.access_token, "invalid_token", f"{server.alg} retired"
            )
            assert 200 == server.me(token).status_code  # the new key's token
            published = [key["kid"] for key in server.jwks()["keys"]]
            assert ([] if server.alg == "HS256" else [new_kid]) == published
    finally:
        stop_all(servers)


#: J-31 expectations: (claim, value) -> outcome when it is not "invalid_token" everywhere.
CLAIM_VALUES: tuple[Any, ...] = (None, True, False, "jwt_tool", 0)
CLAIM_OUTCOMES: dict[tuple[str, str], str] = {  # keyed by repr: False == 0 in a dict
    ("jti", "'jwt_tool'"): "accepted",  # identifiers are opaque data
    ("sid", "'jwt_tool'"): "accepted",
    ("scope", "'jwt_tool'"): "accepted",
    ("iat", "0"): "accepted",
    ("nbf", "0"): "accepted",
    ("exp", "0"): "token_expired",
    ("sub", "'jwt_tool'"): "unknown user",  # valid claims; the user lookup finds nobody
}


@pytest.mark.parametrize("alg", ALGS)
def test_j31_claim_type_confusion_and_injection(target: Target) -> None:
    """Claims and header members as null/true/false/"jwt_tool"/0, odd subs: 401 or plain data."""
    assert_controls(target)
    for name in ("sub", "jti", "sid", "iss", "aud", "exp", "iat", "nbf", "scope"):
        for value in CLAIM_VALUES:
            claims = {**target.claims(), name: value}
            token = target.mint(claims=claims)
            outcome = CLAIM_OUTCOMES.get((name, repr(value)), "invalid_token")
            label = f"{name}={value!r}"
            if outcome == "accepted":
                assert_accepted(target, token)
            elif outcome == "unknown user":
                assert value == target.verifier.verify(token).sub
                assert_http_refused(target.server, token, "invalid_token", label)
            else:
                assert_refused(target, token, outcome, label)
    for name in ("alg", "kid", "typ"):
        for value in CLAIM_VALUES:
            assert_refused(
                target, target.mint(target.header(**{name: value})), label=f"{name}={value!r}"
            )
    for sub in ({"id": target.login.user_id}, [target.login.user_id], "x" * 257):
        assert_refused(target, target.mint(claims=target.claims(sub=sub)), label=f"sub {sub!r:.20}")
    for sub in ("' OR '1'='1", f"{target.login.user_id}' --", "../" * 20, "*"):
        token = target.mint(claims=target.claims(sub=sub))
        assert sub == target.verifier.verify(token).sub  # the library treats it as data
        assert_http_refused(target.server, token, "invalid_token", f"sub {sub!r}")
    assert 200 == target.server.client.get("/healthz").status_code


@pytest.mark.parametrize("alg", ALGS)
def test_j32_hs256_refused_whatever_the_key_secrecy(target: Target) -> None:
    """HS256 is refused even when MAC'd with the exact public or private key bytes."""
    control = assert_controls(target)
    claims = enc(target.claims())
    if target.alg == "HS256":
        # Nothing to derive: the JWKS publishes no key, and its bytes are no HMAC key.
        assert [] == target.server.jwks()["keys"]
        published = target.server.client.get("/.well-known/jwks.json").content
        assert_refused(
            target, mac_input(published, enc(target.header()), claims), label="JWKS bytes"
        )
        assert_accepted(
            target,
            mac_input(b64url_decode(target.key.private_jwk()["k"]), enc(target.header()), claims),
        )
        return
    # What "sig2n" would recover from two tokens is the JWKS key; the key verifies them all.
    (jwk,) = [key for key in target.server.jwks()["keys"] if key["kid"] == target.kid]
    public = SigningKey.from_jwk(jwk)
    for token in (control, target.login.access_token):
        head, payload, signature = split(token)
        assert public.verify(f"{head}.{payload}".encode(), b64url_decode(signature))
    private = crypto_key(target.key.private_jwk())
    secrets = {
        "private key PEM": private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        "private JWK JSON": json_bytes(target.key.private_jwk()),
        **public_key_encodings(jwk, target.key.private_jwk()),
    }
    for label, secret in secrets.items():
        token = mac_input(secret, enc(target.header(alg="HS256")), claims)
        with pytest.raises(DisallowedAlgorithm):
            target.verifier.verify(token)
        assert_http_refused(target.server, token, label=label)
