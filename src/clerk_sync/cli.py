"""The ``clerk-sync`` command: serve the reference service, mint development tokens, migrate, backfill.

Configuration errors end the command with one line naming the variable and exit code 2, never a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from clerk_sync.devkeys import DEV_TOKEN_TTL, dev_key_dir, is_loopback, load_dev_issuer, url_host
from clerk_sync.errors import ClerkSyncError, ConfigurationError
from clerk_sync.service.serving import FRAMEWORKS, FrameworkServer, ServeOptions, server_for
from clerk_sync.settings import ClerkSettings, load_settings

if TYPE_CHECKING:
    from clerk_sync.backfill import BackfillReport

__all__ = ["FRAMEWORKS", "app", "main"]

app = typer.Typer(
    name="clerk-sync",
    help="Clerk session tokens in, a current local user row out.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold secrets
)
err = Console(stderr=True)
out = Console()


def _fail(exc: ClerkSyncError) -> typer.Exit:
    err.print(f"[bold red]error:[/] {exc.message}", highlight=False, soft_wrap=True)
    return typer.Exit(code=2)


#: The web frameworks ``serve`` and ``db upgrade`` know, each with the extra that installs it.
FrameworkOption = Annotated[
    str, typer.Option("--framework", metavar="NAME", help=f"Web framework: {', '.join(FRAMEWORKS)}.")
]


def _server(name: str, *, serving: bool = True) -> FrameworkServer:
    """One line and exit code 2 for a framework we do not know, or (to serve) one whose extra is missing."""
    try:
        return server_for(name, serving=serving)
    except ConfigurationError as exc:
        raise _fail(exc) from None


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    dev: Annotated[bool, typer.Option("--dev", help="Trust the local development key (loopback only).")] = False,
    framework: FrameworkOption = "fastapi",
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    no_access_log: Annotated[bool, typer.Option("--no-access-log", help="Do not log each request.")] = False,
) -> None:
    """Run a framework's reference service on a production-grade server."""
    server = _server(framework)
    if dev and not is_loopback(host):
        raise _fail(ConfigurationError(f"--dev refuses to listen on {host}: development tokens are forgeable"))
    try:
        # Built here even with workers: a configuration that cannot work stops the command with one line, once.
        server.validate(dev)
    except ClerkSyncError as exc:
        raise _fail(exc) from None
    if dev:
        token = load_dev_issuer().mint("user_dev_1", ttl=DEV_TOKEN_TTL, claims=DEV_SAMPLE_PROFILE)
        err.print(
            f"[bold yellow]DEVELOPMENT MODE:[/] tokens signed by the local key in {dev_key_dir()} are trusted. "
            "Never run this in production.",
            highlight=False,
            soft_wrap=True,
        )
        out.print(
            f"Try it:\n  curl -H 'Authorization: Bearer {token}' http://{url_host(host)}:{port}/me",
            highlight=False,
            soft_wrap=True,
        )
    server.run(ServeOptions(host=host, port=port, dev=dev, workers=workers, access_log=not no_access_log))


#: The profile of the sample token ``serve --dev`` prints; ``dev-token`` puts in only the claims it is given.
DEV_SAMPLE_PROFILE: dict[str, object] = {"email": "dev@example.com", "first_name": "Dev", "last_name": "User"}


def _dev_profile(
    email: str | None = None, first: str | None = None, last: str | None = None, image: str | None = None
) -> dict[str, object]:
    """Only the claims given: a token with ``--sub`` alone carries no profile, as Clerk's default template does
    not, so the service's first-sight path is what a real app meets (no invented email or name)."""
    given = {"email": email, "first_name": first, "last_name": last, "image_url": image}
    return {claim: value for claim, value in given.items() if value is not None}


@app.command("dev-token")
def dev_token(
    sub: Annotated[str, typer.Option(help="Clerk user id (sub).")] = "user_dev_1",
    email: Annotated[str | None, typer.Option(help="email claim.")] = None,
    first_name: Annotated[str | None, typer.Option(help="first_name claim.")] = None,
    last_name: Annotated[str | None, typer.Option(help="last_name claim.")] = None,
    image_url: Annotated[str | None, typer.Option(help="image_url claim.")] = None,
    ttl: Annotated[int, typer.Option(help="Lifetime in seconds.", min=1)] = DEV_TOKEN_TTL,
) -> None:
    """Print a token signed by the local development key (trusted only by ``serve --dev``)."""
    try:
        issuer = load_dev_issuer()
    except ClerkSyncError as exc:
        raise _fail(exc) from None
    claims = _dev_profile(email, first_name, last_name, image_url)
    sys.stdout.write(issuer.mint(sub, ttl=ttl, claims=claims) + "\n")


db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")


def _database_url() -> str:
    from clerk_sync.service import ServiceSettings

    return ServiceSettings().database_url


@db_app.command("upgrade")
def db_upgrade(framework: FrameworkOption = "fastapi") -> None:
    """Apply the framework's migrations to DATABASE_URL (Alembic's, or Django's for --framework django)."""
    server = _server(framework, serving=False)
    from clerk_sync.db.failures import is_unavailable

    url = _database_url()
    try:
        server.upgrade(url)
    except ClerkSyncError as exc:
        raise _fail(exc) from None
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        err.print(f"[bold red]error:[/] DATABASE_URL: database unavailable ({type(exc).__name__})", soft_wrap=True)
        raise typer.Exit(code=1) from None
    err.print("database schema is at the latest revision", highlight=False)


@app.command()
def backfill(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Write nothing; print what would change.")] = False,
    prune: Annotated[
        bool, typer.Option("--prune", help="Tombstone local users Clerk confirms are gone (never hard-deletes).")
    ] = False,
    page_size: Annotated[int, typer.Option(help="Users per Backend API page.", min=1, max=500)] = 500,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue an interrupted run after its last finished page.")
    ] = False,
    rate_share: Annotated[
        float,
        typer.Option(
            envvar="CLERK_BACKFILL_RATE_SHARE",
            help="Share of Clerk's per-key rate limit to spend (the live app shares it).",
            min=0.01,
            max=1.0,
        ),
    ] = 0.2,
) -> None:
    """Import every user from the Clerk Backend API (CLERK_SECRET_KEY) through the sync engine.

    Ctrl-C stops after the current page; ``--resume`` continues from there.
    """
    from clerk_sync.db.failures import is_unavailable

    try:
        settings = load_settings()
        if settings.secret_key is None:
            raise ConfigurationError("CLERK_SECRET_KEY is required for backfill (Backend API access)")
        url = _database_url()
        _check_sqlite_directory(url)
        with _log_to(err):
            report = asyncio.run(_run_backfill(settings, url, dry_run, prune, page_size, resume, rate_share))
    except ConfigurationError as exc:
        raise _fail(exc) from None
    except ClerkSyncError as exc:
        err.print(f"[bold red]error:[/] {exc.message}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=1) from None
    except Exception as exc:
        if not is_unavailable(exc):  # e.g. the SQLite migration could not open its file
            raise
        err.print(f"[bold red]error:[/] DATABASE_URL: database unavailable ({type(exc).__name__})", soft_wrap=True)
        raise typer.Exit(code=1) from None
    _print_report(report)
    if report.interrupted:
        err.print(
            f"interrupted after {report.pages} pages ({report.seen} users); "
            "run `clerk-sync backfill --resume` to continue",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(code=130)


def _check_sqlite_directory(url: str) -> None:
    """An SQLite file in a missing directory is a configuration mistake; saying so beats a driver error."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return
    directory = Path(parsed.database).parent
    if not directory.is_dir():
        raise ConfigurationError(f"DATABASE_URL: the directory {directory} does not exist")


class _ConsoleLogHandler(logging.Handler):
    """Retry warnings as one line each above the progress bar; tracebacks stay out of an operator's terminal
    (the command ends with one line naming the failure anyway)."""

    def __init__(self, console: Console) -> None:
        super().__init__(logging.WARNING)
        self._console = console

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == "clerk_sync.db.failures":
            return  # the final error line says the same, without the driver's traceback
        self._console.print(f"[yellow]warning:[/] {record.getMessage()}", highlight=False, soft_wrap=True)


@contextmanager
def _log_to(console: Console) -> Iterator[None]:
    logger = logging.getLogger("clerk_sync")
    handler = _ConsoleLogHandler(console)
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


async def _run_backfill(
    settings: ClerkSettings, url: str, dry_run: bool, prune: bool, page_size: int, resume: bool, rate_share: float
) -> BackfillReport:
    import signal
    from functools import partial

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from clerk_sync.backend_api import BackendAPI
    from clerk_sync.backfill import RequestPacer
    from clerk_sync.backfill import backfill as run
    from clerk_sync.core import ClerkCore
    from clerk_sync.db import AsyncSQLAlchemyStore, current_revisions, head_revisions, upgrade

    assert settings.secret_key is not None
    # A backfill writes; it has no steady state to read fast, and it verifies no token (no JWKS fetch).
    store = partial(AsyncSQLAlchemyStore.from_url, url, direct_reads=False)
    async with ClerkCore(settings, store=store, serves_requests=False) as core:
        assert isinstance(core.store, AsyncSQLAlchemyStore)
        if url.startswith("sqlite"):
            await upgrade(core.store.engine)
        elif await current_revisions(core.store.engine) != head_revisions():
            raise ConfigurationError(
                "DATABASE_URL: the schema is not at the latest revision; run `clerk-sync db upgrade`"
            )
        secret = settings.secret_key.get_secret_value()
        api = BackendAPI(core.http, secret, api_url=settings.api_url, max_attempts=6)  # patient: no user waits
        pacer = RequestPacer.for_key(secret, rate_share)
        # Ctrl-C ends the run after the current page (its checkpoint written); a second one is the default again.
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def interrupt() -> None:
            stop.set()
            loop.remove_signal_handler(signal.SIGINT)

        loop.add_signal_handler(signal.SIGINT, interrupt)
        await pacer.wait()  # the count is a request too
        try:
            total: int | None = await api.count_users()
        except ClerkSyncError:
            total = None
        # No label and a flexible bar: the numbers must stay readable in an 80-column terminal.
        columns = (
            BarColumn(bar_width=None),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[counts]}"),
        )
        with Progress(*columns, console=err, transient=False) as bar:
            task = bar.add_task("users", total=total, counts="")

            def advance(report: BackfillReport) -> None:
                counts = " ".join(f"{name} {getattr(report, name)}" for name in _COUNTS[1:5])
                bar.update(task, completed=report.seen, counts=counts)

            try:
                return await run(
                    api,
                    core.store,
                    dry_run=dry_run,
                    prune=prune,
                    page_size=page_size,
                    include_private_metadata=settings.include_private_metadata,
                    progress=advance,
                    resume=resume,
                    pacer=pacer,
                    should_stop=stop.is_set,
                )
            finally:
                loop.remove_signal_handler(signal.SIGINT)


_COUNTS = ("seen", "created", "updated", "unchanged", "skipped", "pruned")
_VERBS = {"created": "create", "updated": "update", "pruned": "prune"}


def _print_report(report: BackfillReport) -> None:
    from rich.table import Table

    title = "backfill (dry run: nothing written)" if report.dry_run else "backfill"
    table = Table(title=title)
    for name in _COUNTS:
        table.add_column(name, justify="right")
    table.add_row(*(str(getattr(report, name)) for name in _COUNTS))
    out.print(table)
    if report.skipped:
        out.print(
            f"skipped: {report.stale} stale (row is newer), {report.deleted} deleted (tombstone kept), "
            f"{report.invalid} invalid",
            highlight=False,
        )
    for failure in report.failed[:50]:
        out.print(f"not written: {failure.clerk_id}: {failure.reason}", highlight=False, soft_wrap=True)
    if len(report.failed) > 50:
        out.print(f"... and {len(report.failed) - 50} more not written", highlight=False)
    if report.dry_run:
        for change in report.planned[:50]:
            columns = f" ({', '.join(change.columns)})" if change.columns else ""
            out.print(f"would {_VERBS[change.action]} {change.clerk_id}{columns}", highlight=False)
        if len(report.planned) > 50:
            out.print(f"... and {len(report.planned) - 50} more", highlight=False)


# --- clerk-sync webhooks: the webhook ledger's retention ---------------------------------------------------------
webhooks_app = typer.Typer(help="The webhook ledger (the svix-ids already applied).", no_args_is_help=True)
app.add_typer(webhooks_app, name="webhooks")


@webhooks_app.command("prune")
def webhooks_prune(
    older_than_days: Annotated[
        float | None,
        typer.Option(
            "--older-than-days",
            min=0,
            help="Forget ids applied more than N days ago (default: CLERK_SYNC_WEBHOOK_RETENTION, Svix's retry "
            "window plus 7 days).",
        ),
    ] = None,
    batch: Annotated[int, typer.Option(min=1, max=100_000, help="Rows deleted per transaction.")] = 1000,
) -> None:
    """Delete applied svix-ids older than the retention from DATABASE_URL, a short transaction per batch."""
    from datetime import timedelta

    from pydantic import ValidationError

    from clerk_sync.db.webhook_log import SVIX_RETRY_WINDOW
    from clerk_sync.service import ServiceSettings

    try:
        try:
            settings = ServiceSettings()
        except ValidationError as exc:
            first = exc.errors()[0]
            name = str(first["loc"][0]).upper() if first["loc"] else "CLERK_SYNC_*"
            raise ConfigurationError(f"{name}: {first['msg']}") from None
        retention = settings.webhook_retention if older_than_days is None else timedelta(days=older_than_days)
        if retention < SVIX_RETRY_WINDOW:  # Svix may still redeliver those ids: forgetting them applies twice
            raise ConfigurationError(
                f"--older-than-days must cover Svix's retry window ({SVIX_RETRY_WINDOW.total_seconds() / 86400:.2f} "
                "days): a redelivery of a forgotten id would be applied again"
            )
        _check_sqlite_directory(settings.database_url)
        pruned, cutoff = asyncio.run(_prune_webhooks(settings.database_url, retention.total_seconds(), batch))
    except ConfigurationError as exc:
        raise _fail(exc) from None
    except ClerkSyncError as exc:
        err.print(f"[bold red]error:[/] {exc.message}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=1) from None
    out.print(f"pruned {pruned} webhook ids applied before {cutoff}", highlight=False)


async def _prune_webhooks(url: str, retention_s: float, batch: int) -> tuple[int, str]:
    """How many ids went, and the cutoff (ISO 8601) they were older than."""
    from datetime import timedelta

    from clerk_sync.db import AsyncSQLAlchemyStore
    from clerk_sync.db.mixin import utcnow

    cutoff = utcnow() - timedelta(seconds=retention_s)
    store = AsyncSQLAlchemyStore.from_url(url, direct_reads=False)  # only deletes: no steady state to read
    try:
        return await store.prune_webhooks(cutoff, batch), cutoff.isoformat(timespec="seconds")
    finally:
        await store.close()


# --- end of clerk-sync webhooks -------------------------------------------------------------------------------------


def main() -> None:
    """Entry point of the ``clerk-sync`` script."""
    app()
