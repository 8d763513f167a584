"""Turn ``ClerkSettings`` into a key set, a verifier and an authenticator; the one place knowing the key order.

Callers (the FastAPI lifespan, the CLI, a sync adapter) own the ``httpx.AsyncClient`` or ``httpx.Client`` and
pass it in, so connection pools and their shutdown stay with whoever started them. The async and sync builders
share the decisions (``_key_source``, ``_verifier_options``) and differ only in the classes they construct.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypedDict

import httpx

from clerk_sync.authenticator import Authenticator, SyncAuthenticator
from clerk_sync.errors import ConfigurationError
from clerk_sync.keys import JwksKeySet, KeySet, PemKeySet, SyncJwksKeySet, SyncKeySet, SyncPemKeySet, load_pem_key
from clerk_sync.settings import ClerkSettings, KeySourceKind
from clerk_sync.verify import SyncTokenVerifier, TokenVerifier

__all__ = [
    "build_authenticator",
    "build_key_set",
    "build_sync_authenticator",
    "build_sync_key_set",
    "build_sync_verifier",
    "build_verifier",
    "check_key_source",
]


def check_key_source(settings: ClerkSettings) -> None:
    """Fail at start, with one line naming the variable, when no key source is set or the PEM is unusable."""
    if settings.jwt_key is not None:
        load_pem_key(settings.jwt_key.get_secret_value())
    elif settings.resolved_jwks_url is None:
        raise ConfigurationError(
            "No signing key source: set CLERK_JWT_KEY, CLERK_JWKS_URL, CLERK_SECRET_KEY or CLERK_PUBLISHABLE_KEY"
        )


@dataclass(frozen=True, slots=True)
class _JwksEndpoint:
    """Where and how to fetch the JWKS; ``headers`` may hold the secret key, so it stays out of ``repr``."""

    url: str
    headers: dict[str, str] = field(repr=False)
    max_age: float
    cooldown: float
    timeout: float


def _key_source(settings: ClerkSettings) -> str | _JwksEndpoint:
    """The first configured key source alone (PEM, JWKS URL, Backend API, Frontend API): the PEM text, or the
    JWKS endpoint with its credential and cache options."""
    check_key_source(settings)
    source = settings.key_source
    if source is KeySourceKind.PEM:
        assert settings.jwt_key is not None
        return settings.jwt_key.get_secret_value()
    url = settings.resolved_jwks_url
    assert url is not None  # check_key_source guarantees a JWKS URL for every non-PEM source
    headers = {}
    if source is KeySourceKind.BACKEND_API and settings.secret_key is not None:
        headers["Authorization"] = f"Bearer {settings.secret_key.get_secret_value()}"
    return _JwksEndpoint(url, headers, settings.jwks_max_age_s, settings.jwks_cooldown_s, settings.http_timeout_s)


def build_key_set(settings: ClerkSettings, http: httpx.AsyncClient) -> KeySet:
    """The async key set of the first configured key source."""
    source = _key_source(settings)
    if isinstance(source, str):
        return PemKeySet(source)
    return JwksKeySet(
        source.url,
        http,
        headers=source.headers,
        max_age=source.max_age,
        cooldown=source.cooldown,
        timeout=source.timeout,
    )


def build_sync_key_set(settings: ClerkSettings, http: httpx.Client) -> SyncKeySet:
    """The sync key set of the first configured key source (the same choice as ``build_key_set``)."""
    source = _key_source(settings)
    if isinstance(source, str):
        return SyncPemKeySet(source)
    return SyncJwksKeySet(
        source.url,
        http,
        headers=source.headers,
        max_age=source.max_age,
        cooldown=source.cooldown,
        timeout=source.timeout,
    )


class _VerifierOptions(TypedDict):
    issuer: str | None
    authorized_parties: tuple[str, ...]
    clock_skew_ms: float
    allow_pending_sessions: bool
    cache_size: int


def _verifier_options(settings: ClerkSettings) -> _VerifierOptions:
    return _VerifierOptions(
        issuer=settings.expected_issuer,
        authorized_parties=settings.authorized_parties,
        clock_skew_ms=settings.clock_skew_ms,
        allow_pending_sessions=settings.allow_pending_sessions,
        cache_size=settings.token_cache_size,
    )


def build_verifier(settings: ClerkSettings, keys: KeySet) -> TokenVerifier:
    """A verifier enforcing the configured issuer, authorized parties, skew and session-status policy."""
    return TokenVerifier(keys, **_verifier_options(settings))


def build_sync_verifier(settings: ClerkSettings, keys: SyncKeySet) -> SyncTokenVerifier:
    """``build_verifier`` for synchronous apps: the same policy, a blocking key lookup."""
    return SyncTokenVerifier(keys, **_verifier_options(settings))


def build_authenticator(settings: ClerkSettings, verifier: TokenVerifier) -> Authenticator:
    """The request authenticator: cookie sessions need ``CLERK_AUTHORIZED_PARTIES``; the publishable key names
    Clerk's suffixed cookies."""
    return Authenticator(
        verifier, authorized_parties=settings.authorized_parties, publishable_key=settings.publishable_key
    )


def build_sync_authenticator(settings: ClerkSettings, verifier: SyncTokenVerifier) -> SyncAuthenticator:
    """``build_authenticator`` for synchronous apps: the same cookie rules."""
    return SyncAuthenticator(
        verifier, authorized_parties=settings.authorized_parties, publishable_key=settings.publishable_key
    )
