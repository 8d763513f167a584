"""The reference services: what an app built on clerk-sync looks like, runnable with ``clerk-sync serve``.

Nothing framework-specific is imported here, so ``clerk-sync serve --framework flask`` works without FastAPI;
``create_app`` (the FastAPI app) is imported on first use.
"""

from __future__ import annotations

import typing as _typing

from clerk_sync.service.settings import ServiceSettings

if _typing.TYPE_CHECKING:
    from clerk_sync.service.app import create_app

__all__ = ["ServiceSettings", "create_app"]


def __getattr__(name: str) -> _typing.Any:
    if name == "create_app":
        from clerk_sync.service.app import create_app

        return create_app
    raise AttributeError(name)
