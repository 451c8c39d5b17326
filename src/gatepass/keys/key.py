"""``SigningKey``: one JWS key with its algorithm pinned, loaded once, never shown.

A key is built only by :meth:`SigningKey.generate` or :meth:`SigningKey.from_jwk`.
There is no constructor from PEM or raw bytes, so key-type confusion (a public key's
bytes used as an HMAC secret, CVE-2022-29217) cannot be expressed: an ``HS256`` key
exists only from an explicit ``oct`` JWK or from ``generate("HS256")``.

The key's ``alg`` is fixed when the key is made; a token verifies with this key only if
its header names exactly this ``alg``. ``kid`` is the JWK's ``kid`` or else the RFC 7638
thumbprint.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping
from typing import Final

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from gatepass._utils import b64url_decode, b64url_encode
from gatepass.errors import InvalidKey
from gatepass.keys import algorithms as alg_
from gatepass.keys.algorithms import KTY_BY_ALG, Signer, Verifier

__all__ = ["MAX_KID_LENGTH", "SigningKey", "load_jwk_json", "thumbprint"]

#: Longest accepted ``kid`` (in a JWK or a token header).
MAX_KID_LENGTH: Final = 256
_MAX_JWK_TEXT: Final = 1 << 20
_THUMBPRINT_MEMBERS: Final[dict[str, tuple[str, ...]]] = {
    "EC": ("crv", "kty", "x", "y"),
    "OKP": ("crv", "kty", "x"),
    "RSA": ("e", "kty", "n"),
    "oct": ("k", "kty"),
}
_CRV: Final = {"OKP": "Ed25519", "EC": "P-256"}
_CONSTRUCT: Final = object()

_Private = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | bytes


def _reject_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate member name")
    return result


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def load_jwk_json(text: str) -> dict[str, object]:
    """Parse a JWK or JWK Set document strictly (no duplicate names, no NaN).

    Raises:
        InvalidKey: if the text is not one JSON object.
    """
    if len(text) > _MAX_JWK_TEXT:
        raise InvalidKey("JWK document is too large")
    try:
        value = json.loads(
            text, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant
        )
    except (ValueError, RecursionError) as exc:
        raise InvalidKey("JWK document is not strict JSON") from exc
    if not isinstance(value, dict):
        raise InvalidKey("JWK document is not a JSON object")
    return value


def thumbprint(jwk: Mapping[str, object]) -> str:
    """The RFC 7638 SHA-256 thumbprint of a JWK, base64url-encoded.

    Raises:
        InvalidKey: if a required member is missing or not a string.
    """
    names = _THUMBPRINT_MEMBERS.get(str(jwk.get("kty")))
    if names is None:
        raise InvalidKey(f"no thumbprint for kty {jwk.get('kty')!r}")
    members: dict[str, str] = {}
    for name in names:
        value = jwk.get(name)
        if not isinstance(value, str):
            raise InvalidKey(f"JWK member {name!r} is missing or not a string")
        members[name] = value
    text = json.dumps(members, separators=(",", ":"), ensure_ascii=False)
    return b64url_encode(hashlib.sha256(text.encode("utf-8")).digest())


def _uint(value: int) -> str:
    return b64url_encode(value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def _str(jwk: Mapping[str, object], name: str) -> str | None:
    value = jwk.get(name)
    if value is None or isinstance(value, str):
        return value
    raise InvalidKey(f"JWK member {name!r} must be a string")


def _bytes(jwk: Mapping[str, object], name: str, size: int | None = None) -> bytes:
    text = _str(jwk, name)
    if text is None:
        raise InvalidKey(f"JWK member {name!r} is required")
    try:
        data = b64url_decode(text)
    except ValueError as exc:
        raise InvalidKey(f"JWK member {name!r} is not base64url") from exc
    if size is not None and len(data) != size:
        raise InvalidKey(f"JWK member {name!r} must be {size} bytes")
    return data


def _int(jwk: Mapping[str, object], name: str) -> int:
    return int.from_bytes(_bytes(jwk, name), "big")


class SigningKey:
    """A JWS key: ``kid``, pinned ``alg``, and a loaded primitive. Immutable.

    Attributes:
        kid: the key id tokens name in their header.
        alg: the algorithm name, exactly as configured (``"EdDSA"`` or ``"Ed25519"``...).
        kty: the JWK key type (``OKP``, ``EC``, ``RSA``, ``oct``).
        is_private: True if the key can sign.
    """

    __slots__ = ("_members", "_private", "_sign", "_verify", "alg", "is_private", "kid", "kty")

    kid: str
    alg: str
    kty: str
    is_private: bool
    _members: dict[str, str]
    _private: _Private | None
    _sign: Signer | None
    _verify: Verifier

    def __init__(
        self,
        token: object,
        *,
        alg: str,
        kid: str,
        members: dict[str, str],
        private: _Private | None,
        sign: Signer | None,
        verify: Verifier,
    ) -> None:
        if token is not _CONSTRUCT:
            raise InvalidKey("use SigningKey.generate() or SigningKey.from_jwk()")
        values = {
            "alg": alg,
            "kid": kid,
            "kty": KTY_BY_ALG[alg],
            "is_private": sign is not None,
            "_members": members,
            "_private": private,
            "_sign": sign,
            "_verify": verify,
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"SigningKey is immutable; cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"SigningKey is immutable; cannot delete {name!r}")

    def __repr__(self) -> str:
        return f"SigningKey(kid={self.kid!r}, alg={self.alg!r}, private={self.is_private})"

    # -- construction ---------------------------------------------------------------

    @classmethod
    def generate(cls, alg: str) -> SigningKey:
        """A new random key for ``alg`` (``kid`` = RFC 7638 thumbprint).

        Raises:
            InvalidKey: if ``alg`` is not allow-listed.
        """
        alg = alg_.require_algorithm(alg)
        kty = KTY_BY_ALG[alg]
        if kty == "OKP":
            return cls._okp(alg, ed25519.Ed25519PrivateKey.generate(), None)
        if kty == "EC":
            return cls._ec(alg, ec.generate_private_key(ec.SECP256R1()), None)
        if kty == "RSA":
            return cls._rsa(alg, rsa.generate_private_key(65537, alg_.RSA_GENERATED_BITS), None)
        return cls._oct(alg, secrets.token_bytes(alg_.HMAC_MIN_KEY_BYTES), None)

    @classmethod
    def from_jwk(cls, jwk: Mapping[str, object] | str) -> SigningKey:
        """Load a private or public JWK (a mapping or its JSON text).

        ``alg`` is required for ``oct`` keys and inferred otherwise (OKP Ed25519 ->
        EdDSA, EC P-256 -> ES256, RSA -> RS256). ``use`` must be ``"sig"`` and
        ``key_ops`` must allow ``verify`` (and ``sign`` for a private key) if present.

        Raises:
            InvalidKey: for anything unusable: unsupported alg, kty/crv/alg mismatch,
                short RSA or HMAC key, point not on the curve, private part not matching
                the public part, bad base64url.
        """
        if isinstance(jwk, str):
            jwk = load_jwk_json(jwk)
        if not isinstance(jwk, Mapping):
            raise InvalidKey("a JWK must be a JSON object")
        kty = _str(jwk, "kty")
        if kty not in _THUMBPRINT_MEMBERS:
            raise InvalidKey(f"unsupported kty {kty!r}")
        crv = _str(jwk, "crv")
        if kty in _CRV and crv != _CRV[kty]:
            raise InvalidKey(f"unsupported curve {crv!r} for kty {kty}")
        declared = jwk.get("alg")
        if declared is None:
            if kty == "oct":
                raise InvalidKey("a symmetric JWK must declare its alg")
            alg = alg_.infer_algorithm(kty, crv)
        else:
            alg = alg_.require_algorithm(declared)
        if KTY_BY_ALG[alg] != kty:
            raise InvalidKey(f"alg {alg} does not match kty {kty}")
        kid = _str(jwk, "kid")
        if kid is not None and not 0 < len(kid) <= MAX_KID_LENGTH:
            raise InvalidKey(f"kid must be 1 to {MAX_KID_LENGTH} characters")
        _check_usage(jwk, signs=kty != "oct" and "d" in jwk)
        try:
            if kty == "OKP":
                return cls._okp_from_jwk(alg, jwk, kid)
            if kty == "EC":
                return cls._ec_from_jwk(alg, jwk, kid)
            if kty == "RSA":
                return cls._rsa_from_jwk(alg, jwk, kid)
            return cls._oct(alg, _bytes(jwk, "k"), kid)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise InvalidKey(f"unusable {kty} key: {type(exc).__name__}") from exc

    @classmethod
    def _make(
        cls,
        alg: str,
        kid: str | None,
        members: dict[str, str],
        private: _Private | None,
        sign: Signer | None,
        verify: Verifier,
    ) -> SigningKey:
        return cls(
            _CONSTRUCT,
            alg=alg,
            kid=kid or thumbprint(members),
            members=members,
            private=private,
            sign=sign,
            verify=verify,
        )

    @classmethod
    def _okp(
        cls,
        alg: str,
        key: ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey,
        kid: str | None,
    ) -> SigningKey:
        private = key if isinstance(key, ed25519.Ed25519PrivateKey) else None
        public = key.public_key() if isinstance(key, ed25519.Ed25519PrivateKey) else key
        x = b64url_encode(public.public_bytes_raw())
        members = {"crv": "Ed25519", "kty": "OKP", "x": x}
        sign = alg_.ed25519_signer(private) if private is not None else None
        return cls._make(alg, kid, members, private, sign, alg_.ed25519_verifier(public))

    @classmethod
    def _okp_from_jwk(cls, alg: str, jwk: Mapping[str, object], kid: str | None) -> SigningKey:
        x = _bytes(jwk, "x", 32)
        if "d" not in jwk:
            return cls._okp(alg, ed25519.Ed25519PublicKey.from_public_bytes(x), kid)
        private = ed25519.Ed25519PrivateKey.from_private_bytes(_bytes(jwk, "d", 32))
        if private.public_key().public_bytes_raw() != x:
            raise InvalidKey("OKP private key does not match its x")
        return cls._okp(alg, private, kid)

    @classmethod
    def _ec(
        cls,
        alg: str,
        key: ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey,
        kid: str | None,
    ) -> SigningKey:
        private = key if isinstance(key, ec.EllipticCurvePrivateKey) else None
        public = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key
        numbers = public.public_numbers()
        members = {
            "crv": "P-256",
            "kty": "EC",
            "x": b64url_encode(numbers.x.to_bytes(32, "big")),
            "y": b64url_encode(numbers.y.to_bytes(32, "big")),
        }
        sign = alg_.es256_signer(private) if private is not None else None
        return cls._make(alg, kid, members, private, sign, alg_.es256_verifier(public))

    @classmethod
    def _ec_from_jwk(cls, alg: str, jwk: Mapping[str, object], kid: str | None) -> SigningKey:
        x = int.from_bytes(_bytes(jwk, "x", 32), "big")
        y = int.from_bytes(_bytes(jwk, "y", 32), "big")
        public_numbers = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1())
        public = public_numbers.public_key()  # ValueError if the point is not on P-256
        if "d" not in jwk:
            return cls._ec(alg, public, kid)
        d = int.from_bytes(_bytes(jwk, "d", 32), "big")
        private = ec.derive_private_key(d, ec.SECP256R1())
        if private.public_key().public_numbers() != public_numbers:
            raise InvalidKey("EC private key does not match its x and y")
        return cls._ec(alg, private, kid)

    @classmethod
    def _rsa(
        cls, alg: str, key: rsa.RSAPrivateKey | rsa.RSAPublicKey, kid: str | None
    ) -> SigningKey:
        private = key if isinstance(key, rsa.RSAPrivateKey) else None
        public = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
        numbers = public.public_numbers()
        alg_.check_rsa_public(numbers.n, numbers.e)
        members = {"e": _uint(numbers.e), "kty": "RSA", "n": _uint(numbers.n)}
        sign = alg_.rs256_signer(private) if private is not None else None
        return cls._make(alg, kid, members, private, sign, alg_.rs256_verifier(public))

    @classmethod
    def _rsa_from_jwk(cls, alg: str, jwk: Mapping[str, object], kid: str | None) -> SigningKey:
        n, e = _int(jwk, "n"), _int(jwk, "e")
        alg_.check_rsa_public(n, e)
        public_numbers = rsa.RSAPublicNumbers(e, n)
        if "d" not in jwk:
            return cls._rsa(alg, public_numbers.public_key(), kid)
        if "oth" in jwk:
            raise InvalidKey("multi-prime RSA keys are not supported")
        d = _int(jwk, "d")
        crt = ("p", "q", "dp", "dq", "qi")
        present = [name for name in crt if name in jwk]
        if present and len(present) != len(crt):
            raise InvalidKey("RSA private JWK must have all or none of p, q, dp, dq, qi")
        if present:
            p, q, dp, dq, qi = (_int(jwk, name) for name in crt)
        else:
            p, q = rsa.rsa_recover_prime_factors(n, e, d)
            dp, dq, qi = rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q)
        numbers = rsa.RSAPrivateNumbers(p, q, d, dp, dq, qi, public_numbers)
        return cls._rsa(alg, numbers.private_key(), kid)  # validates consistency

    @classmethod
    def _oct(cls, alg: str, secret: bytes, kid: str | None) -> SigningKey:
        sign, verify = alg_.hs256_pair(secret)
        members = {"k": b64url_encode(secret), "kty": "oct"}
        return cls._make(alg, kid, members, secret, sign, verify)

    # -- use ------------------------------------------------------------------------------

    def sign(self, signing_input: bytes) -> bytes:
        """Sign a JWS signing input (``ASCII(header.payload)``).

        Raises:
            InvalidKey: if this is a verify-only key.
        """
        if self._sign is None:
            raise InvalidKey(f"key {self.kid!r} is verify-only")
        return self._sign(signing_input)

    def verify(self, signing_input: bytes, signature: bytes) -> bool:
        """True if ``signature`` is valid; False for any bad or malformed signature."""
        return self._verify(signing_input, signature)

    def public(self) -> SigningKey:
        """A verify-only copy (an HS256 key is returned as is: it has no public half)."""
        if self.kty == "oct" or not self.is_private:
            return self
        return SigningKey._make(self.alg, self.kid, self._members, None, None, self._verify)

    def public_jwk(self) -> dict[str, str]:
        """The public JWK (with ``kid``, ``alg``, ``use: "sig"``), as published in JWKS.

        Raises:
            InvalidKey: for HS256 keys, which are secret and never published.
        """
        if self.kty == "oct":
            raise InvalidKey("symmetric keys have no public JWK")
        return {**self._members, "kid": self.kid, "alg": self.alg, "use": "sig"}

    def private_jwk(self) -> dict[str, str]:
        """The private JWK, for persisting the key. Never log or serve it.

        Raises:
            InvalidKey: for verify-only keys.
        """
        key = self._private
        if key is None:
            raise InvalidKey(f"key {self.kid!r} has no private part")
        secret: dict[str, str] = {}
        if isinstance(key, ed25519.Ed25519PrivateKey):
            secret["d"] = b64url_encode(key.private_bytes_raw())
        elif isinstance(key, ec.EllipticCurvePrivateKey):
            secret["d"] = b64url_encode(key.private_numbers().private_value.to_bytes(32, "big"))
        elif isinstance(key, rsa.RSAPrivateKey):
            numbers = key.private_numbers()
            secret.update(
                d=_uint(numbers.d),
                p=_uint(numbers.p),
                q=_uint(numbers.q),
                dp=_uint(numbers.dmp1),
                dq=_uint(numbers.dmq1),
                qi=_uint(numbers.iqmp),
            )
        return {**self._members, **secret, "kid": self.kid, "alg": self.alg, "use": "sig"}


def _check_usage(jwk: Mapping[str, object], *, signs: bool) -> None:
    use = jwk.get("use")
    if use is not None and use != "sig":
        raise InvalidKey(f"JWK use must be 'sig', not {use!r}")
    ops = jwk.get("key_ops")
    if ops is None:
        return
    if not isinstance(ops, list) or not all(isinstance(op, str) for op in ops):
        raise InvalidKey("JWK key_ops must be a list of strings")
    if len(set(ops)) != len(ops):
        raise InvalidKey("JWK key_ops has duplicates")
    needed = {"sign", "verify"} if signs else {"verify"}
    if not needed <= set(ops):
        raise InvalidKey(f"JWK key_ops must allow {sorted(needed)}")
