"""The shell blocks of the docs, command by command: run the cheap ones, parse the rest against the real tool.

A command that cannot run inside a test (installing packages, a server that runs until stopped, a request to a
server the reader started, the whole test suite) is still checked against what it names: ``make`` targets exist
in the Makefile, ``pip install`` extras exist in pyproject.toml, ``clerk-sync`` and ``uvicorn`` accept the
arguments (their click parsers read them without running the command), ``manage.py`` commands exist in Django,
``python -m bench.X`` accepts every flag given (``--help``), paths exist. A program with no rule here fails the
block: a new kind of command needs a rule before it can be documented.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from tests.docs.snippets import ROOT
from tests.processes import clean_env

__all__ = ["check_block", "commands_of"]

BIN = Path(sys.executable).parent
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_SUBSTITUTION = re.compile(r"\$\(([^()]*)\)")


def commands_of(code: str) -> list[list[str]]:
    """Each command of a block as words: continuation lines joined, comments dropped, ``$(...)`` included."""
    commands: list[list[str]] = []
    for line in code.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        if words:
            commands.append(words)
        commands.extend(shlex.split(inner) for inner in _SUBSTITUTION.findall(line))
    return commands


def check_block(code: str, cwd: Path, tmp_path: Path) -> list[str]:
    """Check every command of a block; returns what each command got (run / parsed), for the test's report."""
    syntax = subprocess.run(["bash", "-n"], input=code, capture_output=True, text=True, check=False)
    assert syntax.returncode == 0, syntax.stderr
    done = []
    for words in commands_of(code):
        while words and _ASSIGNMENT.match(words[0]):  # `VAR=value command`
            words = words[1:]
        if not words:
            continue
        program = Path(words[0]).name if words[0].startswith(".venv/") else words[0]
        rule = RULES.get(program)
        assert rule is not None, f"no rule for the command {program!r} in tests/docs/shell.py: {shlex.join(words)}"
        done.append(f"{rule(words[1:], cwd, tmp_path)}: {shlex.join(words)}")
    return done


def _export(args: list[str], cwd: Path, tmp_path: Path) -> str:
    for arg in args:
        assert _ASSIGNMENT.match(arg), f"export of {arg!r}"
    return "parsed"


def _make(args: list[str], cwd: Path, tmp_path: Path) -> str:
    makefile = (ROOT / "Makefile").read_text()
    for target in args:
        assert re.search(rf"^{re.escape(target)}:", makefile, re.MULTILINE), f"no make target {target!r}"
    return "target exists"


def _extras() -> set[str]:
    return set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])


def _pip(args: list[str], cwd: Path, tmp_path: Path) -> str:
    assert args[:1] == ["install"], args
    for requirement in args[1:]:
        name, _, extras = requirement.partition("[")
        if name == "clerk-sync":
            for extra in extras.rstrip("]").split(","):
                assert extra in _extras(), f"clerk-sync has no extra {extra!r}"
        else:
            assert name.startswith("-") or name in (ROOT / "pyproject.toml").read_text(), requirement
    return "extras exist"


def _resolve(group: Any, args: list[str]) -> Any:
    """Parse ``args`` down the command tree without invoking anything (click's own parser, as the shell's).

    A group keeps what follows its options for the subcommand (``_protected_args`` since click 8.2); typer may
    ship its own copy of click, so groups are recognised by ``get_command``, not by class."""
    context = group.make_context("clerk-sync", list(args))
    while hasattr(context.command, "get_command"):
        remaining = [*getattr(context, "_protected_args", []), *context.args]
        if not remaining:
            break
        name, *rest = remaining
        sub = context.command.get_command(context, name)
        assert sub is not None, f"clerk-sync has no command {name!r}"
        context = sub.make_context(name, rest, parent=context)
    return context


def _clerk_sync(args: list[str], cwd: Path, tmp_path: Path) -> str:
    from clerk_sync.cli import app

    context = _resolve(typer.main.get_command(app), args)
    if context.info_name != "dev-token":
        return "parsed"
    env = clean_env({"HOME": str(tmp_path)})
    result = subprocess.run(
        [str(BIN / "clerk-sync"), *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"[\w-]+\.[\w-]+\.[\w-]+", result.stdout.strip()), "dev-token printed no JWT"
    return "ran"


def _uvicorn(args: list[str], cwd: Path, tmp_path: Path) -> str:
    from uvicorn.main import main

    main.make_context("uvicorn", list(args))
    return "parsed"


def _flask(args: list[str], cwd: Path, tmp_path: Path) -> str:
    assert args[:1] == ["--app"], args
    assert args[2:3] == ["run"], args
    return "parsed"


def _python(args: list[str], cwd: Path, tmp_path: Path) -> str:
    if args[:1] == ["manage.py"]:
        from django.core.management import get_commands

        assert args[1] in get_commands(), f"Django has no command {args[1]!r}"
        return "parsed"
    assert args[:1] == ["-m"], args
    module, rest = args[1], args[2:]
    if module == "pytest":
        for path in (arg for arg in rest if not arg.startswith("-")):
            assert (ROOT / path.split("::")[0]).exists(), path
        return "paths exist"
    assert module.startswith("bench."), module
    shown = subprocess.run(
        [sys.executable, "-m", module, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert shown.returncode == 0, shown.stderr
    for flag in (arg.split("=")[0] for arg in rest if arg.startswith("--")):
        assert flag in shown.stdout, f"{module} does not accept {flag}"
    return "flags accepted"


def _curl(args: list[str], cwd: Path, tmp_path: Path) -> str:
    assert any(arg.startswith("http://127.0.0.1") for arg in args), "curl examples call the local server"
    return "parsed"


def _npm(args: list[str], cwd: Path, tmp_path: Path) -> str:
    assert args[:2] == ["ci", "--prefix"], args
    assert (ROOT / args[2] / "package-lock.json").exists(), args[2]
    return "lockfile exists"


def _node(args: list[str], cwd: Path, tmp_path: Path) -> str:
    if args == ["--test"]:
        assert (cwd / "test").is_dir(), "node --test finds no test directory"
        return "make test runs it"
    assert args[:1] == ["--check"], args
    result = subprocess.run(["node", *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return "ran"


RULES: dict[str, Callable[[list[str], Path, Path], str]] = {
    "export": _export,
    "make": _make,
    "pip": _pip,
    "clerk-sync": _clerk_sync,
    "uvicorn": _uvicorn,
    "flask": _flask,
    "python": _python,
    "curl": _curl,
    "npm": _npm,
    "node": _node,
}
