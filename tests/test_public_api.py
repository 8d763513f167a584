"""The public API: every package's ``__all__`` is sorted, complete and importable (httpx's convention)."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import clerk_sync
from tests.django.setup import configure as configure_django

configure_django()  # clerk_sync.django's models and admin import only once Django is set up

PACKAGES = [
    "clerk_sync",
    "clerk_sync.fastapi",
    "clerk_sync.db",
    "clerk_sync.testing",
    "clerk_sync.service",
    "clerk_sync.django",
]


def modules() -> list[str]:
    found = []
    for info in pkgutil.walk_packages(clerk_sync.__path__, "clerk_sync."):
        if ".migrations" in info.name:  # Alembic's env.py runs only inside Alembic; Django's are generated
            continue
        found.append(info.name)
    return found


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_importable(name: str) -> None:
    """Every listed name exists (ruff's RUF022 keeps each __all__ sorted)."""
    module = importlib.import_module(name)
    assert len(set(module.__all__)) == len(module.__all__)
    for attribute in module.__all__:
        assert hasattr(module, attribute), attribute


@pytest.mark.parametrize("name", PACKAGES)
def test_all_lists_every_public_name(name: str) -> None:
    """Every public name a package defines or imports is in its __all__."""
    module = importlib.import_module(name)
    public = {n for n in vars(module) if not n.startswith("_") and not isinstance(getattr(module, n), type(pytest))}
    public -= {"annotations"}
    assert public <= set(module.__all__), public - set(module.__all__)


def test_every_module_declares_all() -> None:
    """Each module states its public names."""
    missing = [name for name in modules() if not hasattr(importlib.import_module(name), "__all__")]
    assert missing == []
