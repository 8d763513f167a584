"""Unit tests of TokenVerifier: every Clerk verification rule, each with the reason code it must produce."""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from clerk_sync.errors import (
    ConfigurationError,
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
from clerk_sync.keys import PemKeySet, SigningKey, SyncPemKeySet
from clerk_sync.verify import InspectedToken, SyncTokenVerifier, TokenCategory, TokenVerifier, inspect_token

pytestmark = pytest.mark.anyio

NOW = 1_800_000_000.0


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed(source: TokenIssuer, header: dict[str, Any] | str, payload: dict[str, Any] | str, alg: str = "RS256") -> str:
    """Sign exactly these header and payload texts (JSON nulls, NaN, odd types stay as written)."""
    header_text = header if isinstance(header, str) else json.dumps(header)
    payload_text = payload if isinstance(payload, str) else json.dumps(payload)
    signing_input = f"{b64(header_text.encode())}.{b64(payload_text.encode())}"
    algorithm = jwt.get_algorithm_by_name(alg)
    return f"{signing_input}.{b64(algorithm.sign(signing_input.encode(), source.private_key))}"


def header_for(source: TokenIssuer, **extra: Any) -> dict[str, Any]:
    return {"alg": "RS256", "kid": source.kid, "typ": "JWT", **extra}


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


@pytest.mark.parametrize("payload", ["[1,2]", '"user_1"', "7", "null"])
async def test_payload_not_an_object_has_no_subject(clerk_issuer: TokenIssuer, payload: str) -> None:
    """A correctly signed payload that is JSON but not an object has no claims, so sub fails first (Clerk's code)."""
    token = jwt.api_jws.encode(payload.encode(), clerk_issuer.private_key, algorithm="RS256", headers={"kid": "k"})
    assert (await refused(verifier_for(clerk_issuer), token)).code == "token-verification-failed"


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
async def test_pem_key_verifies_rs256_only(clerk_issuer: TokenIssuer, alg: str) -> None:
    """A PEM key is an RS256 key (Clerk's PEM loader pins RS256): RS384/RS512 tokens are token-verification-failed."""
    token = clerk_issuer.mint(now=NOW, algorithm=alg)
    assert (await refused(verifier_for(clerk_issuer), token)).code == "token-verification-failed"


@pytest.mark.parametrize("alg", ["RS384", "RS512"])
async def test_header_algorithm_other_than_the_signature_is_refused(clerk_issuer: TokenIssuer, alg: str) -> None:
    """A header naming RS384/RS512 over an RS256 signature is refused as Clerk refuses it, never re-hashed."""
    token = signed(clerk_issuer, header_for(clerk_issuer, alg=alg), clerk_issuer.claims("user_x", now=NOW), "RS256")
    assert (await refused(verifier_for(clerk_issuer), token)).code == "token-verification-failed"


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
        (TokenCategory.MACHINE, "token-type-mismatch"),
        (TokenCategory.TEMPLATE, "token-type-mismatch"),
        ("cl_other", "token-type-mismatch"),
    ],
)
async def test_non_session_categories_are_refused(clerk_issuer: TokenIssuer, category: str, code: str) -> None:
    """Every non-session category is a type mismatch, as Clerk's authenticateRequest says before verifyToken runs."""
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


async def test_zero_skew_is_honoured(clerk_issuer: TokenIssuer) -> None:
    """clock_skew_ms=0 means no tolerance: exp equal to now is expired, a millisecond before it is not."""
    token = clerk_issuer.mint(now=NOW - 60, claims={"exp": int(NOW)})
    assert isinstance(
        await refused(verifier_for(clerk_issuer, clock_skew_ms=0, now=lambda: NOW), token), TokenExpiredError
    )
    assert (await verifier_for(clerk_issuer, clock_skew_ms=0, now=lambda: NOW - 0.001).verify(token)).exp == int(NOW)


def build_either(flavour: str, source: TokenIssuer, **kwargs: Any) -> TokenVerifier | SyncTokenVerifier:
    """The async or the sync verifier on the source's PEM key: both share one constructor."""
    if flavour == "sync":
        return SyncTokenVerifier(SyncPemKeySet(source.public_key), **kwargs)
    return TokenVerifier(PemKeySet(source.public_key), **kwargs)


FLAVOURS = pytest.mark.parametrize("flavour", ["async", "sync"])


@FLAVOURS
@pytest.mark.parametrize("skew", [-1, -5000.0, float("nan"), float("inf"), "5000", True, None])
def test_impossible_clock_skew_is_a_configuration_error(clerk_issuer: TokenIssuer, skew: object, flavour: str) -> None:
    """A negative, non-finite or non-numeric skew stops the app at construction instead of being replaced (both
    verifiers)."""
    with pytest.raises(ConfigurationError) as info:
        build_either(flavour, clerk_issuer, clock_skew_ms=skew)
    assert "CLERK_CLOCK_SKEW_MS" in info.value.message


@pytest.mark.parametrize(
    ("kwargs", "variable"),
    [
        ({"authorized_parties": "https://app.example.com"}, "CLERK_AUTHORIZED_PARTIES"),
        ({"authorized_parties": ["https://app.example.com", ""]}, "CLERK_AUTHORIZED_PARTIES"),
        ({"issuer": ""}, "CLERK_ISSUER"),
        ({"cache_size": -1}, "CLERK_TOKEN_CACHE_SIZE"),
    ],
)
@FLAVOURS
def test_impossible_expectations_are_configuration_errors(
    clerk_issuer: TokenIssuer, kwargs: dict[str, Any], variable: str, flavour: str
) -> None:
    """One string as the parties list (a set of characters), an empty party or issuer, a negative cache: refused
    (both verifiers)."""
    with pytest.raises(ConfigurationError) as info:
        build_either(flavour, clerk_issuer, **kwargs)
    assert variable in info.value.message


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
    original = verifier._check_signature

    def counting(inspected: InspectedToken, key: SigningKey) -> None:
        checks.append(inspected.token)
        original(inspected, key)

    monkeypatch.setattr(verifier, "_check_signature", counting)
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


def test_sync_verifier_caches_and_expires_like_the_async_one(clerk_issuer: TokenIssuer) -> None:
    """SyncTokenVerifier shares the token cache rules: a repeat is served from the cache (one signature check),
    and a cached token is refused with token-expired once its exp plus skew passes."""
    clock = Clock(NOW)
    verifier = SyncTokenVerifier(SyncPemKeySet(clerk_issuer.public_key), now=clock)
    token = clerk_issuer.mint(now=NOW)
    first = verifier.verify(token)
    assert verifier.verify(token) is first
    assert verifier.cache is not None
    assert len(verifier.cache) == 1
    clock.now = NOW + 60 + 5
    with pytest.raises(TokenExpiredError):
        verifier.verify(token)
    assert len(verifier.cache) == 0


async def test_cache_can_be_disabled(clerk_issuer: TokenIssuer) -> None:
    """cache_size=0 verifies every time."""
    verifier = verifier_for(clerk_issuer, cache_size=0)
    assert verifier.cache is None
    assert (await verifier.verify(clerk_issuer.mint(now=NOW))).sub == "user_test"


# --- Explicit JSON null is a value, never "absent" (Clerk: typeof null is "object") ---------------------------


@pytest.mark.parametrize(
    ("claim", "code"),
    [
        ("nbf", "token-verification-failed"),
        ("exp", "token-verification-failed"),
        ("iat", "token-verification-failed"),
        ("sub", "token-verification-failed"),
    ],
)
async def test_null_claims_are_refused(clerk_issuer: TokenIssuer, claim: str, code: str) -> None:
    """A signed "nbf": null (or exp, iat, sub) is a claim of the wrong type, as Clerk says, not a missing one."""
    payload = {**clerk_issuer.claims("user_n", now=NOW), claim: None}
    token = signed(clerk_issuer, header_for(clerk_issuer), payload)
    assert (await refused(verifier_for(clerk_issuer), token)).code == code


@pytest.mark.parametrize(("parameter", "code"), [("typ", "token-invalid"), ("cat", "token-type-mismatch")])
async def test_null_header_parameters_are_refused(clerk_issuer: TokenIssuer, parameter: str, code: str) -> None:
    """ "typ": null is not "JWT" (token-invalid); "cat": null is not a session category (token-type-mismatch)."""
    token = signed(clerk_issuer, header_for(clerk_issuer, **{parameter: None}), clerk_issuer.claims("u", now=NOW))
    assert (await refused(verifier_for(clerk_issuer), token)).code == code


# --- Strict JSON -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
async def test_non_json_numbers_in_the_payload_are_token_invalid(clerk_issuer: TokenIssuer, constant: str) -> None:
    """NaN and the infinities are not JSON (JSON.parse refuses them): the payload is undecodable, token-invalid."""
    payload = json.dumps(clerk_issuer.claims("user_j", now=NOW))[:-1] + f', "exp": {constant}}}'
    token = signed(clerk_issuer, header_for(clerk_issuer), payload)
    assert (await refused(verifier_for(clerk_issuer), token)).code == "token-invalid"


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
async def test_non_json_numbers_in_the_header_are_token_invalid(clerk_issuer: TokenIssuer, constant: str) -> None:
    """The header is strict JSON too."""
    header = json.dumps(header_for(clerk_issuer))[:-1] + f', "x": {constant}}}'
    token = signed(clerk_issuer, header, clerk_issuer.claims("user_j", now=NOW))
    assert (await refused(verifier_for(clerk_issuer), token)).code == "token-invalid"


async def test_byte_order_mark_and_invalid_utf8_are_token_invalid(clerk_issuer: TokenIssuer) -> None:
    """JSON text is UTF-8 without a byte-order mark (RFC 8259); anything else is undecodable."""
    good = json.dumps(clerk_issuer.claims("user_u", now=NOW))
    header = b64(json.dumps(header_for(clerk_issuer)).encode())
    for raw in [b"\xef\xbb\xbf" + good.encode(), good.encode()[:-1] + b', "x": "\xff"}']:
        signing_input = f"{header}.{b64(raw)}"
        signature = jwt.get_algorithm_by_name("RS256").sign(signing_input.encode(), clerk_issuer.private_key)
        token = f"{signing_input}.{b64(signature)}"
        assert (await refused(verifier_for(clerk_issuer), token)).code == "token-invalid"


# --- Canonical encodings: one token has exactly one spelling -----------------------------------------------


def respell(token: str, segment: int, change) -> str:
    parts = token.split(".")
    parts[segment] = change(parts[segment])
    return ".".join(parts)


def nonzero_padding_bits(segment: str) -> str:
    """Flip a bit that base64url decoding ignores: same bytes, another string."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    unused = {2: 0b1111, 3: 0b11}[len(segment) % 4]
    last = alphabet.index(segment[-1])
    assert last & unused == 0
    return segment[:-1] + alphabet[last | 1]


def with_standard_alphabet(source: TokenIssuer, char: str) -> tuple[str, str]:
    """A valid token whose signature has the URL-safe character that standard base64 spells ``char``, and its
    standard-alphabet spelling."""
    urlsafe = {"+": "-", "/": "_"}[char]
    for i in range(500):
        candidate = source.mint(f"user_{i}", now=NOW)
        if urlsafe in candidate.split(".")[2]:
            return candidate, respell(candidate, 2, lambda s: s.replace(urlsafe, char))
    raise AssertionError("no signature with that character in 500 tries")


def spell(source: TokenIssuer, spelling: str) -> tuple[str, str]:
    """(a valid token, the same token with its signature bytes spelled another way)."""
    if spelling in ("+", "/"):
        return with_standard_alphabet(source, spelling)
    token = source.mint("user_c", now=NOW)
    change = {
        "nonzero-padding-bits": nonzero_padding_bits,
        "stray-character": lambda s: s[:100] + "!" + s[100:],
        "padding": lambda s: s + "=" * (-len(s) % 4),
        "whitespace": lambda s: s[:100] + "\n" + s[100:],
    }[spelling]
    return token, respell(token, 2, change)


@pytest.mark.parametrize("spelling", ["+", "/", "nonzero-padding-bits", "stray-character", "padding", "whitespace"])
async def test_non_canonical_signature_spellings_are_token_invalid(clerk_issuer: TokenIssuer, spelling: str) -> None:
    """The same signature bytes spelled another way are refused (token-invalid), whatever PyJWT version decodes.

    PyJWT 2.9 (the old floor) accepted +, / and non-zero padding bits, so one valid token had unlimited valid
    spellings; PyJWT 2.15.1 accepts '=' padding again. Each canonical token verifies; its respelling does not.
    """
    token, respelled = spell(clerk_issuer, spelling)
    assert respelled != token
    verifier = verifier_for(clerk_issuer)
    assert (await verifier.verify(token)).sub.startswith("user_")
    assert (await refused(verifier, respelled)).code == "token-invalid"


@pytest.mark.parametrize("segment", [0, 1])
async def test_non_canonical_header_and_payload_spellings_are_token_invalid(
    clerk_issuer: TokenIssuer, segment: int
) -> None:
    """Padding and non-zero padding bits in the header or payload segment are refused before any other check."""
    token = clerk_issuer.mint("user_c", now=NOW)
    part = token.split(".")[segment]
    if len(part) % 4 in (2, 3):
        variants = [part + "=" * (4 - len(part) % 4), nonzero_padding_bits(part)]
    else:
        variants = [part + "===="]
    for variant in variants:
        assert (await refused(verifier_for(clerk_issuer), respell(token, segment, lambda _, v=variant: v))).code == (
            "token-invalid"
        )


# --- Clerk's order of checks: the first failing check names the code ----------------------------------------


async def test_azp_is_checked_before_iss(clerk_issuer: TokenIssuer) -> None:
    """A token with a wrong azp and a wrong iss is token-invalid-authorized-parties (Clerk checks azp first)."""
    verifier = verifier_for(clerk_issuer, issuer=clerk_issuer.issuer, authorized_parties=["https://app.example.com"])
    token = clerk_issuer.mint(now=NOW, claims={"azp": "https://evil.example.com", "iss": "https://clerk.evil.dev"})
    assert (await refused(verifier, token)).code == "token-invalid-authorized-parties"


async def test_iss_is_checked_before_expiry(clerk_issuer: TokenIssuer) -> None:
    """A token with a wrong iss that is also expired is token-invalid-issuer."""
    verifier = verifier_for(clerk_issuer, issuer=clerk_issuer.issuer)
    token = clerk_issuer.mint(now=NOW - 3600, claims={"iss": "https://clerk.evil.dev"})
    assert (await refused(verifier, token)).code == "token-invalid-issuer"


async def test_category_is_checked_before_algorithm(clerk_issuer: TokenIssuer) -> None:
    """A JWT-template token with an unknown alg is token-type-mismatch: the category check runs first."""
    header = b64(json.dumps({"alg": "none", "typ": "JWT", "cat": TokenCategory.TEMPLATE}).encode())
    token = f"{header}.{b64(json.dumps(clerk_issuer.claims('user_t', now=NOW)).encode())}.{b64(b'x')}"
    assert (await refused(verifier_for(clerk_issuer), token)).code == "token-type-mismatch"


async def test_type_is_checked_before_algorithm(clerk_issuer: TokenIssuer) -> None:
    """A wrong typ and a wrong alg: token-invalid (typ), not token-invalid-algorithm."""
    token = signed(clerk_issuer, header_for(clerk_issuer, typ="JWS", alg="ES256"), clerk_issuer.claims("u", now=NOW))
    assert (await refused(verifier_for(clerk_issuer), token)).code == "token-invalid"


async def test_machine_subject_is_refused_before_the_signature(clerk_issuer: TokenIssuer) -> None:
    """A mch_ subject is token-type-mismatch even with a forged signature (Clerk's request-level check)."""
    token = clerk_issuer.mint("mch_1", now=NOW, key=generate_private_key())
    assert (await refused(verifier_for(clerk_issuer), token)).code == "token-type-mismatch"


async def test_oauth_type_is_exact(clerk_issuer: TokenIssuer) -> None:
    """application/at+jwt is an access token (type mismatch); AT+JWT is just a wrong typ (token-invalid)."""
    verifier = verifier_for(clerk_issuer)
    oauth = clerk_issuer.mint(now=NOW, headers={"typ": "application/at+jwt"})
    assert (await refused(verifier, oauth)).code == "token-type-mismatch"
    shouting = clerk_issuer.mint(now=NOW, headers={"typ": "AT+JWT"})
    assert (await refused(verifier, shouting)).code == "token-invalid"


async def test_signature_step_is_before_claims_for_a_pinned_algorithm(clerk_issuer: TokenIssuer) -> None:
    """An RS384 token for a PEM key that is also expired reports the signature step, not the expiry."""
    token = clerk_issuer.mint(now=NOW - 3600, algorithm="RS384")
    assert (await refused(verifier_for(clerk_issuer), token)).code == "token-verification-failed"


async def test_decoding_is_checked_before_the_header(clerk_issuer: TokenIssuer) -> None:
    """alg none and an undecodable payload: token-invalid, because Clerk decodes every segment first."""
    header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    assert (await refused(verifier_for(clerk_issuer), f"{header}.{b64(b'{not json')}.")).code == "token-invalid"


# --- Clerk's arithmetic and header types ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("claims", "now", "code"),
    [
        ({"exp": NOW - 4.5}, NOW, "token-expired"),  # whole seconds: exp counts as NOW - 5, the skew's edge
        ({"nbf": NOW + 5.9}, NOW, None),  # whole seconds: nbf counts as NOW + 5, within the skew
        ({"iat": NOW + 5.9, "nbf": NOW}, NOW, None),
    ],
)
async def test_time_claims_count_whole_seconds(
    clerk_issuer: TokenIssuer, claims: dict[str, float], now: float, code: str | None
) -> None:
    """Clerk's Date.setUTCSeconds drops a claim's fraction; we compare the same whole seconds."""
    token = signed(clerk_issuer, header_for(clerk_issuer), {**clerk_issuer.claims("user_f", now=now), **claims})
    verifier = verifier_for(clerk_issuer, now=lambda: now)
    if code is None:
        assert (await verifier.verify(token)).sub == "user_f"
    else:
        assert (await refused(verifier, token)).code == code


@pytest.mark.parametrize("alg", [["RS256"], {"name": "RS256"}, 256, None])
async def test_non_string_algorithms_are_invalid_algorithm(clerk_issuer: TokenIssuer, alg: object) -> None:
    """An alg that is a list, an object, a number or null is token-invalid-algorithm, never a crash."""
    token = signed(clerk_issuer, header_for(clerk_issuer, alg=alg), clerk_issuer.claims("u", now=NOW))
    assert (await refused(verifier_for(clerk_issuer), token)).code == "token-invalid-algorithm"


@pytest.mark.parametrize("kid", [None, 7, ["ins_1"]])
async def test_non_string_kid_is_token_invalid(clerk_issuer: TokenIssuer, kid: object) -> None:
    """A kid, when present, is a string (RFC 7515 §4.1.4); anything else is refused before any key lookup."""
    token = signed(clerk_issuer, header_for(clerk_issuer, kid=kid), clerk_issuer.claims("u", now=NOW))
    assert (await refused(verifier_for(clerk_issuer), token)).code == "token-invalid"


@pytest.mark.parametrize("crit", [["exp"], ["b64"], []])
async def test_critical_extensions_are_refused(clerk_issuer: TokenIssuer, crit: list[str]) -> None:
    """A crit header naming an extension we do not implement is refused (RFC 7515 §4.1.11), as PyJWT >= 2.12 does."""
    token = signed(clerk_issuer, header_for(clerk_issuer, crit=crit, exp=1), clerk_issuer.claims("u", now=NOW))
    assert (await refused(verifier_for(clerk_issuer), token)).code == "token-invalid"


def test_inspection_needs_no_key(clerk_issuer: TokenIssuer) -> None:
    """The pre-key stage is a plain function: it reads the header and payload and names the kid to look up."""
    inspected = inspect_token(clerk_issuer.mint("user_i", now=NOW))
    assert (inspected.algorithm, inspected.kid, inspected.payload["sub"]) == ("RS256", clerk_issuer.kid, "user_i")
