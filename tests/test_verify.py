"""Unit tests of TokenVerifier: every Clerk verification rule, each with the reason code it must produce."""

from __future__ import annotations

import base64
import json

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from clerk_sync.errors import (
    SessionPendingError,
    TokenError,
    TokenExpiredError,
    TokenIatInTheFutureError,
    TokenInvalidAlgorithmError,
    TokenInvalidAuthorizedPartiesError,
    TokenInvalidError,
    TokenInvalidIssuerError,
    TokenInvalidSignatureError,
    TokenNotActiveYetError,
    TokenTypeMismatchError,
    TokenVerificationFailedError,
)
from clerk_sync.issuer import TokenIssuer, generate_private_key
from clerk_sync.keys import PemKeySet
from clerk_sync.verify import TokenCategory, TokenVerifier

pytestmark = pytest.mark.anyio

NOW = 1_800_000_000.0


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def verifier_for(source: TokenIssuer, **kwargs) -> TokenVerifier:
    kwargs.setdefault("now", lambda: NOW)
    return TokenVerifier(PemKeySet(source.public_key), **kwargs)


async def refused(verifier: TokenVerifier, token: str) -> TokenError:
    with pytest.raises(TokenError) as info:
        await verifier.verify(token)
    return info.value


async def test_valid_token_returns_typed_claims(clerk_issuer: TokenIssuer) -> None:
    """A well-formed token verifies and its claims arrive typed, custom claims separated."""
    token = clerk_issuer.mint("user_1", now=NOW, claims={"email": "a@example.com", "first_name": "Ada"})
    claims = await verifier_for(clerk_issuer).verify(token)
    assert claims.sub == "user_1"
    assert claims.iat == int(NOW)
    assert claims.exp == int(NOW) + 60
    assert claims.sid is not None
    assert claims.sid.startswith("sess_")
    assert claims.version == 2
    assert claims.custom == {"email": "a@example.com", "first_name": "Ada"}


@pytest.mark.parametrize("token", ["", "abc", "a.b", "a.b.c.d", "....", "x" * 20_000])
async def test_malformed_structure_is_token_invalid(clerk_issuer: TokenIssuer, token: str) -> None:
    """Anything that is not three dot-separated parts, or is absurdly large, is token-invalid."""
    assert (await refused(verifier_for(clerk_issuer), token)).code == "token-invalid"


async def test_undecodable_header_is_token_invalid(clerk_issuer: TokenIssuer) -> None:
    """A header that is not base64 JSON is token-invalid, not a crash."""
    assert (await refused(verifier_for(clerk_issuer), "!!!.e30.sig")).code == "token-invalid"


async def test_payload_not_an_object_is_token_invalid(clerk_issuer: TokenIssuer) -> None:
    """A correctly signed token whose payload is a JSON array is refused."""
    token = jwt.api_jws.encode(b"[1,2]", clerk_issuer.private_key, algorithm="RS256", headers={"kid": "k"})
    assert (await refused(verifier_for(clerk_issuer), token)).code == "token-invalid"


@pytest.mark.parametrize(
    ("typ", "code"), [("at+jwt", "token-type-mismatch"), ("JWS", "token-invalid"), (7, "token-invalid")]
)
async def test_typ_must_be_jwt_when_present(clerk_issuer: TokenIssuer, typ: object, code: str) -> None:
    """typ, when present, must be JWT; OAuth access tokens are a type mismatch."""
    token = clerk_issuer.mint(now=NOW, headers={"typ": typ})
    assert (await refused(verifier_for(clerk_issuer), token)).code == code


async def test_absent_typ_is_accepted(clerk_issuer: TokenIssuer) -> None:
    """Clerk accepts a header without typ."""
    token = clerk_issuer.mint(now=NOW, headers={"typ": None})
    assert (await verifier_for(clerk_issuer).verify(token)).sub == "user_test"


@pytest.mark.parametrize("alg", ["RS384", "RS512"])
async def test_other_rsa_algorithms_are_accepted(clerk_issuer: TokenIssuer, alg: str) -> None:
    """RS384 and RS512 are in Clerk's allow-list."""
    token = clerk_issuer.mint(now=NOW, algorithm=alg)
    assert (await verifier_for(clerk_issuer).verify(token)).sub == "user_test"


async def test_alg_none_is_refused(clerk_issuer: TokenIssuer) -> None:
    """An unsigned token is never accepted."""
    header = b64(json.dumps({"alg": "none", "typ": "JWT", "kid": clerk_issuer.kid}).encode())
    payload = b64(json.dumps(clerk_issuer.claims("user_x", now=NOW)).encode())
    error = await refused(verifier_for(clerk_issuer), f"{header}.{payload}.")
    assert isinstance(error, TokenInvalidAlgorithmError)


async def test_hs256_with_public_key_as_secret_is_refused(clerk_issuer: TokenIssuer) -> None:
    """Algorithm confusion: an HMAC token keyed with our public PEM must not verify."""
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": clerk_issuer.kid}).encode())
    payload = b64(json.dumps(clerk_issuer.claims("user_x", now=NOW)).encode())
    import hashlib
    import hmac

    signature = hmac.new(clerk_issuer.public_pem().encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    error = await refused(verifier_for(clerk_issuer), f"{header}.{payload}.{b64(signature)}")
    assert isinstance(error, TokenInvalidAlgorithmError)


@pytest.mark.parametrize("alg", ["ES256", "PS256", "", "rs256"])
async def test_non_clerk_algorithms_are_refused(clerk_issuer: TokenIssuer, alg: str) -> None:
    """Only RS256/384/512; even a correctly signed ES256 token is refused before any key use."""
    ec_key = ec.generate_private_key(ec.SECP256R1())
    if alg == "ES256":
        token = jwt.encode(clerk_issuer.claims("u", now=NOW), ec_key, algorithm="ES256")
    else:
        header = b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
        token = f"{header}.{b64(b'{}')}.{b64(b'sig')}"
    assert (await refused(verifier_for(clerk_issuer), token)).code == "token-invalid-algorithm"


async def test_foreign_key_signature_is_invalid(clerk_issuer: TokenIssuer) -> None:
    """A token signed by another key (same kid) is token-invalid-signature."""
    token = clerk_issuer.mint(now=NOW, key=generate_private_key())
    assert isinstance(await refused(verifier_for(clerk_issuer), token), TokenInvalidSignatureError)


async def test_tampered_payload_is_invalid_signature(clerk_issuer: TokenIssuer) -> None:
    """Changing one claim after signing breaks the signature."""
    header, _, signature = clerk_issuer.mint("user_a", now=NOW).split(".")
    forged = b64(json.dumps(clerk_issuer.claims("user_admin", now=NOW)).encode())
    assert (
        await refused(verifier_for(clerk_issuer), f"{header}.{forged}.{signature}")
    ).code == "token-invalid-signature"


async def test_signature_is_checked_before_claims(clerk_issuer: TokenIssuer) -> None:
    """An expired token with a bad signature reports the signature, not the expiry (no oracle)."""
    token = clerk_issuer.mint(now=NOW - 3600, key=generate_private_key())
    assert (await refused(verifier_for(clerk_issuer), token)).code == "token-invalid-signature"


@pytest.mark.parametrize(
    ("category", "code"),
    [
        (TokenCategory.MACHINE, "token-invalid"),
        (TokenCategory.TEMPLATE, "token-type-mismatch"),
        ("cl_other", "token-type-mismatch"),
    ],
)
async def test_non_session_categories_are_refused(clerk_issuer: TokenIssuer, category: str, code: str) -> None:
    """Machine tokens are invalid; JWT-template and unknown categories are a type mismatch."""
    token = clerk_issuer.mint(now=NOW, headers={"cat": category})
    assert (await refused(verifier_for(clerk_issuer), token)).code == code


@pytest.mark.parametrize("category", [TokenCategory.SESSION, TokenCategory.IGNORE])
async def test_session_categories_are_accepted(clerk_issuer: TokenIssuer, category: str) -> None:
    """The session and ignore markers pass."""
    token = clerk_issuer.mint(now=NOW, headers={"cat": category})
    assert (await verifier_for(clerk_issuer).verify(token)).sub == "user_test"


async def test_machine_subject_is_type_mismatch(clerk_issuer: TokenIssuer) -> None:
    """sub mch_... is a machine, not a user."""
    token = clerk_issuer.mint("mch_123", now=NOW)
    assert isinstance(await refused(verifier_for(clerk_issuer), token), TokenTypeMismatchError)


@pytest.mark.parametrize("sub", [None, 42, ""])
async def test_sub_is_required(clerk_issuer: TokenIssuer, sub: object) -> None:
    """Missing, non-string or empty sub fails verification."""
    payload = clerk_issuer.claims("x", now=NOW)
    payload["sub"] = sub
    payload = {k: v for k, v in payload.items() if v is not None}
    error = await refused(verifier_for(clerk_issuer), clerk_issuer.mint_raw(payload))
    assert isinstance(error, TokenVerificationFailedError)


@pytest.mark.parametrize("claim", ["exp", "iat"])
async def test_exp_and_iat_are_required_numbers(clerk_issuer: TokenIssuer, claim: str) -> None:
    """exp and iat must be present and numeric."""
    payload = clerk_issuer.claims("u", now=NOW)
    del payload[claim]
    assert (
        await refused(verifier_for(clerk_issuer), clerk_issuer.mint_raw(payload))
    ).code == "token-verification-failed"
    payload[claim] = "soon"
    assert (
        await refused(verifier_for(clerk_issuer), clerk_issuer.mint_raw(payload))
    ).code == "token-verification-failed"


async def test_nbf_is_optional(clerk_issuer: TokenIssuer) -> None:
    """A token without nbf verifies."""
    token = clerk_issuer.mint(now=NOW, drop=["nbf"])
    assert (await verifier_for(clerk_issuer).verify(token)).nbf is None


# Clerk's boundaries (ms): expired iff exp*1000 <= now - skew; nbf/iat too new iff value*1000 > now + skew.
@pytest.mark.parametrize(("offset", "ok"), [(-4.999, True), (-5.0, False), (-5.001, False)])
async def test_expiry_boundary_with_default_skew(clerk_issuer: TokenIssuer, offset: float, ok: bool) -> None:
    """exp at exactly now - 5 s is expired; a millisecond later it is still valid."""
    exp = int(NOW)
    token = clerk_issuer.mint(now=NOW - 60, claims={"exp": exp})
    verifier = verifier_for(clerk_issuer, now=lambda: exp - offset)
    if ok:
        assert (await verifier.verify(token)).exp == exp
    else:
        assert isinstance(await refused(verifier, token), TokenExpiredError)


@pytest.mark.parametrize(("offset", "ok"), [(5.0, True), (5.001, False)])
async def test_nbf_boundary_with_default_skew(clerk_issuer: TokenIssuer, offset: float, ok: bool) -> None:
    """nbf up to 5 s in the future is tolerated; beyond it, token-not-active-yet."""
    token = clerk_issuer.mint(now=NOW, claims={"nbf": int(NOW)})
    verifier = verifier_for(clerk_issuer, now=lambda: NOW - offset)
    if ok:
        assert (await verifier.verify(token)).sub == "user_test"
    else:
        assert isinstance(await refused(verifier, token), TokenNotActiveYetError)


@pytest.mark.parametrize(("offset", "ok"), [(5.0, True), (5.001, False)])
async def test_iat_boundary_with_default_skew(clerk_issuer: TokenIssuer, offset: float, ok: bool) -> None:
    """iat up to 5 s in the future is tolerated; beyond it, token-iat-in-the-future (not not-active-yet)."""
    token = clerk_issuer.mint(now=NOW, drop=["nbf"])
    verifier = verifier_for(clerk_issuer, now=lambda: NOW - offset)
    if ok:
        assert (await verifier.verify(token)).sub == "user_test"
    else:
        assert isinstance(await refused(verifier, token), TokenIatInTheFutureError)


async def test_zero_skew_is_honoured_and_nonfinite_falls_back(clerk_issuer: TokenIssuer) -> None:
    """clock_skew_ms=0 means no tolerance; NaN falls back to Clerk's 5 s default."""
    token = clerk_issuer.mint(now=NOW - 60, claims={"exp": int(NOW)})
    assert isinstance(
        await refused(verifier_for(clerk_issuer, clock_skew_ms=0, now=lambda: NOW), token), TokenExpiredError
    )
    assert (await verifier_for(clerk_issuer, clock_skew_ms=0, now=lambda: NOW - 0.001).verify(token)).exp == int(NOW)
    lenient = verifier_for(clerk_issuer, clock_skew_ms=float("nan"), now=lambda: NOW + 4)
    assert (await lenient.verify(token)).exp == int(NOW)


async def test_configured_skew_widens_the_window(clerk_issuer: TokenIssuer) -> None:
    """A 30 s skew accepts a token expired 20 s ago."""
    token = clerk_issuer.mint(now=NOW - 80, claims={"exp": int(NOW - 20)})
    assert (await verifier_for(clerk_issuer, clock_skew_ms=30_000).verify(token)).sub == "user_test"
    assert isinstance(await refused(verifier_for(clerk_issuer), token), TokenExpiredError)


async def test_authorized_parties_exact_match(clerk_issuer: TokenIssuer) -> None:
    """With parties configured, azp must be present and exactly listed (no prefix or substring match)."""
    verifier = verifier_for(clerk_issuer, authorized_parties=["https://app.example.com"])
    ok = clerk_issuer.mint(now=NOW, claims={"azp": "https://app.example.com"})
    assert (await verifier.verify(ok)).azp == "https://app.example.com"
    for azp in ["https://app.example.com.evil.com", "https://app.example.co", "", None]:
        token = (
            clerk_issuer.mint(now=NOW, claims={"azp": azp})
            if azp is not None
            else clerk_issuer.mint(now=NOW, drop=["azp"])
        )
        assert isinstance(await refused(verifier, token), TokenInvalidAuthorizedPartiesError)


async def test_azp_not_checked_without_configuration(clerk_issuer: TokenIssuer) -> None:
    """Without CLERK_AUTHORIZED_PARTIES, any or no azp passes, as in Clerk's SDK."""
    token = clerk_issuer.mint(now=NOW, drop=["azp"])
    assert (await verifier_for(clerk_issuer).verify(token)).azp is None


async def test_issuer_checked_when_configured(clerk_issuer: TokenIssuer) -> None:
    """iss must equal the expected issuer when one is set."""
    good = verifier_for(clerk_issuer, issuer=clerk_issuer.issuer)
    assert (await good.verify(clerk_issuer.mint(now=NOW))).iss == clerk_issuer.issuer
    bad = verifier_for(clerk_issuer, issuer="https://clerk.other.dev")
    assert isinstance(await refused(bad, clerk_issuer.mint(now=NOW)), TokenInvalidIssuerError)
    missing = clerk_issuer.mint(now=NOW, drop=["iss"])
    assert isinstance(await refused(good, missing), TokenInvalidIssuerError)


async def test_pending_session_refused_by_default(clerk_issuer: TokenIssuer) -> None:
    """sts=pending is signed out unless the app opts in."""
    token = clerk_issuer.mint(now=NOW, claims={"sts": "pending"})
    assert isinstance(await refused(verifier_for(clerk_issuer), token), SessionPendingError)
    assert (await verifier_for(clerk_issuer, allow_pending_sessions=True).verify(token)).session_status == "pending"


async def test_pem_without_armor_verifies(clerk_issuer: TokenIssuer) -> None:
    """CLERK_JWT_KEY pasted without BEGIN/END lines works."""
    verifier = TokenVerifier(PemKeySet(clerk_issuer.public_pem(armor=False)), now=lambda: NOW)
    assert (await verifier.verify(clerk_issuer.mint(now=NOW))).sub == "user_test"


async def test_every_refusal_is_a_typed_token_error(clerk_issuer: TokenIssuer) -> None:
    """Random junk never escapes as anything but a TokenError."""
    verifier = verifier_for(clerk_issuer)
    junk = ["e30.e30.e30", "eyJhbGciOiJSUzI1NiJ9.e30.AAAA", "eyJhbGciOiJSUzI1NiJ9.!!!.AAAA", "a.b.c", "\x00.\x00.\x00"]
    for token in junk:
        with pytest.raises((TokenInvalidError, TokenInvalidAlgorithmError, TokenInvalidSignatureError)):
            await verifier.verify(token)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_cache_skips_repeat_signature_checks(clerk_issuer: TokenIssuer, monkeypatch: pytest.MonkeyPatch) -> None:
    """A token seen before is served from the cache: one signature check for many verifications."""
    verifier = verifier_for(clerk_issuer)
    checks: list[str] = []
    original = verifier._verified_payload

    def counting(token: str, key: object, algorithm: str) -> dict[str, object]:
        checks.append(token)
        return original(token, key, algorithm)

    monkeypatch.setattr(verifier, "_verified_payload", counting)
    token = clerk_issuer.mint(now=NOW)
    results = [await verifier.verify(token) for _ in range(10)]
    assert len(checks) == 1
    assert all(claims is results[0] for claims in results)


async def test_cached_token_still_expires(clerk_issuer: TokenIssuer) -> None:
    """A cached token is refused with token-expired once its exp (plus skew) passes."""
    clock = Clock(NOW)
    verifier = verifier_for(clerk_issuer, now=clock)
    token = clerk_issuer.mint(now=NOW)
    await verifier.verify(token)
    clock.now = NOW + 60 + 4.9
    assert (await verifier.verify(token)).sub == "user_test"
    clock.now = NOW + 60 + 5
    assert isinstance(await refused(verifier, token), TokenExpiredError)
    assert verifier.cache is not None
    assert len(verifier.cache) == 0


async def test_cache_is_bounded_and_keeps_no_refusals_or_tokens(clerk_issuer: TokenIssuer) -> None:
    """The cache holds at most maxsize entries, never a refused token, and never the token text."""
    verifier = verifier_for(clerk_issuer, cache_size=8)
    tokens = [clerk_issuer.mint(f"user_{i}", now=NOW) for i in range(20)]
    for token in tokens:
        await verifier.verify(token)
    await refused(verifier, clerk_issuer.mint(now=NOW, key=generate_private_key()))
    assert verifier.cache is not None
    assert len(verifier.cache) == 8
    keys = list(verifier.cache._entries)
    assert keys == [verifier.cache.key(token) for token in tokens[-8:]]
    assert all(isinstance(key, bytes) and len(key) == 32 for key in keys)


async def test_cache_can_be_disabled(clerk_issuer: TokenIssuer) -> None:
    """cache_size=0 verifies every time."""
    verifier = verifier_for(clerk_issuer, cache_size=0)
    assert verifier.cache is None
    assert (await verifier.verify(clerk_issuer.mint(now=NOW))).sub == "user_test"
