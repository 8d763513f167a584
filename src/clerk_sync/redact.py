"""Keep a request's credentials out of logged tracebacks, for every adapter's catch-all error handler.

A crash's traceback can quote local variables and exception messages that hold the request's token. The
adapters log an unexpected error once, with this text, so no framework writes a token into a log.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["MIN_REDACTED", "redact", "request_secrets"]

#: Secrets shorter than this are not tokens; redacting them would blank out ordinary words in a traceback.
MIN_REDACTED = 8


def request_secrets(authorization: str | None, cookie_header: str | None) -> list[str]:
    """The credentials a request carried: the ``Authorization`` value (and its token) and every cookie value."""
    found: list[str] = []
    if authorization:
        found.append(authorization)
        found.extend(authorization.split())
    if cookie_header:
        found.extend(part.partition("=")[2].strip() for part in cookie_header.split(";"))
    return found


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret of ``MIN_REDACTED`` characters or more replaced, longest first."""
    for secret in sorted({s for s in secrets if len(s) >= MIN_REDACTED}, key=len, reverse=True):
        text = text.replace(secret, "[redacted]")
    return text
