"""Turn ``ClerkSettings`` into a key set, a verifier and an authenticator; the one place knowing the key order.

Callers (the FastAPI lifespan, the CLI) own the ``httpx.AsyncClient`` and pass it in, so connection pools and
their shutdown stay with whoever started them.
"""

from __future__ import annotations

import httpx

from clerk_sync.authenticator import Authenticator
from clerk_sync.errors import ConfigurationError
from clerk_sync.keys import JwksKeySet, KeySet, PemKeySet, load_pem_key
from clerk_sync.settings import ClerkSettings, KeySourceKind
from clerk_sync.verify import TokenVerifier

__all__ = ["build_authenticator", "build_key_set", "build_verifier", "check_key_source"]


def check_key_source(settings: ClerkSettings) -> None:
    """Fail at start, with one line naming the variable, when no key source is set or the PEM is unusable."""
    if settings.jwt_key is not None:
        load_pem_key(settings.jwt_key.get_secret_value())
    elif settings.resolved_jwks_url is None:
        raise ConfigurationError(
            "No signing key source: set CLERK_JWT_KEY, CLERK_JWKS_URL, CLERK_SECRET_KEY or CLERK_PUBLISHABLE_KEY"
        )


def build_key_set(settings: ClerkSettings, http: httpx.AsyncClient) -> KeySet:
    """The first configured key source alone: PEM, JWKS URL, Backend API, Frontend API."""
    check_key_source(settings)
    source = settings.key_source
    if source is KeySourceKind.PEM:
        assert settings.jwt_key is not None
        return PemKeySet(settings.jwt_key.get_secret_value())
    url = settings.resolved_jwks_url
    assert url is not None  # check_key_source guarantees a JWKS URL for every non-PEM source
    headers = {}
    if source is KeySourceKind.BACKEND_API and settings.secret_key is not None:
        headers["Authorization"] = f"Bearer {settings.secret_key.get_secret_value()}"
    return JwksKeySet(
        url,
        http,
        headers=headers,
        max_age=settings.jwks_max_age_s,
        cooldown=settings.jwks_cooldown_s,
        timeout=settings.http_timeout_s,
    )


def build_verifier(settings: ClerkSettings, keys: KeySet) -> TokenVerifier:
    """A verifier enforcing the configured issuer, authorized parties, skew and session-status policy."""
    return TokenVerifier(
        keys,
        issuer=settings.expected_issuer,
        authorized_parties=settings.authorized_parties,
        clock_skew_ms=settings.clock_skew_ms,
        allow_pending_sessions=settings.allow_pending_sessions,
        cache_size=settings.token_cache_size,
    )


def build_authenticator(settings: ClerkSettings, verifier: TokenVerifier) -> Authenticator:
    """The request authenticator: cookie sessions need ``CLERK_AUTHORIZED_PARTIES``; the publishable key names
    Clerk's suffixed cookies."""
    return Authenticator(
        verifier, authorized_parties=settings.authorized_parties, publishable_key=settings.publishable_key
    )
