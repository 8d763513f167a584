"""Install the built wheel as a user would, one fresh virtual environment per framework, and smoke-test each.

Usage: ``python3 .ci/smoke.py dist/clerk_sync-*.whl [--framework NAME ...]`` (``make smoke`` builds and runs it).

Per framework, in its own venv under one temporary directory (pip's cache is reused, so a second run downloads
nothing):

1. ``pip install 'clerk_sync-*.whl[NAME]'`` and check ``clerk-sync serve`` says, in one line, that the command
   needs ``[cli]`` (a framework extra alone makes an app's adapter work, not the reference service);
2. ``pip install 'clerk_sync-*.whl[NAME,cli]'`` and run ``.ci/smoke_check.py`` with the venv's interpreter, from
   outside the checkout: it serves the reference app on a free port and SQLite, calls ``/me`` with a token from
   the package's test kit and posts one Svix-signed webhook.

Standard library only: it runs with whatever ``python3`` the machine has, before any venv exists.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import venv
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

FRAMEWORKS = ("fastapi", "django", "flask", "litestar")
CHECK = Path(__file__).resolve().with_name("smoke_check.py")


def run(command: list[str], *, cwd: Path, expect: int | None = 0) -> subprocess.CompletedProcess[str]:
    """Run ``command``; fail with its output when the exit code is not ``expect``."""
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)  # noqa: S603 (our own commands)
    if expect is not None and result.returncode != expect:
        sys.exit(f"smoke: {' '.join(command)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def pip_install(python: Path, requirement: str, cwd: Path) -> None:
    """``--no-compile``: byte-compiling every dependency is most of an install's CPU, and Python compiles what the
    check imports anyway."""
    command = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile"]
    run([*command, requirement], cwd=cwd)


def smoke(framework: str, wheel: Path, root: Path) -> str:
    """One framework end to end in a fresh venv; returns the check's summary line."""
    started = time.monotonic()
    home = root / framework
    venv.create(home / "venv", with_pip=True)
    python = home / "venv" / "bin" / "python"
    pip_install(python, f"{wheel}[{framework}]", home)
    without_cli = run(
        [str(home / "venv" / "bin" / "clerk-sync"), "serve", "--framework", framework], cwd=home, expect=2
    )
    if "[cli]" not in without_cli.stderr or "Traceback" in without_cli.stderr:
        sys.exit(f"smoke: {framework} without [cli] should name the extra in one line, got:\n{without_cli.stderr}")
    installed = time.monotonic()
    pip_install(python, f"{wheel}[{framework},cli]", home)
    check = run([str(python), str(CHECK), framework], cwd=home)
    return (
        f"{check.stdout.strip()} (install {installed - started:.0f} s + {time.monotonic() - installed:.0f} s with "
        "[cli] and the check)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("wheel", type=Path)
    parser.add_argument("--framework", action="append", choices=FRAMEWORKS, help="default: all four")
    options = parser.parse_args()
    wheel = options.wheel.resolve()
    if not wheel.is_file() or wheel.suffix != ".whl":
        sys.exit(f"smoke: {wheel} is not a wheel; run `make dist` first")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="clerk-sync-smoke-") as directory, ThreadPoolExecutor(2) as pool:
        # Two at a time: an install waits on the disk and the cache as much as on a core.
        runs = [pool.submit(smoke, framework, wheel, Path(directory)) for framework in options.framework or FRAMEWORKS]
        for done in runs:
            print(f"smoke: {done.result()}", flush=True)
    print(f"smoke: {wheel.name}: every framework passed in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
