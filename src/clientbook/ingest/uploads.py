"""An uploaded file between the upload and the job: kept under IMPORT_DIR,
looked at (headers, a few sample values, sheets, a row estimate) before a
mapping exists.

The file is streamed from Django's upload (a TemporaryUploadedFile on disk
for anything over FILE_UPLOAD_MAX_MEMORY_SIZE) to IMPORT_DIR chunk by chunk,
under the same `<sha256><suffix>` name `import_job_create` keeps files by,
so creating the job later finds it there and copies nothing.
"""

import datetime as dt
import hashlib
import itertools
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext as _

from clientbook.errors import ClientbookError, ValidationFailed
from clientbook.ingest.models import ImportJob
from clientbook.ingest.readers import open_table, xlsx_sheets

SUFFIXES = {".csv", ".txt", ".tsv", ".xlsx", ".xlsm", ".jsonl", ".ndjson"}
XLSX_SUFFIXES = {".xlsx", ".xlsm"}
SAMPLE_ROWS = 5
SAMPLES_SHOWN = 3


def import_dir() -> Path:
    return Path(settings.CLIENTBOOK["IMPORT_DIR"])


def upload_keep(*, uploaded: UploadedFile) -> Path:
    """Copies an upload into IMPORT_DIR under its hash, never holding it
    whole in memory. Refuses a kind of file the readers cannot read."""
    name = uploaded.name or ""
    suffix = Path(name).suffix.lower()
    if suffix not in SUFFIXES:
        raise ValidationFailed(
            "unsupported_file",
            _("Cannot read “%(name)s”: use CSV, XLSX or JSON Lines.") % {"name": name},
            field="file",
            value=name,
        )
    if not uploaded.size:
        raise ValidationFailed(
            "empty_file", _("The file is empty."), field="file", value=name
        )
    folder = import_dir()
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with tempfile.NamedTemporaryFile(dir=folder, suffix=".part", delete=False) as out:
        for chunk in uploaded.chunks():
            digest.update(chunk)
            out.write(chunk)
    kept = folder / f"{digest.hexdigest()}{suffix}"
    os.replace(out.name, kept)  # atomic: a half-written file never has the name
    return kept


def upload_sweep(*, older_than: dt.timedelta) -> tuple[int, int]:
    """Removes from IMPORT_DIR the files no import job was made from (uploads
    never mapped, streams of rows never imported, interrupted `.part`
    copies) and untouched for `older_than`. A job's file stays: its reject
    report and a resumed run read it. Returns the files and bytes removed."""
    folder = import_dir()
    if not folder.is_dir():
        return 0, 0
    kept = {Path(p).name for p in ImportJob.objects.values_list("file_path", flat=True)}
    before = time.time() - older_than.total_seconds()
    removed = freed = 0
    for path in folder.iterdir():
        if path.name in kept or not path.is_file():
            continue
        stat = path.stat()
        if stat.st_mtime < before:
            path.unlink(missing_ok=True)
            removed, freed = removed + 1, freed + stat.st_size
    return removed, freed


def rows_write_jsonl(rows: list[dict]) -> Path:
    """Rows sent through the API as a JSON Lines file in IMPORT_DIR. Every
    line carries every key seen (the reader takes its columns from the first
    line), missing ones as null."""
    keys = list(dict.fromkeys(k for row in rows for k in row))
    folder = import_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", dir=folder, suffix=".jsonl", delete=False, encoding="utf-8"
    ) as out:
        for row in rows:
            out.write(json.dumps({k: row.get(k) for k in keys}, ensure_ascii=False))
            out.write("\n")
    return Path(out.name)


@dataclass
class Preview:
    headers: list[str]
    samples: dict[str, list[str]] = field(default_factory=dict)
    sheets: list[str] = field(default_factory=list)


def table_preview(path: Path, *, sheet: str = "") -> Preview:
    """The columns of a file with a few distinct sample values each."""
    sheets = xlsx_sheets(path) if path.suffix.lower() in XLSX_SUFFIXES else []
    table = open_table(path, sheet=sheet)
    try:
        first = list(itertools.islice(table.rows, SAMPLE_ROWS))
    finally:
        table.rows.close()  # closes the file the reader holds open
    if not table.headers:
        raise ValidationFailed(
            "no_columns",
            _("“%(name)s” has no header row.") % {"name": path.name},
            field="file",
            value=path.name,
        )
    samples: dict[str, list[str]] = {h: [] for h in table.headers}
    for _number, row in first:
        for header in table.headers:
            value = row.get(header, "")
            if value and value not in samples[header]:
                samples[header].append(value)
    shown = {h: v[:SAMPLES_SHOWN] for h, v in samples.items()}
    return Preview(table.headers, shown, sheets)


def table_preview_checked(path: Path, *, sheet: str = "") -> Preview:
    """`table_preview`, with a damaged file told as a ValidationFailed."""
    try:
        return table_preview(path, sheet=sheet)
    except ClientbookError:
        raise
    except Exception as exc:  # zip, XML, CSV and decoding errors of a bad file
        raise ValidationFailed(
            "unreadable_file",
            _("Cannot read “%(name)s”: %(error)s") % {"name": path.name, "error": exc},
            field="file",
            value=path.name,
        ) from exc


def estimate_rows(path: Path, *, sheet: str = "") -> int | None:
    """About how many data rows a file holds, cheaply: newlines for text
    files (a quoted field with a line break counts twice), the sheet's
    recorded dimension for XLSX."""
    suffix = path.suffix.lower()
    if suffix in XLSX_SUFFIXES:
        return _xlsx_rows(path, sheet)
    if suffix not in SUFFIXES:
        return None
    lines = last = 0
    with path.open("rb") as stream:
        while block := stream.read(1 << 20):
            lines += block.count(b"\n")
            last = block[-1]
    if last and last != ord("\n"):
        lines += 1  # a last line without a line break
    header = 0 if suffix in (".jsonl", ".ndjson") else 1
    return max(lines - header, 0)


def _xlsx_rows(path: Path, sheet: str) -> int | None:
    import openpyxl

    book = openpyxl.load_workbook(path, read_only=True)
    try:
        name = sheet if sheet in book.sheetnames else book.sheetnames[0]
        rows = book[name].max_row
    finally:
        book.close()
    return None if rows is None else max(rows - 1, 0)
