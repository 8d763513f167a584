"""``python manage.py clerk_backfill [--dry-run] [--prune] [--resume]``: every Clerk user into the synced model.

The core backfill (``clerk_sync.backfill``) on ``AsyncDjangoUserStore``, with the adapter's settings (the
``CLERK_*`` environment, ``settings.CLERK_SYNC`` on top) and the ``clerk_backfill_checkpoints`` table of
migration 0002. Ctrl-C stops after the current page and exits 130 with the command that resumes.
"""

from __future__ import annotations

import asyncio
from argparse import ArgumentParser, ArgumentTypeError
from typing import IO, Any, cast

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS

from clerk_sync.backend_api import MAX_PAGE_SIZE
from clerk_sync.backfill import DEFAULT_RATE_SHARE, BackfillReport
from clerk_sync.django.backfill import COUNTS, run_backfill
from clerk_sync.django.runtime import clerk_settings
from clerk_sync.errors import ClerkSyncError, ConfigurationError

__all__ = ["Command"]

_VERBS = {"created": "create", "updated": "update", "pruned": "prune"}
#: Planned changes and failed users listed in full up to this many; a count says the rest.
_LISTED = 50


def _page_size(value: str) -> int:
    size = int(value)
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise ArgumentTypeError(f"must be between 1 and {MAX_PAGE_SIZE}")
    return size


def _share(value: str) -> float:
    share = float(value)
    if not 0 < share <= 1:
        raise ArgumentTypeError("must be above 0 and at most 1")
    return share


class Command(BaseCommand):
    help = "Import every user from the Clerk Backend API (CLERK_SECRET_KEY) into the synced model."

    def add_arguments(self, parser: CommandParser) -> None:
        """The CLI's options (``clerk-sync backfill``), plus Django's ``--database``."""
        assert isinstance(parser, ArgumentParser)
        parser.add_argument("--dry-run", action="store_true", help="Write nothing; print what would change.")
        parser.add_argument(
            "--prune", action="store_true", help="Tombstone local users Clerk confirms are gone (never hard-deletes)."
        )
        parser.add_argument(
            "--resume", action="store_true", help="Continue an interrupted run after its last finished page."
        )
        parser.add_argument("--page-size", type=_page_size, default=MAX_PAGE_SIZE, help="Users per Backend API page.")
        parser.add_argument(
            "--rate-share",
            type=_share,
            default=DEFAULT_RATE_SHARE,
            help="Share of Clerk's per-key rate limit to spend (the live app shares it).",
        )
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS, help="The database alias to write to.")

    def handle(self, *args: Any, **options: Any) -> None:
        """Run, print the summary; a failure is one line (``CommandError``), never a traceback."""
        try:
            report = asyncio.run(
                run_backfill(
                    clerk_settings(),
                    # The raw stream: Django's wrapper ends every write with a newline, which would break Rich's
                    # in-place redraws of the bar.
                    cast(IO[str], self.stderr._out),
                    using=options["database"],
                    dry_run=options["dry_run"],
                    prune=options["prune"],
                    resume=options["resume"],
                    page_size=options["page_size"],
                    rate_share=options["rate_share"],
                )
            )
        except ConfigurationError as error:
            raise CommandError(error.message, returncode=2) from None
        except ClerkSyncError as error:
            raise CommandError(error.message) from None
        self._summary(report)
        if report.interrupted:
            raise CommandError(
                f"interrupted after {report.pages} pages ({report.seen} users); "
                "run `python manage.py clerk_backfill --resume` to continue",
                returncode=130,
            )

    def _summary(self, report: BackfillReport) -> None:
        title = "backfill (dry run: nothing written)" if report.dry_run else "backfill"
        self.stdout.write(f"{title}: " + ", ".join(f"{name} {getattr(report, name)}" for name in COUNTS))
        if report.skipped:
            self.stdout.write(
                f"skipped: {report.stale} stale (row is newer), {report.deleted} deleted (tombstone kept), "
                f"{report.invalid} invalid"
            )
        for failure in report.failed[:_LISTED]:
            self.stdout.write(f"not written: {failure.clerk_id}: {failure.reason}")
        if len(report.failed) > _LISTED:
            self.stdout.write(f"... and {len(report.failed) - _LISTED} more not written")
        if report.dry_run:
            for change in report.planned[:_LISTED]:
                columns = f" ({', '.join(change.columns)})" if change.columns else ""
                self.stdout.write(f"would {_VERBS[change.action]} {change.clerk_id}{columns}")
            if len(report.planned) > _LISTED:
                self.stdout.write(f"... and {len(report.planned) - _LISTED} more")
