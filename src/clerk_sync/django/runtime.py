"""The process's clerk-sync roots for Django: opened lazily on first use, closed at exit.

Django has no lifespan, so the roots open on the first request that needs them (thread-safe: one root however
many threads race to it) and close at interpreter exit. ``get_core()`` is the ``SyncClerkCore`` on
``DjangoUserStore`` for WSGI and sync views; ``aget_core()`` the ``ClerkCore`` on ``AsyncDjangoUserStore`` for
async views, one per event loop (an ``httpx.AsyncClient`` belongs to the loop it was opened on).

Settings are the ``CLERK_*`` environment variables, overridden key by key by ``settings.CLERK_SYNC`` (a dict of
``ClerkSettings`` field names). Changing ``CLERK_SYNC`` or ``CLERK_SYNC_USER_MODEL`` (``override_settings`` in
tests) resets the roots, so the next request opens them with the new values.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
import weakref
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from clerk_sync.core import ClerkCore, SyncClerkCore
from clerk_sync.django.conf import USER_MODEL_SETTING
from clerk_sync.django.store import AsyncDjangoUserStore, DjangoUserStore
from clerk_sync.errors import ConfigurationError
from clerk_sync.settings import ClerkSettings, load_settings

__all__ = ["SETTINGS_NAME", "aget_core", "clerk_settings", "get_core", "reset"]

#: The ``settings.py`` dict whose keys override the ``CLERK_*`` variables.
SETTINGS_NAME = "CLERK_SYNC"

_lock = threading.Lock()
_sync_root: SyncClerkCore | None = None
_async_roots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ClerkCore] = weakref.WeakKeyDictionary()


def clerk_settings() -> ClerkSettings:
    """The environment's ``CLERK_*`` values with ``settings.CLERK_SYNC`` on top."""
    overrides = getattr(settings, SETTINGS_NAME, None) or {}
    if not isinstance(overrides, dict):
        raise ConfigurationError(f"settings.{SETTINGS_NAME} must be a dict of ClerkSettings field names")
    unknown = sorted(set(overrides) - set(ClerkSettings.model_fields))
    if unknown:
        raise ConfigurationError(f"settings.{SETTINGS_NAME}: unknown keys {', '.join(map(str, unknown))}")
    return load_settings(**overrides)


def get_core() -> SyncClerkCore:
    """The process's ``SyncClerkCore``, opened on first use."""
    global _sync_root
    root = _sync_root
    if root is not None:
        return root
    with _lock:
        if _sync_root is None:
            _sync_root = SyncClerkCore(clerk_settings(), store=DjangoUserStore()).__enter__()
        return _sync_root


async def aget_core() -> ClerkCore:
    """The running loop's ``ClerkCore``, opened on first use (no lock is held across the await: a root that lost
    the race to open is closed again)."""
    loop = asyncio.get_running_loop()
    root = _async_roots.get(loop)
    if root is not None:
        return root
    opened = await ClerkCore(clerk_settings(), store=AsyncDjangoUserStore()).__aenter__()
    with _lock:
        winner = _async_roots.setdefault(loop, opened)
    if winner is not opened:
        await opened.__aexit__(None, None, None)
    return winner


def reset() -> None:
    """Close every root; the next use opens new ones with the current settings."""
    global _sync_root
    with _lock:
        sync_root, _sync_root = _sync_root, None
        async_roots = list(_async_roots.items())
        _async_roots.clear()
    if sync_root is not None:
        sync_root.__exit__(None, None, None)
    for loop, root in async_roots:
        _close_async(loop, root)


def _close_async(loop: asyncio.AbstractEventLoop, root: ClerkCore) -> None:
    closing = root.__aexit__(None, None, None)
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:  # reset from inside that loop (an async test): close it there, soon
        loop.create_task(closing)
    elif not loop.is_closed() and not loop.is_running():
        loop.run_until_complete(closing)
    else:  # the loop is gone (or busy on another thread): its client has no connection to hand back to it
        asyncio.run(closing) if running is None else closing.close()


@receiver(setting_changed)
def _settings_changed(*, setting: str, **_: Any) -> None:
    if setting in (SETTINGS_NAME, USER_MODEL_SETTING):
        reset()


atexit.register(reset)
