"""``manage.py clerk_backfill`` against the test kit's fake Backend API (real HTTP on 127.0.0.1), on real SQLite
and PostgreSQL: import, a second run writing nothing, Ctrl-C then ``--resume``, ``--dry-run``, ``--prune``, a
refused user in a page, and the progress display with and without Rich."""

from __future__ import annotations

import io
import os
import signal
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections
from django.test.utils import override_settings

from clerk_sync.django.models import BackfillCheckpoint, ClerkUser
from clerk_sync.django.store import DjangoUserStore
from clerk_sync.profile import Source
from clerk_sync.testing import FakeClerkBackend, make_user_json
from tests.backfill_users import BASE_MS, SECRET, population
from tests.django.support import ALIASES

#: The count request and the pages go at 10 per second (all of a development key's limit): a test waits < 1 s.
FAST = ["--rate-share", "1"]


@pytest.fixture(params=ALIASES)
def alias(request: pytest.FixtureRequest) -> str:
    """The database alias of this case (its test database is built by pytest-django, migration 0002 included)."""
    name: str = request.param
    return name


@pytest.fixture
def clerk(alias: str) -> Iterator[FakeClerkBackend]:
    """A fake Backend API with no users yet, and the adapter's settings (``CLERK_SYNC``) pointing at it."""
    with (
        FakeClerkBackend(secret_key=SECRET) as backend,
        override_settings(CLERK_SYNC={"secret_key": SECRET, "api_url": backend.url}),
    ):
        yield backend


def backfill(alias: str, *options: str) -> tuple[str, str]:
    """Run the command on ``alias``; its stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    call_command("clerk_backfill", *FAST, "--database", alias, *options, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def rows(alias: str) -> dict[str, ClerkUser]:
    return {user.clerk_id: user for user in ClerkUser.objects.using(alias).all()}


def snapshot(alias: str) -> dict[str, tuple[Any, ...]]:
    """Every column of every row, to prove a run left the table exactly as it was."""
    names = [field.attname for field in ClerkUser._meta.concrete_fields]
    return {key: tuple(getattr(user, name) for name in names) for key, user in rows(alias).items()}


def checkpoints(alias: str) -> list[BackfillCheckpoint]:
    return list(BackfillCheckpoint.objects.using(alias).all())


def test_imports_every_user_and_a_second_run_writes_nothing(alias: str, clerk: FakeClerkBackend) -> None:
    """1,200 users over three pages land with their fields and no checkpoint left; a second run finds every
    one unchanged and leaves the table exactly as it was."""
    for listed_user in population(1200):
        clerk.add_user(listed_user)
    out, _ = backfill(alias)
    assert "backfill: seen 1200, created 1200, updated 0, unchanged 0, skipped 0, pruned 0" in out
    stored = rows(alias)
    assert len(stored) == 1200
    user = stored["user_00042"]
    assert (user.email, user.first_name, user.public_metadata, user.clerk_version) == (
        "u42@example.com",
        "F42",
        {"n": 42},
        BASE_MS + 42,
    )
    assert checkpoints(alias) == []
    before = snapshot(alias)
    out, _ = backfill(alias)
    assert "seen 1200, created 0, updated 0, unchanged 1200" in out
    assert snapshot(alias) == before


def test_ctrl_c_stops_after_the_page_and_resume_finishes(alias: str, clerk: FakeClerkBackend) -> None:
    """A real SIGINT while the second page is in flight: the run ends after that page, keeps its checkpoint and
    says how to resume (exit 130); ``--resume`` asks for no finished page again, imports the rest and clears
    the checkpoint."""
    for listed_user in population(1000):
        clerk.add_user(listed_user)

    def ctrl_c(number: int) -> None:
        if number == 2:
            os.kill(os.getpid(), signal.SIGINT)

    clerk.on_list = ctrl_c
    with pytest.raises(CommandError, match=r"clerk_backfill --resume") as raised:
        backfill(alias, "--page-size", "200")
    assert raised.value.returncode == 130
    [checkpoint] = checkpoints(alias)
    assert f"interrupted after 2 pages ({checkpoint.users} users)" in str(raised.value)
    assert checkpoint.pages == 2
    assert len(rows(alias)) == checkpoint.users >= 390  # two pages of 200, the second overlapping by a millisecond
    assert checkpoint.last_created_at == BASE_MS + checkpoint.users - 1
    clerk.on_list = None
    requested = clerk.request_count
    out, _ = backfill(alias, "--page-size", "200", "--resume")
    rest = 1000 - checkpoint.users
    assert f"seen {rest}, created {rest}," in out  # nothing read before was read again
    listed = [r for r in clerk.requests[requested:] if r.path == "/v1/users"]
    assert listed[0].query["created_at_after"] == [str(checkpoint.last_created_at - 1)]
    assert len(rows(alias)) == 1000
    assert checkpoints(alias) == []


def test_dry_run_writes_nothing(alias: str, clerk: FakeClerkBackend) -> None:
    """--dry-run lists what would change, column by column, and leaves every row (and the checkpoint table)
    exactly as it was, even when it stops early."""
    users = population(5)
    for listed_user in users:
        clerk.add_user(listed_user)
    backfill(alias)
    clerk.add_user({**users[2], "first_name": "Renamed", "updated_at": BASE_MS + 10_000})
    clerk.add_user(make_user_json("user_new", created_at=BASE_MS + 100, updated_at=BASE_MS + 100))
    before = snapshot(alias)
    out, _ = backfill(alias, "--dry-run")
    assert "backfill (dry run: nothing written): seen 6, created 1, updated 1, unchanged 4" in out
    assert "would update user_00002 (first_name)" in out
    assert "would create user_new (" in out
    assert snapshot(alias) == before
    assert checkpoints(alias) == []


def test_prune_tombstones_only_what_clerk_confirms_gone(alias: str, clerk: FakeClerkBackend) -> None:
    """--prune tombstones a user Clerk answers 404 for (never a hard delete); the others stay live, and a
    dry run with --prune only announces it."""
    for listed_user in population(4):
        clerk.add_user(listed_user)
    backfill(alias)
    clerk.remove_user("user_00003")
    out, _ = backfill(alias, "--prune", "--dry-run")
    assert "would prune user_00003 (deleted_at)" in out
    assert rows(alias)["user_00003"].deleted_at is None
    out, _ = backfill(alias, "--prune")
    assert "unchanged 3, skipped 0, pruned 1" in out
    stored = rows(alias)
    assert len(stored) == 4
    assert stored["user_00003"].deleted_at is not None
    assert stored["user_00003"].email == "u3@example.com"
    assert all(stored[f"user_0000{i}"].deleted_at is None for i in range(3))


def test_a_refused_user_fails_alone_in_its_page(alias: str, clerk: FakeClerkBackend) -> None:
    """A user whose name the row cannot hold is reported by id with the reason (never the value), and the
    page's other users are written in the same run."""
    users = population(4)
    users[1] = make_user_json("user_00001", first_name="x" * 5000, created_at=BASE_MS + 1, updated_at=BASE_MS + 1)
    for listed_user in users:
        clerk.add_user(listed_user)
    out, _ = backfill(alias)
    assert "seen 4, created 3, updated 0, unchanged 0, skipped 1" in out
    assert "not written: user_00001: The Clerk user's" in out
    assert "x" * 50 not in out
    assert set(rows(alias)) == {"user_00000", "user_00002", "user_00003"}


def test_a_value_the_database_refuses_rolls_back_that_user_only(alias: str) -> None:
    """Past the column limits (an app's own constraint, here a trigger or CHECK): the store's page write keeps
    the other users of the page, and the refused one is that profile's outcome."""
    connection = connections[alias]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE users ADD CONSTRAINT no_refused CHECK (first_name IS DISTINCT FROM 'Refused')")
        else:
            cursor.execute(
                "CREATE TRIGGER no_refused BEFORE INSERT ON users WHEN NEW.first_name = 'Refused' "
                "BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
    from clerk_sync.mapping import profile_from_user_json

    users = population(3)
    users[1] = make_user_json("user_00001", first_name="Refused", created_at=BASE_MS + 1, updated_at=BASE_MS + 1)
    profiles = [profile_from_user_json(user, source=Source.BACKFILL) for user in users]
    outcomes = DjangoUserStore(using=alias).sync_page(profiles)
    assert [getattr(outcome, "action", type(outcome).__name__) for outcome in outcomes] == [
        "created",
        "BackendAPIError",
        "created",
    ]
    assert set(rows(alias)) == {"user_00000", "user_00002"}


def test_progress_without_rich_is_one_plain_line_per_page(
    alias: str, clerk: FakeClerkBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With Rich not installed (the [django] extra does not pull it) the command still runs and prints one
    line per page; with Rich, its bar is drawn on stderr."""
    for listed_user in population(450):
        clerk.add_user(listed_user)
    monkeypatch.setitem(sys.modules, "rich.progress", None)  # ``import rich.progress`` now raises ImportError
    _, err = backfill(alias, "--page-size", "200")
    assert err.splitlines() == [
        "users 200/450: created 200 updated 0 unchanged 0 skipped 0",
        "users 400/450: created 400 updated 0 unchanged 0 skipped 0",
    ]
    monkeypatch.undo()
    _, err = backfill(alias, "--page-size", "200")
    assert "450/450" in err


@pytest.mark.django_db(databases=["default"])
def test_without_a_secret_key_it_says_so_in_one_line() -> None:
    """No CLERK_SECRET_KEY: one line naming it, exit code 2, nothing sent anywhere."""
    with override_settings(CLERK_SYNC={"secret_key": None}), pytest.raises(CommandError) as raised:
        call_command("clerk_backfill", stdout=io.StringIO(), stderr=io.StringIO())
    assert raised.value.returncode == 2
    assert "CLERK_SECRET_KEY is required" in str(raised.value)
