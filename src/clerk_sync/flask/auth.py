"""The request's identity: ``current_claims`` and ``current_user`` (lazy proxies) and the route decorators.

Both proxies resolve on first use and cache on ``flask.g`` (one per request): the token is verified once, and
the user is synced once however often a request reads it; a route that never touches ``current_user`` costs no
query. A request without a token has ``None`` behind both; a token that is sent must verify, or reading either
raises the ``ClerkSyncError`` that the extension's handler renders as a 401.

When the extension has Flask-SQLAlchemy's ``db``, the user is attached to ``db.session`` (no query), so the
route's changes and relationship loads go through the app's own unit of work.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar, cast, overload

from flask import current_app, g, request
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session
from werkzeug.local import LocalProxy

from clerk_sync.claims import SessionClaims
from clerk_sync.errors import TokenMissingError
from clerk_sync.flask.extension import state_of
from clerk_sync.metrics import VERIFICATIONS

__all__ = ["clerk_optional", "clerk_required", "current_claims", "current_user", "get_claims", "get_current_user"]

P = ParamSpec("P")
R = TypeVar("R")

_CLAIMS = "_clerk_sync_claims"
_USER = "_clerk_sync_user"
_UNSET = object()


def get_claims() -> SessionClaims | None:
    """The request's verified claims, verified once per request; None when it carries no token."""
    known = g.get(_CLAIMS, _UNSET)
    if known is not _UNSET:
        return cast(SessionClaims | None, known)
    environ = request.environ  # not request.headers/cookies: each builds a structure for one value
    cookies = request.cookies if "HTTP_COOKIE" in environ else {}
    claims = state_of(current_app).core.authenticate(environ.get("HTTP_AUTHORIZATION"), cookies)
    setattr(g, _CLAIMS, claims)
    return claims


def get_current_user() -> Any:
    """The app's user row for the verified token, synced once per request; None for an anonymous request."""
    known = g.get(_USER, _UNSET)
    if known is not _UNSET:
        return known
    claims = get_claims()
    state = state_of(current_app)
    user = None if claims is None else state.core.current_user(claims)
    if user is not None and state.session is not None:
        _bind(state.session(), user)
    setattr(g, _USER, user)
    return user


def _bind(session: Session, user: Any) -> None:
    """Attach the (detached) user to the app's session without a query, unless it already holds that row."""
    key = sa_inspect(user).key
    if key is None or session.identity_map.get(key) is None:
        session.add(user)


current_claims = cast(SessionClaims, LocalProxy(get_claims))
"""The verified ``SessionClaims`` of the request (no database); ``None`` behind the proxy when anonymous."""

current_user: Any = LocalProxy(get_current_user)
"""The synced user row (the app's model instance), resolved on first use; ``None`` behind it when anonymous."""


def _missing() -> TokenMissingError:
    VERIFICATIONS.labels(TokenMissingError.code).inc()
    return TokenMissingError("No session token in the Authorization header or the __session cookie.")


@overload
def clerk_required(view: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def clerk_required(*, optional: bool = False) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def clerk_required(
    view: Callable[P, R] | None = None, /, *, optional: bool = False
) -> Callable[P, R] | Callable[[Callable[P, R]], Callable[P, R]]:
    """Verify the request's token before the view runs: 401 problem+json without one (``optional=True``: the
    view runs anonymously), 401 for one that does not verify either way. The user is still synced lazily."""

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        @wraps(func)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            if get_claims() is None and not optional:
                raise _missing()
            return func(*args, **kwargs)

        return guarded

    return decorate if view is None else decorate(view)


def clerk_optional(view: Callable[P, R], /) -> Callable[P, R]:
    """``clerk_required(optional=True)``: anonymous requests reach the view, a sent token must verify."""
    return clerk_required(optional=True)(view)
