"""Django management commands of clerk-sync (``clerk_backfill``)."""

__all__: list[str] = []
