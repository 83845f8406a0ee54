"""Helpers of the accuracy tests: import files through the product's import,
then read back which source records ended up in one customer."""

import csv
import itertools
from collections import defaultdict
from pathlib import Path

from clientbook.ingest.models import ImportJob, SourceRecord
from clientbook.ingest.services import import_job_create, import_job_run


def import_file(path: Path, source, mapping: dict[str, str]) -> tuple[int, int]:
    """Imports a file; rows rejected for a bad value are imported again with
    that cell emptied, as a user fixes a reject report. Returns (rows
    rejected at first, rows still rejected)."""
    job = import_job_run(
        job=import_job_create(path=path, source=source, mapping=mapping)
    )
    first = job.rejected
    if not first:
        return 0, 0
    corrected = path.with_name(path.stem + "-corrected.csv")
    headers = list(job.rejects.first().raw)
    rows: dict[int, dict] = {}
    for reject in job.rejects.all():
        row = rows.setdefault(reject.row_number, dict(reject.raw))
        if reject.column in row:
            row[reject.column] = ""
    with corrected.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=headers, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows.values())
    again = import_job_run(
        job=import_job_create(path=corrected, source=source, mapping=mapping)
    )
    return first, again.rejected


def clusters(sources) -> dict[int, list[tuple[str, str]]]:
    """customer id → [(source code, key)] of every record it holds now."""
    found = defaultdict(list)
    rows = SourceRecord.objects.filter(source__in=sources).values_list(
        "customer_id", "source__code", "key"
    )
    for customer, code, key in rows:
        found[customer].append((code, key))
    return found


def linked_pairs(sources, left: str, right: str) -> set[tuple[str, str]]:
    """(left key, right key) for every two records of the two sources that
    are now one customer."""
    pairs = set()
    for records in clusters(sources).values():
        lefts = [k for c, k in records if c == left]
        rights = [k for c, k in records if c == right]
        pairs.update(itertools.product(lefts, rights))
    return pairs


def scores(predicted: set, truth: set) -> tuple[float, float, float]:
    hits = len(predicted & truth)
    precision = hits / len(predicted) if predicted else 0.0
    recall = hits / len(truth) if truth else 0.0
    f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
    return precision, recall, f1


def jobs_summary() -> str:
    return ", ".join(
        f"{j.file_name}: created {j.created}, merged {j.merged}, rejected {j.rejected}"
        for j in ImportJob.objects.order_by("pk")
    )
