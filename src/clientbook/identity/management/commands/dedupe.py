import sys
import time

from django.core.management.base import BaseCommand, CommandError

from clientbook.errors import ClientbookError
from clientbook.identity.models import DedupeRun
from clientbook.identity.services import dedupe_run


class ProgressLine:
    """One line per stage, redrawn in place: stage, bar, elapsed seconds."""

    def __init__(self, stream=sys.stderr):
        self.stream, self.start, self.stage = stream, time.monotonic(), None

    def __call__(self, run: DedupeRun) -> None:
        if self.stage not in (None, run.stage):
            self.stream.write("\n")
        self.stage = run.stage
        bar = "#" * int(run.progress * 30)
        elapsed = time.monotonic() - self.start
        self.stream.write(
            f"\r{run.stage:<9} [{bar:<30}] {run.progress:6.1%} {elapsed:7.1f}s"
        )
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")


class Command(BaseCommand):
    # Django's system checks load every view and API module: 1.4 s a call.
    # `migrate` and `run` still run them.
    requires_system_checks = []
    help = (
        "Finds duplicate customers with Splink: merges the sure pairs and "
        "queues the likely ones for review."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--auto-merge-above",
            type=float,
            metavar="P",
            help="merge pairs at or above this probability (default 0.99)",
        )
        parser.add_argument(
            "--review-above",
            type=float,
            metavar="P",
            help="queue pairs at or above this probability (default 0.8)",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="count only; write nothing"
        )

    def handle(self, *args, **options):
        bar = ProgressLine() if options["verbosity"] else None
        try:
            run = dedupe_run(
                auto_merge_above=options["auto_merge_above"],
                review_above=options["review_above"],
                dry_run=options["dry_run"],
                progress=bar,
            )
        except ClientbookError as exc:
            raise CommandError(exc.message) from exc
        finally:
            if bar:
                bar.close()
        prefix = "DRY RUN: would have " if run.dry_run else ""
        self.stdout.write(
            f"{prefix}compared {run.customers} customers: {run.candidates} "
            f"candidate pairs, {run.auto_merged} merged automatically, "
            f"{run.queued} queued for review, {run.skipped_rejected} skipped as "
            f"rejected before (run {run.uuid})"
        )
