"""Validation with paths, cycles, services with audit, snapshots, exports and
branch scoping."""

import csv
import io

import pytest
from openpyxl import load_workbook

from clientbook.customers.services import customer_create, customer_update
from clientbook.errors import AccessDenied, Conflict, ValidationFailed
from clientbook.org.models import Role
from clientbook.privacy.models import AuditEntry
from clientbook.segments import selectors
from clientbook.segments.errors import ErrorCode
from clientbook.segments.exports import _formula_safe
from clientbook.segments.language import validate
from clientbook.segments.models import Segment, SegmentMember
from clientbook.segments.services import (
    segment_archive,
    segment_create,
    segment_export,
    segment_snapshot,
    segment_update,
)
from clientbook.tests.factories import staff

WOMEN = {
    "version": 1,
    "match": "all",
    "conditions": [{"field": "gender", "op": "eq", "value": "F"}],
}


def _error(definition) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        validate(definition)
    return caught.value


@pytest.mark.parametrize(
    ("definition", "code", "path"),
    [
        ("x", ErrorCode.INVALID_DEFINITION, "definition"),
        ({"version": 2, "conditions": []}, ErrorCode.UNSUPPORTED_VERSION, "version"),
        ({"match": "some", "conditions": []}, ErrorCode.INVALID_VALUE, "match"),
        (
            {"conditions": [{"field": "colour", "op": "eq"}]},
            ErrorCode.UNKNOWN_FIELD,
            "conditions[0].field",
        ),
        (
            {"conditions": [{"field": "gender", "op": "gte", "value": "F"}]},
            ErrorCode.UNKNOWN_OPERATOR,
            "conditions[0].op",
        ),
        (
            {
                "conditions": [
                    {"field": "gender", "op": "eq", "value": "F"},
                    {"field": "age", "op": "gte", "value": 3},
                    {"field": "age", "op": "gte", "value": "old"},
                ]
            },
            ErrorCode.INVALID_VALUE,
            "conditions[2].value",
        ),
        (
            {
                "conditions": [
                    {
                        "match": "any",
                        "conditions": [
                            {"field": "city", "op": "eq", "value": "上海市"},
                            {"field": "bought", "window": {"last_days": -1}},
                        ],
                    }
                ]
            },
            ErrorCode.INVALID_VALUE,
            "conditions[0].conditions[1].window.last_days",
        ),
        (
            {"conditions": [{"field": "age", "op": "between", "value": [40, 30]}]},
            ErrorCode.INVALID_VALUE,
            "conditions[0].value",
        ),
        (
            {"conditions": [{"field": "age", "op": "in", "value": [30, "x"]}]},
            ErrorCode.INVALID_VALUE,
            "conditions[0].value[1]",
        ),
        (
            {
                "conditions": [
                    {
                        "field": "consent",
                        "op": "eq",
                        "value": "granted",
                        "channel": "sms",
                    }
                ]
            },
            ErrorCode.MISSING_PARAMETER,
            "conditions[0].purpose",
        ),
        (
            {
                "conditions": [
                    {
                        "field": "consent",
                        "op": "eq",
                        "value": "yes",
                        "channel": "sms",
                        "purpose": "marketing",
                    }
                ]
            },
            ErrorCode.INVALID_VALUE,
            "conditions[0].value",
        ),
        (
            {
                "conditions": [
                    {"field": "custom", "key": "nope", "op": "eq", "value": 1}
                ]
            },
            ErrorCode.UNKNOWN_CUSTOM_FIELD,
            "conditions[0].key",
        ),
        (
            {"conditions": [{"field": "segment", "segment": "missing"}]},
            ErrorCode.UNKNOWN_SEGMENT,
            "conditions[0].segment",
        ),
        (
            {"conditions": [{"match": "all", "conditions": []}]},
            ErrorCode.INVALID_DEFINITION,
            "conditions[0].conditions",
        ),
        (
            {
                "conditions": [
                    {"field": "gender", "op": "eq", "value": "F", "colour": 1}
                ]
            },
            ErrorCode.INVALID_DEFINITION,
            "conditions[0].colour",
        ),
        (
            {
                "conditions": [
                    {
                        "field": "spent",
                        "op": "gte",
                        "value": 5,
                        "window": {"from": "2026-13-01"},
                    }
                ]
            },
            ErrorCode.INVALID_VALUE,
            "conditions[0].window.from",
        ),
    ],
)
def test_validation_names_the_path(db, definition, code, path):
    error = _error(definition)
    assert (error.code, error.field) == (code, path)
    assert error.details["errors"][0]["field"] == path


def test_validation_reports_every_problem(db):
    error = _error(
        {
            "conditions": [
                {"field": "gender", "op": "eq", "value": "X"},
                {"field": "age", "op": "lte", "value": None},
            ]
        }
    )
    assert [e["field"] for e in error.details["errors"]] == [
        "conditions[0].value",
        "conditions[1].value",
    ]


def test_create_validates_and_audits(marketer):
    segment = segment_create(name=" Women  only ", definition=WOMEN, actor=marketer)
    assert segment.name == "Women only"
    assert segment.definition == WOMEN
    entry = AuditEntry.objects.get(action="segment.create")
    assert entry.entity_id == str(segment.pk) and entry.actor == marketer
    with pytest.raises(Conflict) as caught:
        segment_create(name="Women only", definition=WOMEN, actor=marketer)
    assert caught.value.code == ErrorCode.NAME_TAKEN
    with pytest.raises(ValidationFailed) as caught:
        segment_create(name="Bad", definition={"conditions": [1]}, actor=marketer)
    assert caught.value.field == "conditions[0]"
    assert Segment.objects.count() == 1
    assert AuditEntry.objects.filter(action="segment.create").count() == 1


def test_auditor_may_not_write(auditor):
    with pytest.raises(AccessDenied):
        segment_create(name="X", definition=WOMEN, actor=auditor)
    assert not Segment.objects.exists()


def test_cycles_are_refused(marketer):
    a = segment_create(name="A", definition=WOMEN, actor=marketer)
    b = segment_create(
        name="B",
        actor=marketer,
        definition={"conditions": [{"field": "segment", "segment": str(a.uuid)}]},
    )
    c = segment_create(
        name="C",
        actor=marketer,
        definition={"conditions": [{"field": "segment", "segment": "B"}]},
    )
    for target in (a, b, c):
        refers_back = {"conditions": [{"field": "segment", "segment": target.name}]}
        with pytest.raises(ValidationFailed) as caught:
            segment_update(segment=a, definition=refers_back, actor=marketer)
        assert caught.value.code == ErrorCode.SEGMENT_CYCLE
        assert caught.value.field == "conditions[0].segment"
    a.refresh_from_db()
    assert a.definition == WOMEN
    # C named B by name; it is stored by UUID, so a rename does not break it
    assert c.definition["conditions"][0]["segment"] == str(b.uuid)
    with pytest.raises(Conflict):
        segment_archive(segment=a, actor=marketer)  # B still refers to it


def test_update_and_archive_audit_changes(marketer):
    segment = segment_create(name="A", definition=WOMEN, actor=marketer)
    segment_update(segment=segment, name="A2", actor=marketer)
    entry = AuditEntry.objects.get(action="segment.update")
    assert entry.before == {"name": "A"} and entry.after == {"name": "A2"}
    segment_archive(segment=segment, actor=marketer)
    assert segment.archived_at is not None
    assert AuditEntry.objects.filter(action="segment.archive").count() == 1
    with pytest.raises(Conflict) as caught:
        segment_update(segment=segment, name="A3", actor=marketer)
    assert caught.value.code == ErrorCode.ARCHIVED


@pytest.fixture
def two_branches(source, branch, other_branch):
    here = [
        customer_create(
            name=f"本店{i}",
            source=source,
            gender="F",
            branch=branch,
            identifiers=[{"type": "mobile", "value": f"1380013800{i}"}],
            addresses=[{"city": "上海市", "postcode": "200001"}],
        )
        for i in range(3)
    ]
    there = [
        customer_create(name=f"外店{i}", source=source, gender="F", branch=other_branch)
        for i in range(2)
    ]
    customer_create(name="男", source=source, gender="M", branch=branch)
    return here, there


def test_static_snapshot_stays_fixed(two_branches, marketer):
    here, there = two_branches
    segment = segment_create(name="S", definition=WOMEN, actor=marketer, kind="static")
    snapshot = segment.snapshots.get()
    assert snapshot.count == 5
    assert SegmentMember.objects.filter(snapshot=snapshot).count() == 5
    assert AuditEntry.objects.get(action="segment.snapshot").after["count"] == 5
    # data changes: one woman becomes a man, a new woman arrives
    customer_update(customer=here[0], gender="M")
    customer_create(name="新", source=here[0].source, gender="F")
    assert selectors.segment_count(segment, marketer) == 5
    assert here[0] in selectors.segment_queryset(segment, marketer)
    # a dynamic segment follows the data
    dynamic = segment_create(name="D", definition=WOMEN, actor=marketer)
    assert selectors.segment_count(dynamic, marketer) == 5
    again = segment_snapshot(segment=segment, actor=marketer)
    assert again.count == 5 and selectors.segment_count(segment, marketer) == 5
    assert here[0] not in selectors.segment_queryset(segment, marketer)


def test_branch_staff_see_their_branch_only(two_branches, marketer, branch_staff):
    segment = segment_create(name="S", definition=WOMEN, actor=marketer)
    assert selectors.segment_count(segment, marketer) == 5
    assert selectors.segment_count(segment, branch_staff) == 3
    sample = selectors.segment_sample(segment, branch_staff)
    assert {c.name for c in sample} == {"本店0", "本店1", "本店2"}
    out = io.BytesIO()
    count = segment_export(
        segment=segment, actor=branch_staff, out=out, columns=["name", "branch"]
    )
    assert count == 3
    rows = list(csv.reader(io.StringIO(out.getvalue().decode("utf-8-sig"))))
    assert {r[1] for r in rows[1:]} == {"SH01"}


def test_export_masks_without_view_pii(two_branches, marketer, admin_user):
    segment = segment_create(name="S", definition=WOMEN, actor=marketer)
    out = io.BytesIO()
    segment_export(
        segment=segment, actor=marketer, out=out, columns=["name", "mobile", "city"]
    )
    rows = list(csv.reader(io.StringIO(out.getvalue().decode("utf-8-sig"))))
    assert len(rows) == 6
    phones = [r[1] for r in rows[1:] if r[1]]
    assert phones == ["+86138****8000", "+86138****8001", "+86138****8002"]
    entry = AuditEntry.objects.get(action="segment.export")
    assert entry.after == {
        "format": "csv",
        "columns": ["name", "mobile", "city"],
        "count": 5,
        "pii": False,
    }
    with pytest.raises(AccessDenied) as caught:
        segment_export(segment=segment, actor=marketer, out=io.BytesIO(), pii=True)
    assert caught.value.code == ErrorCode.PII_DENIED
    # a user with view_pii gets the numbers, in XLSX too, as text
    out = io.BytesIO()
    segment_export(
        segment=segment,
        actor=admin_user,
        out=out,
        columns=["mobile", "postcode"],
        format="xlsx",
    )
    sheet = load_workbook(out).active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert ["+8613800138000", "200001"] in values


def test_export_rejects_unknown_columns(marketer):
    segment = segment_create(name="S", definition=WOMEN, actor=marketer)
    with pytest.raises(ValidationFailed) as caught:
        segment_export(
            segment=segment, actor=marketer, out=io.BytesIO(), columns=["name", "x"]
        )
    assert (caught.value.code, caught.value.field) == (
        ErrorCode.INVALID_COLUMN,
        "columns[1]",
    )
    assert not AuditEntry.objects.filter(action="segment.export").exists()


def test_formula_injection_guard(source, marketer):
    customer_create(name='=HYPERLINK("x")', source=source, gender="F")
    customer_create(name="-foo", source=source, gender="F")
    segment = segment_create(name="S", definition=WOMEN, actor=marketer)
    out = io.BytesIO()
    segment_export(segment=segment, actor=marketer, out=out, columns=["name"])
    names = {r[0] for r in csv.reader(io.StringIO(out.getvalue().decode("utf-8-sig")))}
    assert '\'=HYPERLINK("x")' in names and "'-foo" in names
    assert _formula_safe("+8613800138000") == "+8613800138000"
    assert _formula_safe("-12.5") == "-12.5"
    assert _formula_safe("@cmd") == "'@cmd"
    assert _formula_safe("+A1") == "'+A1"


def test_branch_staff_without_branch_sees_nothing(two_branches, marketer):
    segment = segment_create(name="S", definition=WOMEN, actor=marketer)
    lost = staff(Role.BRANCH_STAFF, username="lost")
    assert selectors.segment_count(segment, lost) == 0


def test_a_stored_cycle_is_refused_when_counted(marketer):
    # given: a cycle written around the services (as a bad restore might)
    a = segment_create(name="A", definition=WOMEN, actor=marketer)
    b = segment_create(
        name="B",
        actor=marketer,
        definition={"conditions": [{"field": "segment", "segment": str(a.uuid)}]},
    )
    Segment.objects.filter(pk=a.pk).update(
        definition={
            "version": 1,
            "match": "all",
            "conditions": [{"field": "segment", "segment": str(b.uuid)}],
        }
    )
    a.refresh_from_db()
    # then: counting stops with the cycle error instead of recursing
    with pytest.raises(ValidationFailed) as caught:
        selectors.segment_count(a, marketer)
    assert caught.value.code == ErrorCode.SEGMENT_CYCLE
