"""`clientbook quality`: recompute quality and grades with a progress bar;
optionally run the monthly verification rotation and the clean-up proposals."""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from clientbook.customers.models import Customer
from clientbook.demo.progress import Progress
from clientbook.errors import ClientbookError
from clientbook.quality import compute
from clientbook.quality.services import (
    cleanup_propose,
    quality_compute,
    verification_rotate,
)


def _month(value: str) -> dt.date:
    try:
        return dt.datetime.strptime(value, "%Y-%m").date()
    except ValueError:
        raise CommandError(f"--month {value!r}: expected YYYY-MM") from None


class Command(BaseCommand):
    # Django's system checks load every view and API module: 1.4 s a call.
    # `migrate` and `run` still run them.
    requires_system_checks = []
    help = (
        "Recomputes completeness, validity, freshness, usage and grades 1–4 of "
        "every live customer, and takes the day's snapshot."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--rotate",
            action="store_true",
            help="also propose this month's verification checks per branch",
        )
        parser.add_argument(
            "--cleanup",
            action="store_true",
            help="also propose clean-up candidates (archived only when a "
            "manager confirms them)",
        )
        parser.add_argument(
            "--nightly", action="store_true", help="the same as --rotate --cleanup"
        )
        parser.add_argument("--month", help="the rotation's month, YYYY-MM")

    def handle(self, *args, **options):
        month = _month(options["month"]) if options["month"] else None
        total = Customer.objects.filter(compute.LIVE).count()
        stream = self.stderr._out if options["verbosity"] else None
        try:
            with Progress("quality", total, stream=stream) as bar:
                result = quality_compute(progress=bar.advance)
            self.stdout.write(
                f"customers {result['customers']}, checks closed as corrected "
                f"{result['tasks_closed']}, snapshot rows {result['snapshots']}"
            )
            if options["rotate"] or options["nightly"]:
                created = verification_rotate(month=month)
                self.stdout.write(
                    f"verification checks proposed: {sum(created.values())} "
                    f"in {len(created)} branches"
                )
            if options["cleanup"] or options["nightly"]:
                self.stdout.write(
                    f"clean-up candidates proposed: {cleanup_propose(month=month)}"
                )
        except ClientbookError as exc:
            raise CommandError(exc.message) from exc
