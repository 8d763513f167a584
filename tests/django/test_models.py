"""The models: an app's own model and a custom ``AUTH_USER_MODEL`` on the abstract one, the swappable default,
the admin, and the Django migration building the same ``users`` and ledger columns as the Alembic one."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from django.contrib import admin
from django.contrib.auth import get_user_model as get_auth_user_model
from django.core.management import call_command
from django.db import connections
from django.test import RequestFactory

from clerk_sync.db import upgrade
from clerk_sync.django.admin import ClerkUserAdmin
from clerk_sync.django.conf import get_user_model
from clerk_sync.django.models import SYNCED_FIELDS, ClerkUser
from clerk_sync.django.store import DjangoUserStore
from tests.databases import temporary_postgres_database
from tests.django.support import ALIASES, deletion, profile
from tests.django.testapp.models import Account, Member

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=ALIASES)
def alias(request: pytest.FixtureRequest) -> str:
    """The database alias of this case."""
    name: str = request.param
    return name


def test_an_app_model_with_extra_fields(alias: str) -> None:
    """The store fills the app's own columns with their defaults on insert and never touches them after."""
    store = DjangoUserStore(Member, using=alias)
    created = store.sync(profile(email="m@example.com"))
    assert created.action == "created"
    assert isinstance(created.user, Member)
    assert (created.user.plan, created.user.nickname, created.user.team) == ("free", "", None)
    Member.objects.using(alias).filter(pk=created.user.pk).update(plan="pro", team="core")
    updated = store.sync(profile(version=2_000, email="n@example.com"))
    assert updated.action == "updated"
    assert (updated.user.plan, updated.user.team, updated.user.email) == ("pro", "core", "n@example.com")
    assert store.delete(deletion()).user.plan == "pro"
    assert not ClerkUser.objects.using(alias).exists()


def test_a_custom_auth_user_model_extending_the_abstract_model(alias: str) -> None:
    """``Account`` is both ``AUTH_USER_MODEL`` and synced: Django's auth reads the row the store wrote, and no
    password matches it (sign-in is Clerk's)."""
    assert get_auth_user_model() is Account
    store = DjangoUserStore(Account, using=alias)
    result = store.sync(profile(clerk_id="user_auth", email="a@example.com"))
    assert result.action == "created"
    account = Account.objects.db_manager(alias).get_by_natural_key("user_auth")
    assert account.pk == result.user.pk
    assert account.is_authenticated
    assert account.is_active
    assert not account.check_password("")
    assert account.last_login is None


def test_the_default_model_is_the_concrete_clerk_user() -> None:
    """Without ``CLERK_SYNC_USER_MODEL`` the store syncs ``clerk_sync.ClerkUser`` into the ``users`` table."""
    assert get_user_model() is ClerkUser
    assert ClerkUser._meta.db_table == "users"
    assert ClerkUser._meta.swapped is None
    assert DjangoUserStore().model is ClerkUser


def test_the_admin_shows_synced_fields_read_only() -> None:
    """The concrete model is registered; every synced field is read-only; nothing is added or deleted there."""
    model_admin = admin.site._registry[ClerkUser]
    assert isinstance(model_admin, ClerkUserAdmin)
    request = RequestFactory().get("/admin/clerk_sync/clerkuser/")
    assert set(model_admin.get_readonly_fields(request)) == set(SYNCED_FIELDS)
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_delete_permission(request)
    call_command("check", "--fail-level", "WARNING")


def test_a_swapped_default_model_creates_no_users_table(tmp_path: Path) -> None:
    """With ``CLERK_SYNC_USER_MODEL`` naming the app's model, migrating creates the app's table and the ledger,
    and no ``users`` table (``ClerkUser`` is swapped out as ``auth.User`` is by ``AUTH_USER_MODEL``)."""
    database = tmp_path / "swapped.sqlite3"
    script = textwrap.dedent(
        f"""
        import django, sqlite3
        from django.conf import settings
        settings.configure(
            INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "clerk_sync.django",
                            "tests.django.testapp"],
            DATABASES={{"default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": {str(database)!r}}}}},
            AUTH_USER_MODEL="testapp.Account", CLERK_SYNC_USER_MODEL="testapp.Member", USE_TZ=True,
        )
        django.setup()
        from django.core.management import call_command
        call_command("migrate", verbosity=0)
        from clerk_sync.django.conf import get_user_model
        from clerk_sync.django.store import DjangoUserStore
        from clerk_sync.profile import Source, UserProfile
        assert get_user_model().__name__ == "Member"
        synced = DjangoUserStore().sync(UserProfile("user_s", 1, Source.TOKEN, {{"email": "s@example.com"}}))
        assert synced.action == "created" and type(synced.user).__name__ == "Member"
        query = "select name from sqlite_master where type = 'table'"
        tables = {{row[0] for row in sqlite3.connect({str(database)!r}).execute(query)}}
        print(sorted(tables & {{"users", "members", "accounts", "clerk_webhook_events"}}))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "['accounts', 'clerk_webhook_events', 'members']"


def test_a_foreign_key_to_the_setting_works_without_naming_the_default(tmp_path: Path) -> None:
    """``CLERK_SYNC_USER_MODEL`` has a default once the app is installed, as ``AUTH_USER_MODEL`` has, so a project
    that never sets it can write ``ForeignKey(settings.CLERK_SYNC_USER_MODEL)`` and make and run its migration."""
    app = tmp_path / "notesapp"
    (app / "migrations").mkdir(parents=True)
    (app / "__init__.py").write_text("")
    (app / "migrations" / "__init__.py").write_text("")
    (app / "models.py").write_text(
        textwrap.dedent(
            """
            from django.conf import settings
            from django.db import models

            class Note(models.Model):
                owner = models.ForeignKey(settings.CLERK_SYNC_USER_MODEL, on_delete=models.CASCADE)
            """
        )
    )
    script = textwrap.dedent(
        f"""
        import django, sys
        sys.path.insert(0, {str(tmp_path)!r})
        from django.conf import settings
        settings.configure(
            INSTALLED_APPS=["clerk_sync.django", "notesapp"], USE_TZ=True,
            DATABASES={{"default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": {str(tmp_path / "db")!r}}}}},
        )
        django.setup()
        from django.core.management import call_command
        call_command("makemigrations", "notesapp", verbosity=0)
        call_command("migrate", verbosity=0)
        from notesapp.models import Note
        print(settings.CLERK_SYNC_USER_MODEL, Note._meta.get_field("owner").related_model._meta.db_table)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "clerk_sync.ClerkUser users"
    migration = (app / "migrations" / "0001_initial.py").read_text()
    assert "swappable_dependency(settings.CLERK_SYNC_USER_MODEL)" in migration


def _columns(url: str, table: str) -> dict[str, Any]:
    """What ``sqlalchemy.inspect`` sees of ``table``: each column's compiled type and nullability, the primary
    key, and which columns are unique (by a unique index or a unique constraint)."""
    engine = sqlalchemy.create_engine(url)
    try:
        inspector = sqlalchemy.inspect(engine)
        columns = {
            column["name"]: (column["type"].compile(dialect=engine.dialect), column["nullable"])
            for column in inspector.get_columns(table)
        }
        # SQLite backs an inline UNIQUE (Django's form) with an automatic index SQLAlchemy lists only on request.
        options: dict[str, Any] = {"include_auto_indexes": True} if engine.dialect.name == "sqlite" else {}
        indexes = inspector.get_indexes(table, **options)
        unique = {tuple(index["column_names"]) for index in indexes if index["unique"]}
        unique |= {tuple(constraint["column_names"]) for constraint in inspector.get_unique_constraints(table)}
        primary_key = inspector.get_pk_constraint(table)["constrained_columns"]
        return {"columns": columns, "primary_key": primary_key, "unique": unique}
    finally:
        engine.dispose()


def _django_url(alias: str) -> str:
    """A synchronous SQLAlchemy URL for the Django test database of ``alias``."""
    config = connections[alias].settings_dict
    if config["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{config['NAME']}"
    return sqlalchemy.URL.create(
        "postgresql+psycopg",
        username=config["USER"],
        password=config["PASSWORD"] or None,
        host=config["HOST"],
        port=int(config["PORT"]),
        database=config["NAME"],
    ).render_as_string(hide_password=False)


@pytest.mark.anyio
async def test_the_django_migration_builds_the_alembic_schema(alias: str, tmp_path: Path) -> None:
    """A database migrated by Django and one migrated by Alembic show ``sqlalchemy.inspect`` the same columns
    (names, types, nullability), primary key and unique columns, for ``users``, the webhook ledger and the
    backfill checkpoint."""
    django_url = _django_url(alias)
    if alias == "default":
        alembic_url = f"sqlite+aiosqlite:///{tmp_path / 'alembic.sqlite3'}"
        await upgrade(alembic_url)
        expected = {table: _columns(f"sqlite:///{tmp_path / 'alembic.sqlite3'}", table) for table in _TABLES}
    else:
        async with temporary_postgres_database() as alembic_url:
            await upgrade(alembic_url)
            sync_url = sqlalchemy.make_url(alembic_url).set(drivername="postgresql+psycopg")
            expected = {table: _columns(sync_url.render_as_string(hide_password=False), table) for table in _TABLES}
    actual = {table: _columns(django_url, table) for table in _TABLES}
    assert actual == expected
    assert ("clerk_id",) in actual["users"]["unique"]
    assert ("svix_id",) in actual["clerk_webhook_events"]["unique"]


_TABLES = ("users", "clerk_webhook_events", "clerk_backfill_checkpoints")
