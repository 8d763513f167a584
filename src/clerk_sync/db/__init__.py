"""Storage: the synced user columns, the SQLAlchemy user stores that keep them current, and the migrations.

Import from here; the submodules are an implementation layout. This package knows SQLAlchemy and Alembic and
nothing of HTTP: errors leave it as ``clerk_sync.errors`` classes only. The port the stores implement, and the
rules they share, live in ``clerk_sync.store``.
"""

from __future__ import annotations

from clerk_sync.db.base import NAMING_CONVENTION, Base, UTCDateTime
from clerk_sync.db.engine import DEFAULT_DATABASE_URL, create_engine, create_sessionmaker, create_sync_engine_for
from clerk_sync.db.failures import is_data_error, is_unavailable
from clerk_sync.db.migrate import (
    VERSION_TABLE,
    current_revisions,
    head_revisions,
    schema_diff,
    upgrade,
    upgrade_sync,
)
from clerk_sync.db.mixin import DECLARED_LENGTHS, ENGINE_COLUMNS, ClerkUserMixin, JSONDocument
from clerk_sync.db.models import ProcessedWebhook, User
from clerk_sync.db.schema import missing_table_error, prepare_schema
from clerk_sync.db.store import AsyncSQLAlchemyStore, SQLAlchemyStore
from clerk_sync.db.upsert import tombstone_statement, upsert_statement
from clerk_sync.db.wiring import async_store_option
from clerk_sync.store import Action, AsyncSyncHook, SyncHook, SyncResult, WebhookOutcome

__all__ = [
    "DECLARED_LENGTHS",
    "DEFAULT_DATABASE_URL",
    "ENGINE_COLUMNS",
    "NAMING_CONVENTION",
    "VERSION_TABLE",
    "Action",
    "AsyncSQLAlchemyStore",
    "AsyncSyncHook",
    "Base",
    "ClerkUserMixin",
    "JSONDocument",
    "ProcessedWebhook",
    "SQLAlchemyStore",
    "SyncHook",
    "SyncResult",
    "UTCDateTime",
    "User",
    "WebhookOutcome",
    "async_store_option",
    "create_engine",
    "create_sessionmaker",
    "create_sync_engine_for",
    "current_revisions",
    "head_revisions",
    "is_data_error",
    "is_unavailable",
    "missing_table_error",
    "prepare_schema",
    "schema_diff",
    "tombstone_statement",
    "upgrade",
    "upgrade_sync",
    "upsert_statement",
]
