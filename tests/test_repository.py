"""Rules about the repository itself that no single feature test would notice."""

from __future__ import annotations

import ast
import json
import subprocess
from pathlib import Path

from clerk_sync.mapping import DEFAULT_CLAIM_MAP, ClaimMapping

TESTS = Path(__file__).resolve().parent


def undocumented_tests(root: Path = TESTS) -> list[str]:
    """``path::name`` of every ``test_*`` function or method under ``root`` that has no docstring."""
    missing = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                and node.name.startswith("test_")
                and not ast.get_docstring(node)
            ):
                missing.append(f"{path.relative_to(root.parent)}::{node.name}")
    return missing


def test_every_test_says_what_it_proves() -> None:
    """Every ``test_*`` function in tests/ has a docstring: a reader learns what a failure means without
    reverse-engineering the assertions."""
    assert undocumented_tests() == []


def test_the_docstring_check_sees_an_undocumented_test(tmp_path: Path) -> None:
    """The scan finds sync and async test functions and methods without a docstring, and only those."""
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_sample.py").write_text(
        "def test_bare(): pass\n"
        "async def test_async_bare(): pass\n"
        'def test_documented():\n    """Says why."""\n'
        "def helper(): pass\n"
        "class TestGroup:\n    def test_method(self): pass\n"
    )
    assert undocumented_tests(tmp_path / "tests") == [
        "tests/test_sample.py::test_bare",
        "tests/test_sample.py::test_async_bare",
        "tests/test_sample.py::test_method",
    ]


#: Files outside the repository that code and docs once pointed at; the repository must stand on its own.
OUTSIDE_REFERENCES = ("DESIGN" + ".md", "shared/" + "fixtures", "../" + "shared")


def test_nothing_refers_to_files_outside_the_repository() -> None:
    """No tracked file names the design notes or the fixture folder that lived beside the repository (they are
    not in it, so a reader following the reference finds nothing); what was needed is copied in."""
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=TESTS.parent, capture_output=True, text=True, check=True
    ).stdout.split()
    found = []
    for name in tracked:
        path = TESTS.parent / name
        if not path.is_file() or path.suffix in {".png", ".ico"}:
            continue
        text = path.read_text(errors="replace")
        found += [f"{name}: {needle}" for needle in OUTSIDE_REFERENCES if needle in text]
    assert found == []


def test_the_session_token_template_names_the_claims_the_mapping_reads() -> None:
    """tests/fixtures/session-token-template.json (the JSON to paste into the Clerk Dashboard) gives every claim
    the default mapping reads, the version claim included, and no other."""
    template = json.loads((TESTS / "fixtures" / "session-token-template.json").read_text())
    mapping = ClaimMapping()
    assert set(template) == {*DEFAULT_CLAIM_MAP.values(), mapping.version_claim}


def test_the_first_make_run_says_what_it_is_installing() -> None:
    """``make run`` / ``make test`` on a fresh machine announce the install before it starts and let pip show
    each package (the install used to run under ``--quiet``: a silent minute that looked like a hang)."""
    dry_run = subprocess.run(
        ["make", "--dry-run", "--always-make", ".venv/.installed"],
        cwd=TESTS.parent,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    install = next(i for i, line in enumerate(dry_run) if "pip install" in line and ".[dev" in line)
    assert any("installing" in line for line in dry_run[:install])
    assert "--quiet" not in dry_run[install]
    assert "-q " not in dry_run[install]


def test_the_changelog_and_security_policy_name_the_current_version() -> None:
    """CHANGELOG.md's newest release is ``clerk_sync.__version__`` (a version bump without its entry fails), and
    SECURITY.md's supported line covers it."""
    import re

    import clerk_sync

    changelog = (TESTS.parent / "CHANGELOG.md").read_text()
    releases = re.findall(r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}$", changelog, flags=re.MULTILINE)
    assert releases[0] == clerk_sync.__version__
    major, minor, _ = clerk_sync.__version__.split(".")
    assert f"({major}.{minor}.x today)" in (TESTS.parent / "SECURITY.md").read_text()
