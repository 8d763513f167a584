"""Webhook verification against the Standard Webhooks reference suite, Clerk's SDK cases and payloads."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from svix.webhooks import Webhook

from clerk_sync.errors import (
    PayloadTooLargeError,
    WebhookFieldInvalidError,
    WebhookNotConfiguredError,
    WebhookPayloadError,
    WebhookVerificationError,
)
from clerk_sync.mapping import UserJSONError, primary_email, profile_from_user_json
from clerk_sync.profile import Source, UserDeletion, UserProfile
from clerk_sync.testing.webhooks import make_webhook_secret, sign_event, sign_webhook
from clerk_sync.webhooks import (
    IgnoredEvent,
    WebhookEvent,
    WebhookVerifier,
    to_user_change,
    verify_webhook,
)

FIXTURES = Path(__file__).parent / "fixtures"


KAT_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
KAT_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
KAT_TIMESTAMP = 1614265330
KAT_BODY = b'{"test": 2432232314}'
KAT_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
KAT_HEADERS = {"svix-id": KAT_ID, "svix-timestamp": str(KAT_TIMESTAMP), "svix-signature": KAT_SIGNATURE}

NOW = 1_700_000_000.0


def _fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def _signed_kat_now(secret: str = KAT_SECRET, **overrides: str) -> dict[str, str]:
    headers = sign_webhook(KAT_BODY, secret, msg_id=KAT_ID, timestamp=NOW)
    headers.update(overrides)
    return headers


# -- known answer and cross-checks ---------------------------------------------------------------------------


def test_test_kit_signer_reproduces_the_known_answer() -> None:
    """The test kit's signer produces the Standard Webhooks known-answer headers byte for byte."""
    headers = sign_webhook(KAT_BODY, KAT_SECRET, msg_id=KAT_ID, timestamp=KAT_TIMESTAMP)
    assert headers == KAT_HEADERS


def test_verify_accepts_the_known_answer_at_its_own_time() -> None:
    """At the vector's own time its signature checks out (id and time returned); verify then refuses the body, which is
    no Clerk event."""
    verifier = WebhookVerifier(KAT_SECRET)
    assert verifier.check_signature(KAT_BODY, KAT_HEADERS, now=KAT_TIMESTAMP) == (KAT_ID, KAT_TIMESTAMP)
    # The vector's body is not a Clerk event: the signature passes, then the payload check refuses it.
    with pytest.raises(WebhookPayloadError):
        verifier.verify(KAT_BODY, KAT_HEADERS, now=KAT_TIMESTAMP)


def test_known_answer_fails_at_real_time() -> None:
    """On the real clock the 2021 vector is a replay: refused as too old."""
    with pytest.raises(WebhookVerificationError, match="too old"):
        verify_webhook(KAT_BODY, KAT_HEADERS, KAT_SECRET)


def test_svix_sign_output_verifies_and_agrees_with_test_kit() -> None:
    """A signature made by the svix library verifies here and equals the test kit's for the same input."""
    secret = make_webhook_secret()
    body = json.dumps({"type": "user.created", "data": {"id": "user_123"}}).encode()
    svix_signature = Webhook(secret).sign("msg_1", datetime.fromtimestamp(NOW, UTC), body.decode())
    headers = {"svix-id": "msg_1", "svix-timestamp": str(int(NOW)), "svix-signature": svix_signature}
    assert sign_webhook(body, secret, msg_id="msg_1", timestamp=NOW)["svix-signature"] == svix_signature
    event = verify_webhook(body, headers, secret, now=NOW)
    assert (event.id, event.type, event.data["id"]) == ("msg_1", "user.created", "user_123")


def test_svix_own_verify_accepts_test_kit_signature() -> None:
    """The svix library's own verifier accepts what the test kit signs."""
    secret = make_webhook_secret()
    body = b'{"type":"user.created","data":{"id":"user_123"}}'
    Webhook(secret).verify(body, sign_webhook(body, secret))


# -- Standard Webhooks reference-suite cases -----------------------------------------------------------------


def _verify_kat(headers: dict[str, str], secret: str = KAT_SECRET) -> None:
    """The signature check accepts ``headers``: it returns the signed message id and time (the KAT body is no
    Clerk event, so the signature is checked on its own rather than inferred from a later payload error)."""
    sent = {name.lower(): value for name, value in headers.items()}
    prefix = "svix" if "svix-id" in sent else "webhook"
    expected = (sent[f"{prefix}-id"], int(sent[f"{prefix}-timestamp"]))
    assert WebhookVerifier(secret).check_signature(KAT_BODY, headers, now=NOW) == expected


def test_valid_signature_passes() -> None:
    """A freshly signed delivery passes the signature check."""
    _verify_kat(_signed_kat_now())


@pytest.mark.parametrize("secret", [None, "", "   ", "whsec_"])
def test_empty_secret_is_not_configured(secret: str | None) -> None:
    """A missing or empty secret is "not configured" (a 503 upstream), never a signature failure."""
    with pytest.raises(WebhookNotConfiguredError, match="Missing webhook signing secret"):
        verify_webhook(KAT_BODY, _signed_kat_now(), secret, now=NOW)


def test_undecodable_secret_is_not_configured() -> None:
    """A secret that is not base64 is refused when the verifier is built, naming the problem."""
    with pytest.raises(WebhookNotConfiguredError, match="base64"):
        WebhookVerifier("whsec_not*base64!")


@pytest.mark.parametrize("missing", ["svix-id", "svix-timestamp", "svix-signature"])
def test_missing_header_fails(missing: str) -> None:
    """Each missing svix header is refused, naming the header."""
    headers = _signed_kat_now()
    del headers[missing]
    with pytest.raises(WebhookVerificationError, match=f"Missing required webhook headers: {missing}"):
        verify_webhook(KAT_BODY, headers, KAT_SECRET, now=NOW)


def test_no_headers_names_all_three() -> None:
    """No headers at all names all three required headers."""
    with pytest.raises(
        WebhookVerificationError,
        match="Missing required webhook headers: svix-id, svix-timestamp, svix-signature",
    ):
        verify_webhook(KAT_BODY, {}, KAT_SECRET, now=NOW)


@pytest.mark.parametrize("blank", ["", "   ", "  \t  ", "\n"])
@pytest.mark.parametrize("name", ["svix-id", "svix-timestamp", "svix-signature"])
def test_blank_header_counts_as_missing(name: str, blank: str) -> None:
    """A header that is present but blank counts as missing."""
    with pytest.raises(WebhookVerificationError, match="Missing required webhook headers"):
        verify_webhook(KAT_BODY, _signed_kat_now(**{name: blank}), KAT_SECRET, now=NOW)


@pytest.mark.parametrize("timestamp", ["hello", "1.5", "-1", "1e9", "", "0x10", "١٢٣"])
def test_bad_timestamp_fails(timestamp: str) -> None:
    """A timestamp that is not a plain decimal integer of seconds is refused."""
    with pytest.raises(WebhookVerificationError):
        verify_webhook(KAT_BODY, _signed_kat_now(**{"svix-timestamp": timestamp}), KAT_SECRET, now=NOW)


def test_last_character_changed_fails() -> None:
    """Changing the vector's signature in its last character is "no matching signature"."""
    headers = dict(KAT_HEADERS, **{"svix-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="})
    with pytest.raises(WebhookVerificationError, match="No matching signature found"):
        verify_webhook(KAT_BODY, headers, KAT_SECRET, now=KAT_TIMESTAMP)


@pytest.mark.parametrize(("offset", "message"), [(-301, "too old"), (301, "too new")])
def test_timestamp_outside_five_minutes_fails(offset: int, message: str) -> None:
    """A timestamp more than 300 s off, either way, is refused as too old or too new."""
    headers = sign_webhook(KAT_BODY, KAT_SECRET, timestamp=NOW + offset)
    with pytest.raises(WebhookVerificationError, match=message):
        verify_webhook(KAT_BODY, headers, KAT_SECRET, now=NOW)


@pytest.mark.parametrize("offset", [-300, 300])
def test_timestamp_at_the_edge_passes(offset: int) -> None:
    """Exactly 300 s off, either way, is still inside the window."""
    _verify_kat(sign_webhook(KAT_BODY, KAT_SECRET, timestamp=NOW + offset))


def test_one_valid_among_several_signatures_passes() -> None:
    """One valid v1 entry among bad and other-version entries is enough (secret rotation)."""
    valid = _signed_kat_now()["svix-signature"]
    bad = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="
    mixed = " ".join([bad, "v2," + bad.removeprefix("v1,"), valid, bad])
    _verify_kat(_signed_kat_now(**{"svix-signature": mixed}))


def test_valid_signature_under_another_version_fails() -> None:
    """A valid signature labelled with another version than v1 is not accepted."""
    valid = _signed_kat_now()["svix-signature"]
    with pytest.raises(WebhookVerificationError):
        verify_webhook(KAT_BODY, _signed_kat_now(**{"svix-signature": "v2" + valid[2:]}), KAT_SECRET, now=NOW)


@pytest.mark.parametrize(
    "signature",
    ["v1,test_signature", "v1,invalid_signature_here", "v1", "garbage", "v1,", ",", "v1,====", "v1,YQ"],
)
def test_malformed_signatures_fail_cleanly(signature: str) -> None:
    """Malformed signature lists are refused as "no matching signature", never with another exception."""
    with pytest.raises(WebhookVerificationError, match="No matching signature found"):
        verify_webhook(KAT_BODY, _signed_kat_now(**{"svix-signature": signature}), KAT_SECRET, now=NOW)


def test_malformed_entry_before_a_valid_one_passes() -> None:
    """Malformed entries in front of a valid one do not hide it."""
    valid = _signed_kat_now()["svix-signature"]
    _verify_kat(_signed_kat_now(**{"svix-signature": f"v1,invalid_signature nocomma v1,!!! {valid}"}))


def test_secret_with_and_without_prefix() -> None:
    """The secret verifies with and without its whsec_ prefix."""
    headers = _signed_kat_now()
    _verify_kat(headers, KAT_SECRET)
    _verify_kat(headers, KAT_SECRET.removeprefix("whsec_"))


@pytest.mark.parametrize("key_length", [30, 31, 32])
def test_unpadded_base64_secrets(key_length: int) -> None:
    """Secrets whose base64 lost its padding load and verify like the padded form."""
    key = bytes(range(1, key_length + 1))
    padded = base64.b64encode(key).decode()
    assert padded.count("=") == {30: 0, 31: 2, 32: 1}[key_length]
    secret = "whsec_" + padded.rstrip("=")
    headers = sign_webhook(KAT_BODY, "whsec_" + padded, msg_id=KAT_ID, timestamp=NOW)
    _verify_kat(headers, secret)
    _verify_kat(headers, padded)


def test_standard_header_names_are_accepted() -> None:
    """The webhook-* header names verify like the svix-* ones."""
    _verify_kat(sign_webhook(KAT_BODY, KAT_SECRET, timestamp=NOW, header_prefix="webhook"))


def test_header_names_are_case_insensitive() -> None:
    """Header names match whatever their case."""
    _verify_kat({name.upper(): value for name, value in _signed_kat_now().items()})


def test_wrong_secret_fails() -> None:
    """A delivery signed with another secret is refused."""
    with pytest.raises(WebhookVerificationError):
        verify_webhook(KAT_BODY, _signed_kat_now(), make_webhook_secret(), now=NOW)


def test_body_changed_after_signing_fails() -> None:
    """A body changed after signing is refused."""
    with pytest.raises(WebhookVerificationError):
        verify_webhook(b'{"test": 2432232315}', _signed_kat_now(), KAT_SECRET, now=NOW)


def test_non_utf8_body_fails_verification() -> None:
    """A body that is not UTF-8 is refused as unverifiable."""
    body = b"\xff\xfe{}"
    with pytest.raises(WebhookVerificationError):
        verify_webhook(body, sign_webhook(body, KAT_SECRET, timestamp=NOW), KAT_SECRET, now=NOW)


def test_body_over_the_cap_is_refused_before_anything_else() -> None:
    """A body over the size cap is refused first, before headers are even looked at."""
    body = b"x" * 101
    with pytest.raises(PayloadTooLargeError):
        verify_webhook(body, {}, KAT_SECRET, max_body_bytes=100, now=NOW)


# -- payload parsing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b'"text"',
        b'{"data": {}}',
        b'{"type": "user.created"}',
        b'{"type": 1, "data": {}}',
        b'{"type": "user.created", "data": []}',
        b'{"type": "", "data": {}}',
    ],
)
def test_signed_but_unreadable_body_is_a_payload_error(body: bytes) -> None:
    """A correctly signed body that is not a usable event is a payload error, not a signature error."""
    with pytest.raises(WebhookPayloadError):
        verify_webhook(body, sign_webhook(body, KAT_SECRET, timestamp=NOW), KAT_SECRET, now=NOW)


def _verify_fixture(name: str) -> WebhookEvent:
    event = _fixture(name)
    secret = make_webhook_secret()
    body, headers = sign_event(event, secret, msg_id="msg_fixture", timestamp=NOW)
    return verify_webhook(body, headers, secret, now=NOW)


def test_user_created_fixture() -> None:
    """Clerk's documented user.created sample parses: the svix id, type, envelope time and instance."""
    event = _verify_fixture("user.created.json")
    assert (event.id, event.type, event.timestamp_ms, event.instance_id) == (
        "msg_fixture",
        "user.created",
        1654012591835,
        "ins_123",
    )
    assert event.attributes["http_request"]["client_ip"] == "0.0.0.0"
    change = to_user_change(event)
    assert change == UserProfile(
        clerk_id="user_29w83sxmDNGwOuEthce5gg56FcC",
        version=1654012591835,
        source=Source.WEBHOOK,
        fields={
            "email": "example@example.org",
            "first_name": "Example",
            "last_name": "Example",
            "image_url": "https://img.clerk.com/xxxxxx",
            "public_metadata": {},
        },
    )


def test_user_updated_fixture_clears_last_name() -> None:
    """Clerk's user.updated sample clears the last name (an explicit null) and is versioned by updated_at."""
    change = to_user_change(_verify_fixture("user.updated.json"))
    assert isinstance(change, UserProfile)
    assert change.version == 1654012824306
    assert "last_name" in change.fields
    assert change.fields["last_name"] is None
    assert change.fields["email"] == "example@example.org"
    assert "private_metadata" not in change.fields


def test_user_deleted_fixture_is_a_tombstone_at_event_time() -> None:
    """Clerk's user.deleted sample is a tombstone versioned by the event time."""
    change = to_user_change(_verify_fixture("user.deleted.json"))
    assert change == UserDeletion(clerk_id="user_29wBMCtzATuFJut8jO2VNTVekS4", version=1661861640000)


def _event(event_type: str, data: dict[str, Any], timestamp: Any = 1_700_000_000_000) -> WebhookEvent:
    secret = make_webhook_secret()
    envelope: dict[str, Any] = {"type": event_type, "data": data, "object": "event"}
    if timestamp is not None:
        envelope["timestamp"] = timestamp
    body, headers = sign_event(envelope, secret, timestamp=NOW)
    return verify_webhook(body, headers, secret, now=NOW)


def test_other_event_types_are_ignored() -> None:
    """Event types other than user.* map to IgnoredEvent."""
    event = _event("session.created", {"id": "sess_1"})
    assert to_user_change(event) == IgnoredEvent(type="session.created", id=event.id)


def test_private_metadata_only_on_request() -> None:
    """Private metadata is mapped only when the app opts in."""
    data = {
        "id": "user_1",
        "updated_at": 5_000_000_000_000,
        "private_metadata": None,
        "public_metadata": None,
    }
    event = _event("user.updated", data)
    assert "private_metadata" not in to_user_change(event).fields  # type: ignore[union-attr]
    change = to_user_change(event, include_private_metadata=True)
    assert isinstance(change, UserProfile)
    assert change.fields == {"private_metadata": {}, "public_metadata": {}}


def test_missing_updated_at_falls_back_to_event_timestamp_in_seconds() -> None:
    """Without updated_at the event timestamp versions the change, read as seconds when it has 10 digits."""
    change = to_user_change(_event("user.created", {"id": "user_1"}, timestamp=1716883200))
    assert isinstance(change, UserProfile)
    assert change.version == 1716883200000


def test_missing_envelope_timestamp_falls_back_to_signed_header_time() -> None:
    """Without an envelope timestamp the signed header time is used."""
    event = _event("user.deleted", {"id": "user_1"}, timestamp=None)
    assert event.timestamp_ms == int(NOW) * 1000


@pytest.mark.parametrize("event_type", ["user.created", "user.updated", "user.deleted"])
@pytest.mark.parametrize("data", [{}, {"id": 42}, {"id": ""}, {"id": None}])
def test_user_event_without_string_id_is_a_payload_error(event_type: str, data: dict[str, Any]) -> None:
    """A user event whose data has no non-empty string id is a payload error."""
    with pytest.raises(WebhookPayloadError):
        to_user_change(_event(event_type, data))


# -- the shared User JSON mapping ----------------------------------------------------------------------------


def test_primary_email_follows_the_primary_id() -> None:
    """The stored email is the one primary_email_address_id points at, not the first in the list."""
    user = {
        "primary_email_address_id": "idn_2",
        "email_addresses": [
            {"id": "idn_1", "email_address": "old@example.org"},
            {"id": "idn_2", "email_address": "main@example.org"},
        ],
    }
    assert primary_email(user) == "main@example.org"
    assert primary_email({"primary_email_address_id": "idn_3", "email_addresses": []}) is None
    assert primary_email({"primary_email_address_id": None, "email_addresses": user["email_addresses"]}) is None


def test_backend_user_json_maps_with_the_callers_source() -> None:
    """Backend API user JSON maps like a webhook, tagged with the caller's source."""
    user = _fixture("user.created.json")["data"]
    profile = profile_from_user_json(user, source=Source.BACKFILL, include_private_metadata=True)
    assert profile.source is Source.BACKFILL
    assert profile.version == 1654012591835
    assert profile.fields["private_metadata"] == {}


def test_absent_keys_never_erase_columns() -> None:
    """Keys absent from the user JSON are absent from the profile, so they never clear a column."""
    profile = profile_from_user_json({"id": "user_1", "updated_at": 1}, source=Source.API, version=None)
    assert profile.fields == {}


def test_user_json_without_any_version_is_refused() -> None:
    """User JSON without updated_at and without a given version is refused."""
    with pytest.raises(ValueError, match="updated_at"):
        profile_from_user_json({"id": "user_1"}, source=Source.API)


USER = {
    "id": "user_1",
    "updated_at": 1_700_000_000_000,
    "first_name": "Ada",
    "last_name": None,
    "image_url": "https://img.clerk.com/x",
    "primary_email_address_id": "idn_1",
    "email_addresses": [{"id": "idn_1", "email_address": "ada@example.org", "linked_to": []}],
    "public_metadata": {"plan": "pro"},
    "private_metadata": None,
}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"first_name": 42}, "first_name"),
        ({"last_name": False}, "last_name"),
        ({"image_url": ["https://img"]}, "image_url"),
        ({"primary_email_address_id": 1}, "primary_email_address_id"),
        ({"email_addresses": "ada@example.org"}, "email_addresses"),
        ({"email_addresses": [["ada@example.org"]]}, "email_addresses[0]"),
        ({"email_addresses": [{"email_address": "ada@example.org"}]}, "email_addresses[0].id"),
        ({"email_addresses": [{"id": "idn_1", "email_address": {"v": 1}}]}, "email_addresses[0].email_address"),
        ({"public_metadata": []}, "public_metadata"),
        ({"private_metadata": "secret"}, "private_metadata"),
        ({"updated_at": "1700000000000"}, "updated_at"),
        ({"updated_at": 1.7e12}, "updated_at"),
        ({"updated_at": -1}, "updated_at"),
        ({"updated_at": 1e300}, "updated_at"),
        ({"updated_at": True}, "updated_at"),
        ({"id": ["user_1"]}, "id"),
    ],
)
def test_user_json_of_the_wrong_type_is_refused_not_coerced(overrides: dict[str, Any], field: str) -> None:
    """Each field Clerk's ``UserJSON`` types is refused with its name when it has another type (before:
    ``first_name: 42`` read as cleared, ``email_addresses: "x"`` as no address, ``public_metadata: []`` as
    ``{}``, a string ``updated_at`` parsed); the message never quotes the value."""
    with pytest.raises(UserJSONError) as raised:
        profile_from_user_json({**USER, **overrides}, source=Source.API, include_private_metadata=True)
    assert raised.value.field == field
    assert repr(next(iter(overrides.values()))) not in str(raised.value)
    with pytest.raises(UserJSONError) as prefixed:
        profile_from_user_json(
            {**USER, **overrides}, source=Source.WEBHOOK, include_private_metadata=True, path="data."
        )
    assert prefixed.value.field == f"data.{field}"


def test_nulls_clear_and_absent_keys_keep() -> None:
    """What Clerk may send as null is accepted: names clear, metadata becomes empty, no addresses means no
    email; the labels name each column's source field for refusals further on."""
    nulls = {"id": "user_1", "updated_at": None, "first_name": None, "email_addresses": None, "public_metadata": None}
    profile = profile_from_user_json(nulls, source=Source.WEBHOOK, version=5_000, path="data.")
    assert dict(profile.fields) == {"email": None, "first_name": None, "public_metadata": {}}
    assert profile.version == 5_000
    assert (profile.labels["email"], profile.labels["clerk_id"]) == ("data.email_addresses", "data.id")


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"id": "user_1", "updated_at": 1_700_000_000_000, "first_name": 42}, "data.first_name"),
        ({"id": "user_1", "updated_at": "soon"}, "data.updated_at"),
        ({"id": 42}, "data.id"),
    ],
)
def test_user_event_with_a_bad_field_names_it(data: dict[str, Any], field: str) -> None:
    """``to_user_change`` turns the mapping's refusal into a ``WebhookFieldInvalidError`` (still a
    ``webhook-payload-invalid`` 400) whose ``field`` is the path in the signed body."""
    with pytest.raises(WebhookFieldInvalidError) as raised:
        to_user_change(_event("user.updated", data))
    assert raised.value.field == field
    assert raised.value.code == "webhook-payload-invalid"
    assert field in raised.value.message


@pytest.mark.parametrize("timestamp", [10**30, 1e300, -1, "1700000000000", 1.5e12, True])
def test_user_event_envelope_timestamp_must_be_an_integer_in_range(timestamp: Any) -> None:
    """A user event's ``timestamp`` versions deletions (and creations without ``updated_at``): present but no
    integer timestamp in range is refused naming ``timestamp``; for other events it stays lenient."""
    for event_type in ("user.deleted", "user.created"):
        with pytest.raises(WebhookFieldInvalidError) as raised:
            _event(event_type, {"id": "user_1"}, timestamp=timestamp)
        assert raised.value.field == "timestamp"
    ignored = _event("session.created", {"id": "sess_1"}, timestamp=timestamp)
    assert to_user_change(ignored) == IgnoredEvent(type="session.created", id=ignored.id)


def test_make_webhook_secret_is_usable_and_random() -> None:
    """make_webhook_secret returns fresh, loadable secrets and refuses lengths outside 24 to 64 bytes."""
    first, second = make_webhook_secret(), make_webhook_secret()
    assert first != second
    assert first.startswith("whsec_")
    WebhookVerifier(first)
    with pytest.raises(ValueError, match="24 to 64"):
        make_webhook_secret(8)
