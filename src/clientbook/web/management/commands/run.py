"""`clientbook run`: everything needed to try Clientbook in one command."""

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from clientbook.demo.builder import DemoConflict, build, is_loaded
from clientbook.org.services import role_groups_sync
from clientbook.web.management.commands.demo import raw_stream, report


class Command(BaseCommand):
    help = (
        "Migrates the database, loads the demo data unless it is there, "
        "and serves the web UI on 127.0.0.1."
    )
    # The database may not exist yet: checks come after `migrate`.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--no-demo", action="store_true", help="Do not load the demo data."
        )

    def handle(self, *args, port: int, no_demo: bool, **options):
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("Database up to date.")
        role_groups_sync()
        if not no_demo:
            if not is_loaded():
                self.stdout.write("Loading the demo data…")
            try:
                summary = build(stdout=None, progress=raw_stream(self.stderr))
            except DemoConflict as exc:
                raise CommandError(str(exc)) from exc
            report(self, summary)
        self.stdout.write(
            self.style.SUCCESS(f"Clientbook: http://127.0.0.1:{port}/  (Ctrl-C stops)")
        )
        # Static files come from WhiteNoise with finders, so this serves the
        # CSS with DEBUG off too. No reloader: this runs the product, not a
        # development session.
        call_command("runserver", f"127.0.0.1:{port}", use_reloader=False)
