"""``clerk-sync serve --framework fastapi``: the FastAPI reference app on uvicorn (see ``serving``)."""

from __future__ import annotations

import os

from fastapi import FastAPI

from clerk_sync.service.app import create_app
from clerk_sync.service.asgi_server import run_on_uvicorn
from clerk_sync.service.serving import DEV_ENV, ServeOptions, alembic_upgrade
from clerk_sync.service.settings import ServiceSettings
from clerk_sync.settings import load_settings

__all__ = ["run", "service_app", "upgrade", "validate"]


def service_app() -> FastAPI:
    """The reference service as one worker builds it (uvicorn's factory form, for ``--workers N``)."""
    return create_app(ServiceSettings(), load_settings(), dev=os.environ.get(DEV_ENV) == "1")


def validate(dev: bool) -> None:
    create_app(ServiceSettings(), load_settings(), dev=dev)


def upgrade(database_url: str) -> None:
    alembic_upgrade(database_url)


def run(options: ServeOptions) -> None:
    run_on_uvicorn(f"{__name__}:service_app", service_app, options)
