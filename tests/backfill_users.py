"""The users the backfill tests list from the fake Backend API (``clerk_sync.testing.FakeClerkBackend``), shared
by the SQLAlchemy tests (tests/test_backfill.py) and the Django command's (tests/django/test_backfill.py)."""

from __future__ import annotations

from typing import Any

from clerk_sync.testing import make_user_json

__all__ = ["BASE_MS", "SECRET", "population"]

SECRET = "sk_test_backfill"
#: ``created_at``/``updated_at`` of the first user (ms); user ``i`` is ``i`` ms younger.
BASE_MS = 1_700_000_000_000


def population(n: int) -> list[dict[str, Any]]:
    """``n`` Clerk users ``user_00000``... in creation order, each with its own email, names and metadata."""
    return [
        make_user_json(
            f"user_{i:05d}",
            email=f"u{i}@example.com",
            first_name=f"F{i}",
            last_name=f"L{i}",
            public_metadata={"n": i},
            created_at=BASE_MS + i,
            updated_at=BASE_MS + i,
        )
        for i in range(n)
    ]
