"""Public JWS vectors through the strict verifier, with a results table in the summary.

Sources: RFC 7515 appendix A (A.1 HS256, A.2 RS256, A.3 ES256; A.5 unsecured must be
refused), RFC 7520 section 4.1 RS256, 4.3 ES512 (unsupported: refused) and 4.4 HS256 with
their detached and JSON-serialized forms, RFC 7797 (``b64``) section 4, RFC 8037 A.4
Ed25519, and every test of Wycheproof's ``json_web_signature_test.json``.

How keys are bound to tokens (gatepass finds a key by the header ``kid`` only) is
described in :mod:`tests.security.vectors`: kid-less RFC tokens are checked with the
key's primitive, refused as published (no ``kid``), and verified once rebuilt with one;
RFC 7520 and Wycheproof tokens name their JWK's ``kid``, so a ring of that JWK binds them.
The table (source, count, verified, refused, unexpected) is printed after the run.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

import pytest

from gatepass._utils import b64url_decode, b64url_encode
from gatepass.errors import (
    DisallowedAlgorithm,
    GatepassError,
    InvalidKey,
    MalformedToken,
    UnknownKey,
    UnsupportedHeader,
)
from gatepass.keys.key import SigningKey
from gatepass.keys.keyring import KeyRing
from gatepass.tokens.jws import verify_compact
from tests.security.conftest import SecurityReport
from tests.security.vectors import (
    A1_JWK,
    A3_JWK,
    LABEL_DEFECTS,
    P_JSON,
    RFC7515_A1,
    RFC7515_A2,
    RFC7515_A2_JWK,
    RFC7515_A3,
    RFC7515_A5,
    RFC7520_TCIDS,
    RFC7797_41,
    RFC7797_42_ATTACHED,
    RFC7797_42_DETACHED,
    RFC8037_A4,
    RFC8037_JWK,
    WycheproofCase,
    enc,
    sign_input,
    wycheproof_case,
    wycheproof_cases,
)

TABLE_TITLE = "JWS vectors through the strict verifier (tests/security/test_vectors.py)"


@dataclass
class Row:
    """One line of the results table."""

    count: int = 0
    verified: int = 0
    refused: int = 0
    unexpected: int = 0


_ROWS: dict[str, Row] = {}


def record(source: str, verified: bool, expected: bool) -> None:
    """Count one vector's outcome under ``source``."""
    row = _ROWS.setdefault(source, Row())
    row.count += 1
    row.verified += verified
    row.refused += not verified
    row.unexpected += verified != expected


def publish(report: SecurityReport) -> None:
    """Render every row recorded so far (the last test to run leaves the full table)."""
    lines = [f"{'source':<58}{'count':>6}{'verified':>10}{'refused':>9}{'unexpected':>12}"]
    total = Row()
    for source, row in _ROWS.items():
        lines.append(
            f"{source:<58}{row.count:>6}{row.verified:>10}{row.refused:>9}{row.unexpected:>12}"
        )
        for name in ("count", "verified", "refused", "unexpected"):
            setattr(total, name, getattr(total, name) + getattr(row, name))
    lines.append(
        f"{'TOTAL':<58}{total.count:>6}{total.verified:>10}{total.refused:>9}{total.unexpected:>12}"
    )
    report.add(TABLE_TITLE, lines)


def outcome(token: str, ring: KeyRing) -> GatepassError | None:
    """None if the strict verifier accepts the token, else the error it raised."""
    try:
        verify_compact(token, ring)
    except GatepassError as exc:
        return exc
    return None


def primitive_check(token: str, key: SigningKey) -> bool:
    """The signature of a compact JWS through the key's primitive alone (no header rules)."""
    head, payload, signature = token.split(".")
    return key.verify(f"{head}.{payload}".encode("ascii"), b64url_decode(signature))


def check_kidless(source: str, token: str, key: SigningKey, rebuilt_key: SigningKey | None) -> None:
    """A kid-less RFC token: genuine for the primitive, refused as is, verified with a kid."""
    ring = KeyRing([key.public()])
    genuine = primitive_check(token, key)
    record(f"{source} (signature, primitive)", genuine, True)
    assert genuine
    refused = outcome(token, ring)
    record(f"{source} (as published, no kid)", refused is None, False)
    assert isinstance(refused, UnknownKey)
    if rebuilt_key is None:
        return
    head, payload, _ = token.split(".")
    header = {**json.loads(b64url_decode(head)), "kid": rebuilt_key.kid}
    rebuilt = sign_input(rebuilt_key, enc(header), payload)
    verified = outcome(rebuilt, KeyRing([rebuilt_key.public()]))
    record(f"{source} (rebuilt with kid)", verified is None, True)
    assert verified is None
    assert b64url_decode(payload) == verify_compact(rebuilt, KeyRing([rebuilt_key])).payload


def test_rfc7515_appendix_a(security_report: SecurityReport) -> None:
    """A.1 HS256, A.2 RS256, A.3 ES256 are genuine and verify once bound; A.5 none is refused."""
    a1, a3 = SigningKey.from_jwk(A1_JWK), SigningKey.from_jwk(A3_JWK)
    a2 = SigningKey.from_jwk(RFC7515_A2_JWK)
    check_kidless("RFC 7515 A.1 HS256", RFC7515_A1, a1, a1)
    check_kidless("RFC 7515 A.2 RS256", RFC7515_A2, a2, None)  # the RFC's d is not kept here
    check_kidless("RFC 7515 A.3 ES256", RFC7515_A3, a3, a3)
    assert P_JSON == b64url_decode(RFC7515_A2.split(".")[1])
    ring = KeyRing([a1, a2, a3])
    with_kid = f"{enc({'alg': 'none', 'kid': 'a1'})}.{RFC7515_A5.split('.')[1]}."
    for label, token in (("as published", RFC7515_A5), ("with kid a1", with_kid)):
        refused = outcome(token, ring)
        record(f"RFC 7515 A.5 unsecured ({label})", refused is None, False)
        assert isinstance(refused, DisallowedAlgorithm)
    publish(security_report)


def test_rfc8037_a4_ed25519(security_report: SecurityReport) -> None:
    """RFC 8037 A.4 is genuine, our signer reproduces it exactly, and it verifies once bound."""
    key = SigningKey.from_jwk(RFC8037_JWK)
    head, payload, signature = RFC8037_A4.split(".")
    assert signature == b64url_encode(key.sign(f"{head}.{payload}".encode()))  # deterministic
    check_kidless("RFC 8037 A.4 EdDSA", RFC8037_A4, key, key)
    publish(security_report)


def test_rfc7520_cookbook_and_rfc7797(security_report: SecurityReport) -> None:
    """RFC 7520 4.1/4.4 verify, 4.3 ES512 and every detached/unencoded/JSON form is refused."""
    for source, tc_id in RFC7520_TCIDS.items():
        case = wycheproof_case(tc_id)
        if "ES512" in source:
            with pytest.raises(InvalidKey):  # P-521 / ES512 keys are not supported
                KeyRing.from_jwks(case.jwk)
            stand_in = SigningKey.from_jwk(
                {**SigningKey.generate("ES256").private_jwk(), "kid": case.jwk["kid"]}
            )
            refused = outcome(case.token, KeyRing([stand_in]))
            record(f"{source} (ES256 key under its kid)", refused is None, False)
            assert isinstance(refused, DisallowedAlgorithm)
            continue
        ring = KeyRing.from_jwks(case.jwk)
        verified = outcome(case.token, ring)
        record(source, verified is None, True)
        assert verified is None
        head, payload, signature = case.token.split(".")
        flattened = json.dumps({"protected": head, "payload": payload, "signature": signature})
        for form, token in (
            ("detached, section 4.5 form", f"{head}..{signature}"),
            ("flattened JSON serialization", flattened),
        ):
            refused = outcome(token, ring)
            record(f"{source.split(' (')[0]} {form}", refused is None, False)
            assert isinstance(refused, GatepassError)
    a1 = SigningKey.from_jwk(A1_JWK)
    check_kidless("RFC 7797 4.1 HS256 b64=true", RFC7797_41, a1, a1)
    ring = KeyRing([a1])
    b64_false = {"alg": "HS256", "kid": "a1", "b64": False, "crit": ["b64"]}
    rebuilt = sign_input(a1, enc(b64_false), enc(b"$.02"))
    for label, token, error in (
        ("detached, as published", RFC7797_42_DETACHED, UnknownKey),
        ("payload attached", RFC7797_42_ATTACHED, MalformedToken),
        ("rebuilt with kid", rebuilt, UnsupportedHeader),
    ):
        refused = outcome(token, ring)
        record(f"RFC 7797 4.2 b64=false ({label})", refused is None, False)
        assert isinstance(refused, error), label
    publish(security_report)


def _wycheproof_ring(case: WycheproofCase) -> KeyRing | None:
    """The ring of the group's JWK; None (after checking InvalidKey) if gatepass refuses it."""
    if case.key_supported:
        return KeyRing.from_jwks(case.jwk)
    with pytest.raises(InvalidKey):
        KeyRing.from_jwks(case.jwk)
    return None


def test_wycheproof_json_web_signature(security_report: SecurityReport) -> None:
    """Every Wycheproof JWS test: valid ones verify, invalid and unsupported ones are refused."""
    cases = list(wycheproof_cases())
    assert 401 == len(cases)
    for tc_id in LABEL_DEFECTS:  # the documented defect, checked rather than trusted
        assert wycheproof_case(357).token == wycheproof_case(tc_id).token
    groups: dict[str, list[int]] = {}
    stand_ins: Counter[str] = Counter()
    failures = []
    for case in cases:
        source = f"Wycheproof {case.group}"
        groups.setdefault(source, []).append(case.tc_id)
        ring = _wycheproof_ring(case)
        if ring is None:
            # Key refused at load, so nothing of this group can verify. Also bind a usable
            # key under the same kid: the token must still be refused (alg, key type).
            stand_in = SigningKey.from_jwk(
                {**SigningKey.generate("ES256").private_jwk(), "kid": case.jwk["kid"]}
            )
            result = outcome(case.token, KeyRing([stand_in]))
            stand_ins[type(result).__name__] += 1
            verified = False
        else:
            verified = outcome(case.token, ring) is None
        record(source, verified, case.expect_valid)
        if verified != case.expect_valid:
            failures.append(f"tc{case.tc_id} {case.comment}: verified={verified}")
    # Rename the rows with their tcId ranges, now that every case is counted.
    for source, ids in groups.items():
        _ROWS[f"{source} (tcId {min(ids)}-{max(ids)}, {len(ids)})"] = _ROWS.pop(source)
    publish(security_report)
    assert [] == failures
    assert "NoneType" not in stand_ins  # no token of a refused key verified under a stand-in
