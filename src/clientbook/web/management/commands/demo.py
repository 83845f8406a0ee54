"""`clientbook demo`: loads the demo company once; a second run says so."""

from django.core.management.base import BaseCommand, CommandError

from clientbook.demo.builder import (
    DEFAULT_CUSTOMERS,
    DEFAULT_SEED,
    DemoConflict,
    Summary,
    build,
)


class Command(BaseCommand):
    help = "Loads the demo company 茗康茶业 with customers, orders and contacts."

    def add_arguments(self, parser):
        parser.add_argument("--customers", type=int, default=DEFAULT_CUSTOMERS)
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED)

    def handle(self, *args, customers: int, seed: int, **options):
        if customers < 1:
            raise CommandError("--customers must be at least 1.")
        try:
            summary = build(
                customers=customers,
                seed=seed,
                stdout=self.stdout,
                progress=raw_stream(self.stderr),
            )
        except DemoConflict as exc:
            raise CommandError(str(exc)) from exc
        report(self, summary)


def raw_stream(wrapper):
    """The stream under Django's OutputWrapper, which would end each progress
    update with a newline and so break drawing the bar in place."""
    return getattr(wrapper, "_out", wrapper)


def report(command: BaseCommand, summary: Summary) -> None:
    """Prints what was loaded and the demo logins."""
    write = command.stdout.write
    if summary.created:
        write(command.style.SUCCESS(f"Demo loaded in {summary.seconds:.1f} s."))
    else:
        write("Demo already loaded: nothing changed.")
    write(f"  Administrator:  {summary.username} / {summary.password}")
    write(f"  Branch staff:   {summary.branch_username} / {summary.password}")
