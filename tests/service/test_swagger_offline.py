"""The reference apps' API docs pages work offline: every asset they reference is served by the app itself.

FastAPI's and Litestar's defaults load Swagger UI from a CDN, which leaves ``/docs`` blank without internet
access. These tests read each docs page over real HTTP, collect every ``src``/``href`` it references and fetch
each one from the same server.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from clerk_sync.issuer import TokenIssuer
from clerk_sync.service import ServiceSettings
from clerk_sync.service.app import create_app as create_fastapi_app
from clerk_sync.service.litestar_app import create_app as create_litestar_app
from clerk_sync.settings import ClerkSettings
from tests.databases import sqlite_url
from tests.litestar.live import live_server

#: ``src="..."`` / ``href="..."`` in HTML, and ``url: '...'`` where Swagger UI's init script names the document.
REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|\burl\s*:\s*["']([^"']+)["']""")


def references(html: str) -> list[str]:
    """Every URL the page asks the browser to load."""
    return [first or second for first, second in REFERENCE.findall(html)]


def build(framework: str, tmp_path: Path, issuer: TokenIssuer) -> Any:
    settings = ServiceSettings(database_url=sqlite_url(tmp_path))
    clerk = ClerkSettings(jwt_key=issuer.public_pem())
    factory = create_fastapi_app if framework == "fastapi" else create_litestar_app
    return factory(settings, clerk)


@pytest.mark.parametrize(
    ("framework", "pages"),
    [("fastapi", ["/docs"]), ("litestar", ["/schema", "/schema/swagger"])],
)
def test_docs_pages_reference_only_assets_the_app_serves(
    framework: str, pages: list[str], tmp_path: Path, clerk_issuer: TokenIssuer
) -> None:
    """Each docs page is Swagger UI (200, HTML) whose scripts, styles, icon and OpenAPI document are all
    same-origin paths, and each of them answers 200 with content from this server."""
    with live_server(build(framework, tmp_path, clerk_issuer)) as base, httpx.Client(base_url=base) as client:
        for page in pages:
            response = client.get(page)
            assert response.status_code == 200, (page, response.text[:200])
            assert response.headers["content-type"].startswith("text/html")
            assert "swagger-ui" in response.text.lower()
            found = references(response.text)
            assert any(url.endswith("swagger-ui-bundle.js") for url in found), found
            assert any(url.endswith("swagger-ui.css") for url in found), found
            for url in found:
                assert url.startswith("/"), f"{page} loads {url} from elsewhere"
                assert not url.startswith("//"), f"{page} loads {url} from elsewhere"
                asset = client.get(url)
                assert asset.status_code == 200, (page, url)
                assert asset.content, (page, url)


def test_fastapi_redoc_is_off(tmp_path: Path, clerk_issuer: TokenIssuer) -> None:
    """``/redoc`` (Redoc and its Google fonts from a CDN by default) is not served: 404, not a blank page."""
    with live_server(build("fastapi", tmp_path, clerk_issuer)) as base:
        assert httpx.get(f"{base}/redoc").status_code == 404
