"""App-scoped objects, built once in the lifespan and found by dependencies on ``app.state``.

``ClerkSync`` is what an app writes: ``clerk = ClerkSync(settings)`` and ``FastAPI(lifespan=clerk.lifespan)``.
Only the lifespan constructs the HTTP client, key set and verifier (DESIGN.md); dependencies read them from
``request.app.state.clerk_sync`` so tests can swap any piece.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
from fastapi import FastAPI, Request

from clerk_sync.bootstrap import build_key_set, build_verifier
from clerk_sync.errors import ConfigurationError
from clerk_sync.keys import JwksKeySet, KeySet, load_pem_key
from clerk_sync.profile import ClaimMapping
from clerk_sync.settings import ClerkSettings
from clerk_sync.verify import TokenVerifier

__all__ = ["ClerkRuntime", "ClerkSync", "get_runtime"]

logger = logging.getLogger("clerk_sync")

STATE_KEY = "clerk_sync"


@dataclass(slots=True)
class ClerkRuntime:
    """What a running app holds: the verifier and its HTTP client."""

    settings: ClerkSettings
    http: httpx.AsyncClient
    verifier: TokenVerifier
    mapping: ClaimMapping = field(default_factory=ClaimMapping)


class ClerkSync:
    """Configure clerk-sync for a FastAPI app; ``lifespan`` builds and tears down the runtime."""

    def __init__(
        self,
        settings: ClerkSettings | None = None,
        *,
        mapping: ClaimMapping | None = None,
        key_set: KeySet | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.settings = settings if settings is not None else ClerkSettings()
        self.mapping = mapping or ClaimMapping()
        self._key_set = key_set
        self._http = http

    def validate(self) -> None:
        """Fail at start, with one line naming the variable, when the key source cannot work."""
        if self._key_set is not None:
            return
        if self.settings.jwt_key is not None:
            load_pem_key(self.settings.jwt_key.get_secret_value())
        elif self.settings.resolved_jwks_url is None:
            raise ConfigurationError(
                "No signing key source: set CLERK_JWT_KEY, CLERK_JWKS_URL, CLERK_SECRET_KEY or CLERK_PUBLISHABLE_KEY"
            )

    @asynccontextmanager
    async def runtime(self) -> AsyncIterator[ClerkRuntime]:
        """Build the runtime outside FastAPI (CLI, scripts); closes what it opened."""
        self.validate()
        owns_http = self._http is None
        http = self._http or httpx.AsyncClient(timeout=self.settings.http_timeout_s)
        try:
            keys = self._key_set or build_key_set(self.settings, http)
            if isinstance(keys, JwksKeySet) and not await keys.warm():
                logger.warning("signing keys could not be loaded at start; will retry on first request")
            yield ClerkRuntime(self.settings, http, build_verifier(self.settings, keys), self.mapping)
        finally:
            if owns_http:
                await http.aclose()

    @asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        """FastAPI lifespan: the runtime lives on ``app.state`` while the app runs."""
        async with self.runtime() as runtime:
            setattr(app.state, STATE_KEY, runtime)
            try:
                yield
            finally:
                delattr(app.state, STATE_KEY)


def get_runtime(request: Request) -> ClerkRuntime:
    """The app's runtime; a clear error if the app forgot ``lifespan=clerk.lifespan``."""
    runtime = getattr(request.app.state, STATE_KEY, None)
    if not isinstance(runtime, ClerkRuntime):
        raise ConfigurationError("clerk-sync is not started: pass lifespan=ClerkSync(...).lifespan to FastAPI")
    return runtime
