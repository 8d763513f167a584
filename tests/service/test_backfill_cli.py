"""End to end: `clerk-sync db upgrade` and `clerk-sync backfill` as real processes against a fake Backend API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from clerk_sync.db import is_current
from clerk_sync.testing import FakeClerkBackend, make_user_json
from tests.databases import temporary_postgres_database
from tests.processes import run_cli

SECRET = "sk_test_cli"


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    async with temporary_postgres_database() as url:
        yield url


@pytest.mark.anyio
@pytest.mark.postgres
async def test_db_upgrade_brings_a_fresh_postgres_to_head(tmp_path: Path, postgres_url: str) -> None:
    """`clerk-sync db upgrade` migrates DATABASE_URL; running it again is a no-op."""
    assert not await is_current(postgres_url)
    for _ in range(2):
        result = run_cli("db", "upgrade", cwd=tmp_path, env={"DATABASE_URL": postgres_url})
        assert result.returncode == 0, result.stderr
    assert await is_current(postgres_url)


def test_db_upgrade_unreachable_database_is_one_line(tmp_path: Path) -> None:
    """An unreachable database is exit 1 with one line, no traceback."""
    result = run_cli("db", "upgrade", cwd=tmp_path, env={"DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1:1/x"})
    assert result.returncode == 1
    assert "database unavailable" in result.stderr
    assert "Traceback" not in result.stderr


def test_backfill_command(tmp_path: Path) -> None:
    """The command imports every user, prints the counts, and a dry run afterwards plans nothing."""
    users = [make_user_json(f"user_cli_{i}", email=f"c{i}@example.com") for i in range(1200)]
    env = {"CLERK_SECRET_KEY": SECRET, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cli.db"}
    with FakeClerkBackend(secret_key=SECRET, users=users) as backend:
        env["CLERK_API_URL"] = backend.url
        backend.fail(500, on_request=3)
        first = run_cli("backfill", cwd=tmp_path, env=env, timeout=120)
        assert first.returncode == 0, first.stderr
        counts = next(line for line in first.stdout.splitlines() if "1200" in line)
        assert [cell.strip() for cell in counts.strip("│ ").split("│")] == ["1200", "1200", "0", "0", "0", "0"]
        backend.add_user({**users[0], "first_name": "Changed", "updated_at": users[0]["updated_at"] + 1})
        dry = run_cli("backfill", "--dry-run", cwd=tmp_path, env=env, timeout=120)
        assert dry.returncode == 0, dry.stderr
        assert "dry run" in dry.stdout
        assert "would update user_cli_0" in dry.stdout


def test_backfill_needs_secret_key(tmp_path: Path) -> None:
    """Without CLERK_SECRET_KEY: exit 2 with one line naming it."""
    result = run_cli("backfill", cwd=tmp_path, env={"CLERK_JWT_KEY": "x"})
    assert result.returncode == 2
    assert "CLERK_SECRET_KEY" in result.stderr
    assert "Traceback" not in result.stderr


def test_backfill_wrong_key_is_one_line(tmp_path: Path) -> None:
    """A key the Backend API refuses: exit 1, one clear line, the key never printed."""
    with FakeClerkBackend(secret_key=SECRET) as backend:
        env = {
            "CLERK_SECRET_KEY": "sk_test_wrong_key_value",
            "CLERK_API_URL": backend.url,
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/w.db",
        }
        result = run_cli("backfill", cwd=tmp_path, env=env)
    assert result.returncode == 1
    assert "401" in result.stderr
    assert "wrong_key_value" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
