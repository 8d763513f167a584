"""``Authenticator``: header tokens are only verified; cookie tokens also need an ``azp`` allow-list, a signed-in
``__client_uat`` and an ``iat`` not older than it (Clerk's ``authenticateRequest``, answered with 401 codes).

Every case runs on ``Authenticator`` and on ``SyncAuthenticator`` (the ``flavour`` fixture): one set of rules."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterable, Mapping

import pytest

from clerk_sync.authenticator import Authenticator, SyncAuthenticator
from clerk_sync.claims import SessionClaims
from clerk_sync.errors import (
    CookieAuthRequiresAuthorizedPartiesError,
    SessionTokenIatBeforeClientUatError,
    SessionTokenWithoutClientUatError,
    TokenError,
    TokenExpiredError,
    TokenInvalidAuthorizedPartiesError,
    TokenInvalidSignatureError,
)
from clerk_sync.issuer import TokenIssuer
from clerk_sync.keys import PemKeySet, SyncPemKeySet
from clerk_sync.metrics import REGISTRY
from clerk_sync.tokens import cookie_suffix
from clerk_sync.verify import SyncTokenVerifier, TokenVerifier

pytestmark = pytest.mark.anyio

APP = "http://localhost:3000"  # the kit's default azp


class SyncDriven:
    """Drives a ``SyncAuthenticator`` from an async test: the call runs synchronously, as in a WSGI worker."""

    def __init__(self, inner: SyncAuthenticator) -> None:
        self.inner = inner

    @property
    def accepts_cookies(self) -> bool:
        return self.inner.accepts_cookies

    async def authenticate(self, authorization: str | None, cookies: Mapping[str, str]) -> SessionClaims | None:
        return self.inner.authenticate(authorization, cookies)


@pytest.fixture(params=["async", "sync"])
def flavour(request: pytest.FixtureRequest) -> str:
    """Each case once on the async and once on the sync authenticator."""
    param: str = request.param
    return param


def authenticator(
    flavour: str,
    issuer: TokenIssuer,
    parties: Iterable[str] = (APP,),
    *,
    verifier_parties: Iterable[str] | None = None,
    publishable_key: str | None = None,
) -> Authenticator | SyncDriven:
    allowed = tuple(parties)
    checked = allowed if verifier_parties is None else tuple(verifier_parties)
    if flavour == "sync":
        sync_verifier = SyncTokenVerifier(SyncPemKeySet(issuer.public_pem()), authorized_parties=checked, cache_size=0)
        return SyncDriven(SyncAuthenticator(sync_verifier, authorized_parties=allowed, publishable_key=publishable_key))
    verifier = TokenVerifier(PemKeySet(issuer.public_pem()), authorized_parties=checked, cache_size=0)
    return Authenticator(verifier, authorized_parties=allowed, publishable_key=publishable_key)


def publishable_key_for(issuer: TokenIssuer) -> str:
    host = issuer.issuer.removeprefix("https://")
    return "pk_test_" + base64.b64encode(f"{host}$".encode()).decode().rstrip("=")


async def test_no_token_is_anonymous(flavour: str, clerk_issuer: TokenIssuer) -> None:
    """Without a header token or a session cookie the answer is None, whatever else the cookies say."""
    auth = authenticator(flavour, clerk_issuer)
    assert await auth.authenticate(None, {}) is None
    assert await auth.authenticate("Basic dXNlcjpwYXNz", {"__client_uat": "1717490192"}) is None


async def test_header_tokens_ignore_cookie_rules(flavour: str, clerk_issuer: TokenIssuer) -> None:
    """A header token needs no allow-list and no __client_uat, and a newer __client_uat does not refuse it; the
    header wins over any cookie."""
    now = int(time.time())
    token = clerk_issuer.mint("user_header", now=now)
    stale_cookies = {"__session": "junk", "__client_uat": str(now + 30)}
    for auth in (authenticator(flavour, clerk_issuer, ()), authenticator(flavour, clerk_issuer)):
        claims = await auth.authenticate(f"Bearer {token}", stale_cookies)
        assert claims is not None
        assert claims.sub == "user_header"


async def test_cookie_needs_authorized_parties(flavour: str, clerk_issuer: TokenIssuer) -> None:
    """Without CLERK_AUTHORIZED_PARTIES a cookie token is refused (CSRF), however valid token and client_uat are;
    the check comes first, so even a forged cookie gets this code."""
    now = int(time.time())
    auth = authenticator(flavour, clerk_issuer, ())
    assert auth.accepts_cookies is False
    for token in (clerk_issuer.mint(now=now), TokenIssuer(kid=clerk_issuer.kid).mint(now=now)):
        with pytest.raises(CookieAuthRequiresAuthorizedPartiesError) as caught:
            await auth.authenticate(None, {"__session": token, "__client_uat": str(now)})
        assert caught.value.code == "cookie-auth-requires-authorized-parties"
        assert isinstance(caught.value, TokenError)


async def test_cookie_with_consistent_client_uat_is_accepted(flavour: str, clerk_issuer: TokenIssuer) -> None:
    """An allowed azp and iat at or after __client_uat: signed in."""
    now = int(time.time())
    auth = authenticator(flavour, clerk_issuer)
    assert auth.accepts_cookies is True
    for client_uat in (now - 3600, now):
        token = clerk_issuer.mint("user_cookie", now=now)
        claims = await auth.authenticate(None, {"__session": token, "__client_uat": str(client_uat)})
        assert claims is not None
        assert claims.sub == "user_cookie"


@pytest.mark.parametrize("client_uat", [None, "", "0", "abc", "-5", "12abc"])
async def test_cookie_without_signed_in_client_uat(
    flavour: str, clerk_issuer: TokenIssuer, client_uat: str | None
) -> None:
    """__client_uat missing, 0 or not decimal seconds: session-token-but-no-client-uat."""
    cookies = {"__session": clerk_issuer.mint()}
    if client_uat is not None:
        cookies["__client_uat"] = client_uat
    with pytest.raises(SessionTokenWithoutClientUatError) as caught:
        await authenticator(flavour, clerk_issuer).authenticate(None, cookies)
    assert caught.value.code == "session-token-but-no-client-uat"


async def test_cookie_issued_before_client_uat(flavour: str, clerk_issuer: TokenIssuer) -> None:
    """A valid token older than __client_uat (the client signed in or out since): refused."""
    now = int(time.time())
    token = clerk_issuer.mint(now=now - 5)
    with pytest.raises(SessionTokenIatBeforeClientUatError) as caught:
        await authenticator(flavour, clerk_issuer).authenticate(None, {"__session": token, "__client_uat": str(now)})
    assert caught.value.code == "session-token-iat-before-client-uat"


async def test_cookie_azp_must_be_allowed(flavour: str, clerk_issuer: TokenIssuer) -> None:
    """A cookie token whose azp is absent or not listed is refused, even by a verifier configured without the
    allow-list: the cookie rule does not depend on the verifier's configuration."""
    now = str(int(time.time()))
    auth = authenticator(flavour, clerk_issuer, verifier_parties=())
    for claims in ({"azp": "https://evil.example"}, {"azp": None}):
        token = clerk_issuer.mint(claims=claims)
        with pytest.raises(TokenInvalidAuthorizedPartiesError):
            await auth.authenticate(None, {"__session": token, "__client_uat": now})


async def test_order_of_cookie_checks(flavour: str, clerk_issuer: TokenIssuer) -> None:
    """A missing __client_uat is reported before the signature is checked (it reads only the cookies, as Clerk's
    order has it); the iat comparison uses the verified token, so a forged or expired one gets the verifier's code."""
    now = int(time.time())
    auth = authenticator(flavour, clerk_issuer)
    forged = TokenIssuer(kid=clerk_issuer.kid).mint(now=now - 5)
    with pytest.raises(SessionTokenWithoutClientUatError):
        await auth.authenticate(None, {"__session": forged})
    with pytest.raises(TokenInvalidSignatureError):
        await auth.authenticate(None, {"__session": forged, "__client_uat": str(now)})
    expired = clerk_issuer.mint(now=now - 600)
    with pytest.raises(TokenExpiredError):
        await auth.authenticate(None, {"__session": expired, "__client_uat": str(now)})


async def test_suffixed_cookies_win(flavour: str, clerk_issuer: TokenIssuer) -> None:
    """With a publishable key, this instance's __session_<suffix> pair is judged, not an un-suffixed __session
    another app on the domain wrote; its own __client_uat_<suffix> is the one compared."""
    now = int(time.time())
    key = publishable_key_for(clerk_issuer)
    suffix = cookie_suffix(key)
    other_app = TokenIssuer(issuer="https://clerk.other-app.lcl.dev").mint("user_other", now=now)
    ours = clerk_issuer.mint("user_ours", now=now)
    auth = authenticator(flavour, clerk_issuer, publishable_key=key)
    cookies = {
        "__session": other_app,
        "__client_uat": str(now - 100),
        f"__session_{suffix}": ours,
        f"__client_uat_{suffix}": str(now),
    }
    claims = await auth.authenticate(None, cookies)
    assert claims is not None
    assert claims.sub == "user_ours"
    with pytest.raises(SessionTokenIatBeforeClientUatError):
        await auth.authenticate(None, {**cookies, f"__client_uat_{suffix}": str(now + 10)})
    fallback = await auth.authenticate(None, {"__session": ours, "__client_uat": str(now)})
    assert fallback is not None
    assert fallback.sub == "user_ours"


async def test_outcomes_are_counted_by_code(flavour: str, clerk_issuer: TokenIssuer) -> None:
    """Every judged token moves clerk_sync_token_verifications under its result: ok or the refusal's code."""

    def count(result: str) -> float:
        return REGISTRY.get_sample_value("clerk_sync_token_verifications_total", {"result": result}) or 0.0

    now = int(time.time())
    refused, ok = count("cookie-auth-requires-authorized-parties"), count("ok")
    with pytest.raises(CookieAuthRequiresAuthorizedPartiesError):
        await authenticator(flavour, clerk_issuer, ()).authenticate(None, {"__session": clerk_issuer.mint()})
    await authenticator(flavour, clerk_issuer).authenticate(
        None, {"__session": clerk_issuer.mint(), "__client_uat": str(now)}
    )
    assert count("cookie-auth-requires-authorized-parties") == refused + 1
    assert count("ok") == ok + 1
