"""One exception tree for everything clerk-sync refuses or cannot do.

Every class carries a stable string ``code``: the HTTP layer renders it, clients branch on it, and the
authentication codes are Clerk's own reason strings (``@clerk/backend`` ``TokenVerificationErrorReason``), so a
log line reads the same whether it came from Clerk's SDK or from us. Status codes and headers live only in
``clerk_sync.problems`` (one table for every web framework). The groups (``AuthenticationError``, ``TokenError``,
``UnavailableError``, ``WebhookError``) are never raised themselves; their codes name the group in logs only.

```
ClerkSyncError
├── AuthenticationError                    the caller is not (or no longer) signed in: 401
│   ├── TokenMissingError                  session-token-missing
│   ├── UserDeletedError                   user-deleted
│   └── TokenError                         token-refused: a token was sent and refused (a group)
│       ├── TokenInvalidError              token-invalid
│       ├── TokenInvalidAlgorithmError     token-invalid-algorithm
│       ├── TokenInvalidSignatureError     token-invalid-signature
│       ├── TokenExpiredError              token-expired
│       ├── TokenNotActiveYetError         token-not-active-yet
│       ├── TokenIatInTheFutureError       token-iat-in-the-future
│       ├── TokenInvalidAuthorizedPartiesError  token-invalid-authorized-parties
│       ├── TokenInvalidIssuerError        token-invalid-issuer
│       ├── TokenVerificationFailedError   token-verification-failed
│       ├── TokenTypeMismatchError         token-type-mismatch
│       ├── SessionPendingError            session-pending
│       ├── SigningKeyNotFoundError        jwk-kid-mismatch
│       ├── TokenClaimInvalidError         token-claim-invalid (a claim the user row cannot hold)
│       ├── CookieAuthRequiresAuthorizedPartiesError  cookie-auth-requires-authorized-parties
│       ├── SessionTokenWithoutClientUatError         session-token-but-no-client-uat
│       └── SessionTokenIatBeforeClientUatError       session-token-iat-before-client-uat
├── UnavailableError                       our own dependency failed; retry later: 503
│   ├── KeySetUnavailableError             jwk-remote-failed-to-load
│   ├── DatabaseUnavailableError           database-unavailable
│   └── WebhookNotConfiguredError          webhook-signing-secret-missing
├── WebhookError                           an inbound webhook is refused: 400
│   ├── WebhookVerificationError           webhook-signature-invalid
│   └── WebhookPayloadError                webhook-payload-invalid
│       └── WebhookFieldInvalidError       webhook-payload-invalid, naming the field
├── PayloadTooLargeError                   payload-too-large
├── BackendAPIError                        clerk-api-error (the Backend API answered badly or not at all)
├── TokenRefreshError                      token-refresh-failed (outbound client could not get a token)
└── ConfigurationError                     configuration-invalid (stops the service at start)
```
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "BackendAPIError",
    "ClerkSyncError",
    "ConfigurationError",
    "CookieAuthRequiresAuthorizedPartiesError",
    "DatabaseUnavailableError",
    "KeySetUnavailableError",
    "PayloadTooLargeError",
    "SessionPendingError",
    "SessionTokenIatBeforeClientUatError",
    "SessionTokenWithoutClientUatError",
    "SigningKeyNotFoundError",
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
    "UnavailableError",
    "UserDeletedError",
    "WebhookError",
    "WebhookFieldInvalidError",
    "WebhookNotConfiguredError",
    "WebhookPayloadError",
    "WebhookVerificationError",
]


class ClerkSyncError(Exception):
    """Root of every error clerk-sync raises on purpose; anything else is a bug."""

    code: str = "clerk-sync-error"

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.__doc__ or self.code
        super().__init__(self.message)


class AuthenticationError(ClerkSyncError):
    """Raised when the request does not carry an acceptable identity."""

    code = "authentication-failed"


class TokenMissingError(AuthenticationError):
    """Raised when the request carries no session token at all."""

    code = "session-token-missing"


class UserDeletedError(AuthenticationError):
    """Raised when the token is valid but its user was deleted in Clerk (tombstoned here)."""

    code = "user-deleted"


class TokenError(AuthenticationError):
    """Raised (as one of its subclasses) when a session token was sent but is refused."""

    code = "token-refused"


class TokenInvalidError(TokenError):
    """Raised when the token is not a well-formed Clerk session JWT."""

    code = "token-invalid"


class TokenInvalidAlgorithmError(TokenError):
    """Raised when the token's ``alg`` is not RS256, RS384 or RS512."""

    code = "token-invalid-algorithm"


class TokenInvalidSignatureError(TokenError):
    """Raised when the token's signature does not match its signing key."""

    code = "token-invalid-signature"


class TokenExpiredError(TokenError):
    """Raised when the token's ``exp`` has passed (beyond the allowed clock skew)."""

    code = "token-expired"


class TokenNotActiveYetError(TokenError):
    """Raised when the token's ``nbf`` lies in the future (beyond the allowed clock skew)."""

    code = "token-not-active-yet"


class TokenIatInTheFutureError(TokenError):
    """Raised when the token's ``iat`` lies in the future (beyond the allowed clock skew)."""

    code = "token-iat-in-the-future"


class TokenInvalidAuthorizedPartiesError(TokenError):
    """Raised when authorized parties are configured and ``azp`` is missing or not one of them."""

    code = "token-invalid-authorized-parties"


class TokenInvalidIssuerError(TokenError):
    """Raised when an issuer is expected and ``iss`` differs from it."""

    code = "token-invalid-issuer"


class TokenVerificationFailedError(TokenError):
    """Raised when a required claim is missing or of the wrong type, or the signature could not be checked."""

    code = "token-verification-failed"


class TokenTypeMismatchError(TokenError):
    """Raised when the token is a machine, OAuth or JWT-template token rather than a session token."""

    code = "token-type-mismatch"


class SessionPendingError(TokenError):
    """Raised when the session is ``pending`` (a required step such as choosing an organization remains)."""

    code = "session-pending"


class SigningKeyNotFoundError(TokenError):
    """Raised when no key of the configured instance matches the token's ``kid``, even after a refetch."""

    code = "jwk-kid-mismatch"


class UnavailableError(ClerkSyncError):
    """Raised when one of our own dependencies failed; the caller should retry, not sign out."""

    code = "service-unavailable"
    retry_after: int = 5


class KeySetUnavailableError(UnavailableError):
    """Raised when no usable signing key could be loaded (JWKS endpoint down and nothing cached)."""

    code = "jwk-remote-failed-to-load"


class DatabaseUnavailableError(UnavailableError):
    """Raised when the database could not be reached or failed while syncing the user."""

    code = "database-unavailable"
    retry_after = 2


class WebhookNotConfiguredError(UnavailableError):
    """Raised when a webhook arrives but no signing secret is configured, so it cannot be trusted."""

    code = "webhook-signing-secret-missing"
    retry_after = 60


class WebhookError(ClerkSyncError):
    """Raised when an inbound webhook is refused; nothing was written."""

    code = "webhook-invalid"


class WebhookVerificationError(WebhookError):
    """Raised when a webhook's Svix headers or signature are missing, stale or wrong."""

    code = "webhook-signature-invalid"


class WebhookPayloadError(WebhookError):
    """Raised when a correctly signed webhook body is not a Clerk event we can read."""

    code = "webhook-payload-invalid"


class PayloadTooLargeError(ClerkSyncError):
    """Raised when a token or request body exceeds the size we are willing to parse."""

    code = "payload-too-large"


class BackendAPIError(ClerkSyncError):
    """Raised when the Clerk Backend API answers with an error or cannot be reached."""

    code = "clerk-api-error"

    def __init__(self, message: str | None = None, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class TokenRefreshError(ClerkSyncError):
    """Raised when an outbound client's token source fails to produce a fresh token."""

    code = "token-refresh-failed"


class ConfigurationError(ClerkSyncError):
    """Raised at start when the configuration cannot work; the message names the variable."""

    code = "configuration-invalid"


class CookieAuthRequiresAuthorizedPartiesError(TokenError):
    """Raised when a token arrives in the session cookie but no ``CLERK_AUTHORIZED_PARTIES`` is configured.

    A browser attaches the cookie to requests any site triggers, so a cookie is trusted only with an ``azp``
    allow-list to check it against (CSRF); header tokens are unaffected.
    """

    code = "cookie-auth-requires-authorized-parties"


class SessionTokenWithoutClientUatError(TokenError):
    """Raised when a cookie token arrives without a ``__client_uat`` cookie, or with ``0`` (signed out)."""

    code = "session-token-but-no-client-uat"


class SessionTokenIatBeforeClientUatError(TokenError):
    """Raised when a cookie token was issued before ``__client_uat``: the client signed in or out since."""

    code = "session-token-iat-before-client-uat"


class TokenClaimInvalidError(TokenError):
    """Raised when a verified token's claim cannot be stored in the user row: the wrong type, longer than its
    column, or a version out of range. The message names the claim, never its value."""

    code = "token-claim-invalid"

    def __init__(self, message: str | None = None, *, claim: str | None = None) -> None:
        super().__init__(message)
        self.claim = claim


class WebhookFieldInvalidError(WebhookPayloadError):
    """Raised when a field of a signed webhook has the wrong type or cannot be stored; nothing was written.

    The code stays ``webhook-payload-invalid`` (to the sender every unusable body is one refusal); ``field``
    (e.g. ``data.first_name``) and the message name the field, never its value.
    """

    def __init__(self, message: str | None = None, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field
