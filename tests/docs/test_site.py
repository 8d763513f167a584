"""The docs site builds with ``mkdocs build --strict`` and works offline; the errors page matches the table.

``--strict`` turns every warning into a failure: a broken link between pages, a missing anchor, a page left
out of the nav, a mkdocstrings reference to a name that does not exist. The built HTML and CSS are then read
for assets loaded from another host (Material's Google fonts, a CDN script), which would leave the site
unstyled or broken without internet access. Links *to* other sites (``<a href="https://clerk.com">``) are fine.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from clerk_sync.errors import ClerkSyncError
from clerk_sync.problems import HTTP_CODES, codes_of

ROOT = Path(__file__).resolve().parents[2]

#: A tag that makes the browser fetch something: scripts, styles, icons, images, frames, media.
_ASSET_TAG = re.compile(r"<(?:script|link|img|iframe|source|video|audio)\b[^>]*>", re.IGNORECASE)
_ABSOLUTE = re.compile(r"""(?:src|href|srcset)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)
_CSS_REMOTE = re.compile(r"""(?:url\(\s*["']?|@import\s+["']?)(?:https?:)?//""", re.IGNORECASE)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built once for this module's tests, strictly, from the checkout's mkdocs.yml."""
    directory = tmp_path_factory.mktemp("site")
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(directory)],
        cwd=ROOT,
        env={"PATH": str(Path(sys.executable).parent), "NO_MKDOCS_2_WARNING": "1", "HOME": str(directory)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    return directory


def remote_assets(site: Path) -> list[str]:
    """``file: tag`` for every asset the built site would fetch from another host."""
    found = []
    for page in site.rglob("*.html"):
        for tag in _ASSET_TAG.findall(page.read_text()):
            if _ABSOLUTE.search(tag) and 'rel="canonical"' not in tag:
                found.append(f"{page.relative_to(site)}: {tag}")
    for sheet in site.rglob("*.css"):
        found.extend(f"{sheet.relative_to(site)}: {match}" for match in _CSS_REMOTE.findall(sheet.read_text()))
    return found


def test_the_site_builds_strictly_with_every_page(site: Path) -> None:
    """``mkdocs build --strict`` succeeds, and every page of the nav is there, the API reference rendered from the
    docstrings (a class of the public API appears with its docstring)."""
    pages = {str(page.relative_to(site)) for page in site.rglob("index.html")}
    for expected in ("index.html", "quickstart/fastapi/index.html", "testing/index.html", "performance/index.html"):
        assert expected in pages
    reference = (site / "reference/index.html").read_text()
    assert "ClerkSyncPlugin" in reference
    assert "closes that race" in (site / "index.html").read_text()


def test_the_site_loads_nothing_from_another_host(site: Path) -> None:
    """No script, stylesheet, font, icon or image of the built site comes from another host: it works offline."""
    assert remote_assets(site) == []


def test_the_asset_check_finds_remote_assets(tmp_path: Path) -> None:
    """The check above can fail: a CDN script, Google fonts and a CSS import are found, a plain link is not."""
    (tmp_path / "page.html").write_text(
        '<script src="https://cdn.example.com/x.js"></script><link href="//fonts.googleapis.com/css" rel="stylesheet">'
        '<a href="https://clerk.com">Clerk</a>'
    )
    (tmp_path / "style.css").write_text('@import "https://fonts.example.com/a.css"; body { color: red }')
    assert len(remote_assets(tmp_path)) == 3


def test_the_errors_page_lists_every_code_with_its_status() -> None:
    """docs/errors.md has one table row per code clerk-sync sends (``codes_of(ClerkSyncError)`` and
    ``HTTP_CODES``), each with the status the table gives it, and no row for a code that does not exist."""
    rows = re.findall(r"^\| (\d{3}) \| `([a-z-]+)` \|", (ROOT / "docs/errors.md").read_text(), re.MULTILINE)
    documented = {(int(status), code) for status, code in rows}
    assert len(rows) == len(documented), "a code is listed twice"
    sent = set(codes_of(ClerkSyncError)) | set(HTTP_CODES.items())
    assert documented == sent
