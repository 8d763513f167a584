"""The README's code for a framework, exactly as written: the fenced block after ``<!-- readme-test: NAME -->``."""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["readme_block"]

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_block(name: str) -> str:
    """The Python block following the marker comment; fails when the marker or its block is missing."""
    match = re.search(rf"<!-- readme-test: {name} -->\n```python\n(.*?)\n```", README.read_text(), re.DOTALL)
    assert match is not None, f"README.md has no python block after <!-- readme-test: {name} -->"
    return match.group(1) + "\n"
