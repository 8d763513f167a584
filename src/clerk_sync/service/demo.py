"""Development mode's demo page: a browser signs in as a chosen development user and calls ``/me``.

Clerk's frontend SDK is not available offline, so ``POST /dev/token`` stands in for its ``getToken``: it mints
tokens with the local development key. The page uses the real browser client (``clients/js``), so what it shows
(a 401 ``token-expired`` answered by one refresh and one retry) is the client's own behaviour, not a mock of it.

Only ``create_app(dev=True)`` mounts this router: the token endpoint hands out tokens for any user id. It also
refuses requests whose ``Host`` or ``Origin`` is not a loopback name, so a web page the developer visits cannot
mint tokens through DNS rebinding or a cross-site form.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from clerk_sync.devkeys import is_loopback
from clerk_sync.fastapi import problem_response
from clerk_sync.issuer import TokenIssuer

__all__ = ["EXPIRED_TOKEN_AGE", "PAGE_TOKEN_TTL", "DevTokenRequest", "demo_router"]

PAGE_TOKEN_TTL = 60  # Clerk's session-token lifetime: the page refreshes as Clerk's frontend would
"""Clerk's lifetime, so the demo meets expiry the way a real app does."""

EXPIRED_TOKEN_AGE = 30
"""How long ago an ``expired: true`` token expired: well past the verifier's default 5 s clock skew."""

_STATIC = "static"
_JS = "text/javascript; charset=utf-8"
# No inline scripts or styles and nothing from other origins: the page must work offline and a token in its
# memory should not be readable by injected markup.
_CSP = "default-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
_CLIENT_IN_REPO = Path(__file__).resolve().parents[3] / "clients" / "js" / "src" / "index.js"


class DevTokenRequest(BaseModel):
    """The development user to sign in as; the optional fields become the token's profile claims."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sub: Annotated[str, Field(pattern=r"^user_[A-Za-z0-9_]{1,64}$")]
    email: Annotated[str | None, Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")] = None
    first_name: Annotated[str | None, Field(min_length=1, max_length=100)] = None
    last_name: Annotated[str | None, Field(min_length=1, max_length=100)] = None
    image_url: Annotated[str | None, Field(max_length=2048, pattern=r"^https?://\S+$")] = None
    expired: StrictBool = False


@dataclass(frozen=True)
class _Asset:
    body: bytes | None
    media_type: str
    missing: str = ""


def demo_router(issuer: TokenIssuer) -> APIRouter:
    """The page, its assets and ``POST /dev/token``; mount it only in development mode."""
    router = APIRouter(include_in_schema=False)
    page_asset = _package_asset("index.html", "text/html; charset=utf-8")
    assets = {
        "demo.js": _package_asset("demo.js", _JS),
        "demo.css": _package_asset("demo.css", "text/css; charset=utf-8"),
        "api-client.js": _client_asset(),
    }

    @router.get("/")
    async def page() -> Response:
        return _serve(page_asset)

    @router.get("/demo/{name}")
    async def asset(name: str) -> Response:
        found = assets.get(name)
        if found is None:
            return problem_response(404, "not-found", f"No demo asset {name[:40]!r}.")
        return _serve(found)

    @router.post("/dev/token")
    async def dev_token(body: DevTokenRequest, request: Request) -> JSONResponse:
        if not _loopback_request(request):
            return problem_response(
                403, "dev-token-forbidden", "Development tokens are minted for loopback pages only."
            )
        claims: dict[str, Any] = {
            "email": body.email,
            "first_name": body.first_name,
            "last_name": body.last_name,
            "image_url": body.image_url,
        }
        ttl = -EXPIRED_TOKEN_AGE if body.expired else PAGE_TOKEN_TTL
        token = issuer.mint(body.sub, ttl=ttl, claims=claims)
        return JSONResponse({"token": token, "expired": body.expired}, headers={"Cache-Control": "no-store"})

    return router


def _serve(asset: _Asset) -> Response:
    if asset.body is None:
        return problem_response(404, "not-found", asset.missing)
    headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff", "Content-Security-Policy": _CSP}
    return Response(asset.body, media_type=asset.media_type, headers=headers)


def _package_asset(name: str, media_type: str) -> _Asset:
    resource = resources.files(__package__ or "clerk_sync.service").joinpath(_STATIC, name)
    if not resource.is_file():
        return _Asset(None, media_type, f"{name} is missing from the installed package.")
    return _Asset(resource.read_bytes(), media_type)


def _client_asset() -> _Asset:
    """The JS client: the wheel's copy (force-included from ``clients/js``), else the repository's file.

    A checkout or editable install has no copy inside the package, and keeping one in git would let it drift
    from the client's tests; so the source of truth is ``clients/js/src/index.js`` in both cases.
    """
    shipped = _package_asset("api-client.js", _JS)
    if shipped.body is not None:
        return shipped
    if _CLIENT_IN_REPO.is_file():
        return _Asset(_CLIENT_IN_REPO.read_bytes(), _JS)
    return _Asset(None, _JS, "The JS client is not installed (clients/js/src/index.js); reinstall clerk-sync.")


def _loopback_request(request: Request) -> bool:
    """``Host`` must name this machine, and ``Origin``, when the browser sends one, must too."""
    host = request.headers.get("host", "")
    origin = request.headers.get("origin")
    if not is_loopback(urlsplit(f"//{host}").hostname):
        return False
    return origin is None or is_loopback(urlsplit(origin).hostname)
