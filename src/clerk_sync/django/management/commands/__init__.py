"""``manage.py clerk_backfill``: Django finds commands here by module name."""

__all__: list[str] = []
