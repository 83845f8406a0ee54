import random
from io import StringIO
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.urls import reverse

from clientbook.customers.models import Customer
from clientbook.customers.services import customer_create
from clientbook.errors import AccessDenied, ValidationFailed
from clientbook.identity.config import DedupeConfig
from clientbook.identity.models import (
    DedupeRun,
    DuplicatePair,
    Merge,
    PairStatus,
    RunStatus,
)
from clientbook.identity.services import (
    dedupe_run,
    dedupe_run_create,
    dedupe_run_start,
    duckdb_connect,
    duplicate_pair_reject,
)
from clientbook.identity.tests.people import people, variant
from clientbook.privacy.models import AuditEntry
from clientbook.tests.api import ApiClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def crowd(source, branch):
    """120 people, 12 of them entered twice with small differences."""
    rnd = random.Random(3)
    everyone = people(120, seed=5)
    twice = [variant(p, f"V{p.key}", rnd) for p in everyone[:12]]
    made = {}
    for person in [*everyone, *twice]:
        made[person.key] = customer_create(
            name=person.name,
            source=source,
            branch=branch,
            birth_date=person.birth_date or everyone[0].birth_date,
            addresses=[
                {
                    "province": person.province,
                    "city": person.city,
                    "district": person.district,
                    "street": person.street,
                }
            ],
        )
    return made


def test_run_merges_sure_pairs_and_queues_likely_ones(crowd, admin_user):
    run = dedupe_run(actor=admin_user, auto_merge_above=0.999, review_above=0.3)

    assert run.status == RunStatus.DONE
    assert run.customers == 132
    assert run.auto_merged == Merge.objects.filter(run=run).count() > 0
    assert run.queued == DuplicatePair.objects.filter(status="pending").count()
    assert run.candidates >= run.auto_merged + run.queued
    merge = Merge.objects.filter(run=run).first()
    assert merge.is_automatic and merge.merged_by is None
    pair = merge.pairs.get()
    assert pair.status == PairStatus.MERGED and pair.probability >= 0.999
    assert {e["comparison"] for e in pair.evidence} >= {"name", "birth_date"}
    assert AuditEntry.objects.filter(action="dedupe.finish").count() == 1


def test_rejected_pairs_are_never_proposed_again(crowd, admin_user):
    first = dedupe_run(auto_merge_above=1.0, review_above=0.3)
    assert first.queued > 0 and first.auto_merged == 0
    for pair in DuplicatePair.objects.filter(status="pending"):
        duplicate_pair_reject(pair=pair, actor=admin_user)

    second = dedupe_run(auto_merge_above=1.0, review_above=0.3)

    assert second.queued == 0
    assert second.skipped_rejected == first.queued
    assert not DuplicatePair.objects.filter(status="pending").exists()


def test_dry_run_writes_nothing(crowd):
    run = dedupe_run(dry_run=True, auto_merge_above=0.999, review_above=0.3)

    assert run.candidates > 0 and run.auto_merged > 0
    assert not DuplicatePair.objects.exists()
    assert not Merge.objects.exists()
    assert not Customer.objects.filter(merged_into__isnull=False).exists()


def test_thresholds_and_backend_are_checked(source, admin_user):
    with pytest.raises(ValidationFailed) as exc:
        dedupe_run_create(actor=admin_user, auto_merge_above=0.5, review_above=0.9)
    assert exc.value.code == "invalid_threshold"
    with pytest.raises(ValidationFailed) as exc:
        DedupeConfig(backend="oracle")
    assert exc.value.code == "invalid_backend"
    assert not DedupeRun.objects.exists()


def test_backend_comes_from_settings(settings):
    settings.CLIENTBOOK = {**settings.CLIENTBOOK, "DEDUPE_BACKEND": "spark"}
    assert DedupeConfig.from_settings().backend == "spark"


def test_duckdb_is_bounded_as_the_settings_say(settings, tmp_path):
    # given: a memory limit and a directory to spill into
    spill = tmp_path / "spill"
    settings.CLIENTBOOK = {
        **settings.CLIENTBOOK,
        "DEDUPE_MEMORY_LIMIT": "512MB",
        "DEDUPE_SPILL_DIR": spill,
    }
    # when
    con = duckdb_connect(DedupeConfig.from_settings())
    # then: DuckDB holds them (its own defaults: 80% of RAM, the cwd)
    found = con.execute(
        "SELECT current_setting('memory_limit'), current_setting('temp_directory')"
    ).fetchone()
    assert found == ("488.2 MiB", str(spill)) and spill.is_dir()


def test_a_memory_limit_duckdb_cannot_read_is_refused_by_name():
    with pytest.raises(ValidationFailed) as exc:
        duckdb_connect(DedupeConfig(memory_limit="lots"))
    assert (exc.value.code, exc.value.field) == ("invalid_memory_limit", "memory_limit")
    assert "lots" in exc.value.message


def test_auditors_and_branch_staff_may_not_start_runs(auditor, branch_staff):
    for user, code in ((auditor, "read_only"), (branch_staff, "run_not_allowed")):
        with pytest.raises(AccessDenied) as exc:
            dedupe_run_create(actor=user)
        assert exc.value.code == code
    assert not DedupeRun.objects.exists()


def test_web_run_is_queued_for_the_worker(
    client, manager, django_capture_on_commit_callbacks, monkeypatch
):
    queued = []
    monkeypatch.setattr(
        "clientbook.identity.tasks.dedupe_run_task",
        SimpleNamespace(enqueue=queued.append),
    )
    client.force_login(manager)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("identity:run_start"), {"dry_run": "1"})

    run = DedupeRun.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("identity:run", args=[run.uuid])
    assert queued == [run.pk] and run.dry_run
    assert client.get(response.url).status_code == 200


def test_a_second_run_waits_for_the_first(manager, monkeypatch):
    monkeypatch.setattr(
        "clientbook.identity.tasks.dedupe_run_task", SimpleNamespace(enqueue=print)
    )
    dedupe_run_start(actor=manager)
    with pytest.raises(Exception) as exc:
        dedupe_run_start(actor=manager)
    assert exc.value.code == "run_active"


def _queued_pairs(source, branch, count):
    pairs = []
    for i in range(count):
        a = customer_create(name=f"王{i}", source=source, branch=branch)
        b = customer_create(name=f"汪{i}", source=source, branch=branch)
        pairs.append(
            DuplicatePair.objects.create(
                customer_a=a,
                customer_b=b,
                probability=0.9,
                match_weight=3.2,
                evidence=[{"comparison": "name", "label": "same pinyin", "weight": 4}],
            )
        )
    return pairs


def test_queue_page_lists_pairs_in_few_queries(
    client, manager, source, branch, django_assert_num_queries
):
    _queued_pairs(source, branch, 5)
    client.force_login(manager)
    client.get(reverse("identity:queue"))  # warm the session and user caches

    with django_assert_num_queries(6):
        response = client.get(reverse("identity:queue"))

    assert response.status_code == 200
    assert response.content.decode().count("/pairs/") >= 5


def test_pair_page_and_decisions(client, manager, source, branch):
    one, two = _queued_pairs(source, branch, 2)
    client.force_login(manager)

    page = client.get(reverse("identity:pair", args=[one.uuid]))
    assert page.status_code == 200
    assert "王0" in page.content.decode() and "汪0" in page.content.decode()

    client.post(reverse("identity:decide", args=[one.uuid]), {"decision": "accept"})
    client.post(
        reverse("identity:bulk"), {"pair": [str(two.uuid)], "decision": "reject"}
    )
    one.refresh_from_db()
    two.refresh_from_db()
    assert (one.status, two.status) == (PairStatus.MERGED, PairStatus.REJECTED)

    response = client.post(reverse("identity:undo", args=[one.merge.uuid]))
    assert response.status_code == 302
    assert Merge.objects.get().undone_at is not None


def test_auditor_sees_the_queue_but_cannot_decide(client, auditor, source, branch):
    (pair,) = _queued_pairs(source, branch, 1)
    client.force_login(auditor)
    assert client.get(reverse("identity:queue")).status_code == 200

    response = client.post(
        reverse("identity:decide", args=[pair.uuid]), {"decision": "reject"}
    )

    assert response.status_code == 403
    pair.refresh_from_db()
    assert pair.status == PairStatus.PENDING


def test_api_pairs_merges_and_runs(manager, source, branch, monkeypatch):
    monkeypatch.setattr(
        "clientbook.identity.tasks.dedupe_run_task", SimpleNamespace(enqueue=print)
    )
    one, two = _queued_pairs(source, branch, 2)
    api = ApiClient(manager)

    listed = api.get("/duplicates/pairs").json()
    assert {p["uuid"] for p in listed} == {str(one.uuid), str(two.uuid)}
    assert listed[0]["evidence"][0]["comparison"] == "name"

    merged = api.post(f"/duplicates/pairs/{one.uuid}/accept", {})
    assert merged.status_code == 201
    rejected = api.post(f"/duplicates/pairs/{two.uuid}/reject")
    assert rejected.json()["status"] == "rejected"
    again = api.post(f"/duplicates/pairs/{two.uuid}/reject")
    assert again.status_code == 422, again.json()
    assert again.json()["error"]["code"] == "pair_decided"

    undone = api.post(f"/duplicates/merges/{merged.json()['uuid']}/undo")
    assert undone.status_code == 200 and undone.json()["undone_at"]
    direct = api.post(
        "/duplicates/merges",
        {"survivor": str(one.customer_a.uuid), "duplicate": str(one.customer_b.uuid)},
    )
    assert direct.status_code == 201

    started = api.post("/duplicates/runs", {"dry_run": True})
    assert started.status_code == 201 and started.json()["status"] == "pending"
    got = api.get(f"/duplicates/runs/{started.json()['uuid']}")
    assert got.json()["dry_run"] is True


def test_dedupe_command_prints_counts(crowd):
    out = StringIO()
    call_command("dedupe", "--dry-run", "--review-above", "0.3", stdout=out)
    assert "DRY RUN" in out.getvalue()
    assert DedupeRun.objects.get().dry_run


def test_run_page_names_the_keys_too_crowded_to_compare_on(client, manager, source):
    # given: twelve customers of one name, more than a name alone may gather
    for year in range(1970, 1982):
        customer_create(name="张伟", source=source, birth_date=f"{year}-05-01")
    customer_create(name="李娜", source=source, birth_date="1990-01-01")
    # when
    run = dedupe_run(dry_run=True, auto_merge_above=0.999, review_above=0.5)
    # then: the run says who was left out of which key, on its page too
    assert run.crowded["block_letters"] == 12
    client.force_login(manager)
    url = reverse("identity:run", args=[run.uuid])
    page = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Left out of crowded blocks" in page
    assert "the same name letters</td><td>12</td>" in page
