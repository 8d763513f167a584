"""``CLERK_WEBHOOK_SIGNING_SECRET`` is checked at start: ``whsec_`` + base64 of 24-64 bytes (Standard Webhooks).

A secret that cannot verify anything would make every delivery a 400 that Svix retries for days; start-up is the
moment to say so, in one line naming the variable and never echoing the value.
"""

from __future__ import annotations

import base64

import pytest

from clerk_sync.errors import ConfigurationError
from clerk_sync.settings import load_settings
from clerk_sync.testing import make_webhook_secret, sign_webhook
from clerk_sync.webhooks import verify_webhook

#: The Standard Webhooks known-answer vector's secret (24 bytes, no padding needed).
KAT_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def b64(n_bytes: int, *, padded: bool = True) -> str:
    encoded = base64.b64encode(bytes(range(n_bytes))).decode()
    return encoded if padded else encoded.rstrip("=")


@pytest.mark.parametrize(
    "secret",
    [
        KAT_SECRET,
        make_webhook_secret(24),
        make_webhook_secret(64),
        "whsec_" + b64(32, padded=False),  # Svix prints unpadded secrets too
        f"  {KAT_SECRET}\n",  # pasted from a file or a terminal
    ],
    ids=["kat", "24-bytes", "64-bytes", "unpadded", "surrounding-whitespace"],
)
def test_usable_secrets_are_accepted_and_verify(secret: str) -> None:
    """Every shape Svix hands out loads, and the loaded value verifies what the test kit signs with it."""
    settings = load_settings(webhook_signing_secret=secret)
    assert settings.webhook_signing_secret is not None
    loaded = settings.webhook_signing_secret.get_secret_value()
    assert loaded == secret.strip()
    body = b'{"type":"session.created","data":{}}'
    assert verify_webhook(body, sign_webhook(body, secret.strip()), loaded).type == "session.created"


@pytest.mark.parametrize(
    ("secret", "reason"),
    [
        (b64(32), "must start with whsec_"),  # the base64 part alone
        ("sk_test_" + b64(32), "must start with whsec_"),  # the Clerk secret key pasted into the wrong variable
        ("whsec_" + b64(32)[:-4] + "!!!!", "base64"),
        ("whsec_" + b64(32).replace("+", "-").replace("/", "_") + "-_", "base64"),  # url-safe alphabet
        ("whsec_abcde", "base64"),  # 5 characters cannot be base64
        ("whsec_", "24 to 64 bytes"),
        ("whsec_" + b64(16), "24 to 64 bytes"),  # truncated by a copy-paste
        ("whsec_" + b64(65), "24 to 64 bytes"),
    ],
    ids=["no-prefix", "secret-key", "not-base64", "url-safe", "bad-length", "empty", "too-short", "too-long"],
)
def test_malformed_secrets_stop_with_one_line(secret: str, reason: str) -> None:
    """A malformed secret is a ConfigurationError naming the variable and the rule, without the value."""
    with pytest.raises(ConfigurationError) as info:
        load_settings(webhook_signing_secret=secret)
    message = info.value.message
    assert message.startswith("CLERK_WEBHOOK_SIGNING_SECRET: ")
    assert reason in message
    assert "\n" not in message
    value = secret.strip().removeprefix("whsec_")
    if value:
        assert value[:12] not in message


def test_blank_secret_means_unset() -> None:
    """An empty variable is "not configured" (the route answers 503), not a malformed secret."""
    assert load_settings(webhook_signing_secret="  ").webhook_signing_secret is None
