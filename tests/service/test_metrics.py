"""/metrics in Prometheus text format, fed by real requests and webhooks through the reference service."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from clerk_sync.issuer import TokenIssuer
from clerk_sync.service import ServiceSettings, create_app
from clerk_sync.settings import ClerkSettings
from clerk_sync.testing.webhooks import make_webhook_secret, sign_webhook
from tests.asgi import serving

pytestmark = pytest.mark.anyio


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def test_metrics_count_verifications_writes_and_webhooks(tmp_path: Path, clerk_issuer: TokenIssuer) -> None:
    """Each verification result, user write (by source) and webhook outcome moves its counter."""
    secret = make_webhook_secret()
    app = create_app(
        ServiceSettings(database_url=f"sqlite+aiosqlite:///{tmp_path}/m.db"),
        ClerkSettings(jwt_key=clerk_issuer.public_pem(), webhook_signing_secret=secret),
    )
    async with serving(app) as client:
        before = samples((await client.get("/metrics")).text)
        ok = await client.get("/me", headers={"Authorization": f"Bearer {clerk_issuer.mint('user_metrics')}"})
        assert ok.status_code == 200
        expired = await client.get("/me", headers={"Authorization": f"Bearer {clerk_issuer.mint(ttl=-100)}"})
        assert expired.status_code == 401
        body = json.dumps(
            {
                "type": "user.deleted",
                "object": "event",
                "timestamp": 4_000_000_000_000,
                "instance_id": "ins_1",
                "data": {"id": "user_metrics", "object": "user", "deleted": True},
            }
        ).encode()
        hook = await client.post("/webhooks/clerk", content=body, headers=sign_webhook(body, secret))
        assert hook.status_code == 200
        response = await client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    after = samples(response.text)

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta("clerk_sync_token_verifications_total", result="ok") == 1
    assert delta("clerk_sync_token_verifications_total", result="token-expired") == 1
    assert delta("clerk_sync_users_written_total", action="created", source="token") == 1
    assert delta("clerk_sync_users_written_total", action="deleted", source="webhook") == 1
    assert delta("clerk_sync_webhooks_total", outcome="deleted") == 1
    assert delta("clerk_sync_user_sync_seconds_count") == 1
