"""Which cookie a request's session token and ``__client_uat`` come from, as Clerk's ``AuthenticateContext`` reads them.

The selection cases are ported from ``@clerk/backend``'s own tests (clerk/javascript
``packages/backend/src/tokens/__tests__/authenticateContext.test.ts``, ``describe('suffixedCookies')``), with their
fixtures: ``pkLive`` / ``pkTest`` and a token shaped like ``mockJwtPayload`` (iss
``https://clerk.inspired.puma-74.lcl.dev``, iat 1666648250, exp iat + 60), the clock at its ``iat``. The cookie
names there (``__session_MqCvchyS`` for ``pkLive``, ``__session_vWCgMp3A`` for ``pkTest``) are what Clerk's
``getCookieSuffix`` computes, so they double as known-answer vectors. Every row of ``SELECTION`` and the expiry
cases were also run once through ``@clerk/backend`` 3.25.0's own ``createAuthenticateContext`` in Node, with the
same cookies and clock: same choice, token and ``clientUat`` in every case.
"""

from __future__ import annotations

import base64
import json

import pytest

from clerk_sync.errors import TokenInvalidError
from clerk_sync.issuer import TokenIssuer
from clerk_sync.tokens import (
    SessionCookies,
    TokenCarrier,
    TokenLocation,
    cookie_suffix,
    find_token,
    parse_client_uat,
    suffixed_cookie_name,
)

PK_LIVE = "pk_live_Y2xlcmsuaW5zcGlyZWQucHVtYS03NC5sY2wuZGV2JA"  # @clerk/backend fixtures: pkLive
PK_TEST = "pk_test_Y2xlcmsuaW5zcGlyZWQucHVtYS03NC5sY2wuZGV2JA"  # @clerk/backend fixtures: pkTest
ISS = "https://clerk.inspired.puma-74.lcl.dev"
IAT = 1666648250  # mockJwtPayload.iat, also Clerk's fake "now" in these tests
CLIENT_UAT = "1717490192"
SUFFIXED_CLIENT_UAT = "1717490193"


@pytest.fixture(scope="module")
def mint() -> TokenIssuer:
    return TokenIssuer(issuer=ISS)


def at_clerks_now(publishable_key: str | None) -> SessionCookies:
    return SessionCookies(publishable_key, now=lambda: float(IAT))


@pytest.mark.parametrize(
    ("publishable_key", "suffix"),
    [
        # clerk/javascript packages/shared/src/__tests__/keys.spec.ts, describe('getCookieSuffix')
        ("pk_live_ZmFrZS1jbGVyay10ZXN0LmNsZXJrLmFjY291bnRzLmRldiQ=", "qReyu04C"),
        ("pk_test_Y2xlcmsuY2xlcmsuZGV2JA", "QvfNY2dr"),
        ("pk_test_ZW5vdWdoLWFscGFjYS04Mi5jbGVyay5hY2NvdW50cy5sY2xjbGVyay5jb20k", "jtYvyt_H"),
        ("pk_test_eHh4eHh4LXhhYWFhYS1hYS5jbGVyay5hY2NvdW50cy5sY2xjbGVyay5jb20k", "tZJdb-5s"),
        # the cookie names of authenticateContext.test.ts for its pkLive / pkTest fixtures
        (PK_LIVE, "MqCvchyS"),
        (PK_TEST, "vWCgMp3A"),
    ],
)
def test_cookie_suffix_is_clerks(publishable_key: str, suffix: str) -> None:
    """The suffix equals the one Clerk's getCookieSuffix computes (vectors from Clerk's tests; also checked by
    running @clerk/shared 4.41.0 ``getCookieSuffix`` in Node), including the URL-safe ``-`` and ``_``."""
    assert cookie_suffix(publishable_key) == suffix
    assert SessionCookies(publishable_key).suffix == suffix
    assert suffixed_cookie_name("__session", suffix) == f"__session_{suffix}"


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [
        (None, 0),
        ("", 0),
        ("0", 0),
        (CLIENT_UAT, 1717490192),
        (" 42 ", 42),
        ("abc", 0),
        ("12abc", 0),  # Clerk's parseInt reads 12; never written by clerk-js, refused here
        ("0x10", 0),  # parseInt: 16
        ("-5", 0),  # parseInt: -5, which Clerk would take for a signed-in client
        ("1e3", 0),
        ("4.9", 0),
        ("1_000", 0),  # Python's int() would accept it
        ("\u0661\u0662", 0),  # Arabic-Indic digits: int() would accept them
        ("9" * 16, 0),
    ],
)
def test_client_uat_parsing(raw: str | None, seconds: int) -> None:
    """``__client_uat`` is plain decimal seconds; anything else counts as 0, the signed-out value."""
    assert parse_client_uat(raw) == seconds


def unsigned(payload: dict[str, object]) -> str:
    """A JWT with a fake signature, as Clerk's ``createJwt`` fixture makes them (PyJWT signs no numeric iss)."""

    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(payload)}.c2lnbmF0dXJl"


def _cases(mint: TokenIssuer) -> dict[str, str]:
    return {
        "session": mint.mint(now=IAT),
        "suffixed": mint.mint(now=IAT),
        "new": mint.mint(now=IAT + 60),
        "invalid-issuer": mint.mint(now=IAT, claims={"iss": "http:whatever"}),
        "numeric-issuer": unsigned({**mint.claims("user_test", now=IAT), "iss": 123}),
        "no-issuer": mint.mint(now=IAT, claims={"iss": None}),
        "blah": mint.mint(now=IAT, claims={"iss": "http://blah"}),
        "foo": mint.mint(now=IAT, claims={"iss": "http://foo"}),
    }


# (name, publishable key, cookies (values name a token of _cases or are literal), suffixed?, token, client_uat)
SELECTION = [
    (
        "un-suffixed cookies",
        PK_LIVE,
        {"__client_uat": CLIENT_UAT, "__session": "session"},
        False,
        "session",
        1717490192,
    ),
    (
        "ClerkJS downgrade: newer un-suffixed token",
        PK_LIVE,
        {
            "__client_uat": CLIENT_UAT,
            "__client_uat_MqCvchyS": SUFFIXED_CLIENT_UAT,
            "__session": "new",
            "__session_MqCvchyS": "suffixed",
        },
        False,
        "new",
        1717490192,
    ),
    (
        "ClerkJS downgrade: suffixed signed out, un-suffixed signed in",
        PK_TEST,
        {"__client_uat": CLIENT_UAT, "__client_uat_vWCgMp3A": "0", "__session": "session"},
        False,
        "session",
        1717490192,
    ),
    (
        "prod: suffixed session and signed-out suffixed client_uat",
        PK_LIVE,
        {"__client_uat": "0", "__client_uat_MqCvchyS": "0", "__session": "session", "__session_MqCvchyS": "suffixed"},
        True,
        "suffixed",
        0,
    ),
    (
        "prod: valid suffixed and un-suffixed cookies",
        PK_LIVE,
        {
            "__client_uat": CLIENT_UAT,
            "__client_uat_MqCvchyS": SUFFIXED_CLIENT_UAT,
            "__session": "session",
            "__session_MqCvchyS": "suffixed",
        },
        True,
        "suffixed",
        1717490193,
    ),
    (
        "prod: un-suffixed token of another app on the same domain",
        PK_LIVE,
        {
            "__client_uat": CLIENT_UAT,
            "__client_uat_MqCvchyS": SUFFIXED_CLIENT_UAT,
            "__session": "invalid-issuer",
            "__session_MqCvchyS": "suffixed",
        },
        True,
        "suffixed",
        1717490193,
    ),
    (
        "dev: several apps on localhost",
        PK_TEST,
        {
            "__client_uat": "0",
            "__client_uat_vWCgMp3A": "0",
            "__client_uat_8HKF1r6W": "1717490193",
            "__client_uat_Rmi8c5i8": "1717490194",
            "__session": "session",
            "__session_vWCgMp3A": "suffixed",
            "__session_8HKF1r6W": "blah",
            "__session_Rmi8c5i8": "foo",
        },
        True,
        "suffixed",
        0,
    ),
    (
        "dev: suffixed session and signed-out suffixed client_uat",
        PK_TEST,
        {"__client_uat": "0", "__client_uat_vWCgMp3A": "0", "__session": "session", "__session_vWCgMp3A": "suffixed"},
        True,
        "suffixed",
        0,
    ),
    (
        "prod: no suffixed session, signed-out suffixed client_uat: no token at all",
        PK_LIVE,
        {"__client_uat": "0", "__client_uat_MqCvchyS": "0", "__session": "session"},
        True,
        None,
        0,
    ),
    (
        "un-suffixed token with a non-string issuer: suffixed",
        PK_LIVE,
        {"__session": "numeric-issuer", "__client_uat_MqCvchyS": SUFFIXED_CLIENT_UAT, "__session_MqCvchyS": "suffixed"},
        True,
        "suffixed",
        1717490193,
    ),
    # Not in Clerk's table, but its first rule: a malformed (issuer-less) un-suffixed token is judged as it is.
    (
        "un-suffixed token without iss: un-suffixed",
        PK_LIVE,
        {
            "__client_uat": CLIENT_UAT,
            "__session": "no-issuer",
            "__client_uat_MqCvchyS": SUFFIXED_CLIENT_UAT,
            "__session_MqCvchyS": "suffixed",
        },
        False,
        "no-issuer",
        1717490192,
    ),
    (
        "un-suffixed junk: un-suffixed",
        PK_LIVE,
        {"__client_uat": CLIENT_UAT, "__session": "not.a.jwt", "__session_MqCvchyS": "suffixed"},
        False,
        "not.a.jwt",
        1717490192,
    ),
    (
        "suffixed session without suffixed client_uat: un-suffixed",
        PK_LIVE,
        {"__client_uat": CLIENT_UAT, "__session_MqCvchyS": "suffixed"},
        False,
        None,
        1717490192,
    ),
    (
        "only the suffixed pair",
        PK_LIVE,
        {"__client_uat_MqCvchyS": SUFFIXED_CLIENT_UAT, "__session_MqCvchyS": "suffixed"},
        True,
        "suffixed",
        1717490193,
    ),
    (
        "no publishable key: suffixes are not known, only __session is read",
        None,
        {"__client_uat_MqCvchyS": SUFFIXED_CLIENT_UAT, "__session_MqCvchyS": "suffixed", "__client_uat": "7"},
        False,
        None,
        7,
    ),
]


@pytest.mark.parametrize(
    ("publishable_key", "cookies", "suffixed", "token", "client_uat"),
    [case[1:] for case in SELECTION],
    ids=[case[0] for case in SELECTION],
)
def test_cookie_selection_follows_clerk(
    mint: TokenIssuer,
    publishable_key: str | None,
    cookies: dict[str, str],
    suffixed: bool,
    token: str | None,
    client_uat: int,
) -> None:
    """Suffixed or un-suffixed, the pair Clerk's usesSuffixedCookies would choose, and the token and
    client_uat read from it."""
    tokens = _cases(mint)
    jar = {name: tokens.get(value, value) for name, value in cookies.items()}
    reader = at_clerks_now(publishable_key)
    assert reader.uses_suffixed(jar) is suffixed
    assert reader.read(jar) == (tokens.get(token, token) if token else None, client_uat)


def test_expired_suffixed_token_falls_back_in_development_only(mint: TokenIssuer) -> None:
    """Suffixed signed in, un-suffixed signed out: a development instance (where a pinned old clerk-js may leave
    the suffixed uat stale) trusts the un-suffixed pair once the suffixed token has expired; production never."""
    stale = mint.mint(now=IAT - 120)  # exp = IAT - 60
    live = mint.mint(now=IAT)
    session = mint.mint(now=IAT)

    def jar(suffix: str, token: str) -> dict[str, str]:
        return {
            "__client_uat": "0",
            "__session": session,
            f"__client_uat_{suffix}": SUFFIXED_CLIENT_UAT,
            f"__session_{suffix}": token,
        }

    assert at_clerks_now(PK_TEST).uses_suffixed(jar("vWCgMp3A", stale)) is False
    assert at_clerks_now(PK_TEST).uses_suffixed(jar("vWCgMp3A", live)) is True
    assert at_clerks_now(PK_LIVE).uses_suffixed(jar("MqCvchyS", stale)) is True


def test_find_token_reads_the_chosen_cookie_pair(mint: TokenIssuer) -> None:
    """A cookie carrier holds the chosen token with its client_uat; the header still wins over any cookie."""
    suffixed, other = mint.mint(now=IAT), TokenIssuer(issuer="https://other.lcl.dev").mint(now=IAT)
    cookies = {
        "__session": other,
        "__client_uat": "5",
        "__session_MqCvchyS": suffixed,
        "__client_uat_MqCvchyS": SUFFIXED_CLIENT_UAT,
    }
    reader = at_clerks_now(PK_LIVE)
    assert find_token(None, cookies, reader) == TokenCarrier(suffixed, TokenLocation.COOKIE, 1717490193)
    assert find_token(None, cookies) == TokenCarrier(other, TokenLocation.COOKIE, 5)
    assert find_token("Bearer abc", cookies, reader) == TokenCarrier("abc", TokenLocation.HEADER, 0)
    assert find_token(None, {"__client_uat": "5"}, reader) is None


def test_oversized_suffixed_cookie_is_refused_unparsed() -> None:
    """A suffixed cookie past MAX_TOKEN_BYTES is refused like an un-suffixed one, never decoded."""
    cookies = {"__session_MqCvchyS": "x" * 20_000, "__client_uat_MqCvchyS": SUFFIXED_CLIENT_UAT}
    with pytest.raises(TokenInvalidError):
        find_token(None, cookies, at_clerks_now(PK_LIVE))
