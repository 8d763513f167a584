"""A request's identity from its ``Authorization`` header and cookies, framework-free.

This is ``@clerk/backend``'s ``authenticateRequest`` for an API: where Clerk would answer a browser with a
handshake redirect, an API answers 401 with Clerk's reason as the code.

``Authenticator`` (ASGI) and ``SyncAuthenticator`` (WSGI, threads) share every rule below and differ only in
awaiting ``TokenVerifier.verify`` or calling ``SyncTokenVerifier.verify``.

A header token is only verified (``TokenVerifier``). A cookie token is judged, in this order:

1. No ``authorized_parties``: refused, ``cookie-auth-requires-authorized-parties``. A browser attaches the cookie
   to any request another site makes it send, so without an ``azp`` allow-list a cookie proves nothing (CSRF;
   Clerk's docs warn about exactly this). Checked first: no token detail can change the answer.
2. ``__client_uat`` absent, ``0`` or unreadable: ``session-token-but-no-client-uat``. The browser's Clerk client
   says it is signed out, so the cookie is stale. This reads only the request's cookies, never the token, so
   checking it before the signature (as Clerk does) reveals nothing about the token or our configuration.
3. The signature and every claim (``TokenVerifier.verify``).
4. ``azp`` is one of ``authorized_parties`` (``token-invalid-authorized-parties``). The verifier normally checks
   it already; it is repeated here so the cookie rule does not depend on how the verifier was configured.
5. ``iat`` before ``__client_uat``: ``session-token-iat-before-client-uat`` (the client signed in or out after
   this token was issued).

Clerk compares ``iat`` with ``__client_uat`` on the *unverified* token, before the signature. We compare the
verified ``iat`` after it, as every claim check here is made (``clerk_sync.verify``): a forged or expired token
gets the verifier's code (``token-invalid-signature``, ``token-expired``, ...) instead. Both orders refuse the same
requests; they differ only in which of two codes a doubly-bad token gets, and a client that sees either refreshes
its token.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Generic, TypeVar

from clerk_sync.claims import SessionClaims
from clerk_sync.errors import (
    ClerkSyncError,
    CookieAuthRequiresAuthorizedPartiesError,
    SessionTokenIatBeforeClientUatError,
    SessionTokenWithoutClientUatError,
    TokenInvalidAuthorizedPartiesError,
)
from clerk_sync.metrics import VERIFICATIONS, VERIFIED
from clerk_sync.tokens import SessionCookies, TokenCarrier, TokenLocation, find_token
from clerk_sync.verify import SyncTokenVerifier, TokenVerifier

__all__ = ["Authenticator", "SyncAuthenticator"]


_Verifier = TypeVar("_Verifier", TokenVerifier, SyncTokenVerifier)


class _BaseAuthenticator(Generic[_Verifier]):
    """Clerk's cookie rules, written once; the async and sync authenticators differ only in the verifier call.

    ``authorized_parties`` enables cookie sessions (see the module docstring); ``publishable_key`` enables
    Clerk's suffixed cookies (``__session_<suffix>``) for several apps on one domain.
    """

    def __init__(
        self,
        verifier: _Verifier,
        *,
        authorized_parties: Iterable[str] = (),
        publishable_key: str | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.verifier: _Verifier = verifier
        self.authorized_parties = frozenset(authorized_parties)
        self.cookies = SessionCookies(publishable_key, now=now)

    @property
    def accepts_cookies(self) -> bool:
        """Whether a cookie-carried token can be accepted at all (an ``azp`` allow-list is configured)."""
        return bool(self.authorized_parties)

    def _admit_cookie(self, carrier: TokenCarrier) -> None:
        """Steps 1 and 2, before the signature: they read the configuration and the cookies, never the token."""
        if not self.authorized_parties:
            raise CookieAuthRequiresAuthorizedPartiesError(
                "Session tokens in cookies are accepted only when CLERK_AUTHORIZED_PARTIES is configured; "
                "send the token in the Authorization header."
            )
        if carrier.client_uat <= 0:
            raise SessionTokenWithoutClientUatError(
                "The session cookie came without a __client_uat cookie (or with 0): the client is signed out."
            )

    def _judge_cookie(self, carrier: TokenCarrier, claims: SessionClaims) -> None:
        """Steps 4 and 5, on the verified claims."""
        if claims.azp is None or claims.azp not in self.authorized_parties:
            raise TokenInvalidAuthorizedPartiesError("Invalid JWT Authorized party claim (azp).")
        if claims.iat < carrier.client_uat:
            raise SessionTokenIatBeforeClientUatError(
                "The session cookie's token was issued before the client last changed (__client_uat)."
            )


class Authenticator(_BaseAuthenticator[TokenVerifier]):
    """Finds the request's session token, verifies it and applies Clerk's cookie rules (ASGI apps)."""

    async def authenticate(self, authorization: str | None, cookies: Mapping[str, str]) -> SessionClaims | None:
        """The verified claims, None when the request carries no token, or a ``ClerkSyncError`` (a
        ``TokenError`` for a refused token, ``KeySetUnavailableError`` when keys cannot be loaded)."""
        carrier = find_token(authorization, cookies, self.cookies)
        if carrier is None:
            return None
        try:
            from_cookie = carrier.location is not TokenLocation.HEADER
            if from_cookie:
                self._admit_cookie(carrier)
            claims = await self.verifier.verify(carrier.token)
            if from_cookie:
                self._judge_cookie(carrier, claims)
        except ClerkSyncError as exc:
            VERIFICATIONS.labels(exc.code).inc()
            raise
        VERIFIED.inc()
        return claims


class SyncAuthenticator(_BaseAuthenticator[SyncTokenVerifier]):
    """``Authenticator`` for synchronous apps (WSGI, threads): the same token search, cookie rules and codes."""

    def authenticate(self, authorization: str | None, cookies: Mapping[str, str]) -> SessionClaims | None:
        """The verified claims, None when the request carries no token, or a ``ClerkSyncError`` (a
        ``TokenError`` for a refused token, ``KeySetUnavailableError`` when keys cannot be loaded)."""
        carrier = find_token(authorization, cookies, self.cookies)
        if carrier is None:
            return None
        try:
            from_cookie = carrier.location is not TokenLocation.HEADER
            if from_cookie:
                self._admit_cookie(carrier)
            claims = self.verifier.verify(carrier.token)
            if from_cookie:
                self._judge_cookie(carrier, claims)
        except ClerkSyncError as exc:
            VERIFICATIONS.labels(exc.code).inc()
            raise
        VERIFIED.inc()
        return claims
