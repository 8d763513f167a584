"""Rules about the repository itself that no single feature test would notice."""

from __future__ import annotations

import ast
from pathlib import Path

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
