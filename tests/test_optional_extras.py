"""The core installs and imports without the optional extras (``[fastapi]``, ``[sqlalchemy]``, ``[cli]``...)."""

from __future__ import annotations

import importlib.metadata
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import clerk_sync

#: What the extras bring; none of it may be needed to import the core.
OPTIONAL = [
    "fastapi",
    "starlette",
    "uvicorn",
    "sqlalchemy",
    "alembic",
    "asyncpg",
    "aiosqlite",
    "typer",
    "rich",
    "django",
    "flask",
    "litestar",
]

#: The packages that are the extras' users: adapters, storage, the reference service and its command line.
OUTSIDE_CORE = (
    "clerk_sync.fastapi",
    "clerk_sync.service",
    "clerk_sync.db",
    "clerk_sync.cli",
    "clerk_sync.django",
    "clerk_sync.flask",
    "clerk_sync.litestar",
    "clerk_sync.starlette",
)

#: Run in a fresh interpreter: refuse every optional package at import, then import each core module.
CHILD = """
import importlib, importlib.abc, json, sys

blocked = set(json.loads(sys.argv[1]))

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked: an optional extra)", name=name)
        return None

sys.meta_path.insert(0, Refuse())
for name in json.loads(sys.argv[2]):
    importlib.import_module(name)
leaked = sorted({m.partition(".")[0] for m in sys.modules} & blocked)
print(json.dumps(leaked))
"""


def core_modules() -> list[str]:
    """Every module of the package outside the extras' packages, found by walking it: a new one is included."""
    names = ["clerk_sync"]
    for info in pkgutil.walk_packages(clerk_sync.__path__, "clerk_sync."):
        if not info.name.startswith(OUTSIDE_CORE):
            names.append(info.name)
    return names


def test_core_imports_without_any_extra() -> None:
    """With fastapi, starlette, uvicorn, SQLAlchemy, Alembic, the drivers, typer and rich all refused, every core
    module (clerk_sync, verify, authenticator, webhooks, problems, client, the test kit...) imports, and none of
    the refused packages ends up loaded."""
    modules = core_modules()
    assert {"clerk_sync.verify", "clerk_sync.authenticator", "clerk_sync.webhooks", "clerk_sync.problems"} <= set(
        modules
    )
    result = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(OPTIONAL), json.dumps(modules)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=Path(__file__).parent,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout) == []


def test_the_block_is_real() -> None:
    """The refusing finder does stop an extra's user from importing (so the test above can fail)."""
    result = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(OPTIONAL), json.dumps(["clerk_sync.fastapi"])],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "blocked: an optional extra" in result.stderr


def _requirements() -> dict[str, set[str]]:
    """Requirement names by extra ("" for the core), from the installed distribution's metadata."""
    found: dict[str, set[str]] = {}
    for line in importlib.metadata.requires("clerk-sync") or []:
        requirement, _, marker = line.partition(";")
        name = requirement.split("[")[0].split(">")[0].split("=")[0].split("<")[0].strip().lower()
        extra = marker.split("extra ==")[1].strip().strip("'\"") if "extra ==" in marker else ""
        found.setdefault(extra, set()).add(name)
    return found


def test_distribution_declares_the_extras() -> None:
    """The core requires PyJWT, httpx, svix, pydantic-settings (and prometheus-client, which the core's metrics
    use) and nothing of a web framework, storage or the command line; ``[fastapi]`` brings FastAPI and uvicorn;
    ``[dev]`` pulls in every extra, so ``make test`` installs them all."""
    extras = _requirements()
    assert extras[""] == {"pyjwt", "httpx", "svix", "pydantic-settings", "prometheus-client"}
    assert extras["fastapi"] == {"fastapi", "uvicorn"}
    assert extras["sqlalchemy"] == {"sqlalchemy", "alembic"}
    assert extras["postgres"] == {"sqlalchemy", "alembic", "asyncpg", "psycopg"}  # inlines clerk-sync[sqlalchemy]
    assert extras["sqlite"] == {"sqlalchemy", "alembic", "aiosqlite"}
    assert {"typer", "rich"} <= extras["cli"]
    for extra in ("sqlalchemy", "postgres", "sqlite", "fastapi", "cli"):
        assert extras[extra] <= extras["dev"], extra


def test_sqlite_storage_and_the_command_need_no_postgres_driver(tmp_path: Path) -> None:
    """``clerk-sync[fastapi,cli]`` (SQLite storage) installs neither asyncpg nor psycopg; with both refused, the
    stores, the command and every reference app still import (the smoke test of the built wheel found the direct
    reader importing asyncpg unconditionally, which broke ``clerk-sync serve`` on such an install)."""
    modules = [
        "clerk_sync.db",
        "clerk_sync.cli",
        "clerk_sync.service.app",
        "clerk_sync.service.litestar_app",
        "clerk_sync.service.flask_app",
        "clerk_sync.flask",
        "clerk_sync.litestar",
        "clerk_sync.starlette",
    ]
    result = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(["asyncpg", "psycopg"]), json.dumps(modules)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,  # not tests/: its starlette/ and flask/ folders would shadow the frameworks
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout) == []


def test_the_command_without_the_cli_extra_names_it_in_one_line(tmp_path: Path) -> None:
    """With typer and rich refused (``clerk-sync[flask]`` alone), the ``clerk-sync`` entry point exits 2 with one
    line naming ``[cli]``, not a ModuleNotFoundError traceback."""
    script = CHILD.split("for name in")[0] + "import runpy\nrunpy.run_module('clerk_sync', run_name='__main__')\n"
    result = subprocess.run(
        [sys.executable, "-c", script, json.dumps(["typer", "rich"]), "[]"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 2, result.stderr
    assert "needs the [cli] extra (missing: typer, rich)" in result.stderr
    assert "Traceback" not in result.stderr
    entry = next(e for e in importlib.metadata.entry_points(group="console_scripts") if e.name == "clerk-sync")
    assert entry.value == "clerk_sync.__main__:main"
