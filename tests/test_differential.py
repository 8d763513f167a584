"""Differential test: every corpus token goes through Clerk's own verifier (``@clerk/backend``, pinned in
``tests/oracle``) and through clerk-sync, and the verdicts must match.

The rules, per token:
- clerk-sync never accepts a token Clerk refuses;
- when Clerk refuses with a reason, ours is the same reason;
- the only exceptions are listed in ``DEVIATIONS``, each with its reason in ``docs/verification.md``: we are
  stricter (Clerk accepts, we refuse), both refuse with another code, or Clerk refuses without a reason code
  (its own code throws a TypeError, or ``toAuth()`` signs a pending session out).

Clerk's verdict for a PEM case is ``authenticateRequest``'s for a header token (its request-level checks:
machine tokens and token categories are ``token-type-mismatch``; a pending session is signed out) and otherwise
``verifyToken``'s reason. For a JWK case it is ``verifyJwt`` with that JWK, as ``verifyToken`` runs after its JWKS
lookup. Node runs once for the whole corpus (JSON on stdin and stdout); nothing leaves 127.0.0.1.

The corpus also runs through ``SyncTokenVerifier`` on the sync key sets, which must give exactly the async
verifier's answers (that check needs no Node); so what is proven against Clerk holds for both.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest

from clerk_sync.claims import SessionClaims
from clerk_sync.errors import ClerkSyncError
from clerk_sync.issuer import TokenIssuer
from clerk_sync.keys import JwksKeySet, KeySet, PemKeySet, SyncJwksKeySet, SyncKeySet, SyncPemKeySet
from clerk_sync.testing.jwks_server import JwksServer
from clerk_sync.verify import SyncTokenVerifier, TokenVerifier
from tests.differential_corpus import ISSUER, NOW, Case, Signer, build_corpus

ROOT = Path(__file__).resolve().parent.parent
ORACLE_DIR = ROOT / "tests" / "oracle"
DOC = ROOT / "docs" / "verification.md"

Kind = Literal["stricter", "other-code", "clerk-has-no-code"]


@dataclass(frozen=True)
class Deviation:
    """A case where our answer differs from Clerk's on purpose; ``doc`` is its anchor in docs/verification.md."""

    kind: Kind
    ours: str
    doc: str


DEVIATIONS: dict[str, Deviation] = {
    # Clerk accepts, we refuse.
    "signature-padded": Deviation("stricter", "token-invalid", "canonical-encoding"),
    "iat-absent": Deviation("stricter", "token-verification-failed", "iat-required"),
    "sub-empty": Deviation("stricter", "token-verification-failed", "empty-sub"),
    "kid-null": Deviation("stricter", "token-invalid", "kid-type"),
    "kid-number": Deviation("stricter", "token-invalid", "kid-type"),
    "exp-before-any-date": Deviation("stricter", "token-expired", "out-of-range-times"),
    "nbf-after-any-date": Deviation("stricter", "token-not-active-yet", "out-of-range-times"),
    "exp-infinite": Deviation("stricter", "token-verification-failed", "out-of-range-times"),
    "payload-byte-order-mark": Deviation("stricter", "token-invalid", "utf-8"),
    "payload-invalid-utf8": Deviation("stricter", "token-invalid", "utf-8"),
    "oversized": Deviation("stricter", "token-invalid", "size"),
    "crit-unknown": Deviation("stricter", "token-invalid", "jws-extensions"),
    "b64-false": Deviation("stricter", "token-invalid", "jws-extensions"),
    # Both refuse; Clerk decodes loosely and reports the signature, we refuse the spelling.
    "header-padded": Deviation("other-code", "token-invalid", "canonical-encoding"),
    "payload-padded": Deviation("other-code", "token-invalid", "canonical-encoding"),
    # Clerk refuses without a reason code.
    "header-null": Deviation("clerk-has-no-code", "token-invalid-algorithm", "no-reason-code"),
    "payload-null": Deviation("clerk-has-no-code", "token-verification-failed", "no-reason-code"),
    "pending-session": Deviation("clerk-has-no-code", "session-pending", "pending"),
}


@dataclass(frozen=True)
class Verdict:
    accepted: bool
    code: str | None = None
    sub: str | None = None


def clerk_verdict(result: dict[str, Any]) -> Verdict:
    """Clerk's answer from the oracle's raw results (see the module docstring)."""
    verify, request = result["verify"], result["request"]
    if request is not None and request["reason"] == "token-type-mismatch":
        return Verdict(False, "token-type-mismatch")
    if not verify["ok"]:
        return Verdict(False, verify["reason"])
    if request is not None and (not request["is_signed_in"] or request["user_id"] is None):
        return Verdict(False, request["reason"])
    return Verdict(True, sub=verify["sub"])


def publishable_key(frontend_api: str) -> str:
    return "pk_test_" + base64.b64encode(f"{frontend_api}$".encode()).decode().rstrip("=")


def run_oracle(signer: Signer, cases: list[Case]) -> dict[str, Any]:
    document = {
        "now_ms": NOW * 1000,
        "pem": signer.public_pem(),
        "publishable_key": publishable_key(ISSUER.removeprefix("https://")),
        "jwks": signer.jwks(),
        "cases": [{"id": c.id, "token": c.token, "key": c.key, "options": c.options.for_clerk()} for c in cases],
    }
    completed = subprocess.run(
        ["node", str(ORACLE_DIR / "oracle.mjs")],
        input=json.dumps(document),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ORACLE_DIR,
        env={**os.environ, "CLERK_TELEMETRY_DISABLED": "1"},
        check=False,
    )
    assert completed.returncode == 0, f"the oracle failed:\n{completed.stderr[-4000:]}"
    answer: dict[str, Any] = json.loads(completed.stdout)
    return answer


def verdict_of(outcome: SessionClaims | Exception) -> Verdict:
    """Our verdict for one token from what the verifier returned or raised, whichever verifier ran."""
    if isinstance(outcome, ClerkSyncError):
        return Verdict(False, outcome.code)
    if isinstance(outcome, Exception):  # a crash is a finding, reported per case below
        return Verdict(False, f"crash: {type(outcome).__name__}: {outcome}")
    return Verdict(True, sub=outcome.sub)


def verifier_options(case: Case) -> dict[str, Any]:
    return {
        "issuer": case.options.issuer,
        "authorized_parties": case.options.authorized_parties,
        "clock_skew_ms": case.options.clock_skew_ms,
        "now": lambda: float(NOW),
    }


def corpus_server(signer: Signer) -> JwksServer:
    server = JwksServer(TokenIssuer(private_key=signer.private_key))
    server.body = json.dumps({"keys": list(signer.jwks().values())}).encode()
    return server


async def run_ours(signer: Signer, cases: list[Case]) -> dict[str, Verdict]:
    """The async verifier's verdicts (``TokenVerifier`` on ``PemKeySet`` / ``JwksKeySet``)."""
    verdicts: dict[str, Verdict] = {}
    pem = PemKeySet(signer.public_pem())
    with corpus_server(signer) as server:
        async with httpx.AsyncClient() as http:
            jwks = JwksKeySet(server.url, http)
            for case in cases:
                keys: KeySet = pem if case.key == "pem" else jwks
                verifier = TokenVerifier(keys, **verifier_options(case))
                try:
                    outcome: SessionClaims | Exception = await verifier.verify(case.token)
                except Exception as exc:
                    outcome = exc
                verdicts[case.id] = verdict_of(outcome)
    return verdicts


def run_ours_sync(signer: Signer, cases: list[Case]) -> dict[str, Verdict]:
    """The sync verifier's verdicts (``SyncTokenVerifier`` on ``SyncPemKeySet`` / ``SyncJwksKeySet``)."""
    verdicts: dict[str, Verdict] = {}
    pem = SyncPemKeySet(signer.public_pem())
    with corpus_server(signer) as server, httpx.Client() as http:
        jwks = SyncJwksKeySet(server.url, http)
        for case in cases:
            keys: SyncKeySet = pem if case.key == "pem" else jwks
            verifier = SyncTokenVerifier(keys, **verifier_options(case))
            try:
                outcome: SessionClaims | Exception = verifier.verify(case.token)
            except Exception as exc:
                outcome = exc
            verdicts[case.id] = verdict_of(outcome)
    return verdicts


@dataclass(frozen=True)
class Comparison:
    cases: dict[str, Case]
    clerk: dict[str, Verdict]
    ours: dict[str, Verdict]
    clerk_version: str


def oracle_available() -> None:
    """Skip (locally, without Node) or fail (CI, or Node present but the oracle not installed)."""
    if shutil.which("node") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true: the differential test needs Node.js >= 20.9 (Clerk's verifier runs in it)")
        pytest.skip("node is not installed: the differential test runs Clerk's verifier in Node.js")
    if not (ORACLE_DIR / "node_modules" / "@clerk" / "backend" / "package.json").is_file():
        pytest.fail("Clerk's verifier is not installed: run `npm ci --prefix tests/oracle` (`make test` does)")


SIGNER = Signer()
CORPUS = build_corpus(SIGNER)


@pytest.fixture(scope="module")
def ours() -> tuple[dict[str, Verdict], dict[str, Verdict]]:
    """Our async and sync verdicts on the corpus; needs no Node, so the sync/async check always runs."""
    return asyncio.run(run_ours(SIGNER, CORPUS)), run_ours_sync(SIGNER, CORPUS)


def test_sync_verifier_gives_exactly_the_async_answers(ours: tuple[dict[str, Verdict], dict[str, Verdict]]) -> None:
    """SyncTokenVerifier on the sync key sets gives every corpus token the verdict, code and sub that
    TokenVerifier gives it: one core of checks, two key lookups; so the Clerk comparison holds for both."""
    async_verdicts, sync_verdicts = ours
    assert set(async_verdicts) == {case.id for case in CORPUS}
    differing = {
        i: (async_verdicts[i], sync_verdicts.get(i))
        for i in async_verdicts
        if async_verdicts[i] != sync_verdicts.get(i)
    }
    assert differing == {}
    assert sum(verdict.accepted for verdict in sync_verdicts.values()) >= 10  # not all refused for one reason


@pytest.fixture(scope="module")
def comparison(ours: tuple[dict[str, Verdict], dict[str, Verdict]]) -> Comparison:
    oracle_available()
    answer = run_oracle(SIGNER, CORPUS)
    clerk = {result["id"]: clerk_verdict(result) for result in answer["results"]}
    return Comparison({c.id: c for c in CORPUS}, clerk, ours[0], answer["clerk_backend_version"])


def judge(case_id: str, clerk: Verdict, ours: Verdict) -> str | None:
    """Why this case breaks the rules, or None when it keeps them."""
    deviation = DEVIATIONS.get(case_id)
    if not clerk.accepted and ours.accepted:
        return f"we accept a token Clerk refuses ({clerk.code})"
    if deviation is None:
        if not clerk.accepted and clerk.code is None:
            return "Clerk refuses without a reason code: list the case in DEVIATIONS and docs/verification.md"
        if (clerk.accepted, clerk.code) != (ours.accepted, ours.code):
            return f"Clerk: {clerk}; ours: {ours}"
        if clerk.accepted and clerk.sub != ours.sub:
            return f"both accept, but sub differs: Clerk {clerk.sub!r}, ours {ours.sub!r}"
        return None
    actual_kind: Kind | None = (
        "stricter"
        if clerk.accepted
        else "clerk-has-no-code"
        if clerk.code is None
        else "other-code"
        if clerk.code != ours.code
        else None
    )
    if actual_kind is None:
        return f"listed as a deviation ({deviation.kind}) but we now agree with Clerk: drop it from DEVIATIONS"
    if actual_kind != deviation.kind or ours.code != deviation.ours:
        return f"listed as {deviation}, but Clerk: {clerk}; ours: {ours}"
    return None


@pytest.mark.parametrize("case_id", [case.id for case in CORPUS])
def test_agrees_with_clerk(comparison: Comparison, case_id: str) -> None:
    """Clerk's verifier and ours give the same verdict and code for this token (or a documented deviation)."""
    problem = judge(case_id, comparison.clerk[case_id], comparison.ours[case_id])
    assert problem is None, f"{case_id} ({comparison.cases[case_id].what}): {problem}"


def summary(comparison: Comparison) -> str:
    kinds = [DEVIATIONS[i].kind for i in comparison.cases if i in DEVIATIONS]
    exact = len(comparison.cases) - len(kinds)
    return (
        f"{len(comparison.cases)} tokens against @clerk/backend {comparison.clerk_version}: "
        f"{exact} agree exactly (same verdict, same code), {kinds.count('stricter')} where we are stricter, "
        f"{kinds.count('other-code')} refused by both with another code, "
        f"{kinds.count('clerk-has-no-code')} that Clerk refuses without a reason code"
    )


def test_corpus_covers_the_issue_and_the_docs_state_the_numbers(comparison: Comparison) -> None:
    """The corpus has at least 60 tokens, Clerk accepts some and refuses most, every deviation is explained in
    docs/verification.md, and the doc states the current numbers (so it cannot drift from the test)."""
    cases = comparison.cases
    assert len(cases) >= 60
    accepted = sum(verdict.accepted for verdict in comparison.clerk.values())
    assert 10 <= accepted < len(cases) - 40
    assert set(DEVIATIONS) <= set(cases), set(DEVIATIONS) - set(cases)
    text = DOC.read_text()
    for deviation in DEVIATIONS.values():
        assert f'id="{deviation.doc}"' in text, f"docs/verification.md has no entry {deviation.doc!r}"
    line = summary(comparison)
    assert line in re.sub(r"\s+", " ", text), f"docs/verification.md should state: {line}"


def test_the_oracle_tells_verdicts_apart(comparison: Comparison) -> None:
    """The oracle is not a constant: Clerk accepts the valid token and refuses a forged one with its reason."""
    assert comparison.clerk["valid"] == Verdict(True, sub="user_2GIpXOEpVyJw51rkZn9Kmnc6Sxr")
    assert comparison.clerk["foreign-key"] == Verdict(False, "token-invalid-signature")
    assert comparison.clerk["cat-template"] == Verdict(False, "token-type-mismatch")
