"""Unit tests: settings (key-source order, derived issuer), claims normalisation, claim mapping."""

from __future__ import annotations

import pytest

from clerk_sync.claims import OrganizationClaims, SessionClaims
from clerk_sync.errors import ConfigurationError, TokenClaimInvalidError, TokenError, TokenInvalidError
from clerk_sync.mapping import MAX_VERSION_MS, ClaimMapping, to_millis
from clerk_sync.profile import Source
from clerk_sync.settings import ClerkSettings, KeySourceKind, frontend_api_from_publishable_key, load_settings
from clerk_sync.testing import make_webhook_secret
from clerk_sync.tokens import TokenLocation, find_token

PK = "pk_test_Y2xlcmsuaW5zcGlyZWQucHVtYS03NC5sY2wuZGV2JA"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("CLERK_"):
            monkeypatch.delenv(name)


def test_publishable_key_decodes_frontend_api() -> None:
    """Clerk's documented example key decodes to its Frontend API host."""
    assert frontend_api_from_publishable_key(PK) == "clerk.inspired.puma-74.lcl.dev"
    for bad in ["sk_test_abc", "pk_prod_abc", "pk_test_", "pk_test_!!!", "pk_test_YWJj"]:
        with pytest.raises(ConfigurationError):
            frontend_api_from_publishable_key(bad)


def test_key_source_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """PEM, then JWKS URL, then Backend API, then Frontend API: the first configured one alone."""
    monkeypatch.setenv("CLERK_PUBLISHABLE_KEY", PK)
    assert load_settings().key_source is KeySourceKind.FRONTEND_API
    assert load_settings().resolved_jwks_url == "https://clerk.inspired.puma-74.lcl.dev/.well-known/jwks.json"
    monkeypatch.setenv("CLERK_SECRET_KEY", "sk_test_x")
    monkeypatch.setenv("CLERK_API_URL", "http://127.0.0.1:9/")
    assert load_settings().resolved_jwks_url == "http://127.0.0.1:9/v1/jwks"
    monkeypatch.setenv("CLERK_JWKS_URL", "http://127.0.0.1:9/jwks")
    assert load_settings().key_source is KeySourceKind.JWKS_URL
    monkeypatch.setenv("CLERK_JWT_KEY", "MIIB")
    assert load_settings().key_source is KeySourceKind.PEM
    assert load_settings().resolved_jwks_url is None


def test_issuer_derivation_and_override(monkeypatch: pytest.MonkeyPatch) -> None:
    """The expected issuer derives from the publishable key unless CLERK_ISSUER is set."""
    monkeypatch.setenv("CLERK_PUBLISHABLE_KEY", PK)
    assert load_settings().expected_issuer == "https://clerk.inspired.puma-74.lcl.dev"
    monkeypatch.setenv("CLERK_ISSUER", "https://clerk.example.com")
    assert load_settings().expected_issuer == "https://clerk.example.com"


def test_authorized_parties_comma_list(monkeypatch: pytest.MonkeyPatch) -> None:
    """CLERK_AUTHORIZED_PARTIES is a comma-separated list, blanks dropped."""
    monkeypatch.setenv("CLERK_AUTHORIZED_PARTIES", " https://a.dev ,https://b.dev,, ")
    assert load_settings().authorized_parties == ("https://a.dev", "https://b.dev")


def test_bad_values_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Invalid values become one ConfigurationError naming the variable; secrets never echo."""
    monkeypatch.setenv("CLERK_SECRET_KEY", "pk_live_oops_secret")
    with pytest.raises(ConfigurationError) as info:
        load_settings()
    assert info.value.message.startswith("CLERK_SECRET_KEY")
    assert "oops_secret" not in info.value.message


def test_secrets_are_not_in_repr() -> None:
    """Settings never print their secrets."""
    webhook_secret = make_webhook_secret()
    settings = ClerkSettings(secret_key="sk_test_hidden", webhook_signing_secret=webhook_secret)
    assert "hidden" not in repr(settings)
    assert webhook_secret.removeprefix("whsec_") not in repr(settings)


def test_v2_organization_claims() -> None:
    """v2 `o` + `fea` decode to Clerk's documented permissions example."""
    claims = SessionClaims.from_payload(
        {
            "sub": "user_1",
            "iat": 1,
            "exp": 2,
            "v": 2,
            "fea": "o:dashboard,o:teams",
            "o": {"id": "org_1", "slg": "acme", "rol": "admin", "per": "manage,read", "fpm": "3,2"},
        }
    )
    assert claims.organization == OrganizationClaims(
        id="org_1",
        slug="acme",
        role="org:admin",
        permissions=("org:dashboard:manage", "org:dashboard:read", "org:teams:read"),
    )


def test_v1_organization_claims_and_custom() -> None:
    """v1 `org_*` claims give the same shape; non-standard claims land in `custom`."""
    claims = SessionClaims.from_payload(
        {
            "sub": "u",
            "iat": 1,
            "exp": 2,
            "org_id": "org_9",
            "org_slug": "s",
            "org_role": "org:member",
            "org_permissions": ["org:x:read", 3],
            "email": "e@x.dev",
        }
    )
    assert claims.organization == OrganizationClaims("org_9", "s", "org:member", ("org:x:read",))
    assert dict(claims.custom) == {"email": "e@x.dev"}
    assert claims.version == 1


def test_malformed_organization_claims_do_not_crash() -> None:
    """Junk in fpm is skipped rather than failing the request."""
    claims = SessionClaims.from_payload(
        {"sub": "u", "iat": 1, "exp": 2, "v": 2, "fea": "o:a,u:b", "o": {"id": "org_1", "per": "read", "fpm": "x,1"}}
    )
    assert claims.organization is not None
    assert claims.organization.permissions == ()


def test_claim_mapping_keeps_absent_and_null_out() -> None:
    """Absent, null and empty claims are left out of the profile, so they never clear a column."""
    claims = SessionClaims.from_payload(
        {
            "sub": "user_1",
            "iat": 1_700_000_000,
            "exp": 2,
            "email": "a@x.dev",
            "first_name": None,
            "last_name": "",
            "public_metadata": {"plan": "pro"},
        }
    )
    profile = ClaimMapping().to_profile(claims)
    assert dict(profile.fields) == {"email": "a@x.dev", "public_metadata": {"plan": "pro"}}
    assert profile.version == 1_700_000_000_000
    assert profile.source is Source.TOKEN


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1_700_000_000, 1_700_000_000_000),
        (1_700_000_000_123, 1_700_000_000_123),
        ("1700000000", 1_700_000_000_000),
        ("soon", None),
        (True, None),
        (-1, None),
        (MAX_VERSION_MS, MAX_VERSION_MS),
        (MAX_VERSION_MS + 1, None),
        (1e300, None),
        (10**19, None),
        (float("nan"), None),
        ("1e400", None),
    ],
)
def test_updated_at_seconds_or_millis(value: object, expected: int | None) -> None:
    """updated_at may be seconds or milliseconds; both normalise to ms, within 1970 to 9999 (a BIGINT holds
    far more, but nothing beyond the year 9999 is a timestamp)."""
    assert to_millis(value) == expected


def _claims(**custom: object) -> SessionClaims:
    return SessionClaims.from_payload({"sub": "user_1", "iat": 1_700_000_000, "exp": 2, **custom})


@pytest.mark.parametrize("value", [1e300, 10**19, -5, "soon", True, {"ms": 1}, [1]])
def test_version_claim_that_is_no_timestamp_is_refused(value: object) -> None:
    """A version claim that is present but no timestamp in range is a ``token-claim-invalid`` (a 401 like
    every ``TokenError``) naming the claim, never its value; before, it was silently replaced by ``iat`` or
    reached the database as ``1e300``."""
    with pytest.raises(TokenClaimInvalidError) as raised:
        ClaimMapping().to_profile(_claims(updated_at=value, email="a@x.dev"))
    assert isinstance(raised.value, TokenError)
    assert raised.value.code == "token-claim-invalid"
    assert raised.value.claim == "updated_at"
    assert "updated_at" in raised.value.message
    assert repr(value) not in raised.value.message
    custom = ClaimMapping(version_claim="ver")
    with pytest.raises(TokenClaimInvalidError, match="ver claim"):
        custom.to_profile(_claims(ver=value))


@pytest.mark.parametrize("value", [None, ""])
def test_absent_version_claim_falls_back_to_iat(value: object) -> None:
    """Templates render a missing value as null or an empty string: the token's ``iat`` versions the data."""
    assert ClaimMapping().to_profile(_claims(updated_at=value)).version == 1_700_000_000_000


def test_iat_out_of_range_is_refused_when_it_versions_the_data() -> None:
    """Without a version claim ``iat`` is the version; one no BIGINT of our bounds can hold is refused naming
    ``iat`` (the verifier only rejects an ``iat`` in the future)."""
    with pytest.raises(TokenClaimInvalidError, match="iat") as raised:
        ClaimMapping().to_profile(SessionClaims.from_payload({"sub": "user_1", "iat": -(10**20), "exp": 2}))
    assert raised.value.claim == "iat"


def test_claim_values_are_passed_on_uncoerced_with_their_claim_names() -> None:
    """The mapping no longer drops a wrong-typed value (a list as ``public_metadata`` used to vanish): the sync
    engine refuses it against the column, naming the claim the profile's labels give."""
    mapping = ClaimMapping(columns={"email": "primaryEmail", "public_metadata": "public_metadata"})
    profile = mapping.to_profile(_claims(primaryEmail=42, public_metadata=["pro"]))
    assert dict(profile.fields) == {"email": 42, "public_metadata": ["pro"]}
    assert (profile.labels["email"], profile.labels["clerk_id"], profile.labels["clerk_version"]) == (
        "primaryEmail",
        "sub",
        "updated_at",
    )


def test_custom_mapping_and_version_claim() -> None:
    """Apps can map their own claim names and version claim."""
    mapping = ClaimMapping(columns={"email": "primaryEmail", "image_url": "picture"}, version_claim="ver")
    claims = SessionClaims.from_payload(
        {"sub": "u", "iat": 5, "exp": 6, "primaryEmail": "p@x.dev", "picture": "https://i", "ver": 1_700_000_000_001}
    )
    profile = mapping.to_profile(claims)
    assert dict(profile.fields) == {"email": "p@x.dev", "image_url": "https://i"}
    assert profile.version == 1_700_000_000_001


def test_find_token_rules() -> None:
    """Header wins; `Bearer x` and bare `x` are tokens; other schemes are not; then the cookie."""
    assert find_token("Bearer abc", {"__session": "c"}) == find_token("abc", {})
    assert find_token("Bearer abc", {}).location is TokenLocation.HEADER  # type: ignore[union-attr]
    assert find_token("Basic abc", {"__session": "c"}).location is TokenLocation.COOKIE  # type: ignore[union-attr]
    assert find_token("bearer abc", {}) is None
    assert find_token("   ", {}) is None
    assert find_token(None, {}) is None
    with pytest.raises(TokenInvalidError):
        find_token(None, {"__session": "x" * 20_000})
