"""The packaged Alembic migrations on a synchronous engine, for ``ClerkSync(migrate=True)``.

``clerk_sync.db.upgrade`` is async (it runs Alembic inside ``AsyncConnection.run_sync``); a WSGI app has a plain
``Engine``, so this hands Alembic a sync connection the same way (``Config.attributes["connection"]``, which the
packaged ``env.py`` uses as is). Same revisions, same version table.
"""

from __future__ import annotations

from alembic import command
from sqlalchemy import Engine

from clerk_sync.db.migrate import alembic_config

__all__ = ["upgrade_schema"]


def upgrade_schema(engine: Engine, revision: str = "head") -> None:
    """Migrate ``engine``'s database to ``revision`` with clerk-sync's own revisions, in one transaction."""
    with engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
