"""``clerk_sync.redact``: what every adapter's crash log hides."""

from __future__ import annotations

from clerk_sync.redact import redact, request_secrets


def test_a_requests_token_and_cookies_are_redacted_from_a_traceback() -> None:
    """The bearer value, the bare token and each cookie value are replaced; short values and other text stay."""
    token = "eyJhbGciOiJSUzI1NiJ9.payload.signature"
    secrets = request_secrets(f"Bearer {token}", "__session=sessioncookievalue; theme=dark")
    text = f"ValueError: bad {token}\n  cookie was sessioncookievalue, theme dark"
    assert redact(text, secrets) == "ValueError: bad [redacted]\n  cookie was [redacted], theme dark"


def test_no_credentials_means_nothing_to_redact() -> None:
    """A request without Authorization or cookies leaves the traceback exactly as it was."""
    assert request_secrets(None, None) == []
    assert redact("plain text", []) == "plain text"
