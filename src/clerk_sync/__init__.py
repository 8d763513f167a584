"""clerk-sync: verify Clerk session tokens and keep a local user row current on every request.

The core names live here; the FastAPI integration is ``clerk_sync.fastapi``, storage is ``clerk_sync.db``,
outbound clients are ``clerk_sync.client`` and the test kit is ``clerk_sync.testing``.
"""

from __future__ import annotations

from clerk_sync.authenticator import Authenticator, SyncAuthenticator
from clerk_sync.claims import OrganizationClaims, SessionClaims
from clerk_sync.errors import (
    AuthenticationError,
    BackendAPIError,
    ClerkSyncError,
    ConfigurationError,
    CookieAuthRequiresAuthorizedPartiesError,
    DatabaseUnavailableError,
    KeySetUnavailableError,
    PayloadTooLargeError,
    SessionPendingError,
    SessionTokenIatBeforeClientUatError,
    SessionTokenWithoutClientUatError,
    SigningKeyNotFoundError,
    TokenClaimInvalidError,
    TokenError,
    TokenExpiredError,
    TokenIatInTheFutureError,
    TokenInvalidAlgorithmError,
    TokenInvalidAuthorizedPartiesError,
    TokenInvalidError,
    TokenInvalidIssuerError,
    TokenInvalidSignatureError,
    TokenMissingError,
    TokenNotActiveYetError,
    TokenRefreshError,
    TokenTypeMismatchError,
    TokenVerificationFailedError,
    UnavailableError,
    UserDeletedError,
    WebhookError,
    WebhookFieldInvalidError,
    WebhookNotConfiguredError,
    WebhookPayloadError,
    WebhookVerificationError,
)
from clerk_sync.keys import JwksKeySet, KeySet, PemKeySet, SigningKey, SyncJwksKeySet, SyncKeySet, SyncPemKeySet
from clerk_sync.mapping import ClaimMapping
from clerk_sync.profile import Source, UserDeletion, UserProfile
from clerk_sync.settings import ClerkSettings, load_settings
from clerk_sync.tokens import find_token
from clerk_sync.verify import SyncTokenVerifier, TokenVerifier, VerifiedTokenCache
from clerk_sync.webhooks import WebhookEvent, verify_webhook

__version__ = "0.2.0"

__all__ = [
    "AuthenticationError",
    "Authenticator",
    "BackendAPIError",
    "ClaimMapping",
    "ClerkSettings",
    "ClerkSyncError",
    "ConfigurationError",
    "CookieAuthRequiresAuthorizedPartiesError",
    "DatabaseUnavailableError",
    "JwksKeySet",
    "KeySet",
    "KeySetUnavailableError",
    "OrganizationClaims",
    "PayloadTooLargeError",
    "PemKeySet",
    "SessionClaims",
    "SessionPendingError",
    "SessionTokenIatBeforeClientUatError",
    "SessionTokenWithoutClientUatError",
    "SigningKey",
    "SigningKeyNotFoundError",
    "Source",
    "SyncAuthenticator",
    "SyncJwksKeySet",
    "SyncKeySet",
    "SyncPemKeySet",
    "SyncTokenVerifier",
    "TokenClaimInvalidError",
    "TokenError",
    "TokenExpiredError",
    "TokenIatInTheFutureError",
    "TokenInvalidAlgorithmError",
    "TokenInvalidAuthorizedPartiesError",
    "TokenInvalidError",
    "TokenInvalidIssuerError",
    "TokenInvalidSignatureError",
    "TokenMissingError",
    "TokenNotActiveYetError",
    "TokenRefreshError",
    "TokenTypeMismatchError",
    "TokenVerificationFailedError",
    "TokenVerifier",
    "UnavailableError",
    "UserDeletedError",
    "UserDeletion",
    "UserProfile",
    "VerifiedTokenCache",
    "WebhookError",
    "WebhookEvent",
    "WebhookFieldInvalidError",
    "WebhookNotConfiguredError",
    "WebhookPayloadError",
    "WebhookVerificationError",
    "find_token",
    "load_settings",
    "verify_webhook",
]
