"""The ``clerk-sync`` script and ``python -m clerk_sync``: the command line, or one line saying how to install it.

The script is installed with every extra, but the command itself (typer, rich, gunicorn, SQLite storage) comes
with ``[cli]``. Without it, ``clerk-sync`` would end in a ``ModuleNotFoundError`` traceback, which reads like a
broken package; this says which extra to add instead (``pip install 'clerk-sync[flask,cli]'``).
"""

from __future__ import annotations

import sys

__all__ = ["CLI_REQUIRES", "main", "missing_cli_packages"]

#: Import names the command needs beyond the core: typer and rich draw it; SQLAlchemy runs migrations and stores.
CLI_REQUIRES = ("typer", "rich", "sqlalchemy")


def missing_cli_packages() -> list[str]:
    """The packages of ``[cli]`` this environment lacks (empty when the command can run)."""
    return [name for name in CLI_REQUIRES if not _installed(name)]


def _installed(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a finder that refuses the name, or a broken half-installed package
        return False


def main() -> None:
    """Run the command; exit 2 with one line naming the extra when ``[cli]`` is not installed."""
    missing = missing_cli_packages()
    if missing:
        sys.stderr.write(
            f"error: the clerk-sync command needs the [cli] extra (missing: {', '.join(missing)}); "
            "install it beside your framework's, e.g. pip install 'clerk-sync[fastapi,cli]'\n"
        )
        raise SystemExit(2)
    from clerk_sync.cli import main as run

    run()


if __name__ == "__main__":
    main()
