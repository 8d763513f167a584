"""Shared pieces of the Django tests: the database aliases to run on, profiles, and real threads."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import MappingProxyType
from typing import Any, TypeVar

import pytest
from django.db import connections

from clerk_sync.profile import Source, UserDeletion, UserProfile

__all__ = ["ALIASES", "deletion", "profile", "race"]

T = TypeVar("T")

#: Each case brings its own (transactional: threads and ``on_commit`` need real commits) test database.
ALIASES = [
    pytest.param("default", id="sqlite", marks=pytest.mark.django_db(transaction=True, databases=["default"])),
    pytest.param(
        "postgres",
        id="pg",
        marks=[pytest.mark.postgres, pytest.mark.django_db(transaction=True, databases=["postgres"])],
    ),
]


def profile(
    clerk_id: str = "user_1", version: int = 1_000, source: Source = Source.TOKEN, **fields: Any
) -> UserProfile:
    """A profile carrying exactly ``fields`` (a missing key is an absent claim, ``None`` a cleared one)."""
    return UserProfile(clerk_id=clerk_id, version=version, source=source, fields=MappingProxyType(fields))


def deletion(clerk_id: str = "user_1", version: int = 2_000) -> UserDeletion:
    """A ``user.deleted`` event."""
    return UserDeletion(clerk_id=clerk_id, version=version, source=Source.WEBHOOK)


def race(count: int, call: Callable[[], T]) -> list[T]:
    """Run ``call`` on ``count`` real threads released together by a barrier; each closes its connections."""
    barrier = threading.Barrier(count)

    def run() -> T:
        try:
            barrier.wait(timeout=30)
            return call()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(run) for _ in range(count)]
        return [future.result(timeout=120) for future in futures]
