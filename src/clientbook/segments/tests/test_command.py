"""`clientbook segment count|export|snapshot`."""

import csv
import io

import pytest
from django.core.management import CommandError, call_command

from clientbook.customers.services import customer_create
from clientbook.segments.models import SegmentSnapshot
from clientbook.segments.services import segment_create

WOMEN = {"conditions": [{"field": "gender", "op": "eq", "value": "F"}]}


@pytest.fixture
def segment(source, branch, other_branch, marketer):
    for i in range(2):
        customer_create(
            name=f"本店{i}",
            source=source,
            gender="F",
            branch=branch,
            identifiers=[{"type": "mobile", "value": f"1380013800{i}"}],
        )
    customer_create(name="外店", source=source, gender="F", branch=other_branch)
    return segment_create(name="女客", definition=WOMEN, actor=marketer)


def run(*args) -> str:
    out = io.StringIO()
    call_command("segment", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_count_by_name_uuid_and_user(segment, branch_staff):
    assert run("count", "女客").strip() == "3"
    assert run("count", str(segment.uuid)).strip() == "3"
    assert run("count", "女客", "--user", "clerk").strip() == "2"
    with pytest.raises(CommandError, match="not_found"):
        run("count", "nope")


def test_export_to_file_masked_unless_pii(segment, admin_user, marketer, tmp_path):
    target = tmp_path / "out.csv"
    run("export", "女客", "--columns", "name,mobile", "--output", str(target))
    rows = list(csv.reader(io.StringIO(target.read_text("utf-8-sig"))))
    assert len(rows) == 4 and "+86138****8000" in {r[1] for r in rows}
    with pytest.raises(CommandError, match="pii_denied"):
        run("export", "女客", "--pii", "--user", "marketer", "--output", str(target))
    run(
        "export",
        "女客",
        "--pii",
        "--user",
        "admin",
        "--columns",
        "mobile",
        "--format",
        "xlsx",
        "--output",
        str(tmp_path / "out.xlsx"),
    )
    from openpyxl import load_workbook

    sheet = load_workbook(tmp_path / "out.xlsx").active
    assert "+8613800138000" in {row[0].value for row in sheet.iter_rows()}


def test_snapshot_is_a_dry_run_without_yes(segment):
    assert "3" in run("snapshot", "女客")
    assert not SegmentSnapshot.objects.exists()
    run("snapshot", "女客", "--yes")
    assert SegmentSnapshot.objects.get().count == 3
