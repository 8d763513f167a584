"""clerk-sync's Alembic environment and revisions, shipped inside the package (see ``clerk_sync.db.migrate``)."""
