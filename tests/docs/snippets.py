"""The fenced code blocks of the README and the docs site, each with the handling the test suite gives it.

Every block gets exactly one handling, decided here; ``tests/docs/test_snippets.py`` runs it. A block whose
language has no default and that carries no known marker is classified ``unknown``, and its test fails: no block
is silently skipped. The marker is an HTML comment on the last non-blank line before the fence (invisible on
GitHub and on the site):

=====================================  ==========================================================================
marker / language                      handling
=====================================  ==========================================================================
``python`` (no marker)                 ``exec``: run as a fresh module (``CLERK_JWT_KEY`` set, a temporary cwd)
``<!-- snippet: asgi-app -->``         an ASGI app named ``app``: served by uvicorn on a fresh SQLite database,
                                       ``/me`` with a kit-signed token answers the synced row, none is a 401
``<!-- readme-test: NAME -->``         the same (the README's older marker), the schema migrated first
``<!-- snippet: flask-app -->``        a Flask ``app``: ``/me`` through its test client, as above
``<!-- flask-example: ... -->``        the same (the README's older marker), the schema migrated first
``# django: FILE`` (first line)        appended to ``FILE`` of a fresh ``startproject`` with the page's other
                                       such blocks; the project migrates, and ``/me`` answers when urls are given
``<!-- snippet: django-pytest -->``    ``# FILE`` first line: written into the Django quick start's project and
                                       run with pytest-django; every test must pass
``<!-- snippet: pytest -->``           a test file, run by pytest in a fresh directory; every test must pass
``<!-- snippet: exec-with-request -->``  ``exec`` with a ``request`` (a signed ``Authorization`` header) defined
``<!-- snippet: compile (REASON) -->`` compiled only, for code of a package clerk-sync does not install; the
                                       reason is required
``json``                               parsed
``<!-- snippet: clerk-template -->``   the Clerk session token template: parsed, and its claims fill every column
``js``                                 ``node --check`` as an ES module
``sh``                                 ``bash -n``, then each command checked by ``tests/docs/shell.py`` (run when
                                       cheap, parsed against the real command line otherwise)
``text``                               a diagram or output: prose, no code to run
=====================================  ==========================================================================
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DEFAULTS", "MARKED", "ROOT", "Block", "blocks_of", "documents", "handling_of", "marker_args"]

ROOT = Path(__file__).resolve().parents[2]

_FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[\w-]*)[^\n]*$")
_MARKER = re.compile(r"^<!--\s*(?P<kind>snippet|readme-test|flask-example):?\s*(?P<args>.*?)\s*-->$")
_COMPILE = re.compile(r"^compile \((?P<reason>.+)\)$")

#: Languages whose blocks need no marker, and the handling they get.
DEFAULTS = {"python": "exec", "json": "json", "js": "node-check", "sh": "shell", "text": "text"}
#: Markers that name a handling of their own (``<!-- snippet: NAME -->``).
MARKED = {"asgi-app", "flask-app", "django-pytest", "pytest", "exec-with-request", "clerk-template"}


@dataclass(frozen=True)
class Block:
    """One fenced block: where it is, its language, its code, and the marker comment before it (if any)."""

    path: Path
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    marker: str | None

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}" if self.path.is_relative_to(ROOT) else str(self.path)

    @property
    def django_file(self) -> str | None:
        """``settings.py`` for a block starting ``# django: settings.py``."""
        found = re.match(r"# django: (?P<file>[\w./]+)\n", self.code)
        return found["file"] if found and self.lang == "python" else None


def documents() -> list[Path]:
    """The README, the browser client's README and every page of the docs site."""
    return [ROOT / "README.md", ROOT / "clients/js/README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def blocks_of(path: Path, text: str | None = None) -> list[Block]:
    """The fenced blocks of one Markdown file (``text`` instead of reading it, for tests of this module)."""
    lines = (path.read_text() if text is None else text).splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        start = index
        indent = len(opening["indent"])
        index += 1
        body: list[str] = []
        while index < len(lines) and lines[index].strip() != "```":
            body.append(lines[index][indent:])
            index += 1
        index += 1  # the closing fence
        previous = next((lines[i].strip() for i in range(start - 1, -1, -1) if lines[i].strip()), "")
        marker = previous if _MARKER.match(previous) else None
        found.append(Block(path, start + 1, opening["lang"], "\n".join(body) + "\n", marker))
    return found


def handling_of(block: Block) -> str:
    """The handling's name (see the module docstring), or ``unknown`` when the block has none."""
    if block.marker is not None:
        marker = _MARKER.match(block.marker)
        assert marker is not None
        kind, args = marker["kind"], marker["args"]
        if kind == "readme-test":
            return "asgi-app" if block.lang == "python" else "unknown"
        if kind == "flask-example":
            return "flask-app" if block.lang == "python" else "unknown"
        if _COMPILE.match(args) and block.lang == "python":
            return "compile"
        if args in MARKED:
            return args
        return "unknown"
    if block.django_file is not None:
        return "django"
    return DEFAULTS.get(block.lang, "unknown")


def marker_args(block: Block) -> str:
    """What follows the marker's name: the README's framework name for ``readme-test`` (``litestar``...)."""
    marker = _MARKER.match(block.marker or "")
    return marker["args"] if marker else ""
