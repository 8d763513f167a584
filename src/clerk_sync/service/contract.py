"""What every reference app answers, framework-free: the ``/me`` document of the shared HTTP contract.

One definition, so the FastAPI, Django, Flask and Litestar apps cannot render a user differently (the contract
suite in tests/contract checks them against each other).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

__all__ = ["user_json"]


def user_json(user: Any) -> dict[str, Any]:
    """The contract's ``/me`` document for any store's user row (SQLAlchemy or Django model instance)."""
    return {
        "id": user.id,
        "clerk_id": user.clerk_id,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "image_url": user.image_url,
        "public_metadata": user.public_metadata,
        "created_at": _iso(user.created_at),
        "updated_at": _iso(user.updated_at),
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
