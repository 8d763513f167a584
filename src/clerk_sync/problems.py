"""How every clerk-sync refusal looks over HTTP, for any web framework: one table, one ``Problem`` value.

An adapter (``clerk_sync.fastapi`` today; Django, Flask and Litestar next) turns a ``Problem`` into its own
response object and decides nothing itself: the status, the headers and the RFC 9457 body are all here.

- ``problem_for(exc)``: a ``ClerkSyncError`` by the first matching row of ``STATUS``. 401s carry
  ``WWW-Authenticate: Bearer`` (RFC 6750 section 3: ``error="invalid_token"`` only when a token was sent); our own
  failures are 503 with ``Retry-After`` so clients retry instead of signing the user out.
- ``problem(status, code, detail)`` and the named helpers below: the refusals that are not ``ClerkSyncError``s
  (no route, wrong method, a body that does not parse or match, a crash).

No web framework is imported here (import-linter checks it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from types import MappingProxyType
from typing import Any, ClassVar

from clerk_sync.errors import (
    AuthenticationError,
    BackendAPIError,
    ClerkSyncError,
    ConfigurationError,
    PayloadTooLargeError,
    TokenError,
    TokenMissingError,
    TokenRefreshError,
    UnavailableError,
    WebhookError,
)

__all__ = [
    "ABSTRACT_ERRORS",
    "HTTP_CODES",
    "PROBLEM_JSON",
    "STATUS",
    "Problem",
    "body_invalid",
    "codes_of",
    "http_problem",
    "internal_error",
    "problem",
    "problem_for",
    "request_invalid",
    "status_for",
]

PROBLEM_JSON = "application/problem+json"

#: The one status table: the first row whose class the error is an instance of wins. Every class clerk-sync
#: raises matches a row (tests/test_problems.py walks the tree); an app's own ``ClerkSyncError`` subclass that
#: matches none is a 500.
STATUS: tuple[tuple[type[ClerkSyncError], int], ...] = (
    (AuthenticationError, 401),
    (UnavailableError, 503),
    (WebhookError, 400),
    (PayloadTooLargeError, 413),
    (BackendAPIError, 502),
    (TokenRefreshError, 502),
    (ConfigurationError, 500),
)

#: Groups, never raised themselves: their codes are not on the wire, so OpenAPI does not list them.
ABSTRACT_ERRORS: frozenset[type[ClerkSyncError]] = frozenset(
    {ClerkSyncError, AuthenticationError, TokenError, UnavailableError, WebhookError}
)

#: The codes an adapter sends for the refusals that are not ``ClerkSyncError``s, by status (what its OpenAPI
#: documents; ``http_problem`` derives the 404's and 405's from their reason phrases).
HTTP_CODES: Mapping[int, str] = MappingProxyType(
    {400: "body-invalid", 404: "not-found", 405: "method-not-allowed", 422: "request-invalid", 500: "internal-error"}
)

_REALM = 'Bearer realm="clerk-sync"'


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


@dataclass(frozen=True, slots=True)
class Problem:
    """An HTTP refusal, framework-neutral: ``status``, ``headers`` and an RFC 9457 ``body()``.

    ``code`` is the stable field clients branch on; ``extensions`` are extra members (RFC 9457 section 3.2), such
    as the ``errors`` list of a 422.
    """

    status: int
    code: str
    detail: str
    headers: Mapping[str, str] = field(default_factory=dict)
    extensions: Mapping[str, Any] = field(default_factory=dict)

    content_type: ClassVar[str] = PROBLEM_JSON

    @property
    def title(self) -> str:
        """The status's reason phrase (RFC 9457: the same for every occurrence of the problem type)."""
        return _title(self.status)

    def body(self) -> dict[str, Any]:
        """The JSON document; a fresh dict each call, so an adapter may add to it."""
        document: dict[str, Any] = {
            "type": "about:blank",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        document.update(self.extensions)
        return document


def status_for(exc: ClerkSyncError | type[ClerkSyncError]) -> int:
    """The HTTP status for an error (or an error class), by the first matching row of ``STATUS``."""
    cls = exc if isinstance(exc, type) else type(exc)
    for base, status in STATUS:
        if issubclass(cls, base):
            return status
    return 500


def problem_for(exc: ClerkSyncError) -> Problem:
    """The refusal for a clerk-sync error: status from ``STATUS``, its ``code`` and message, and the headers."""
    status = status_for(exc)
    headers: dict[str, str] = {}
    if status == 401:
        # RFC 6750 section 3.1: no error code when the request carried no credentials at all.
        headers["WWW-Authenticate"] = (
            _REALM
            if isinstance(exc, TokenMissingError)
            else f'{_REALM}, error="invalid_token", error_description="{exc.code}"'
        )
    if isinstance(exc, UnavailableError):
        headers["Retry-After"] = str(exc.retry_after)
    return Problem(status, exc.code, exc.message, headers)


def problem(
    status: int, code: str, detail: str, headers: Mapping[str, str] | None = None, **extensions: Any
) -> Problem:
    """Any other refusal, e.g. an app's own ``problem(404, "not-found", "No such order.")``."""
    return Problem(status, code, detail, dict(headers or {}), extensions)


def http_problem(status: int, detail: str | None = None, headers: Mapping[str, str] | None = None) -> Problem:
    """A framework's own refusal by status (no route, wrong method...): the code is the slug of the reason phrase
    ("Not Found" -> ``not-found``, "I'm a Teapot" -> ``i-m-a-teapot``). Headers such as a 405's ``Allow`` are
    the adapter's to pass on."""
    code = re.sub(r"[^a-z0-9]+", "-", _title(status).lower()).strip("-")
    if status == 404:
        detail = "Nothing is served at this path."
    elif status == 405:
        detail = "This path does not accept the method; the Allow header lists the ones it does."
    return problem(status, code, detail or _title(status), headers)


def body_invalid(detail: str = "The request body could not be decoded.") -> Problem:
    """A body that does not parse at all (not UTF-8, not JSON): 400, nothing to validate."""
    return problem(400, HTTP_CODES[400], detail)


def request_invalid(errors: Sequence[Mapping[str, Any]]) -> Problem:
    """A body or parameters that parse but do not match the schema: 422, listing where and why (at most 20),
    never echoing the input back. Each error has ``loc`` (a sequence), ``msg`` and ``type``."""
    listed = [
        {"loc": [str(part) for part in error.get("loc", ())], "msg": str(error.get("msg", "")), "type": error["type"]}
        for error in errors[:20]
    ]
    return problem(422, HTTP_CODES[422], "The request does not match the endpoint's schema.", errors=listed)


def internal_error() -> Problem:
    """An unexpected exception: 500 with nothing of it in the body (the adapter logs it once)."""
    return problem(500, HTTP_CODES[500], "An unexpected error occurred.")


def codes_of(cls: type[ClerkSyncError]) -> Iterator[tuple[int, str]]:
    """(status, code) of ``cls`` and every subclass that can be raised: what a route raising ``cls`` may send."""
    if cls not in ABSTRACT_ERRORS:
        yield status_for(cls), cls.code
    for sub in cls.__subclasses__():
        yield from codes_of(sub)
