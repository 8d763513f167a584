"""``manage.py clerk_backfill``."""
