"""Storage: the synced user columns, the sync engine that keeps them current, and the packaged migrations.

Import from here; the submodules are an implementation layout. This package knows SQLAlchemy and Alembic and
nothing of HTTP: errors leave it as ``clerk_sync.errors`` classes only.
"""

from __future__ import annotations

from clerk_sync.db.base import NAMING_CONVENTION, Base, UTCDateTime
from clerk_sync.db.engine import DEFAULT_DATABASE_URL, create_engine, create_sessionmaker
from clerk_sync.db.failures import is_data_error, is_unavailable
from clerk_sync.db.migrate import (
    VERSION_TABLE,
    current_revisions,
    head_revisions,
    is_current,
    schema_diff,
    upgrade,
)
from clerk_sync.db.mixin import DECLARED_LENGTHS, ENGINE_COLUMNS, ClerkUserMixin, JSONDocument
from clerk_sync.db.models import ProcessedWebhook, User
from clerk_sync.db.reader import UserReader, open_user_reader
from clerk_sync.db.sync import Action, SyncHook, SyncResult, UserDeletion, UserSync, WebhookOutcome
from clerk_sync.db.upsert import tombstone_statement, upsert_statement

__all__ = [
    "DECLARED_LENGTHS",
    "DEFAULT_DATABASE_URL",
    "ENGINE_COLUMNS",
    "NAMING_CONVENTION",
    "VERSION_TABLE",
    "Action",
    "Base",
    "ClerkUserMixin",
    "JSONDocument",
    "ProcessedWebhook",
    "SyncHook",
    "SyncResult",
    "UTCDateTime",
    "User",
    "UserDeletion",
    "UserReader",
    "UserSync",
    "WebhookOutcome",
    "create_engine",
    "create_sessionmaker",
    "current_revisions",
    "head_revisions",
    "is_current",
    "is_data_error",
    "is_unavailable",
    "open_user_reader",
    "schema_diff",
    "tombstone_statement",
    "upgrade",
    "upsert_statement",
]
