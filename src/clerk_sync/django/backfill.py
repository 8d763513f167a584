"""``manage.py clerk_backfill`` without the command class: the core backfill on the Django store, a progress
bar, and Ctrl-C that stops after the current page.

The progress bar is Rich's when Rich is installed, as ``clerk-sync backfill`` draws it; the ``[django]`` extra
does not pull Rich (a Django app should not gain a terminal library for one operator command), so without it
the command prints one plain line per page, which also reads well in a log file or a CI job.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator
from typing import IO, Any

import httpx
from asgiref.sync import sync_to_async
from django.db import connections

from clerk_sync.backend_api import MAX_PAGE_SIZE, BackendAPI
from clerk_sync.backfill import DEFAULT_RATE_SHARE, BackfillReport, RequestPacer, backfill
from clerk_sync.django.store import AsyncDjangoUserStore
from clerk_sync.errors import ClerkSyncError, ConfigurationError
from clerk_sync.settings import ClerkSettings

__all__ = ["COUNTS", "run_backfill"]

#: The counts the progress line and the summary show, in order.
COUNTS = ("seen", "created", "updated", "unchanged", "skipped", "pruned")

ProgressSink = Callable[[BackfillReport], None]


async def run_backfill(
    settings: ClerkSettings,
    stream: IO[str],
    *,
    using: str,
    dry_run: bool = False,
    prune: bool = False,
    resume: bool = False,
    page_size: int = MAX_PAGE_SIZE,
    rate_share: float = DEFAULT_RATE_SHARE,
    fancy: bool | None = None,
) -> BackfillReport:
    """Run the backfill against the database ``using`` with a progress display on ``stream``.

    ``fancy`` picks the display: Rich's bar (True), plain lines (False), Rich when importable (None).
    """
    if settings.secret_key is None:
        raise ConfigurationError("CLERK_SECRET_KEY is required for clerk_backfill (Backend API access)")
    secret = settings.secret_key.get_secret_value()
    store: AsyncDjangoUserStore[Any] = AsyncDjangoUserStore(using=using)
    try:
        async with httpx.AsyncClient() as http:
            api = BackendAPI(http, secret, api_url=settings.api_url, max_attempts=6)  # patient: no user waits
            pacer = RequestPacer.for_key(secret, rate_share)
            await pacer.wait()  # the count is a request too
            try:
                total: int | None = await api.count_users()
            except ClerkSyncError:
                total = None
            with _stop_on_sigint() as stopped, _progress(stream, total, page_size, fancy) as advance:
                return await backfill(
                    api,
                    store,
                    dry_run=dry_run,
                    prune=prune,
                    page_size=page_size,
                    include_private_metadata=settings.include_private_metadata,
                    progress=advance,
                    resume=resume,
                    pacer=pacer,
                    should_stop=stopped,
                )
    finally:
        # The store's queries ran on asgiref's thread: give its connections back before the loop ends.
        await sync_to_async(connections.close_all, thread_sensitive=True)()


@contextlib.contextmanager
def _stop_on_sigint() -> Iterator[Callable[[], bool]]:
    """Ctrl-C sets a flag the backfill reads after each page (its checkpoint written); a second Ctrl-C is the
    default again. Off the main thread (no signal handlers there), Ctrl-C keeps its default meaning."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def interrupt() -> None:
        stop.set()
        loop.remove_signal_handler(signal.SIGINT)

    try:
        loop.add_signal_handler(signal.SIGINT, interrupt)
    except (RuntimeError, ValueError):  # not the main thread
        yield stop.is_set
        return
    try:
        yield stop.is_set
    finally:
        loop.remove_signal_handler(signal.SIGINT)


def _counts(report: BackfillReport) -> str:
    return " ".join(f"{name} {getattr(report, name)}" for name in COUNTS[1:5])


@contextlib.contextmanager
def _progress(stream: IO[str], total: int | None, page_size: int, fancy: bool | None) -> Iterator[ProgressSink]:
    if fancy is None:
        try:
            import rich.progress  # noqa: F401
        except ImportError:
            fancy = False
        else:
            fancy = True
    if fancy:
        with _rich_progress(stream, total) as draw:
            yield draw
        return
    printed = 0

    def line(report: BackfillReport) -> None:
        of = f"/{total}" if total is not None else ""
        stream.write(f"users {report.seen}{of}: {_counts(report)}\n")
        stream.flush()

    def advance(report: BackfillReport) -> None:
        nonlocal printed
        if report.seen - printed >= page_size:  # one line per page: readable in a log, not a flood
            printed = report.seen
            line(report)

    yield advance


@contextlib.contextmanager
def _rich_progress(stream: IO[str], total: int | None) -> Iterator[ProgressSink]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    # No label and a flexible bar: the numbers must stay readable in an 80-column terminal (as the CLI's).
    columns = (
        BarColumn(bar_width=None),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[counts]}"),
    )
    with Progress(*columns, console=Console(file=stream), transient=False) as bar:
        task = bar.add_task("users", total=total, counts="")

        def advance(report: BackfillReport) -> None:
            bar.update(task, completed=report.seen, counts=_counts(report))

        yield advance
