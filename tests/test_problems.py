"""The framework-neutral HTTP mapping (``clerk_sync.problems``): one table, complete, with a unique code per error."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import clerk_sync
from clerk_sync import errors
from clerk_sync.errors import (
    AuthenticationError,
    ClerkSyncError,
    DatabaseUnavailableError,
    KeySetUnavailableError,
    TokenExpiredError,
    TokenMissingError,
    UserDeletedError,
    WebhookFieldInvalidError,
    WebhookPayloadError,
)
from clerk_sync.problems import (
    ABSTRACT_ERRORS,
    PROBLEM_JSON,
    STATUS,
    Problem,
    codes_of,
    http_problem,
    problem,
    problem_for,
    request_invalid,
)

SOURCE = Path(clerk_sync.__file__).parent
README = Path(__file__).parents[1] / "README.md"


def _tree(cls: type[ClerkSyncError]) -> list[type[ClerkSyncError]]:
    found: list[type[ClerkSyncError]] = []
    for sub in cls.__subclasses__():
        found += [sub, *_tree(sub)]
    return found


def concrete() -> list[type[ClerkSyncError]]:
    """The classes clerk-sync raises: every subclass of the tree in ``clerk_sync.errors`` except the groups."""
    return [cls for cls in _tree(ClerkSyncError) if cls.__module__ == errors.__name__ and cls not in ABSTRACT_ERRORS]


def test_every_raised_error_has_a_row_of_the_table() -> None:
    """Each concrete error matches a row of ``STATUS`` (none falls through to the default 500), and the status is
    the deliberate one: 401 for authentication, 503 for our own dependencies."""
    classes = concrete()
    assert len(classes) >= 28
    for cls in classes:
        rows = [status for base, status in STATUS if issubclass(cls, base)]
        assert rows, f"{cls.__name__} matches no row of clerk_sync.problems.STATUS"
        assert rows[0] == problem_for(cls()).status
    assert problem_for(TokenExpiredError()).status == 401
    assert problem_for(DatabaseUnavailableError()).status == 503


def test_codes_are_unique() -> None:
    """No two error classes declare the same code (TokenError and TokenInvalidError used to share
    ``token-invalid``). The one class that inherits its parent's code on purpose is WebhookFieldInvalidError: to
    the sender it is the same refusal, with the field named."""
    everything: list[type[ClerkSyncError]] = [ClerkSyncError, *_tree(ClerkSyncError)]
    declared = [cls for cls in everything if "code" in vars(cls)]
    codes = [cls.code for cls in declared]
    assert len(codes) == len(set(codes)), sorted(c for c in codes if codes.count(c) > 1)
    inheriting = [cls for cls in concrete() if "code" not in vars(cls)]
    assert inheriting == [WebhookFieldInvalidError]
    assert WebhookFieldInvalidError.code == WebhookPayloadError.code


def _called_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            names.add(func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else "")
    return names


def test_no_group_is_ever_raised() -> None:
    """The groups' codes are never on the wire: no module of the package constructs a group itself, so OpenAPI
    (which leaves them out) and the README's list of codes stay true."""
    groups = {cls.__name__ for cls in ABSTRACT_ERRORS}
    offenders = {
        str(path.relative_to(SOURCE)): found
        for path in SOURCE.rglob("*.py")
        if (found := groups & _called_names(path)) and path.name != "errors.py"
    }
    assert offenders == {}


def test_readme_lists_every_code_on_the_wire() -> None:
    """Every code a raised error can send appears in the README's Errors section, and no group's code does."""
    text = README.read_text().split("## Errors", 1)[1].split("\n## ", 1)[0]
    for cls in concrete():
        assert f"`{cls.code}`" in text, cls.code
    for cls in ABSTRACT_ERRORS:
        assert f"`{cls.code}`" not in text, cls.code


def test_openapi_codes_leave_out_the_groups() -> None:
    """``codes_of(AuthenticationError)`` is exactly the 401 codes the tree can send: no ``authentication-failed``
    or ``token-refused``."""
    sent = {code for _, code in codes_of(AuthenticationError)}
    assert {status for status, _ in codes_of(AuthenticationError)} == {401}
    assert "token-refused" not in sent
    assert "authentication-failed" not in sent
    assert {"session-token-missing", "user-deleted", "token-invalid", "token-expired"} <= sent


@pytest.mark.parametrize(
    ("error", "header"),
    [
        (TokenMissingError(), 'Bearer realm="clerk-sync"'),
        (
            TokenExpiredError(),
            'Bearer realm="clerk-sync", error="invalid_token", error_description="token-expired"',
        ),
        (UserDeletedError(), 'Bearer realm="clerk-sync", error="invalid_token", error_description="user-deleted"'),
    ],
)
def test_401_challenge_follows_rfc_6750(error: ClerkSyncError, header: str) -> None:
    """``error="invalid_token"`` only when a token was sent; a request without one gets the bare challenge."""
    found = problem_for(error)
    assert found.status == 401
    assert dict(found.headers) == {"WWW-Authenticate": header}


def test_unavailable_carries_retry_after_and_the_body_is_rfc_9457() -> None:
    """A 503 says when to retry; the body has RFC 9457's members plus ``code``, and the content type is
    problem+json."""
    found = problem_for(KeySetUnavailableError("keys down"))
    assert dict(found.headers) == {"Retry-After": str(KeySetUnavailableError.retry_after)}
    assert found.content_type == PROBLEM_JSON
    assert found.body() == {
        "type": "about:blank",
        "title": "Service Unavailable",
        "status": 503,
        "detail": "keys down",
        "code": "jwk-remote-failed-to-load",
    }


def test_non_clerk_problems() -> None:
    """The adapters' other refusals: a framework status gets its phrase's slug, a 405 keeps ``Allow``, a 422 lists
    where and why (not the input), and ``Problem`` is immutable."""
    assert http_problem(405, None, {"Allow": "GET"}).headers == {"Allow": "GET"}
    assert http_problem(405).code == "method-not-allowed"
    assert http_problem(418).code == "i-m-a-teapot"
    assert http_problem(404, "secret path detail").detail == "Nothing is served at this path."
    invalid = request_invalid([{"loc": ("body", 0), "msg": "bad", "type": "int_parsing", "input": "x" * 10}])
    assert invalid.status == 422
    assert invalid.body()["errors"] == [{"loc": ["body", "0"], "msg": "bad", "type": "int_parsing"}]
    custom = problem(409, "order-conflict", "Taken.")
    assert isinstance(custom, Problem)
    assert custom.body()["title"] == "Conflict"
    with pytest.raises(AttributeError):
        custom.status = 500  # type: ignore[misc]
