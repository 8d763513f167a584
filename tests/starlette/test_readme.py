"""The README's Starlette section works as written: a fresh app built from exactly its lines, served by uvicorn,
answers ``/me`` with the synced row for a token signed by the test kit."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from clerk_sync.db import upgrade
from clerk_sync.issuer import TokenIssuer
from tests.databases import sqlite_url
from tests.litestar.live import live_server
from tests.litestar.readme import readme_block


def load(path: Path, code: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """Import ``code`` as a fresh module (registered, as frameworks resolve annotations through sys.modules)."""
    path.write_text(code)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, path.stem, module)
    spec.loader.exec_module(module)
    return module


@pytest.mark.anyio
async def test_the_readme_starlette_app_serves_me(
    clerk_issuer: TokenIssuer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README block, unchanged, builds an app whose ``/me`` returns the row, and an anonymous request passes."""
    url = sqlite_url(tmp_path)
    await upgrade(url)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("CLERK_JWT_KEY", clerk_issuer.public_pem())
    module = load(tmp_path / "readme_starlette_app.py", readme_block("starlette"), monkeypatch)
    token = clerk_issuer.mint("user_readme", claims={"email": "readme@example.com"})
    with live_server(module.app) as base:
        async with httpx.AsyncClient() as client:
            response = await client.get(f"{base}/me", headers={"Authorization": f"Bearer {token}"})
            missing = await client.get(f"{base}/me")
    assert response.status_code == 200, response.text
    assert response.json()["email"] == "readme@example.com"
    assert isinstance(response.json()["id"], int)
    assert missing.json() == {"anonymous": True}
