"""What the problem documents look like in OpenAPI, so the schema names every refusal a route can give.

``problem_responses(AuthenticationError, DatabaseUnavailableError)`` is a route's ``responses=``: one entry per
status, media type ``application/problem+json``, ``code`` limited to the codes of those classes (and their
subclasses), and the headers that go with the status (``WWW-Authenticate`` on 401, ``Retry-After`` on 503).
The schemas are inlined rather than put in ``components``: FastAPI files a response ``model`` under the route's
own media type (``application/json``), which would document a content type the route never sends.
"""

from __future__ import annotations

import copy
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

from clerk_sync.errors import ClerkSyncError
from clerk_sync.problems import HTTP_CODES, PROBLEM_JSON, codes_of

__all__ = ["ProblemDetails", "ProblemField", "problem_responses", "problem_schema", "use_problem_validation_errors"]

_HEADERS: dict[int, dict[str, Any]] = {
    401: {
        "WWW-Authenticate": {
            "description": 'RFC 6750: `Bearer realm="clerk-sync"`, with `error="invalid_token"` when a token was sent.',
            "required": True,
            "schema": {"type": "string"},
        }
    },
    503: {
        "Retry-After": {
            "description": "Seconds to wait before retrying; the session is still valid.",
            "required": True,
            "schema": {"type": "integer", "minimum": 0},
        }
    },
}

_DESCRIPTIONS = {
    400: "The request (or webhook) was refused as sent; nothing was written.",
    401: "Not signed in, or the session token was refused; `code` says why. Refresh the token and retry once.",
    413: "The body is larger than the route accepts.",
    422: "The request does not match the schema; `errors` says where.",
    503: "A dependency of ours failed (signing keys, database, configuration); retry after `Retry-After`.",
}


class ProblemField(BaseModel):
    """Where and why a request did not match the schema (in a 422); never the input itself."""

    loc: list[str]
    msg: str
    type: str


class ProblemDetails(BaseModel):
    """An RFC 9457 problem document as clerk-sync sends it, media type ``application/problem+json``."""

    model_config = ConfigDict(extra="allow", title="ProblemDetails")

    type: str = "about:blank"
    title: str
    status: int = Field(ge=400, le=599)
    detail: str
    code: str = Field(description="The stable reason clients branch on (Clerk's reason strings for 401s).")
    errors: list[ProblemField] | None = Field(default=None, description="Only in a 422.")


def problem_responses(*errors: type[ClerkSyncError] | int) -> dict[int | str, dict[str, Any]]:
    """A route's ``responses=`` for the errors it can raise: classes (with their subclasses' codes) or statuses
    of the framework's own refusals (400 ``body-invalid``, 422 ``request-invalid``...)."""
    codes: dict[int, set[str]] = {}
    for error in errors:
        if isinstance(error, int):
            codes.setdefault(error, set()).update([HTTP_CODES[error]] if error in HTTP_CODES else [])
            continue
        for status, code in codes_of(error):  # the codes the class and its subclasses can send
            codes.setdefault(status, set()).add(code)
    return {status: _response(status, sorted(found)) for status, found in sorted(codes.items())}


def _response(status: int, codes: list[str]) -> dict[str, Any]:
    schema = problem_schema(status, codes)
    listed = ", ".join(f"`{code}`" for code in codes)
    description = _DESCRIPTIONS.get(status, HTTPStatus(status).phrase)
    response: dict[str, Any] = {
        "description": f"{description} Codes: {listed}." if listed else description,
        "content": {PROBLEM_JSON: {"schema": schema}},
    }
    if status in _HEADERS:
        response["headers"] = copy.deepcopy(_HEADERS[status])
    return response


def problem_schema(status: int, codes: list[str]) -> dict[str, Any]:
    """``ProblemDetails``'s JSON schema for one status: ``status`` fixed, ``code`` one of ``codes`` (any string
    when empty), ``errors`` only in a 422. Self-contained: nested definitions are inlined."""
    schema = _inline(ProblemDetails.model_json_schema())
    properties = schema["properties"]
    properties["status"] = {"type": "integer", "const": status}
    properties["title"] = {"type": "string", "const": HTTPStatus(status).phrase}
    if codes:
        properties["code"] = {**properties["code"], "enum": codes}
    if status != 422:
        del properties["errors"]
    return schema


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(copy.deepcopy(definitions[ref.removeprefix("#/$defs/")]))
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


def use_problem_validation_errors(app: FastAPI) -> None:
    """Make the app's OpenAPI match ``all_errors=True``: FastAPI documents its 422 as a JSON
    ``HTTPValidationError``; those become problem documents, plus a 400 ``body-invalid`` where a body is read."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()
        for path_item in schema.get("paths", {}).values():
            for operation in path_item.values():
                if isinstance(operation, dict) and _has_fastapi_422(operation):
                    extra = (400, 422) if "requestBody" in operation else (422,)
                    for status, response in problem_responses(*extra).items():
                        _merge(operation["responses"], str(status), response)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to customise the schema


def _merge(responses: dict[str, Any], status: str, response: dict[str, Any]) -> None:
    """Add a documented refusal; a 400 the route already documents as a problem gains the new codes."""
    existing = responses.get(status)
    if status == "422" or existing is None:
        responses[status] = response
        return
    known = existing.get("content", {}).get(PROBLEM_JSON, {}).get("schema", {}).get("properties", {}).get("code", {})
    if "enum" in known:
        added = response["content"][PROBLEM_JSON]["schema"]["properties"]["code"]["enum"]
        known["enum"] = sorted({*known["enum"], *added})


def _has_fastapi_422(operation: dict[str, Any]) -> bool:
    response = operation.get("responses", {}).get("422", {})
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return str(schema.get("$ref", "")).endswith("/HTTPValidationError")
