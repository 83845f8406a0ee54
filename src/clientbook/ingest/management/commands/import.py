import sys
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from clientbook.errors import ClientbookError
from clientbook.ingest.models import ImportJob, ImportKind, MappingTemplate
from clientbook.ingest.services import import_job_create, import_job_run
from clientbook.privacy.models import Source


def count_lines(path: Path) -> int | None:
    """A quick estimate of the rows, for the progress bar."""
    if path.suffix.lower() not in (".csv", ".txt", ".tsv", ".jsonl", ".ndjson"):
        return None
    with path.open("rb") as stream:
        return max(
            sum(block.count(b"\n") for block in iter(lambda: stream.read(1 << 20), b""))
            - 1,
            1,
        )


class ProgressBar:
    def __init__(self, total: int | None, stream=sys.stderr):
        self.total, self.stream, self.start = total, stream, time.monotonic()

    def __call__(self, job: ImportJob) -> None:
        rate = job.read / max(time.monotonic() - self.start, 1e-6)
        if self.total:
            share = min(job.rows_done / self.total, 1.0)
            bar = "#" * int(share * 30)
            line = (
                f"\r[{bar:<30}] {share:6.1%} {job.rows_done:>10,} rows {rate:>9,.0f}/s"
            )
        else:
            line = f"\r{job.rows_done:>10,} rows {rate:>9,.0f}/s"
        self.stream.write(line)
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")


class Command(BaseCommand):
    # Django's system checks load every view and API module: 1.4 s a call.
    # `migrate` and `run` still run them.
    requires_system_checks = []
    help = (
        "Imports customers, orders or interactions from a CSV, XLSX or JSON Lines file."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", nargs="?", type=Path)
        parser.add_argument("--source", help="code of the source the file comes from")
        parser.add_argument(
            "--kind", default=ImportKind.CUSTOMERS, choices=ImportKind.values
        )
        parser.add_argument("--mapping", help="name of a saved mapping template")
        parser.add_argument(
            "--sheet", default="", help="XLSX sheet (default: the first)"
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="show what would happen; write nothing",
        )
        parser.add_argument(
            "--resume", metavar="JOB", help="resume a stopped job (UUID)"
        )

    def handle(self, *args, **options):
        try:
            job = self._job(options)
            bar = ProgressBar(
                count_lines(Path(job.file_path)) if options["verbosity"] else 0
            )
            job = import_job_run(
                job=job, progress=bar if options["verbosity"] else None
            )
            if options["verbosity"]:
                bar.close()
        except ClientbookError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            f"{'DRY RUN: ' if job.dry_run else ''}{job.file_name}: read {job.read}, "
            f"created {job.created}, updated {job.updated}, unchanged {job.unchanged}, "
            f"merged {job.merged}, rejected {job.rejected} (job {job.uuid})"
        )
        for reject in job.rejects.all()[:20]:
            self.stdout.write(
                f"  row {reject.row_number} {reject.column} "
                f"{reject.value!r}: {reject.reason}"
            )

    def _job(self, options) -> ImportJob:
        if options["resume"]:
            job = ImportJob.objects.filter(uuid=options["resume"]).first()
            if job is None:
                raise CommandError(f"No import job {options['resume']}.")
            return job
        if not options["file"] or not options["source"]:
            raise CommandError("Give a FILE and --source (or --resume JOB).")
        if not options["file"].exists():
            raise CommandError(f"No file {options['file']}.")
        source = Source.objects.filter(code=options["source"]).first()
        if source is None:
            codes = ", ".join(Source.objects.values_list("code", flat=True))
            raise CommandError(f"No source {options['source']!r}. Sources: {codes}")
        template = None
        if options["mapping"]:
            template = MappingTemplate.objects.filter(
                source=source, name=options["mapping"]
            ).first()
            if template is None:
                raise CommandError(f"No mapping template {options['mapping']!r}.")
        return import_job_create(
            path=options["file"],
            source=source,
            kind=options["kind"],
            template=template,
            sheet=options["sheet"],
            dry_run=options["dry_run"],
        )
