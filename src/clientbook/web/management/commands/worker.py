from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Runs background jobs (imports, dedupe runs, model training, sends)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch", action="store_true", help="run what is queued, then stop"
        )

    def handle(self, *args, batch, **options):
        call_command("db_worker", batch=batch, verbosity=options["verbosity"])
