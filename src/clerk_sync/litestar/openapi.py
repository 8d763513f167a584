"""The Clerk session token as an OpenAPI security scheme, named as the FastAPI adapter names it."""

from __future__ import annotations

from litestar.openapi.spec import SecurityRequirement, SecurityScheme

__all__ = ["CLERK_SECURITY", "SCHEME_NAME", "SECURITY_SCHEME"]

SCHEME_NAME = "ClerkSession"

SECURITY_SCHEME = SecurityScheme(
    type="http",
    scheme="bearer",
    bearer_format="JWT",
    description="A Clerk session token (or the `__session` cookie).",
)

CLERK_SECURITY: list[SecurityRequirement] = [{SCHEME_NAME: []}]
"""A route's (or router's) ``security=``: OpenAPI then marks it as needing the session token."""
