"""Import jobs: create one for a file, run it (resumably), report its rejects."""

import csv
import hashlib
import io
import itertools
import logging
import re
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from django.conf import settings
from django.db import IntegrityError, connection, connections, transaction
from django.db.models import F
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from clientbook.customers.models import CustomField
from clientbook.errors import ValidationFailed
from clientbook.ingest import absent, events, fastwrite, parallel, pipeline, staging
from clientbook.ingest import mapping as mappings
from clientbook.ingest.models import (
    ImportJob,
    ImportKind,
    ImportReject,
    JobStatus,
    MappingTemplate,
)
from clientbook.ingest.pipeline import (
    PROBED,
    ChunkResult,
    Context,
    apply_customer_chunk,
)
from clientbook.ingest.plain import Plain
from clientbook.ingest.readers import open_table
from clientbook.ingest.rows import RowParser, shown, with_raw
from clientbook.ingest.uploads import estimate_rows
from clientbook.org.access import ensure_can_edit, is_branch_scoped
from clientbook.org.models import Branch
from clientbook.privacy.models import Source
from clientbook.privacy.services import audit_record

Progress = Callable[[ImportJob], None]
logger = logging.getLogger(__name__)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _keep(path: Path, digest: str) -> Path:
    """A copy of the file under var/imports: an import keeps its raw rows."""
    folder = Path(settings.CLIENTBOOK["IMPORT_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    kept = folder / f"{digest}{path.suffix.lower()}"
    if not kept.exists():
        shutil.copyfile(path, kept)
    return kept


def import_job_create(
    *,
    path: Path,
    source: Source,
    actor=None,
    kind: str = ImportKind.CUSTOMERS,
    mapping: dict[str, str] | None = None,
    template: MappingTemplate | None = None,
    sheet: str = "",
    dry_run: bool = False,
    file_name: str = "",
) -> ImportJob:
    """Registers a file for import. Without a mapping, the template's or the
    suggested one is used; either way it is checked against the headers."""
    ensure_can_edit(actor)
    if kind not in ImportKind.values:
        raise ValidationFailed(
            "invalid",
            _("“%(value)s” is not a kind of import.") % {"value": kind},
            field="kind",
            value=kind,
        )
    path = Path(path)
    headers = open_table(path, sheet=sheet).headers
    if mapping is None and template is not None:
        mapping = {c: t for c, t in template.mapping.items() if c in headers}
    if mapping is None:
        mapping = import_mapping_suggest(headers=headers, kind=kind, source=source)
    mappings.validate_mapping(mapping, kind=kind, headers=headers)
    digest = _sha256(path)
    with transaction.atomic():
        job = ImportJob.objects.create(
            kind=kind,
            source=source,
            file_name=file_name or path.name,
            file_path=str(_keep(path, digest)),
            file_sha256=digest,
            sheet=sheet,
            mapping=mapping,
            template=template,
            dry_run=dry_run,
            rows_total=estimate_rows(path, sheet=sheet),
            started_by=actor if actor is not None and actor.pk else None,
        )
        audit_record(
            actor=actor,
            action="import.create",
            obj=job,
            after={
                "file": job.file_name,
                "sha256": digest,
                "kind": kind,
                "source": source.code,
                "dry_run": dry_run,
            },
        )
    return job


def import_job_enqueue(*, job: ImportJob) -> None:
    """Hands the job to the background worker once the caller's transaction commits."""
    from clientbook.ingest.tasks import import_job_task

    transaction.on_commit(lambda: import_job_task.enqueue(job.pk))


def import_mapping_suggest(*, headers: list[str], kind: str, source: Source) -> dict:
    """The newest template of this source whose columns the file has, else a
    guess from the header names."""
    for template in MappingTemplate.objects.filter(source=source, kind=kind).order_by(
        "-updated_at"
    ):
        if set(template.mapping) <= set(headers):
            return {h: template.mapping.get(h, "") for h in headers}
    return mappings.suggest_mapping(
        headers, kind=kind, custom_fields=CustomField.objects.all()
    )


@transaction.atomic
def mapping_template_save(
    *, source: Source, kind: str, name: str, mapping: dict, actor=None
) -> MappingTemplate:
    ensure_can_edit(actor)
    template, _created = MappingTemplate.objects.update_or_create(
        source=source,
        kind=kind,
        name=name,
        defaults={
            "mapping": mapping,
            "created_by": actor if actor is not None and actor.pk else None,
        },
    )
    audit_record(
        actor=actor,
        action="mapping_template.save",
        obj=template,
        after={"name": name, "mapping": mapping},
    )
    return template


def _chunks(rows: Iterator) -> Iterator[list]:
    rows, size = _sized(rows)
    while chunk := list(itertools.islice(rows, size)):
        yield chunk


def _sized(rows: Iterator) -> tuple[Iterator, int]:
    """The rows, and how many make a chunk: `IMPORT_CHUNK_ROWS`, fewer if
    they would hold more than `IMPORT_CHUNK_CELLS` cells (as many as the
    first row has), so a wide file's chunks take no more memory."""
    first = next(rows, None)
    if first is None:
        return iter(()), 1
    config = settings.CLIENTBOOK
    by_cells = config["IMPORT_CHUNK_CELLS"] // max(len(first[1]), 1)
    size = max(min(config["IMPORT_CHUNK_ROWS"], by_cells), 1)
    return itertools.chain([first], rows), size


def import_job_run(*, job: ImportJob, progress: Progress | None = None) -> ImportJob:
    """Runs a job to the end. Each chunk of rows is written and counted in one
    transaction, so a job stopped at any point (even kill -9) resumes after
    its last committed row when run again, writing no row twice."""
    if job.status == JobStatus.DONE:
        return job
    ImportJob.objects.filter(pk=job.pk).update(
        status=JobStatus.RUNNING, started_at=job.started_at or timezone.now(), error=""
    )
    job.refresh_from_db()
    try:
        if job.dry_run:
            _dry_run(job, progress)
        else:
            _run(job, progress)
    except Exception as exc:
        ImportJob.objects.filter(pk=job.pk).update(
            status=JobStatus.FAILED, error=str(exc)[:2000]
        )
        raise
    ImportJob.objects.filter(pk=job.pk).update(
        status=JobStatus.DONE, finished_at=timezone.now()
    )
    job.refresh_from_db()
    return job


@dataclass
class Steps:
    """How one kind of import reads a chunk of rows, groups them and writes
    a chunk."""

    read: Callable
    apply: Callable
    chunks: Callable
    parallel: bool = False  # `read` may run in worker processes
    probed: dict = field(default_factory=dict)  # model → columns `apply` looks up by


def _steps(job: ImportJob, ctx: Context) -> Steps:
    if job.kind == ImportKind.CUSTOMERS:
        return Steps(
            ctx.parser.chunk,
            apply_customer_chunk,
            _chunks,
            parallel=True,
            probed=PROBED,
        )
    if job.kind == ImportKind.ORDERS:
        number = ctx.columns["order_number"]
        return Steps(
            lambda chunk: [
                events.read_row(job.mapping, n, raw, events.ORDER_PARSE)
                for n, raw in chunk
            ],
            events.apply_order_chunk,
            lambda rows: events.order_groups(
                *_sized(rows), number=lambda i: i[1].get(number)
            ),
        )
    return Steps(
        lambda chunk: [events.read_row(job.mapping, n, raw, {}) for n, raw in chunk],
        events.apply_interaction_chunk,
        _chunks,
    )


def _context(job: ImportJob) -> Context:
    actor = job.started_by
    scoped = actor.branch_id if actor is not None and is_branch_scoped(actor) else None
    custom = {(f.customer_kind, f.key): f for f in CustomField.objects.all()}
    columns = {t: c for c, t in job.mapping.items() if t}
    customers = job.kind == ImportKind.CUSTOMERS
    return Context(
        job=job,
        actor=actor,
        scoped_branch_id=scoped,
        custom_fields=custom,
        columns=columns,
        parser=_parser(job) if customers else None,
        absent=absent.load(job.source_id, _remaining(job)) if customers else None,
    )


def _parser(job: ImportJob) -> RowParser:
    branches = {}
    for pk, code, name in Branch.objects.values_list("pk", "code", "name"):
        branches[code] = branches[code.upper()] = branches[name] = pk
    custom = {(f.customer_kind, f.key): f for f in CustomField.objects.all()}
    staged = staging.is_used()
    return RowParser(
        job.mapping,
        branches=branches,
        custom_fields=custom,
        stage=staging.line if staged else None,
        plain=Plain.of(job.mapping) if staged else None,
    )


def _rows(job: ImportJob) -> Iterator:
    table = open_table(Path(job.file_path), sheet=job.sheet)
    return ((n, raw) for n, raw in table.rows if n > job.rows_done)


def _remaining(job: ImportJob) -> int:
    return max((job.rows_total or 0) - job.rows_done, 0)


def _parsed(job: ImportJob, steps: Steps) -> Iterator[tuple[list, list]]:
    """The job's chunks with their records, parsed ahead by worker processes
    when the file is big enough."""
    processes = parallel.workers(_remaining(job)) if steps.parallel else 0
    chunks = steps.chunks(_rows(job))
    for chunk, records in parallel.parse_ahead(steps.read, chunks, processes=processes):
        yield chunk, with_raw(chunk, records) if processes else records


def _run(job: ImportJob, progress: Progress | None) -> None:
    ctx = _context(job)
    steps = _steps(job, ctx)
    big = parallel.is_big(_remaining(job))
    with parallel.collections_between_chunks(_remaining(job)) as collect:

        def written(number: int) -> None:
            job.refresh_from_db()
            if progress:
                progress(job)
            if big:
                _refresh_statistics(number, steps.probed)
            collect()

        chunks = enumerate(_parsed(job, steps), 1)
        if _writes_behind(job, steps):
            _write_behind(job, ctx, chunks, written)
            return
        for number, (chunk, records) in chunks:
            with transaction.atomic():
                _chunk_settings()
                _commit(job, chunk, steps.apply(ctx, records))
            written(number)


def _commit(job: ImportJob, chunk: list, result: ChunkResult) -> None:
    """A chunk's rejects and counts, in the transaction of its rows."""
    _save_rejects(job, result)
    _count(job, result, read=len(chunk), last_row=chunk[-1][0])


def _writes_behind(job: ImportJob, steps: Steps) -> bool:
    """Whether a customer import writes each chunk on a thread of its own
    (`_write_behind`). Not inside a transaction (a test's): another
    connection would not see what it holds. Not on SQLite, whose one
    writer at a time leaves little to overlap."""
    return (
        steps.apply is apply_customer_chunk
        and connection.vendor == "postgresql"
        and not connection.in_atomic_block
        and _remaining(job) > settings.CLIENTBOOK["IMPORT_CHUNK_ROWS"]
    )


class _Writing(NamedTuple):
    number: int
    chunk: list
    records: list
    ready: pipeline.Prepared
    write: Future


def _write_behind(job: ImportJob, ctx: Context, chunks, written) -> None:
    """Chunks written and committed by a thread on a connection of its own,
    while this one looks the next chunk up and plans it: the importing
    thread and the database server took turns, and each waited for the
    other for about half of an import. A chunk still commits whole with
    the job's progress, in the file's order, so a stopped job resumes
    exactly as before. What the chunk being written may change for the
    next one, that one looks up once it has committed (`pipeline.prepare`).
    Of `ctx`, the writing thread uses what writing reads (the job, the
    time, tags), this one what planning changes (`passed`, `absent`)."""
    language = translation.get_language()  # of what the rows' writing says
    with ThreadPoolExecutor(1, thread_name_prefix="clientbook-import-writer") as pool:
        try:
            before = None
            for number, (chunk, records) in chunks:
                with transaction.atomic():
                    _chunk_settings()
                    ready = pipeline.prepare(
                        ctx, records, meanwhile=before and before.ready
                    )
                if before and _wait(job, ctx, before):
                    # Redone row by row, it may have changed customers its
                    # plan did not name, so this chunk's free rows may be
                    # stale: all are looked up again.
                    with transaction.atomic():
                        _chunk_settings()
                        ready = pipeline.prepare(ctx, records)
                with transaction.atomic():
                    _chunk_settings()
                    pipeline.finish(ctx, ready)
                write = pool.submit(_write_chunk, job, ctx, chunk, ready, language)
                if before:  # counted while the next is written
                    written(before.number)
                before = _Writing(number, chunk, records, ready, write)
            if before:
                _wait(job, ctx, before)
                written(before.number)
        except BaseException as exc:
            _log_writing_failed(before, exc)
            raise
        finally:
            pool.submit(connections.close_all)  # the thread's own


def _log_writing_failed(writing: _Writing | None, exc: BaseException) -> None:
    """A chunk's write that failed while this thread failed too: the job
    records this thread's error, so the writer's goes to the log."""
    if writing is None:
        return
    problem = writing.write.exception()  # once it is done
    if problem is not None and problem is not exc:
        logger.error("writing chunk %d failed too", writing.number, exc_info=problem)


def _write_chunk(job: ImportJob, ctx: Context, chunk: list, ready, language) -> None:
    with translation.override(language), transaction.atomic():
        _chunk_settings()
        _commit(job, chunk, pipeline.write(ctx, ready))


def _wait(job: ImportJob, ctx: Context, writing: _Writing) -> bool:
    """Waits for a chunk's write; one the database refused (a key someone
    else took meanwhile) is redone here, row by row. Returns whether it
    was."""
    try:
        writing.write.result()
    except IntegrityError:
        ctx.tag_ids.clear()  # tags made by the attempt went with it
        with transaction.atomic():
            _chunk_settings()
            _commit(job, writing.chunk, pipeline.redo(ctx, writing.records))
        return True
    return False


def _chunk_settings() -> None:
    """How PostgreSQL runs a chunk's transaction.

    Its commit does not wait for the WAL to reach the disk (a wait per
    chunk). Safe for imports: the job's progress commits in the same
    transaction, so chunks a database crash loses are lost with their
    progress, and resuming the job imports them again.

    A chunk looks up a few thousand keys in tables that are in memory; at
    the default random_page_cost (4, a disk seek) the planner scanned whole
    tables instead of probing their indexes (measured at 360,000
    identifiers: 32 ms a lookup against 4)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
            cursor.execute("SET LOCAL random_page_cost TO 1.1")


def _refresh_statistics(number: int, probed: dict) -> None:
    """ANALYZE of the columns a big import looks keys up by, after its 1st,
    2nd, 4th, 8th… chunk: an import can grow the tables from nothing, faster
    than autovacuum analyzes them (a minute apart at best), and plans made
    for an empty table scan it whole for every chunk (measured: 73 ms to
    read the children of 200 customers at 170,000, 9 ms once analyzed).
    A plan only needs to know the keys are near unique, so a small sample
    does: 45 ms at 200,000 rows against 550 for all columns at the default
    target."""
    if connection.vendor != "postgresql" or not probed or number & (number - 1):
        return
    quote = connection.ops.quote_name
    tables = ", ".join(
        f"{quote(model._meta.db_table)} ({', '.join(map(quote, columns))})"
        for model, columns in probed.items()
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL default_statistics_target TO 10")
        cursor.execute(f"ANALYZE {tables}")


def _dry_run(job: ImportJob, progress: Progress | None) -> None:
    """The whole file in one transaction that is rolled back: the counts and
    rejects are what a real run would give, and nothing is kept."""
    ctx = _context(job)
    steps = _steps(job, ctx)
    total, rejects = ChunkResult(), []
    read = last = 0
    big = parallel.is_big(_remaining(job))
    with (
        transaction.atomic(),
        parallel.collections_between_chunks(_remaining(job)) as collect,
    ):
        _chunk_settings()
        for number, (chunk, records) in enumerate(_parsed(job, steps), 1):
            result = steps.apply(ctx, records)
            if big:
                _refresh_statistics(number, steps.probed)
            for name in ("created", "updated", "unchanged", "merged"):
                setattr(total, name, getattr(total, name) + getattr(result, name))
            rejects += result.rejected
            read, last = read + len(chunk), chunk[-1][0]
            if progress:
                job.read, job.rows_done = read, last
                progress(job)
            collect()
        transaction.set_rollback(True)
    total.rejected = rejects
    with transaction.atomic():
        _save_rejects(job, total)
        _count(job, total, read=read, last_row=last)


def _save_rejects(job: ImportJob, result: ChunkResult) -> None:
    fastwrite.insert_rows(
        ImportReject,
        ["job_id", "row_number", "column", "value", "reason", "code", "raw"],
        [
            (job.pk, r.row_number, str(e.column), str(e.value), str(e.reason))
            + (str(e.code), {c: shown(v) for c, v in r.raw.items()})
            for r, e in result.rejected
        ],
        ids=False,
    )


def _count(job: ImportJob, result: ChunkResult, *, read: int, last_row: int) -> None:
    rejected_rows = len({r.row_number for r, _e in result.rejected})
    ImportJob.objects.filter(pk=job.pk).update(
        rows_done=last_row,
        read=F("read") + read,
        created=F("created") + result.created,
        updated=F("updated") + result.updated,
        unchanged=F("unchanged") + result.unchanged,
        merged=F("merged") + result.merged,
        rejected=F("rejected") + rejected_rows,
    )


def import_rejects_csv(job: ImportJob) -> str:
    """The rejected rows as CSV: row, column, value, reason, then the row as
    it was read, so a corrected copy can be imported again."""
    out = io.StringIO()
    headers = list(open_table(Path(job.file_path), sheet=job.sheet).headers)
    writer = csv.writer(out)
    writer.writerow([_("row"), _("column"), _("value"), _("reason"), *headers])
    for reject in job.rejects.iterator(chunk_size=2000):
        cells = [
            reject.column,
            reject.value,
            reject.reason,
            *(reject.raw.get(h, "") for h in headers),
        ]
        writer.writerow([reject.row_number, *(_inert(c) for c in cells)])
    return out.getvalue()


_FORMULA = re.compile(r"^(?:[=@\t\r]|[+-][^\d\s.])")


def _inert(cell: str) -> str:
    """A cell a spreadsheet will not run as a formula (CSV injection). Phones
    ("+86 …") and amounts ("-12.00") are left as they are, so that a corrected
    report imports again."""
    return "'" + cell if _FORMULA.match(cell) else cell
