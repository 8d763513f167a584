"""The built wheel, inspected file by file: what ``pip install clerk-sync`` puts on a user's machine.

Builds the wheel through PEP 517 (``python -m build``, hatchling), as ``make dist`` does, so a packaging rule in
``pyproject.toml`` that drops a migration or leaks a test file fails here rather than on PyPI.
"""

from __future__ import annotations

import email
import json
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import clerk_sync

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "clerk_sync"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[zipfile.ZipFile]:
    """The wheel built from this checkout, opened."""
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (built,) = out.glob("*.whl")
    with zipfile.ZipFile(built) as archive:
        yield archive


def shipped(path: Path) -> bool:
    """Whether a file under src/clerk_sync belongs in the wheel (sources and data, not caches)."""
    return "__pycache__" not in path.parts and path.suffix != ".pyc" and path.is_file()


def test_the_wheel_holds_every_package_file_and_nothing_else(wheel: zipfile.ZipFile) -> None:
    """Every file of src/clerk_sync is in the wheel under clerk_sync/, plus the JS client and the metadata;
    nothing of tests/, bench/, docs/ or clients/ leaks in under its own name."""
    names = set(wheel.namelist())
    expected = {f"clerk_sync/{p.relative_to(PACKAGE).as_posix()}" for p in PACKAGE.rglob("*") if shipped(p)}
    package_files = {n for n in names if n.startswith("clerk_sync/")}
    assert package_files == expected | {"clerk_sync/service/static/api-client.js"}
    others = names - package_files
    assert all(n.startswith(f"clerk_sync-{clerk_sync.__version__}.dist-info/") for n in others), sorted(others)
    assert not [n for n in names if n.split("/")[0] in {"tests", "bench", "docs", "clients"}]
    assert not [n for n in names if "/tests/" in n or n.endswith(("conftest.py", ".pyc"))]


def test_the_wheel_carries_the_js_client_types_and_both_migration_sets(wheel: zipfile.ZipFile) -> None:
    """The browser client is byte-for-byte clients/js/src/index.js; py.typed marks the package typed; the Alembic
    revisions (with env.py and the template) and Django's migrations are all present."""
    names = set(wheel.namelist())
    client = wheel.read("clerk_sync/service/static/api-client.js")
    assert client == (ROOT / "clients" / "js" / "src" / "index.js").read_bytes()
    assert "clerk_sync/py.typed" in names
    alembic = {p.name for p in (PACKAGE / "db" / "migrations" / "versions").glob("*.py")}
    assert {"0001_initial.py", "0002_backfill_checkpoint.py"} <= alembic
    for name in alembic:
        assert f"clerk_sync/db/migrations/versions/{name}" in names
    assert {"clerk_sync/db/migrations/env.py", "clerk_sync/db/migrations/script.py.mako"} <= names
    django = {p.name for p in (PACKAGE / "django" / "migrations").glob("*.py")}
    assert "0001_initial.py" in django
    for name in django:
        assert f"clerk_sync/django/migrations/{name}" in names


def test_the_wheel_metadata_names_one_version_and_the_command(wheel: zipfile.ZipFile) -> None:
    """The version comes from clerk_sync.__version__ alone (the JS client's package.json agrees), and the
    ``clerk-sync`` script starts the launcher that explains a missing [cli] extra."""
    info = f"clerk_sync-{clerk_sync.__version__}.dist-info"
    metadata = email.message_from_bytes(wheel.read(f"{info}/METADATA"))
    assert metadata["Version"] == clerk_sync.__version__ == "0.2.0"
    assert json.loads((ROOT / "clients" / "js" / "package.json").read_text())["version"] == clerk_sync.__version__
    assert "clerk-sync = clerk_sync.__main__:main" in wheel.read(f"{info}/entry_points.txt").decode()
    extras = set(metadata.get_all("Provides-Extra") or [])
    assert {"fastapi", "django", "flask", "litestar", "starlette", "cli", "sqlite", "postgres"} <= extras
