"""Public JWS vectors and attack tokens shared by the unit and the security tests.

What lives here (data, how to load it, how to build variants; no test logic):

- RFC 7515 appendix A (A.1 HS256, A.2 RS256, A.3 ES256, A.5 unsecured) and the A.1/A.3
  keys, with SECURITY.md Appendix A's static attack tokens built on them;
- RFC 8037 A.4 (Ed25519) and RFC 7797 section 4 (``b64``) examples;
- RFC 7520 (JOSE cookbook) section 4.1 RS256, 4.3 ES512 and 4.4 HS256, read from the
  Wycheproof file, which carries them with their cookbook keys (tcId 345, 347, 348);
- the Wycheproof ``json_web_signature_test.json`` cases, with the label defects of
  SECURITY.md section 4.2 recorded next to them;
- small helpers to build attack tokens from any header, payload and key (encodings,
  ECDSA and Ed25519 malleation, non-canonical base64url variants).

Binding keys to tokens: gatepass looks a key up by the header ``kid`` only. The RFC 7515,
7797 and 8037 tokens carry no ``kid``, so they are checked twice: the signature through
the key's own primitive (``SigningKey.verify``, proving the vector is genuine for our
primitive), and a rebuilt token whose header adds the key's ``kid`` (re-signed with the
published private key where the RFC gives one). The RFC 7520 and Wycheproof tokens carry
a ``kid`` equal to their JWK's ``kid``, so a KeyRing built from the JWK binds them as is.
"""

from __future__ import annotations

import base64
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final

from gatepass._utils import b64url_decode, b64url_encode
from gatepass.errors import (
    DisallowedAlgorithm,
    GatepassError,
    MalformedToken,
    UnknownKey,
)
from gatepass.keys.algorithms import ALGORITHMS, P256_ORDER
from gatepass.keys.key import SigningKey

#: The Wycheproof JWS vectors (SECURITY.md section 4.2), copied unchanged.
VECTORS = Path("/work/shared/vectors/json_web_signature_test.json")

# RFC 7515 A.1 (HS256) and A.3 (ES256) keys, with kids so that tokens can name them.
A1_K = "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"
A1_SECRET = b64url_decode(A1_K)
A1_JWK = {"kty": "oct", "alg": "HS256", "kid": "a1", "k": A1_K}
A3_JWK = {
    "kty": "EC",
    "crv": "P-256",
    "kid": "a3",
    "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
    "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
    "d": "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI",
}
P = "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
P_JSON = b'{"iss":"joe",\r\n "exp":1300819380,\r\n "http://example.com/is_root":true}'
A1_HEADER = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
A1_SIG = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
A3_HEADER = "eyJhbGciOiJFUzI1NiJ9"
A3_SIG = "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"
A3_SIG_MALLEATED = (
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmU69fgrc8OPGycO0lD3tat_FoFp57SETepkeks4eL_QfA"
)
PSYCHIC_ZERO = "A" * 86
PSYCHIC_N = "_____wAAAAD__________7zm-q2nF56E87nKwvxjJVH_____AAAAAP__________vOb6racXnoTzucrC_GMlUQ"

# SECURITY.md Appendix A, verbatim (P substituted), with the error each raises against a
# ring holding the A.1 key (kid "a1") and the A.3 key (kid "a3"). Most carry no kid, so a
# missing kid stops them; the kid-carrying variants below show each attack fails on its own.
APPENDIX_A: list[tuple[str, str, type[GatepassError]]] = [
    ("control A.1 HS256 (no kid)", f"{A1_HEADER}.{P}.{A1_SIG}", UnknownKey),
    ("control A.3 ES256 (no kid)", f"{A3_HEADER}.{P}.{A3_SIG}", UnknownKey),
    ("control A.3 malleated (no kid)", f"{A3_HEADER}.{P}.{A3_SIG_MALLEATED}", UnknownKey),
    ("none[none]", f"eyJhbGciOiJub25lIn0.{P}.", DisallowedAlgorithm),
    ("none[None]", f"eyJhbGciOiJOb25lIn0.{P}.", DisallowedAlgorithm),
    ("none[NONE]", f"eyJhbGciOiJOT05FIn0.{P}.", DisallowedAlgorithm),
    ("none[nOnE]", f"eyJhbGciOiJuT25FIn0.{P}.", DisallowedAlgorithm),
    ("none+typ", f"eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{P}.", DisallowedAlgorithm),
    ("none with A.1 signature", f"eyJhbGciOiJub25lIn0.{P}.{A1_SIG}", DisallowedAlgorithm),
    ("alg empty string", f"eyJhbGciOiIifQ.{P}.", DisallowedAlgorithm),
    ("alg missing", f"eyJ0eXAiOiJKV1QifQ.{P}.", DisallowedAlgorithm),
    ("alg null", f"eyJhbGciOm51bGx9.{P}.", DisallowedAlgorithm),
    (
        "alg hs256",
        f"eyJhbGciOiJoczI1NiJ9.{P}.hhaUo86cPZh23VTqZdUSiYCmDz_FQb6TDCC1fQRXtc8",
        DisallowedAlgorithm,
    ),
    (
        "alg Hs256",
        f"eyJhbGciOiJIczI1NiJ9.{P}.3Cky7wpKPLiHw3gBlZT7zxQabnKV7eP8IWwukMmCjcQ",
        DisallowedAlgorithm,
    ),
    (
        "alg 'HS256 '",
        f"eyJhbGciOiJIUzI1NiAifQ.{P}.4fGEXeyEA3BYToRG5uMTzyeM8Ua7MmAGUtU-9IKmGsg",
        DisallowedAlgorithm,
    ),
    (
        "alg ' HS256'",
        f"eyJhbGciOiIgSFMyNTYifQ.{P}.G7eu2Hn4T1pUKajvldhbS3HKpyz0OqjWtxL0iXNbaK4",
        DisallowedAlgorithm,
    ),
    (
        "alg 'HS256\\x00'",
        f"eyJhbGciOiJIUzI1Nlx1MDAwMCJ9.{P}.PqE_ieqZfBxhpOtSiMyyF2KF0zmA2yB_a7_M5H-hHf8",
        DisallowedAlgorithm,
    ),
    (
        "dup alg, HS256 last",
        f"eyJhbGciOiJub25lIiwiYWxnIjoiSFMyNTYifQ.{P}.Cu5Fd5wcMIFW8GAkGVg9vg7T1NOFIQPtTeUh9zqpDgM",
        MalformedToken,
    ),
    (
        "dup alg, none last",
        f"eyJhbGciOiJIUzI1NiIsImFsZyI6Im5vbmUifQ.{P}.QtLkiP7pIA4_7eHqACknyU-jWFc4J6Y7OrxBnRcUZFo",
        MalformedToken,
    ),
    (
        "dup sub",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSIsInN1YiI6ImFkbWluIiwiZXhwIjoxMzAwODE5MzgwfQ.v3OVMuJevIvndoeOhfv4f77okpWt3SJYoJkXYxdRGZc",
        UnknownKey,
    ),
    (
        "exp NaN",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIiwiZXhwIjpOYU59.xiAg7uaLICQ1x21rVS0yYYcIXZjGjGrQDKfBc5dCpEE",
        UnknownKey,
    ),
    (
        "exp Infinity",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIiwiZXhwIjpJbmZpbml0eX0.aIY_yXbEY8kZ32LQAEJ1tzimo2lhMka2GzgjekUVglI",
        UnknownKey,
    ),
    (
        "exp 1e999",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIiwiZXhwIjoxZTk5OX0.NNSJeRPqM1JwxY2Blfko0M63fZEBjPu62zqUMOXmoeY",
        UnknownKey,
    ),
    (
        "exp string",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIiwiZXhwIjoiOTk5OTk5OTk5OSJ9.c2rs2L5KPoZfF3jErEWRzYkCnLS7nLzgdGqmxIoWkzw",
        UnknownKey,
    ),
    (
        "exp true",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIiwiZXhwIjp0cnVlfQ.r7sPnfnBhdG-1YlqOJdyxGuGcLdS_CdNZSmv7S103W4",
        UnknownKey,
    ),
    (
        "exp null",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIiwiZXhwIjpudWxsfQ.KJeTQinIScVoHadKKl-ikOfZTNhRVfk253DXgT9MDbg",
        UnknownKey,
    ),
    (
        "exp list",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIiwiZXhwIjpbMTMwMDgxOTM4MF19.Y1QOu0bnUtWEr1XkNGB47dMp_bQzJVwuPpGqxzIfuiw",
        UnknownKey,
    ),
    (
        "b64 false",
        'eyJhbGciOiJIUzI1NiIsImI2NCI6ZmFsc2UsImNyaXQiOlsiYjY0Il19.{"sub":"admin"}.3SmoYc4e893GqyeYpN15J3hic6-NyxIRvBLxJS-g5PY',
        MalformedToken,
    ),
    (
        "crit unknown",
        f"eyJhbGciOiJIUzI1NiIsImNyaXQiOlsieC1jdXN0b20tcG9saWN5Il0sIngtY3VzdG9tLXBvbGljeSI6InJlcXVpcmUtbWZhIn0.{P}.dVASm7Mkz-QII4humzSRb2tMGJa3QvU_dIkyQZju4xo",
        UnknownKey,
    ),
    (
        "crit empty",
        f"eyJhbGciOiJIUzI1NiIsImNyaXQiOltdfQ.{P}.IJc-xlxE97pSOpuc969kIBMhnm3_As6VKwPivjU9_Bg",
        UnknownKey,
    ),
    (
        "crit missing member",
        f"eyJhbGciOiJIUzI1NiIsImNyaXQiOlsiZXhwIl19.{P}.9lHcB25p6mnN0oeT1xpsFTcrDNP8bZDv_OXCFe5Ajp0",
        UnknownKey,
    ),
    (
        "kid path traversal",
        f"eyJhbGciOiJIUzI1NiIsImtpZCI6Ii4uLy4uLy4uLy4uLy4uLy4uL2Rldi9udWxsIn0.{P}.7g9eYGbRqTl2WUZNwUeBlmURyvMaAyzN2KuQHafL6Fo",
        UnknownKey,
    ),
    (
        "kid /dev/null",
        f"eyJhbGciOiJIUzI1NiIsImtpZCI6Ii9kZXYvbnVsbCJ9.{P}.0WTZC3e76Wv8lcQhx0dfeJSD-jCtXLLzqJvRYg0C5i4",
        UnknownKey,
    ),
    (
        "kid SQL injection",
        f"eyJhbGciOiJIUzI1NiIsImtpZCI6IngnIFVOSU9OIFNFTEVDVCAnMSc7LS0ifQ.{P}.r63k6zSumqspYpxDQgOmRSkoS9EI7arCDANAs4J5tAA",
        UnknownKey,
    ),
    (
        "kid empty",
        f"eyJhbGciOiJIUzI1NiIsImtpZCI6IiJ9.{P}.CC0Im-QspPdPzl_K4qCuM6G6AWZW9e-Nh6n0X72Gkgs",
        UnknownKey,
    ),
    (
        "blank HMAC secret",
        f"eyJhbGciOiJIUzI1NiJ9.{P}.tUQsEpsOh2SuYlrWZMwQYLMtWY6WSRmKjhvqtArlyI8",
        UnknownKey,
    ),
    (
        "HS256 keyed with A.3 PEM",
        f"eyJhbGciOiJIUzI1NiJ9.{P}.b5WqE1XtY4mvcC8dN0okAZYTHi0BCdK728HRDm4URAg",
        UnknownKey,
    ),
    (
        "HS256 keyed with A.3 DER",
        f"eyJhbGciOiJIUzI1NiJ9.{P}.J5kqgSyQK37WwAqU782ULrENkbFzBrD8Gk7SWp3k7M8",
        UnknownKey,
    ),
    (
        "HS256 keyed with A.3 OpenSSH",
        f"eyJhbGciOiJIUzI1NiJ9.{P}.4V0l64TpUu1NZWGYU_6L1RWzTsQC5Z6xzEUB5P0BQQQ",
        UnknownKey,
    ),
    (
        "HS256 keyed with A.3 JWK",
        f"eyJhbGciOiJIUzI1NiJ9.{P}.-7-Rh68SVgO6Z1nnRsww1kAGcUs0y7oEOuMtDdIryBk",
        UnknownKey,
    ),
    ("psychic r=s=0 P1363", f"{A3_HEADER}.{P}.{PSYCHIC_ZERO}", UnknownKey),
    ("psychic r=s=0 DER", f"{A3_HEADER}.{P}.MAYCAQACAQA", UnknownKey),
    ("psychic r=s=n", f"{A3_HEADER}.{P}.{PSYCHIC_N}", UnknownKey),
    ("padded signature", f"{A1_HEADER}.{P}.{A1_SIG}=", MalformedToken),
    ("signature trailing bits", f"{A1_HEADER}.{P}.{A1_SIG[:-1]}l", MalformedToken),
    (
        "standard base64 alphabet",
        f"{A1_HEADER}.{P}.dBjftJeZ4CVP+mB92K27uhbUJU1p1r/wW1gFWFOEjXk",
        MalformedToken,
    ),
    ("leading space", f" {A1_HEADER}.{P}.{A1_SIG}", MalformedToken),
    ("newline inside payload", f"{A1_HEADER}.eyJp\n{P[4:]}.{A1_SIG}", MalformedToken),
    ("extra segment", f"{A1_HEADER}.{P}.{A1_SIG}.", MalformedToken),
]


def json_bytes(value: object) -> bytes:
    """Compact JSON (no spaces) as UTF-8 bytes."""
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def hs_token(header: dict[str, Any] | str, payload_b64: str, secret: bytes) -> str:
    """An HS256-style token over any header JSON, MAC'd with ``secret``."""
    header_json = header.encode("utf-8") if isinstance(header, str) else json_bytes(header)
    signing_input = f"{b64url_encode(header_json)}.{payload_b64}"
    mac = hmac.digest(secret, signing_input.encode("ascii"), "sha256")
    return f"{signing_input}.{b64url_encode(mac)}"


def key_token(header: dict[str, Any], payload_b64: str, key: SigningKey) -> str:
    """A token over any header, signed by ``key``'s own primitive."""
    signing_input = f"{b64url_encode(json_bytes(header))}.{payload_b64}"
    return f"{signing_input}.{b64url_encode(key.sign(signing_input.encode('ascii')))}"


# -- RFC 7515 appendix A, RFC 8037 A.4, RFC 7797 section 4 -------------------------------------

#: RFC 7515 A.1: HS256 over payload P with the A.1 key (no kid).
RFC7515_A1 = f"{A1_HEADER}.{P}.{A1_SIG}"
#: RFC 7515 A.2: the RSA public key (the RFC also prints the private part) and the token.
RFC7515_A2_JWK: Final[dict[str, str]] = {
    "kty": "RSA",
    "kid": "rfc7515-a2",
    "n": (
        "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1P"
        "t0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSH"
        "SXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6"
        "_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ"
    ),
    "e": "AQAB",
}
RFC7515_A2 = (
    f"eyJhbGciOiJSUzI1NiJ9.{P}."
    "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W"
    "2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkS"
    "jtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvW"
    "h6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw"
)
#: RFC 7515 A.3: ES256 over P with the A.3 key (no kid).
RFC7515_A3 = f"{A3_HEADER}.{P}.{A3_SIG}"
#: RFC 7515 A.5: an unsecured JWS ({"alg":"none"}); a verifier must refuse it.
RFC7515_A5 = f"eyJhbGciOiJub25lIn0.{P}."

#: RFC 8037 A.1 key (the private ``d`` lets the test rebuild the token with a kid).
RFC8037_JWK: Final[dict[str, str]] = {
    "kty": "OKP",
    "crv": "Ed25519",
    "kid": "rfc8037",
    "d": "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",
    "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
}
#: RFC 8037 A.4: EdDSA over "Example of Ed25519 signing" (no kid).
RFC8037_A4 = (
    "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc."
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
)

#: RFC 7797 section 4.1: the ordinary (b64 true) JWS of payload "$.02", A.1 key, no kid.
RFC7797_41 = "eyJhbGciOiJIUzI1NiJ9.JC4wMg.5mvfOroL-g7HyqJoozehmsaqmvTYGEq5jTI1gVvoEoQ"
_RFC7797_B64_FALSE = "eyJhbGciOiJIUzI1NiIsImI2NCI6ZmFsc2UsImNyaXQiOlsiYjY0Il19"
_RFC7797_42_SIG = "A5dxf2s96_n5FLueVuW1Z_vh161FwXZC4YLPff6dmDY"
#: RFC 7797 section 4.2: b64=false, payload detached (as the RFC prints it).
RFC7797_42_DETACHED = f"{_RFC7797_B64_FALSE}..{_RFC7797_42_SIG}"
#: The same with the unencoded payload "$.02" attached: four dot-separated parts.
RFC7797_42_ATTACHED = f"{_RFC7797_B64_FALSE}.$.02.{_RFC7797_42_SIG}"


# -- Wycheproof json_web_signature_test.json ----------------------------------------------------

#: tcId -> reason, for vectors whose label we do not follow (see SECURITY.md section 4.2).
LABEL_DEFECTS = {
    367: "labelled invalid but byte-identical to valid tcId 357",
    370: "labelled invalid but byte-identical to valid tcId 357",
}
#: Labelled valid, but '?' sits inside a base64url segment: strict parsing must refuse them.
EXPECTED_REJECT = {372, 373}
SUPPORTED_CRV = {None, "P-256", "Ed25519"}
#: Wycheproof tcIds of the RFC 7520 cookbook figures (section 4.1, 4.3, 4.4).
RFC7520_TCIDS: Final = {
    "RFC 7520 4.1 RS256 (Figure 13)": 345,
    "RFC 7520 4.3 ES512 (Figure 27)": 347,
    "RFC 7520 4.4 HS256 (Figure 35)": 348,
}


@dataclass(frozen=True)
class WycheproofCase:
    """One Wycheproof JWS test with its group's key."""

    tc_id: int
    group: str
    jwk: dict[str, Any]
    token: str
    label: str
    comment: str

    @property
    def key_supported(self) -> bool:
        """True if gatepass can use the group's key: an allow-listed alg and curve, for sig."""
        jwk = self.jwk
        ops = jwk.get("key_ops")
        return (
            jwk.get("alg", "RS256") in ALGORITHMS
            and jwk.get("crv") in SUPPORTED_CRV
            and jwk.get("use", "sig") == "sig"
            and (ops is None or "verify" in ops)
        )

    @property
    def expect_valid(self) -> bool:
        """What gatepass must answer: the label, corrected by the documented defects."""
        if self.tc_id in EXPECTED_REJECT or not self.key_supported:
            return False
        if self.tc_id in LABEL_DEFECTS:
            return True  # the token is byte-identical to valid tcId 357
        return self.label == "valid"


@cache
def _wycheproof_cases() -> tuple[WycheproofCase, ...]:
    data = json.loads(VECTORS.read_text())
    cases = []
    for group in data["testGroups"]:
        jwk = group.get("public") or group["private"]
        for test in group["tests"]:
            cases.append(
                WycheproofCase(
                    tc_id=test["tcId"],
                    group=group["comment"],
                    jwk=jwk,
                    token=test["jws"],
                    label=test["result"],
                    comment=test["comment"],
                )
            )
    return tuple(cases)


def wycheproof_cases() -> Iterator[WycheproofCase]:
    """Every test of the Wycheproof JWS file, in file order (parsed once)."""
    return iter(_wycheproof_cases())


def wycheproof_case(tc_id: int) -> WycheproofCase:
    """The Wycheproof test with this tcId."""
    return next(case for case in _wycheproof_cases() if case.tc_id == tc_id)


# -- building attack tokens -----------------------------------------------------------------

#: Order of the Ed25519 group: a canonical signature has S < L (RFC 8032 section 5.1.7).
ED25519_ORDER: Final = 2**252 + 27742317777372353535851937790883648493


def enc(value: dict[str, Any] | str | bytes) -> str:
    """base64url of a dict (compact JSON), a JSON text, or raw bytes."""
    if isinstance(value, dict):
        return b64url_encode(json_bytes(value))
    if isinstance(value, str):
        return b64url_encode(value.encode("utf-8"))
    return b64url_encode(value)


def split(token: str) -> tuple[str, str, str]:
    """The three segments of a compact JWS."""
    head, payload, signature = token.split(".")
    return head, payload, signature


def sign_input(key: SigningKey, head: str, payload: str) -> str:
    """``head.payload`` signed by ``key``'s primitive, exactly as given (any segments)."""
    signing_input = f"{head}.{payload}"
    return f"{signing_input}.{b64url_encode(key.sign(signing_input.encode('utf-8')))}"


def mac_input(secret: bytes, head: str, payload: str, digest: str = "sha256") -> str:
    """``head.payload`` MAC'd with any secret (the attacker's HMAC forgery)."""
    signing_input = f"{head}.{payload}"
    mac = hmac.digest(secret, signing_input.encode("utf-8"), digest)
    return f"{signing_input}.{b64url_encode(mac)}"


def raw_json(claims: dict[str, Any], **raw: str) -> str:
    """Claims as JSON text with some members given as raw JSON literals (NaN, 1e999...)."""
    members = [
        f"{json.dumps(k)}:{raw.pop(k) if k in raw else json.dumps(v)}" for k, v in claims.items()
    ]
    members += [f"{json.dumps(k)}:{v}" for k, v in raw.items()]
    return "{" + ",".join(members) + "}"


def ecdsa_split(signature: bytes) -> tuple[int, int]:
    """(r, s) of a raw ``R || S`` ES256 signature."""
    return int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")


def ecdsa_join(r: int, s: int, size: int = 32) -> bytes:
    """A raw ``R || S`` signature with each integer on ``size`` bytes."""
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def ecdsa_malleate(signature: bytes) -> bytes:
    """The other valid ECDSA signature of the same message: (r, n - s)."""
    r, s = ecdsa_split(signature)
    return ecdsa_join(r, P256_ORDER - s)


def ed25519_high_s(signature: bytes) -> bytes:
    """R || (S + L): the non-canonical twin a lax Ed25519 verifier would accept."""
    s = int.from_bytes(signature[32:], "little") + ED25519_ORDER
    return signature[:32] + s.to_bytes(32, "little")


def lenient_decode(segment: str) -> bytes:
    """What ``base64.urlsafe_b64decode`` (a lax decoder) makes of a segment."""
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def changed_unused_bits(segment: str) -> str | None:
    """The segment with its unused trailing bits changed (same bytes to a lax decoder)."""
    if len(segment) % 4 not in (2, 3):
        return None
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    value = alphabet.index(segment[-1]) ^ 1
    variant = segment[:-1] + alphabet[value]
    assert lenient_decode(variant) == lenient_decode(segment)
    return variant


def padded(segment: str) -> str:
    """The segment with ``=`` padding (``====`` when it needs none)."""
    return segment + ("=" * (-len(segment) % 4) or "====")


def std_alphabet(segment: str) -> str:
    """The segment in the standard base64 alphabet (``+`` and ``/``)."""
    return segment.replace("-", "+").replace("_", "/")
