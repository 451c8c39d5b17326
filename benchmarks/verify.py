"""Section 1: verify an access token, per algorithm, gatepass vs PyJWT, joserfc and the floor.

Every verifier checks the same gatepass-minted token (claims iss, sub, aud, exp, iat, nbf,
jti, sid, scope; header alg, kid, typ ``at+jwt``) with the algorithm pinned, and must
accept it and reject a copy with a tampered signature before it is timed.

- **prim**: the primitive alone on precomputed input (``hmac.digest`` or one
  ``cryptography`` verify call).
- **floor**: a hand-written verify, like PERF.md's: split, base64url-decode, ``json.loads``
  the header and pin alg/kid/typ, the primitive, ``json.loads`` the payload, the same claim
  checks (types and values of exp, nbf, iat, iss, aud, sub, jti, sid).
- **gatepass raw**: ``verify_compact`` + ``parse_json_object`` + ``ClaimsValidator.validate``.
- **gatepass cold**: ``AccessTokens(cache_size=0).verify`` (the raw path + typ + sid).
- **gatepass cached**: ``AccessTokens.verify``, a verified-token cache hit.
- **gatepass authenticate**: ``Authenticator.authenticate`` of a Bearer credential, cache
  hit, revocation answered from memory (feed healthy), a ``Principal`` built.
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from benchmarks import instructions
from benchmarks.fixtures import (
    ALGS,
    AUDIENCE,
    ISSUER,
    Tokens,
    make_tokens,
    tokens_from_json,
    tokens_to_json,
)
from benchmarks.harness import (
    AsyncRunner,
    Budget,
    Case,
    Progress,
    fmt_ratio,
    fmt_us,
    measure,
    measure_steps,
)
from benchmarks.report import Section, Table, Target
from gatepass.authenticator import Authenticator
from gatepass.errors import GatepassError
from gatepass.keys.algorithms import RSA_GENERATED_BITS
from gatepass.stores.memory import MemoryStore
from gatepass.tokens.access import AccessTokens
from gatepass.tokens.claims import ClaimsValidator
from gatepass.tokens.jws import parse_json_object, verify_compact
from gatepass.transports.base import Credential

__all__ = ["VERIFIERS", "run"]

Verify = Callable[[str], object]
Primitive = Callable[[bytes, bytes], bool]

#: Row order of the tables.
VERIFIERS = (
    "prim",
    "floor",
    "gatepass raw",
    "gatepass cold",
    "gatepass cached",
    "gatepass authenticate",
    "PyJWT",
    "joserfc",
)
_REQUIRED = ("exp", "iat", "nbf", "iss", "aud", "sub", "jti")
LEEWAY = 5


class Rejected(Exception):
    """The floor verifier refused a token."""


def _b64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _int_member(jwk: dict[str, str], name: str) -> int:
    return int.from_bytes(_b64(jwk[name]), "big")


def primitive(alg: str, jwk: dict[str, str]) -> Primitive:
    """The raw verify primitive for a key, built from its JWK with ``cryptography``."""
    if alg == "HS256":
        secret = _b64(jwk["k"])

        def hs256(data: bytes, sig: bytes) -> bool:
            return hmac.compare_digest(hmac.digest(secret, data, "sha256"), sig)

        return hs256
    if alg == "EdDSA":
        ed_key = ed25519.Ed25519PublicKey.from_public_bytes(_b64(jwk["x"]))

        def eddsa(data: bytes, sig: bytes) -> bool:
            try:
                ed_key.verify(sig, data)
            except InvalidSignature:
                return False
            return True

        return eddsa
    if alg == "ES256":
        numbers = ec.EllipticCurvePublicNumbers(
            _int_member(jwk, "x"), _int_member(jwk, "y"), ec.SECP256R1()
        )
        ec_key = numbers.public_key()
        ecdsa = ec.ECDSA(hashes.SHA256())

        def es256(data: bytes, sig: bytes) -> bool:
            if len(sig) != 64:
                return False
            der = encode_dss_signature(int.from_bytes(sig[:32]), int.from_bytes(sig[32:]))
            try:
                ec_key.verify(der, data, ecdsa)
            except InvalidSignature:
                return False
            return True

        return es256
    rsa_key = rsa.RSAPublicNumbers(_int_member(jwk, "e"), _int_member(jwk, "n")).public_key()
    pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()

    def rs256(data: bytes, sig: bytes) -> bool:
        try:
            rsa_key.verify(sig, data, pkcs1, sha256)
        except InvalidSignature:
            return False
        return True

    return rs256


def _identifier(value: object) -> bool:
    return type(value) is str and 0 < len(value) <= 256


def floor_verifier(alg: str, kid: str, prim: Primitive) -> Verify:
    """The hand-written floor: same checks as gatepass, no strictness beyond them."""

    def verify(token: str) -> dict[str, Any]:
        head, body, sig = token.split(".")
        header = json.loads(_b64(head))
        if header.get("alg") != alg or header.get("kid") != kid or header.get("typ") != "at+jwt":
            raise Rejected("header")
        if not prim(f"{head}.{body}".encode("ascii"), _b64(sig)):
            raise Rejected("signature")
        claims: dict[str, Any] = json.loads(_b64(body))
        for name in _REQUIRED:
            if name not in claims:
                raise Rejected(name)
        exp, iat, nbf = claims["exp"], claims["iat"], claims["nbf"]
        if type(exp) is not int or type(iat) is not int or type(nbf) is not int:
            raise Rejected("time claim type")
        now = time.time()
        if now >= exp + LEEWAY or now + LEEWAY < nbf or iat > now + LEEWAY:
            raise Rejected("time")
        if claims["iss"] != ISSUER:
            raise Rejected("iss")
        aud = claims["aud"]
        if aud != AUDIENCE and not (type(aud) is list and AUDIENCE in aud):
            raise Rejected("aud")
        if not (_identifier(claims["sub"]) and _identifier(claims["jti"])):
            raise Rejected("sub/jti")
        if not _identifier(claims.get("sid")) or type(claims.get("scope", "")) is not str:
            raise Rejected("sid/scope")
        return claims

    return verify


def pyjwt_verifier(alg: str, jwk: dict[str, str]) -> Verify | None:
    """PyJWT with full validation (None if PyJWT is not installed)."""
    try:
        import jwt
    except ImportError:
        return None
    key: Any = jwt.PyJWK(jwk, algorithm=alg).key
    options: Any = {"require": list(_REQUIRED)}

    def verify(token: str) -> object:
        return jwt.decode(
            token,
            key,
            algorithms=[alg],
            audience=AUDIENCE,
            issuer=ISSUER,
            leeway=LEEWAY,
            options=options,
        )

    return verify


def joserfc_verifier(alg: str, jwk: dict[str, str]) -> Verify | None:
    """joserfc with full validation (None if joserfc is not installed)."""
    try:
        from joserfc import jwt
        from joserfc.jwk import import_key
    except ImportError:
        return None
    members: dict[str, str | list[str]] = dict(jwk)
    key = import_key(members)
    registry = jwt.JWTClaimsRegistry(
        leeway=LEEWAY,
        iss={"essential": True, "value": ISSUER},
        aud={"essential": True, "value": AUDIENCE},
        sub={"essential": True},
        jti={"essential": True},
        iat={"essential": True},
        exp={"essential": True},
        nbf={"essential": True},
    )

    def verify(token: str) -> object:
        decoded = jwt.decode(token, key, algorithms=[alg])
        registry.validate(decoded.claims)
        return decoded.claims

    return verify


def _tamper(token: str) -> str:
    head, body, sig = token.split(".")
    middle = len(sig) // 2
    flipped = "A" if sig[middle] != "A" else "B"
    return f"{head}.{body}.{sig[:middle]}{flipped}{sig[middle + 1 :]}"


def _sane(name: str, verify: Verify, token: str) -> None:
    """The verifier must accept the token and reject a tampered copy."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        verify(token)
        try:
            verify(_tamper(token))
        except Exception:  # every library has its own error type
            return
    raise AssertionError(f"{name} accepted a tampered signature")


def _loop(verify: Verify, token: str) -> Callable[[int], None]:
    def run_n(n: int) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # joserfc: SecurityWarning on every EdDSA use
            for _ in range(n):
                verify(token)

    return run_n


@dataclass
class _Alg:
    alg: str
    verifiers: dict[str, Verify]


def _core_verifiers(fx: Tokens, alg: str) -> dict[str, Verify]:
    """prim, floor, gatepass raw, cold and cached for ``alg`` (no event loop needed)."""
    key = fx.keys[alg]
    jwk = key.private_jwk() if alg == "HS256" else key.public_jwk()
    token = fx.tokens[alg]
    prim = primitive(alg, jwk)
    head, body, sig = token.split(".")
    signing_input, signature = f"{head}.{body}".encode("ascii"), _b64(sig)
    cold = AccessTokens(fx.keyring, fx.settings, cache_size=0)
    cached = AccessTokens(fx.keyring, fx.settings)
    validator = ClaimsValidator(issuer=ISSUER, audience=AUDIENCE, leeway=fx.settings.leeway)

    def raw(tok: str) -> object:
        return validator.validate(parse_json_object(verify_compact(tok, fx.keyring).payload))

    def prim_only(tok: str) -> bool:
        if tok != token:
            h, b, s = tok.split(".")
            if not prim(f"{h}.{b}".encode("ascii"), _b64(s)):
                raise Rejected("signature")
            return True
        return prim(signing_input, signature)

    cached.verify(token)  # fill the cache: every timed call is a hit
    return {
        "prim": prim_only,
        "floor": floor_verifier(alg, key.kid, prim),
        "gatepass raw": raw,
        "gatepass cold": cold.verify,
        "gatepass cached": cached.verify,
    }


def _verifiers(fx: Tokens, alg: str, authenticator: Authenticator, runner: AsyncRunner) -> _Alg:
    key = fx.keys[alg]
    jwk = key.private_jwk() if alg == "HS256" else key.public_jwk()
    token = fx.tokens[alg]
    credentials = [Credential("bearer", token)]

    def authenticate(tok: str) -> object:
        if tok != token:
            return runner.run(authenticator.authenticate([Credential("bearer", tok)]))
        return runner.run(authenticator.authenticate(credentials))

    verifiers: dict[str, Verify | None] = {
        **_core_verifiers(fx, alg),
        "gatepass authenticate": authenticate,
        "PyJWT": pyjwt_verifier(alg, jwk),
        "joserfc": joserfc_verifier(alg, jwk),
    }
    ready = {name: v for name, v in verifiers.items() if v is not None}
    for name, verify in ready.items():
        _sane(f"{name} {alg}", verify, token)
    return _Alg(alg, ready)


# -- instructions (callgrind) ----------------------------------------------------------

#: The verifiers counted under callgrind: the cold-verify target's two, and for scale.
COUNTED = ("prim", "floor", "gatepass raw", "gatepass cold")


def _count_worker(path: str, n: int) -> None:
    """Run under callgrind: one segment per (algorithm, verifier) of n verifies, in order.

    The first segment is an empty loop of n (its instructions are subtracted). Each
    verifier is warmed up first, so CPython's specialization is done before counting.
    """
    fx = tokens_from_json(json.loads(Path(path).read_text()))
    plan = [_loop(lambda tok: None, "")]
    for alg in ALGS:
        verifiers = _core_verifiers(fx, alg)
        plan += [_loop(verifiers[name], fx.tokens[alg]) for name in COUNTED]
    for run_n in plan:
        run_n(max(20, n // 4))
    for run_n in plan:
        os.getppid()  # a segment mark: callgrind dumps its counters here
        run_n(n)
    os.getppid()


def _instructions(fx: Tokens, n: int) -> dict[str, float] | str:
    """Instructions per verify of each COUNTED verifier ("alg|name"), or why there are none."""
    reason = instructions.unavailable()
    if reason is not None:
        return reason
    with tempfile.TemporaryDirectory(prefix="gatepass-bench-verify-") as scratch:
        path = Path(scratch) / "tokens.json"
        path.write_text(json.dumps(tokens_to_json(fx)))
        try:
            segments = instructions.count_segments(
                ["-m", "benchmarks.verify", "--count", str(path), str(n)]
            )
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            return f"callgrind run failed: {exc}"
    labels = [f"{alg}|{name}" for alg in ALGS for name in COUNTED]
    if len(segments) != 1 + len(labels):
        return f"callgrind gave {len(segments)} segments, not {1 + len(labels)}"
    empty = segments[0]
    return {label: (total - empty) / n for label, total in zip(labels, segments[1:], strict=True)}


def _cases(spec: _Alg, token: str, authenticator: Authenticator, runner: AsyncRunner) -> list[Case]:
    cases: list[Case] = []
    for name, verify in spec.verifiers.items():
        label = f"{spec.alg}|{name}"
        if name == "gatepass authenticate":
            credentials = [Credential("bearer", token)]

            async def op(creds: list[Credential] = credentials) -> object:
                return await authenticator.authenticate(creds)

            cases.append(runner.case(label, op))
            continue
        cases.append(Case(label, _loop(verify, token)))
    return cases


def run(budget: Budget) -> Section:
    """Measure every verifier for every algorithm; return the section."""
    fx = make_tokens()
    runner = AsyncRunner()
    store = MemoryStore()
    authenticator = Authenticator(store=store, keyring=fx.keyring, tokens=fx.settings)
    authenticator.feed.staleness = 1e9  # the feed is healthy throughout (no revocations)
    runner.run(authenticator.feed.sync_once())
    try:
        specs = [_verifiers(fx, alg, authenticator, runner) for alg in ALGS]
        cases = [
            c for spec in specs for c in _cases(spec, fx.tokens[spec.alg], authenticator, runner)
        ]
        progress = Progress("verify", measure_steps(cases, budget))
        timings = measure(cases, budget, progress)
        progress.close()
        # the authenticate path must have stayed a cache hit with the feed healthy
        if not authenticator.feed.healthy:
            raise GatepassError("revocation feed went stale during the benchmark")
    finally:
        runner.run(store.aclose())
        runner.close()
    counted = Progress("verify, callgrind", 1)
    counts = _instructions(fx, budget.instr_requests)
    counted.close()
    return _section(fx, timings, counts, budget.instr_requests)


def _counts_table(counts: dict[str, float], n: int) -> Table:
    rows = []
    for name in COUNTED:
        row = [name]
        for alg in ALGS:
            value, floor = counts[f"{alg}|{name}"], counts[f"{alg}|floor"]
            row.append(f"{value / 1000:,.1f}k [{fmt_ratio(value / floor)}]")
        rows.append(row)
    return Table(
        f"Instructions per verify, counted by callgrind ({n} verifies each, an empty loop "
        "subtracted): thousands [ratio to floor]",
        ["verifier", *ALGS],
        rows,
        note="Repeatable whatever else the machine runs, unlike the µs above; an "
        "instruction is not a unit of time (the primitives' vector code does more per "
        "instruction than the interpreter), so both are shown and both are targets.",
    )


def _section(
    fx: Tokens, timings: dict[str, Any], counts: dict[str, float] | str, n: int
) -> Section:
    med = {name: t.median_us for name, t in timings.items()}
    data: dict[str, Any] = {"timings": {k: t.as_dict() for k, t in timings.items()}}
    data["instructions"] = counts
    data["token_chars"] = {alg: len(tok) for alg, tok in fx.tokens.items()}
    rows: list[list[str]] = []
    above: list[list[str]] = []
    for name in VERIFIERS:
        row, extra = [name], [name]
        for alg in ALGS:
            value = med.get(f"{alg}|{name}")
            floor = med.get(f"{alg}|floor")
            prim = med.get(f"{alg}|prim")
            if value is None or floor is None:
                row.append("not installed")
                extra.append("n/a")
                continue
            t = timings[f"{alg}|{name}"]
            spread = f"({fmt_us(t.min_us)} to {fmt_us(t.max_us)})"
            cell = f"{fmt_us(value)} [{fmt_ratio(value / floor)}] {spread}"
            row.append(f"**{cell}**" if name == "gatepass cold" else cell)
            extra.append(fmt_us(value - prim) if prim is not None else "n/a")
        rows.append(row)
        above.append(extra)
    headers = ["verifier", *(f"{alg}" for alg in ALGS)]
    table = Table(
        "Decode + full verify, µs/op: median [ratio to floor] (min to max of repeats)",
        headers,
        rows,
        note="Token lengths (chars): "
        + ", ".join(f"{alg} {n}" for alg, n in data["token_chars"].items())
        + f". RS256 keys are {RSA_GENERATED_BITS}-bit (what gatepass generates).",
    )
    cost = Table("Cost above the raw primitive, µs/op (median minus prim's median)", headers, above)
    targets = []
    for alg in ALGS:
        cold, floor = med.get(f"{alg}|gatepass cold"), med.get(f"{alg}|floor")
        if cold is not None and floor is not None:
            targets.append(
                Target(
                    f"cold verify {alg} (AccessTokens, cache off) vs floor",
                    1.3,
                    cold / floor,
                    f"{fmt_us(cold)} µs vs {fmt_us(floor)} µs",
                )
            )
    tables = [table, cost]
    for alg in ALGS:
        label = f"cold verify {alg} vs floor, instructions (callgrind)"
        if isinstance(counts, str):
            targets.append(Target(label, 1.3, None, counts))
            continue
        cold, floor = counts[f"{alg}|gatepass cold"], counts[f"{alg}|floor"]
        targets.append(Target(label, 1.3, cold / floor, f"{cold:,.0f} vs {floor:,.0f}"))
    if not isinstance(counts, str):
        tables.append(_counts_table(counts, n))
    notes = []
    for alg in ALGS:
        pyjwt, cold = med.get(f"{alg}|PyJWT"), med.get(f"{alg}|gatepass cold")
        cached = med.get(f"{alg}|gatepass cached")
        if pyjwt and cold and cached:
            notes.append(
                f"{alg}: gatepass cold is {pyjwt / cold:.2f}x faster than PyJWT; a cache hit "
                f"costs {fmt_us(cached)} µs ({cold / cached:.0f}x less than cold)."
            )
    notes.append(
        "joserfc warns (SecurityWarning) on every EdDSA use; warnings were silenced while "
        "timing, as in PERF.md. PyJWT and joserfc do not check typ or sid; gatepass and the "
        "floor do."
    )
    return Section(
        key="verify",
        title="1. Access-token verification per algorithm",
        intro=__doc__.split("\n\n", 1)[1].strip() if __doc__ else "",
        tables=tables,
        targets=targets,
        notes=notes,
        data=data,
    )


if __name__ == "__main__" and sys.argv[1:2] == ["--count"]:  # the counted process
    _count_worker(sys.argv[2], int(sys.argv[3]))
