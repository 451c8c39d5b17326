"""Differential testing: gatepass against PyJWT and joserfc on the same tokens and key.

For each algorithm a key is made and the three verifiers are configured alike: that one
key, that one algorithm, issuer, audience, ``exp`` required, 5 s leeway. gatepass runs
its full access-token check (``AccessTokens.verify``); PyJWT runs ``jwt.decode``;
joserfc runs ``jwt.decode`` then ``JWTClaimsRegistry.validate``.

Tokens are genuine ones changed by header edits (alg, typ, kid, crit, jku...), claim
edits (times, types, missing members, duplicates, NaN, huge numbers, surrogates) and
encoding edits (bit flips, characters, segment swaps, padding, the standard alphabet,
unused bits, ECDSA/Ed25519 malleation), optionally re-signed over the changed input so
that the signature is valid for it. Every single edit is tried once, then hypothesis
combines them.

The rules: gatepass never accepts what both references refuse; whenever it refuses what
a reference accepts (both, or one where they disagree), :func:`applicable_rules` (which
reads the token, not gatepass's error) must name a documented stricter rule of
:data:`STRICTER_RULES` whose error class is the one gatepass raised; and whatever
gatepass accepts breaks none of those rules. So where the references agree, gatepass
agrees unless one of its documented rules says otherwise. The counts per rule and
reference, and where PyJWT and joserfc disagree, are printed after the run.
"""

from __future__ import annotations

import binascii
import json
import math
import re
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from itertools import permutations
from typing import Any, Final

import jwt as pyjwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc import jwt as joserfc_jwt
from joserfc.jwk import JWKRegistry, OctKey
from joserfc.jwt import JWTClaimsRegistry

from gatepass._utils import b64url_decode, b64url_encode
from gatepass.config import TokenSettings
from gatepass.errors import (
    GatepassError,
    InvalidClaim,
    MalformedToken,
    TokenTooLarge,
    UnknownKey,
    UnsupportedHeader,
)
from gatepass.keys.key import SigningKey
from gatepass.keys.keyring import KeyRing
from gatepass.tokens.access import AccessTokens
from tests.conftest import FakeClock
from tests.security.conftest import ALGS, SecurityReport
from tests.security.vectors import (
    changed_unused_bits,
    ecdsa_malleate,
    ed25519_high_s,
    lenient_decode,
    padded,
    sign_input,
    split,
    std_alphabet,
)

ISSUER: Final = "https://issuer.differential.test"
AUDIENCE: Final = "api"
LEEWAY: Final = 5
MAX_BYTES: Final = 8192
REMOVE: Final = "<remove>"

#: Where gatepass is deliberately stricter than PyJWT and joserfc: rule -> error raised.
STRICTER_RULES: Final[dict[str, tuple[type[GatepassError], ...]]] = {
    "token too large (8 KiB)": (TokenTooLarge,),
    "non-canonical base64url": (MalformedToken,),
    "JSON must be UTF-8": (MalformedToken,),
    "duplicate member": (MalformedToken,),
    "integer too long": (MalformedToken,),
    "lone surrogate": (MalformedToken,),
    "JSON nested too deep": (MalformedToken,),
    "kid required": (UnknownKey,),
    "kid must name a trusted key": (UnknownKey,),
    "header member not allowed": (UnsupportedHeader,),
    "typ must be at+jwt": (InvalidClaim, MalformedToken),
    "claim required (iat, jti, sub, sid)": (InvalidClaim,),
    "time claims must be integers": (InvalidClaim,),
    "identifiers must be strings of 1-256 characters": (InvalidClaim,),
    "scope must be RFC 6749 scope tokens": (InvalidClaim,),
}
_SCOPE: Final = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+(?: [\x21\x23-\x5b\x5d-\x7e]+)*")
_CANONICAL: Final = re.compile(r"[A-Za-z0-9_-]*")


# -- the edits ---------------------------------------------------------------------------------

Op = tuple[str, Any]

HEADER_OPS: Final[list[Op]] = [
    *[("alg", v) for v in ("none", "None", "HS256", "RS256", "ES256", "EdDSA", "Ed25519",
                           "PS256", "hs256", "", 0, REMOVE)],
    *[("typ", v) for v in (REMOVE, "JWT", "at+JWT", "application/at+jwt", "at+jwt", 1)],
    *[("kid", v) for v in (REMOVE, "other-kid", 7, "")],
    *[("add", (n, v)) for n, v in (
        ("jku", "https://attacker.example/jwks.json"), ("x5u", "https://attacker.example/c"),
        ("jwk", {"kty": "oct", "k": "a2V5"}), ("cty", "JWT"), ("x-custom", "1"),
        ("crit", ["exp"]), ("crit", ["x-custom"]), ("b64", True), ("b64", False),
        ("zip", "DEF"), ("enc", "A128GCM"), ("x5c", ["MIIB"]),
    )],
    *[("dup", name) for name in ("alg", "kid", "typ")],
    ("space", None),
    ("utf16", None),
]  # fmt: skip
CLAIM_OPS: Final[list[Op]] = [
    *[("time", (c, d)) for c in ("exp", "iat", "nbf") for d in (-7200, -3600, 3600, 7200)],
    *[("del", c) for c in ("exp", "iat", "nbf", "sub", "jti", "sid", "aud", "iss", "scope")],
    *[("set", (c, v)) for c, v in (
        ("sub", 5), ("sub", ""), ("sub", "x" * 300), ("jti", 7), ("sid", None),
        ("aud", "other"), ("aud", ["other", AUDIENCE]), ("aud", ["other"]), ("aud", []),
        ("iss", ISSUER + "/"), ("iss", ISSUER[:-1]), ("scope", "a  b"), ("scope", "read"),
        ("exp", "float"), ("exp", "string"), ("exp", True), ("iat", "float"),
        ("name", "Zoë ✓"), ("nested", {"a": [1, {"b": None}]}), ("pad", "x" * 9000),
    )],
    *[("raw", (c, lit)) for c, lit in (
        ("exp", "NaN"), ("exp", "Infinity"), ("exp", "1e999"), ("n", "9" * 25),
        ("x", '"\\ud800"'), ("x", "[" * 40 + "]" * 40), ("x", "-0.0"),
    )],
    ("dup", "sub"),
    ("utf16", None),
]  # fmt: skip
ENCODING_OPS: Final[list[Op]] = [
    *[("pad", seg) for seg in range(3)],
    *[("bits", seg) for seg in range(3)],
    ("std", None),
    ("malleate", None),
    *[("swap", perm) for perm in permutations(range(3)) if perm != (0, 1, 2)],
    *[("truncate", n) for n in (1, 2, 4)],
    *[("append", s) for s in (".", ".x", "A", "=")],
    *[("flip", (seg, bit)) for seg in range(3) for bit in (0, 7, 100)],
    *[("insert", (pos, ch)) for pos in (5, -5) for ch in (" ", "\n", "?", "+", "é")],
]


@dataclass(frozen=True)
class Case:
    """A token recipe: header and claim edits, one encoding edit, maybe re-signed."""

    header_ops: tuple[Op, ...] = ()
    claim_ops: tuple[Op, ...] = ()
    encoding_op: Op | None = None
    resign: bool = False


def _header_text(key: SigningKey, ops: tuple[Op, ...]) -> bytes:
    header: dict[str, Any] = {"alg": key.alg, "kid": key.kid, "typ": "at+jwt"}
    text_ops = []
    for name, arg in ops:
        if name in ("alg", "typ", "kid"):
            if arg == REMOVE:
                header.pop(name, None)
            else:
                header[name] = arg
        elif name == "add":
            header[arg[0]] = arg[1]
        else:
            text_ops.append((name, arg))
    text = json.dumps(header, separators=(",", ":"))
    for name, arg in text_ops:
        if name == "dup":
            text = '{"' + arg + '":"none",' + text[1:]
        elif name == "space":
            text = " \n" + text.replace(",", " ,\t") + "\r\n"
    if ("utf16", None) in text_ops:
        return text.encode("utf-16")
    return text.encode("utf-8")


def _claims_text(now: int, ops: tuple[Op, ...]) -> bytes:
    claims: dict[str, Any] = {
        "iss": ISSUER, "sub": "user-1", "aud": AUDIENCE, "exp": now + 600, "iat": now,
        "nbf": now, "jti": "jti-1", "sid": "sid-1", "scope": "read",
    }  # fmt: skip
    raw: dict[str, str] = {}
    special = {"float": float(now) + 600.5, "string": str(now + 600)}
    for name, arg in ops:
        if name == "time":
            claims[arg[0]] = now + arg[1]
        elif name == "del":
            claims.pop(arg, None)
        elif name == "set":
            value = special.get(arg[1], arg[1]) if isinstance(arg[1], str) else arg[1]
            if arg[0] == "iat" and arg[1] == "float":
                value = float(now) + 0.5
            claims[arg[0]] = value
        elif name == "raw":
            raw[arg[0]] = arg[1]
    members = [f"{json.dumps(k)}:{json.dumps(v)}" for k, v in claims.items() if k not in raw]
    members += [f"{json.dumps(k)}:{v}" for k, v in raw.items()]
    text = "{" + ",".join(members) + "}"
    if ("dup", "sub") in ops:
        text = text[:-1] + ',"sub":"admin"}'
    if ("utf16", None) in ops:
        return text.encode("utf-16")
    return text.encode("utf-8")


def _encode(token: str, op: Op, alg: str) -> str:
    parts = list(split(token))
    name, arg = op
    if name == "pad":
        parts[arg] = padded(parts[arg])
    elif name == "bits":
        parts[arg] = changed_unused_bits(parts[arg]) or parts[arg] + "A"
    elif name == "std":
        parts = [std_alphabet(p) for p in parts]
    elif name == "malleate":
        raw = b64url_decode(parts[2])
        if alg == "ES256":
            parts[2] = b64url_encode(ecdsa_malleate(raw))
        elif alg == "EdDSA":
            parts[2] = b64url_encode(ed25519_high_s(raw))
    elif name == "swap":
        parts = [parts[i] for i in arg]
    elif name == "truncate":
        parts[2] = parts[2][:-arg]
    elif name == "append":
        return ".".join(parts) + str(arg)
    elif name == "flip":
        seg, bit = arg
        data = bytearray(b64url_decode(parts[seg]))
        if data:
            data[(bit // 8) % len(data)] ^= 1 << (bit % 8)
        parts[seg] = b64url_encode(bytes(data))
    elif name == "insert":
        text = ".".join(parts)
        pos, ch = arg
        return f"{text[:pos]}{ch}{text[pos:]}"
    return ".".join(parts)


def build(case: Case, key: SigningKey, now: int) -> str:
    """The token a case describes."""
    head = b64url_encode(_header_text(key, case.header_ops))
    payload = b64url_encode(_claims_text(now, case.claim_ops))
    token = sign_input(key, head, payload)
    if case.encoding_op is not None:
        token = _encode(token, case.encoding_op, key.alg)
        parts = token.split(".")
        if case.resign and len(parts) == 3:
            token = sign_input(key, parts[0], parts[1])
    return token


# -- the three verifiers -------------------------------------------------------------------------


@dataclass
class Verifiers:
    """gatepass, PyJWT and joserfc, each holding the same one key for the same alg."""

    key: SigningKey
    clock: FakeClock
    gatepass: AccessTokens = field(init=False)
    pyjwt_key: Any = field(init=False)
    joserfc_key: Any = field(init=False)

    def __post_init__(self) -> None:
        settings_ = TokenSettings(issuer=ISSUER, audience=AUDIENCE, leeway=LEEWAY)
        self.gatepass = AccessTokens(KeyRing([self.key]), settings_, clock=self.clock, cache_size=0)
        if self.key.alg == "HS256":
            secret = b64url_decode(self.key.private_jwk()["k"])
            self.pyjwt_key, self.joserfc_key = secret, OctKey.import_key(secret)
        else:
            jwk = self.key.public_jwk()
            self.pyjwt_key = pyjwt.PyJWK(jwk).key
            self.joserfc_key = JWKRegistry.import_key(dict(jwk))

    def gatepass_verdict(self, token: str) -> GatepassError | None:
        """None if gatepass accepts; its error otherwise (anything else propagates)."""
        try:
            self.gatepass.verify(token)
        except GatepassError as exc:
            return exc
        return None

    def pyjwt_accepts(self, token: str) -> bool:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                pyjwt.decode(
                    token,
                    self.pyjwt_key,
                    algorithms=[self.key.alg],
                    audience=AUDIENCE,
                    issuer=ISSUER,
                    leeway=LEEWAY,
                    options={"require": ["exp"]},
                )
            except Exception:
                return False
        return True

    def joserfc_accepts(self, token: str) -> bool:
        registry = JWTClaimsRegistry(
            leeway=LEEWAY,
            iss={"essential": True, "value": ISSUER},
            aud={"essential": True, "value": AUDIENCE},
            exp={"essential": True},
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # joserfc warns that "EdDSA" is deprecated
            try:
                decoded = joserfc_jwt.decode(token, self.joserfc_key, algorithms=[self.key.alg])
                registry.validate(decoded.claims)
            except Exception:
                return False
        return True


# -- the classifier ------------------------------------------------------------------------------


def _strict_json_rules(data: bytes, max_depth: int) -> tuple[set[str], Any]:
    rules: set[str] = set()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        rules.add("JSON must be UTF-8")
        try:
            text = data.decode(json.detect_encoding(data))
        except (UnicodeDecodeError, LookupError):
            return rules, None
    if text.startswith("\ufeff"):
        rules.add("JSON must be UTF-8")
        text = text[1:]

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        if len({k for k, _ in items}) != len(items):
            rules.add("duplicate member")
        return dict(items)

    def integer(digits: str) -> int:
        if len(digits) > 20:
            rules.add("integer too long")
        return int(digits)

    try:
        value = json.loads(text, object_pairs_hook=pairs, parse_int=integer)
    except (ValueError, RecursionError):
        return rules, None
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > max_depth:
                rules.add("JSON nested too deep")
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                rules.add("lone surrogate")
    return rules, value


def _is_identifier(value: Any) -> bool:
    return type(value) is str and 0 < len(value) <= 256


def applicable_rules(token: str, kid: str, now: float) -> set[str]:
    """The documented stricter rules a token breaks, found by reading the token leniently."""
    rules: set[str] = set()
    if len(token) > MAX_BYTES:
        rules.add("token too large (8 KiB)")
    parts = token.split(".")
    if len(parts) != 3:
        return rules
    if any(not _CANONICAL.fullmatch(p) or len(p) % 4 == 1 for p in parts):
        rules.add("non-canonical base64url")
    try:
        decoded = [lenient_decode(p) for p in parts]
    except (binascii.Error, ValueError):
        return rules
    if any(b64url_encode(d) != p for d, p in zip(decoded, parts, strict=True)):
        rules.add("non-canonical base64url")
    header_rules, header = _strict_json_rules(decoded[0], 4)
    claim_rules, claims = _strict_json_rules(decoded[1], 32)
    rules |= header_rules | claim_rules
    if isinstance(header, dict):
        if header.keys() - {"alg", "kid", "typ"}:
            rules.add("header member not allowed")
        if not _is_identifier(header.get("kid")):
            rules.add("kid required")
        elif header["kid"] != kid:
            rules.add("kid must name a trusted key")
        if header.get("typ") not in ("at+jwt", "application/at+jwt"):  # RFC 9068 section 4
            rules.add("typ must be at+jwt")
    if isinstance(claims, dict):
        if not {"iat", "jti", "sub", "sid"} <= claims.keys():
            rules.add("claim required (iat, jti, sub, sid)")
        for name in ("exp", "iat", "nbf"):
            if name in claims and type(claims[name]) is not int:
                rules.add("time claims must be integers")
        for name in ("sub", "jti", "sid"):
            if name in claims and not _is_identifier(claims[name]):
                rules.add("identifiers must be strings of 1-256 characters")
        scope = claims.get("scope", "")
        if not (type(scope) is str and (scope == "" or _SCOPE.fullmatch(scope))):
            rules.add("scope must be RFC 6749 scope tokens")
        iat = claims.get("iat")
        if type(iat) is int and iat > now + LEEWAY:
            rules.add("iat in the future")  # not stricter: both references check it too
    return rules


# -- the comparison ------------------------------------------------------------------------------


@dataclass
class Stats:
    """What the comparison saw, for the summary and the non-vacuity checks."""

    verdicts: Counter[str] = field(default_factory=Counter)
    stricter: Counter[tuple[str, str]] = field(default_factory=Counter)
    disagreements: Counter[str] = field(default_factory=Counter)

    @property
    def rules(self) -> set[str]:
        """The stricter rules seen so far."""
        return {rule for rule, _ in self.stricter}

    def lines(self, alg: str) -> list[str]:
        """The summary table of one algorithm."""
        out = [f"{alg}: verdicts (gatepass / PyJWT / joserfc)"]
        out += [f"  {k:<34}{v:>6}" for k, v in sorted(self.verdicts.items())]
        out.append(
            f"{alg}: gatepass refuses, a reference accepts: the stricter rule"
            f"{'both':>8}{'PyJWT':>8}{'joserfc':>9}"
        )
        for rule in sorted(self.rules):
            counts = [self.stricter[(rule, who)] for who in ("both", "PyJWT", "joserfc")]
            out.append(f"  {rule:<66}{counts[0]:>6}{counts[1]:>8}{counts[2]:>9}")
        out.append(f"{alg}: PyJWT and joserfc disagree (the case's first edit)")
        out += [f"  {k:<50}{v:>6}" for k, v in self.disagreements.most_common(8)]
        return out


def compare(case: Case, verifiers: Verifiers, stats: Stats) -> None:
    """Build the case's token, ask all three verifiers, and apply the rules."""
    now = int(verifiers.clock())
    token = build(case, verifiers.key, now)
    error = verifiers.gatepass_verdict(token)
    py, jose = verifiers.pyjwt_accepts(token), verifiers.joserfc_accepts(token)
    ours = error is None
    stats.verdicts[" / ".join("accept" if v else "refuse" for v in (ours, py, jose))] += 1
    rules = applicable_rules(token, verifiers.key.kid, verifiers.clock())
    documented = rules & STRICTER_RULES.keys()
    if ours:
        assert py or jose, f"gatepass accepted what both refuse: {case}"
        assert not documented, f"gatepass accepted a token breaking {documented}: {case}"
    elif py or jose:
        matching = sorted(r for r in documented if isinstance(error, STRICTER_RULES[r]))
        assert matching, f"unexplained refusal {error!r} (rules {rules}): {case}"
        stats.stricter[(matching[0], "both" if py and jose else "PyJWT" if py else "joserfc")] += 1
    if py != jose:
        first = case.encoding_op or (case.header_ops or case.claim_ops or (("none", None),))[0]
        which = "PyJWT only" if py else "joserfc only"
        stats.disagreements[f"{which}: {first[0]} {str(first[1])[:24]}"] += 1


def single_edit_cases() -> list[Case]:
    """Every edit alone, and every encoding edit re-signed too."""
    cases = [Case()]
    cases += [Case(header_ops=(op,)) for op in HEADER_OPS]
    cases += [Case(claim_ops=(op,)) for op in CLAIM_OPS]
    cases += [Case(encoding_op=op, resign=r) for op in ENCODING_OPS for r in (False, True)]
    return cases


CASES = st.builds(
    Case,
    header_ops=st.lists(st.sampled_from(HEADER_OPS), max_size=2).map(tuple),
    claim_ops=st.lists(st.sampled_from(CLAIM_OPS), max_size=2).map(tuple),
    encoding_op=st.none() | st.sampled_from(ENCODING_OPS),
    resign=st.booleans(),
)


@pytest.mark.parametrize("alg", ALGS)
def test_differential_against_pyjwt_and_joserfc(
    alg: str, clock: FakeClock, security_report: SecurityReport
) -> None:
    """gatepass never accepts what PyJWT and joserfc both refuse; each stricter refusal is named."""
    clock.now = math.floor(time.time())
    verifiers = Verifiers(SigningKey.generate(alg), clock)
    stats = Stats()
    for case in single_edit_cases():
        compare(case, verifiers, stats)
    swept = stats.rules

    @settings(
        max_examples=300,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(case=CASES)
    def check(case: Case) -> None:
        compare(case, verifiers, stats)

    check()
    security_report.add(f"differential: {alg}", stats.lines(alg))
    assert 0 < stats.verdicts["accept / accept / accept"]  # genuine tokens pass everywhere
    assert set(STRICTER_RULES) == swept  # every documented rule is exercised, for each alg


def test_classifier_names_each_rule_on_known_tokens() -> None:
    """applicable_rules finds nothing in a genuine token and the right rule in known edits."""
    key = SigningKey.generate("HS256")
    now = 1_700_000_000
    expectations: list[tuple[Case, str]] = [
        (Case(header_ops=(("kid", REMOVE),)), "kid required"),
        (Case(header_ops=(("typ", "JWT"),)), "typ must be at+jwt"),
        (Case(header_ops=(("add", ("jku", "x")),)), "header member not allowed"),
        (Case(header_ops=(("dup", "alg"),)), "duplicate member"),
        (Case(claim_ops=(("raw", ("n", "9" * 25)),)), "integer too long"),
        (Case(claim_ops=(("utf16", None),)), "JSON must be UTF-8"),
        (Case(encoding_op=("pad", 2)), "non-canonical base64url"),
    ]
    assert set() == applicable_rules(build(Case(), key, now), key.kid, now)
    for case, rule in expectations:
        assert rule in applicable_rules(build(case, key, now), key.kid, now), case
