"""End to end: `clerk-sync db upgrade` and `clerk-sync backfill` as real processes against a fake Backend API."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from clerk_sync.db import current_revisions, head_revisions
from clerk_sync.testing import FakeClerkBackend, make_user_json
from clerk_sync.testing.backend import RecordedRequest
from tests.processes import CLI, clean_env, run_cli, wait_for

SECRET = "sk_test_cli"


@pytest.mark.anyio
@pytest.mark.postgres
async def test_db_upgrade_brings_a_fresh_postgres_to_head(tmp_path: Path, postgres_url: str) -> None:
    """`clerk-sync db upgrade` migrates DATABASE_URL; running it again is a no-op."""
    assert await current_revisions(postgres_url) != head_revisions()
    for _ in range(2):
        result = run_cli("db", "upgrade", cwd=tmp_path, env={"DATABASE_URL": postgres_url})
        assert result.returncode == 0, result.stderr
    assert await current_revisions(postgres_url) == head_revisions()


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
        first = run_cli("backfill", "--page-size", "250", cwd=tmp_path, env=env, timeout=120)
        assert first.returncode == 0, first.stderr
        assert summary(first.stdout) == ["1200", "1200", "0", "0", "0", "0"]
        assert "1200/1200" in first.stderr  # the progress bar (stderr), its total from GET /v1/users/count
        assert "HTTP 500" in first.stderr  # the retry is one warning line, not a traceback
        assert "Traceback" not in first.stderr
        second = run_cli("backfill", cwd=tmp_path, env=env, timeout=120)
        assert second.returncode == 0, second.stderr
        assert summary(second.stdout) == ["1200", "0", "0", "1200", "0", "0"]
        backend.add_user({**users[0], "first_name": "Changed", "updated_at": users[0]["updated_at"] + 1})
        backend.remove_user("user_cli_1")
        dry = run_cli("backfill", "--dry-run", "--prune", cwd=tmp_path, env=env, timeout=120)
        assert dry.returncode == 0, dry.stderr
        assert "dry run" in dry.stdout
        assert summary(dry.stdout) == ["1199", "0", "1", "1198", "0", "1"]
        assert "would update user_cli_0 (first_name)" in dry.stdout
        assert "would prune user_cli_1 (deleted_at)" in dry.stdout
        pruned = run_cli("backfill", "--prune", cwd=tmp_path, env=env, timeout=120)
        assert pruned.returncode == 0, pruned.stderr
        assert summary(pruned.stdout) == ["1199", "0", "1", "1198", "0", "1"]
        assert "would" not in pruned.stdout


def summary(stdout: str) -> list[str]:
    """The cells of the summary table's one data row (seen, created, updated, unchanged, skipped, pruned)."""
    row = next(line for line in stdout.splitlines() if line.startswith("│"))
    return [cell.strip() for cell in row.strip("│ ").split("│")]


def test_backfill_needs_secret_key(tmp_path: Path) -> None:
    """Without CLERK_SECRET_KEY: exit 2 with one line naming it, before anything is created."""
    result = run_cli("backfill", cwd=tmp_path, env={"CLERK_JWT_KEY": "x"})
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "CLERK_SECRET_KEY" in result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_backfill_unreachable_database_is_one_line(tmp_path: Path) -> None:
    """A database that cannot be reached: exit 1, one line naming the failure, no driver traceback."""
    with FakeClerkBackend(secret_key=SECRET, users=[make_user_json("user_db_down")]) as backend:
        env = {
            "CLERK_SECRET_KEY": SECRET,
            "CLERK_API_URL": backend.url,
            "DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1:1/x",
        }
        result = run_cli("backfill", cwd=tmp_path, env=env)
    assert result.returncode == 1
    assert "database unavailable" in result.stderr
    assert "Traceback" not in result.stderr


def test_backfill_sqlite_in_a_missing_directory(tmp_path: Path) -> None:
    """An SQLite file whose directory does not exist is a configuration error naming DATABASE_URL (exit 2)."""
    env = {"CLERK_SECRET_KEY": SECRET, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/missing/x.db"}
    result = run_cli("backfill", cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert "DATABASE_URL" in result.stderr
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


def test_ctrl_c_stops_after_the_page_and_resume_finishes(tmp_path: Path) -> None:
    """SIGINT mid-run ends the command cleanly (exit 130, one line saying how to resume, no traceback) after
    the current page; `--resume` then imports the rest without requesting any finished page again."""
    users = [make_user_json(f"user_sig_{i:04d}", created_at=1_700_000_000_000 + i) for i in range(600)]
    env = {"CLERK_SECRET_KEY": SECRET, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/sig.db"}
    with FakeClerkBackend(secret_key=SECRET, users=users, latency=0.2) as backend:
        env["CLERK_API_URL"] = backend.url
        command = [CLI, "backfill", "--page-size", "50", "--rate-share", "1"]
        process = subprocess.Popen(
            command, cwd=tmp_path, env=clean_env(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

        def lists() -> list[RecordedRequest]:
            return [r for r in backend.requests if r.path == "/v1/users"]

        wait_for(lambda: len(lists()) >= 3, timeout=60, failure=lambda: "the backfill never reached its third page")
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
        assert process.returncode == 130, stderr
        assert "Traceback" not in stderr
        [hint] = [line for line in stderr.splitlines() if "--resume" in line]
        assert hint.startswith("interrupted after ")
        interrupted = summary(stdout)
        first_run = [r.query.get("created_at_after", ["start"])[0] for r in lists()]
        resumed = run_cli(
            "backfill", "--resume", "--rate-share", "1", "--page-size", "50", cwd=tmp_path, env=env, timeout=120
        )
        assert resumed.returncode == 0, resumed.stderr
        second_run = [r.query.get("created_at_after", ["start"])[0] for r in lists()][len(first_run) :]
        assert second_run[0] not in first_run  # the finished pages were not requested again
        assert not set(second_run) & set(first_run)
        assert int(interrupted[1]) + int(summary(resumed.stdout)[1]) == 600  # created, once each
        again = run_cli("backfill", "--rate-share", "1", cwd=tmp_path, env=env, timeout=120)
        assert summary(again.stdout)[:4] == ["600", "0", "0", "600"]
