import datetime as dt

from django.core.management.base import BaseCommand

from clientbook.ingest.uploads import upload_sweep


class Command(BaseCommand):
    help = (
        "Remove uploaded files no import job was made from, untouched for some "
        "days (run it from cron)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--days", type=int, default=7, help="age of the files removed (default 7)"
        )

    def handle(self, *args, **options):
        removed, freed = upload_sweep(older_than=dt.timedelta(days=options["days"]))
        self.stdout.write(f"removed {removed} unused uploads ({freed / 1e6:.1f} MB)")
