"""Writes of the identity app: merges, unmerges, review decisions, runs.

Each public function is one transaction, checks the actor's access and
leaves an audit entry for every customer it touches.
"""

import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import duckdb
from django.db import DatabaseError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from clientbook.customers.models import Customer
from clientbook.errors import (
    AccessDenied,
    ClientbookError,
    Conflict,
    NotFound,
    ValidationFailed,
)
from clientbook.identity import bulk, frame, matching, merging
from clientbook.identity.config import DedupeConfig
from clientbook.identity.errors import ErrorCode
from clientbook.identity.models import (
    DedupeRun,
    DuplicatePair,
    Merge,
    PairStatus,
    RunStatus,
)
from clientbook.identity.survivorship import (
    survivor_key,
    survivor_order,
    survivor_values,
)
from clientbook.org.access import ensure_can_edit, is_branch_scoped
from clientbook.privacy.services import audit_record

logger = logging.getLogger(__name__)


def _ensure_can_merge(actor, *customers: Customer) -> None:
    for customer in customers:
        ensure_can_edit(actor, customer)


def _locked(*customers: Customer) -> list[Customer]:
    """Fresh copies of the customers, locked in id order (no deadlocks).
    Only the customer rows: `of` leaves the joined sources unlocked.

    Raises:
        NotFound: a customer is gone.
    """
    ids = sorted(c.pk for c in customers)
    rows = (
        Customer.objects.select_for_update(of=("self",))
        .select_related("source")
        .order_by("pk")
        .in_bulk(ids)
    )
    for customer in customers:
        if customer.pk not in rows:
            raise NotFound(
                ErrorCode.NOT_FOUND, _("No such customer."), value=str(customer.uuid)
            )
    return [rows[c.pk] for c in customers]


def _ordered(a: Customer, b: Customer) -> tuple[int, int]:
    return (a.pk, b.pk) if a.pk < b.pk else (b.pk, a.pk)


def survivor_choose(*, a: Customer, b: Customer) -> tuple[Customer, Customer]:
    """(survivor, duplicate) for two records of one person: the more trusted
    source, then the more complete record, then the one created first."""
    first, second = survivor_order(
        merging.facts_for(a, completeness=True),
        merging.facts_for(b, completeness=True),
    )
    return first.customer, second.customer


@transaction.atomic
def customer_merge(
    *,
    survivor: Customer,
    duplicate: Customer,
    actor=None,
    pair: DuplicatePair | None = None,
    run: DedupeRun | None = None,
) -> Merge:
    """Merges `duplicate` into `survivor`: survivorship per field, every
    child row moved, the duplicate kept with `merged_into`.

    Raises:
        ValidationFailed: the same customer twice, a customer not live, or a
            person and an organisation.
        AccessDenied: the actor may not change one of them.
    """
    if survivor.pk == duplicate.pk:
        raise ValidationFailed(
            ErrorCode.SAME_CUSTOMER, _("A customer cannot be merged with itself.")
        )
    survivor, duplicate = _locked(survivor, duplicate)
    _ensure_can_merge(actor, survivor, duplicate)
    for customer in (survivor, duplicate):
        if not customer.is_live:
            raise ValidationFailed(
                ErrorCode.NOT_LIVE,
                _("%(name)s is archived or merged already.") % {"name": customer},
                value=str(customer.uuid),
            )
    if survivor.kind != duplicate.kind:
        raise ValidationFailed(
            ErrorCode.KIND_MISMATCH,
            _("A person and an organisation cannot be merged."),
            field="kind",
        )
    changes = survivor_values(merging.facts_for(survivor), merging.facts_for(duplicate))
    record: dict[str, Any] = {
        "survivor_before": {f: merging.jsonable(getattr(survivor, f)) for f in changes},
        "survivor_after": {f: merging.jsonable(v) for f, v in changes.items()},
        "survivor_updated_at": merging.stamp(survivor.updated_at),
        "duplicate_updated_at": merging.stamp(duplicate.updated_at),
    }
    record.update(merging.move_rows(survivor, duplicate))
    now = timezone.now()
    Customer.objects.filter(pk=survivor.pk).update(**changes, updated_at=now)
    Customer.objects.filter(pk=duplicate.pk).update(
        merged_into=survivor, updated_at=now
    )
    record["updated_at"] = merging.stamp(now)
    merge = Merge.objects.create(
        survivor=survivor,
        duplicate=duplicate,
        run=run,
        is_automatic=run is not None and actor is None,
        record=record,
        merged_by=actor if actor is not None and actor.pk else None,
    )
    _close_pairs(merge, survivor, duplicate, pair, actor, now)
    _audit_merge(merge, actor, record)
    survivor.refresh_from_db()
    return merge


def _close_pairs(merge, survivor, duplicate, pair, actor, now) -> None:
    """Marks the pair merged and other open pairs of the duplicate
    superseded; the merge record lists them so an unmerge reopens them."""
    a, b = _ordered(survivor, duplicate)
    if pair is None:
        pair = DuplicatePair.objects.filter(customer_a_id=a, customer_b_id=b).first()
    if pair is None:
        pair = DuplicatePair(customer_a_id=a, customer_b_id=b, probability=1.0)
        pair.match_weight = 0.0
    pair.status, pair.merge = PairStatus.MERGED, merge
    pair.decided_by = actor if actor is not None and actor.pk else None
    pair.decided_at = now
    pair.save()
    open_pairs = DuplicatePair.objects.filter(status=PairStatus.PENDING).filter(
        customer_a=duplicate
    ) | DuplicatePair.objects.filter(status=PairStatus.PENDING, customer_b=duplicate)
    superseded = list(open_pairs.values_list("pk", flat=True))
    # Still open: one rejected meanwhile stays rejected.
    DuplicatePair.objects.filter(pk__in=superseded, status=PairStatus.PENDING).update(
        status=PairStatus.SUPERSEDED
    )
    merge.record["pair"] = pair.pk
    merge.record["pairs_superseded"] = superseded
    merge.save(update_fields=["record"])


def _audit_merge(merge: Merge, actor, record: dict) -> None:
    audit_record(
        actor=actor,
        action="customer.merge",
        obj=merge.survivor,
        customer=merge.survivor,
        before=record["survivor_before"],
        after=merging.survivor_audit_after(merge, record),
    )
    audit_record(
        actor=actor,
        action="customer.merged_into",
        obj=merge.duplicate,
        customer=merge.duplicate,
        before={"merged_into": None},
        after={"merged_into": merge.survivor.pk, "merge": str(merge.uuid)},
    )


@transaction.atomic
def customer_unmerge(*, merge: Merge, actor=None) -> Merge:
    """Undoes a merge: both records as they were before it, except what
    was changed on the survivor since (which stays).

    Raises:
        ValidationFailed: undone already, or the survivor was itself merged
            into another customer since (undo that merge first).
        Conflict: an identifier of the duplicate is held by another live
            customer now.
        AccessDenied: the actor may not change one of them.
    """
    merge = Merge.objects.select_for_update().get(pk=merge.pk)
    _ensure_can_merge(actor, merge.survivor, merge.duplicate)
    if merge.undone_at is not None:
        raise ValidationFailed(
            ErrorCode.ALREADY_UNDONE, _("This merge was undone already.")
        )
    survivor, duplicate = _locked(merge.survivor, merge.duplicate)
    if survivor.merged_into_id is not None:
        raise ValidationFailed(
            ErrorCode.SURVIVOR_MERGED,
            _("%(name)s was merged into another customer since; undo that first.")
            % {"name": survivor},
        )
    record = merge.record
    for holder in merging.identifiers_blocking_unmerge(record, duplicate):
        raise Conflict(
            ErrorCode.IDENTIFIER_TAKEN,
            _("%(identifier)s now belongs to customer %(name)s.")
            % {"identifier": holder, "name": holder.customer},
            details={"existing_customer": str(holder.customer.uuid)},
        )
    merging.move_back(record, survivor, duplicate)
    _restore_survivor(survivor, record)
    Customer.objects.filter(pk=duplicate.pk).update(
        merged_into=None,
        updated_at=_parse_stamp(record["duplicate_updated_at"]),
    )
    now = timezone.now()
    merge.undone_at = now
    merge.undone_by = actor if actor is not None and actor.pk else None
    merge.save(update_fields=["undone_at", "undone_by"])
    _reopen_pairs(merge, actor, now)
    for customer, other in ((survivor, duplicate), (duplicate, survivor)):
        audit_record(
            actor=actor,
            action="customer.unmerge",
            obj=customer,
            customer=customer,
            before={"merge": str(merge.uuid)},
            after={"separated_from": str(other.uuid)},
        )
    return merge


def _restore_survivor(survivor: Customer, record: dict) -> None:
    """Puts back the fields the merge set, unless someone changed them since."""
    restore: dict[str, Any] = {}
    for field, before in record["survivor_before"].items():
        model_field = Customer._meta.get_field(
            field[:-3] if field.endswith("_id") else field
        )
        current = merging.jsonable(getattr(survivor, field))
        if current == record["survivor_after"][field]:
            restore[field] = model_field.to_python(before)
    untouched = merging.stamp(survivor.updated_at) == record["updated_at"]
    if untouched:
        restore["updated_at"] = _parse_stamp(record["survivor_updated_at"])
    if restore:
        Customer.objects.filter(pk=survivor.pk).update(**restore)


def _parse_stamp(value: str | None):
    from django.utils.dateparse import parse_datetime

    return parse_datetime(value) if value else None


def _reopen_pairs(merge: Merge, actor, now) -> None:
    """Superseded pairs are open again; the merged pair becomes a rejected
    one, so that the next run does not merge the two again."""
    DuplicatePair.objects.filter(
        pk__in=merge.record.get("pairs_superseded", []),
        status=PairStatus.SUPERSEDED,
    ).update(status=PairStatus.PENDING)
    DuplicatePair.objects.filter(pk=merge.record.get("pair")).update(
        status=PairStatus.REJECTED,
        decided_by=actor if actor is not None and actor.pk else None,
        decided_at=now,
    )


# Review decisions -------------------------------------------------------------


def _ensure_open(pair: DuplicatePair) -> None:
    if pair.status != PairStatus.PENDING:
        raise ValidationFailed(
            ErrorCode.PAIR_DECIDED,
            _("This pair was decided already (%(status)s).")
            % {"status": pair.get_status_display()},
        )


@transaction.atomic
def duplicate_pair_accept(
    *, pair: DuplicatePair, actor=None, survivor: Customer | None = None
) -> Merge:
    """Merges the two customers of a pending pair (the better record survives
    unless `survivor` says which)."""
    pair = DuplicatePair.objects.select_for_update().get(pk=pair.pk)
    _ensure_open(pair)
    a, b = pair.customer_a, pair.customer_b
    if survivor is None:
        survivor, duplicate = survivor_choose(a=a, b=b)
    else:
        duplicate = b if survivor.pk == a.pk else a
    return customer_merge(
        survivor=survivor, duplicate=duplicate, actor=actor, pair=pair
    )


@transaction.atomic
def duplicate_pair_reject(*, pair: DuplicatePair, actor=None) -> DuplicatePair:
    """Records that the two are different people: never proposed again."""
    pair = DuplicatePair.objects.select_for_update().get(pk=pair.pk)
    _ensure_open(pair)
    _ensure_can_merge(actor, pair.customer_a, pair.customer_b)
    pair.status = PairStatus.REJECTED
    pair.decided_by = actor if actor is not None and actor.pk else None
    pair.decided_at = timezone.now()
    pair.save(update_fields=["status", "decided_by", "decided_at"])
    for customer in (pair.customer_a, pair.customer_b):
        audit_record(
            actor=actor,
            action="duplicate_pair.reject",
            obj=pair,
            customer=customer,
            after={
                "customers": [str(pair.customer_a.uuid), str(pair.customer_b.uuid)],
                "probability": pair.probability,
            },
        )
    return pair


def duplicate_pairs_decide(
    *, pairs: Iterable[DuplicatePair], accept: bool, actor=None
) -> dict[str, int]:
    """Accepts or rejects many pairs, each in its own transaction: one pair
    that cannot be merged (decided meanwhile, another branch) does not stop
    the others. Returns counts of done and failed."""
    if actor is not None:
        ensure_can_edit(actor)
    done = failed = 0
    for pair in pairs:
        try:
            if accept:
                duplicate_pair_accept(pair=pair, actor=actor)
            else:
                duplicate_pair_reject(pair=pair, actor=actor)
            done += 1
        except (ValidationFailed, AccessDenied, Conflict):
            failed += 1
    return {"done": done, "failed": failed}


# Runs -------------------------------------------------------------------------

Progress = Callable[[DedupeRun], None]


def _ensure_can_run(actor) -> None:
    ensure_can_edit(actor)
    if actor is not None and is_branch_scoped(actor):
        raise AccessDenied(
            ErrorCode.RUN_NOT_ALLOWED,
            _("A run compares every branch's customers: ask a manager."),
        )


@transaction.atomic
def dedupe_run_create(
    *,
    actor=None,
    auto_merge_above: float | None = None,
    review_above: float | None = None,
    dry_run: bool = False,
) -> DedupeRun:
    """Registers a run with its thresholds (checked here, so a bad value is
    refused before anything is queued).

    Raises:
        ValidationFailed: a threshold outside (0, 1] or review above merge.
        AccessDenied: auditors and branch staff may not start a run.
        Conflict: another run is waiting or running.
    """
    _ensure_can_run(actor)
    config = DedupeConfig.from_settings(
        auto_merge_above=auto_merge_above, review_above=review_above
    )
    if DedupeRun.objects.filter(
        status__in=[RunStatus.PENDING, RunStatus.RUNNING]
    ).exists():
        raise Conflict(
            ErrorCode.RUN_ACTIVE,
            _("Another duplicate detection run is under way; wait for it to end."),
        )
    run = DedupeRun.objects.create(
        dry_run=dry_run,
        auto_merge_above=config.auto_merge_above,
        review_above=config.review_above,
        backend=config.backend,
        started_by=actor if actor is not None and actor.pk else None,
    )
    audit_record(
        actor=actor,
        action="dedupe.start",
        obj=run,
        after={
            "auto_merge_above": run.auto_merge_above,
            "review_above": run.review_above,
            "dry_run": dry_run,
            "backend": run.backend,
        },
    )
    return run


def dedupe_run_start(**kwargs: Any) -> DedupeRun:
    """Creates a run and hands it to the background worker on commit."""
    from clientbook.identity.tasks import dedupe_run_task

    with transaction.atomic():
        run = dedupe_run_create(**kwargs)
        transaction.on_commit(lambda: dedupe_run_task.enqueue(run.pk))
    return run


def dedupe_run(
    *,
    actor=None,
    auto_merge_above: float | None = None,
    review_above: float | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
    config: DedupeConfig | None = None,
) -> DedupeRun:
    """Runs duplicate detection now, in this process (the CLI's way)."""
    run = dedupe_run_create(
        actor=actor,
        auto_merge_above=auto_merge_above,
        review_above=review_above,
        dry_run=dry_run,
    )
    return dedupe_run_execute(run=run, progress=progress, config=config)


def _step(run: DedupeRun, stage: str, share: float, progress) -> None:
    run.stage, run.progress = stage, round(share, 3)
    DedupeRun.objects.filter(pk=run.pk).update(stage=stage, progress=run.progress)
    if progress is not None:
        progress(run)


def dedupe_run_execute(
    *,
    run: DedupeRun,
    progress: Progress | None = None,
    config: DedupeConfig | None = None,
) -> DedupeRun:
    """Scores every live pair worth comparing, merges the sure ones and
    queues the likely ones. Not one transaction: each merge is its own, and
    the queue is written in one at the end, so a failure part-way leaves
    whole merges and no half-written pair. A finished run is left alone."""
    if run.status in (RunStatus.DONE, RunStatus.FAILED):
        return run
    config = config or DedupeConfig.from_settings()
    config = replace(
        config,
        auto_merge_above=run.auto_merge_above,
        review_above=run.review_above,
    )
    DedupeRun.objects.filter(pk=run.pk).update(
        status=RunStatus.RUNNING, started_at=timezone.now()
    )
    run.status = RunStatus.RUNNING
    try:
        scored = _score(run, config, progress)
        _apply(run, scored, progress)
    except Exception as exc:
        DedupeRun.objects.filter(pk=run.pk).update(
            status=RunStatus.FAILED, error=str(exc)[:2000], finished_at=timezone.now()
        )
        run.refresh_from_db()
        raise
    run.status, run.finished_at = RunStatus.DONE, timezone.now()
    run.stage, run.progress = "done", 1.0
    run.save()
    audit_record(
        actor=run.started_by,
        action="dedupe.finish",
        obj=run,
        after={
            "customers": run.customers,
            "candidates": run.candidates,
            "auto_merged": run.auto_merged,
            "queued": run.queued,
            "dry_run": run.dry_run,
        },
    )
    return run


def duckdb_connect(config: DedupeConfig) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB as the settings bound it: by default it would
    take 80% of the machine's RAM, beside the database and the web server,
    and spill into whatever directory the process runs in."""
    options = {
        "threads": config.threads or os.cpu_count() or 1,
        "memory_limit": config.memory_limit,
    }
    if config.spill_dir:
        Path(config.spill_dir).mkdir(parents=True, exist_ok=True)
        options["temp_directory"] = config.spill_dir
    try:
        return duckdb.connect(config=options)
    except duckdb.Error as exc:
        raise ValidationFailed(
            ErrorCode.INVALID_MEMORY_LIMIT,
            _("DuckDB refuses these settings (memory limit “%(value)s”): %(error)s")
            % {"value": config.memory_limit, "error": exc},
            field="memory_limit",
            value=config.memory_limit,
        ) from exc


def _score(run: DedupeRun, config: DedupeConfig, progress) -> matching.Scored | None:
    con = duckdb_connect(config)
    columns = [frame.column_name(k) for k in config.extra_fields]
    run.customers = frame.load_customers(
        con,
        extra_fields=config.extra_fields,
        progress=lambda share: _step(run, "loading", share, progress),
    )
    DedupeRun.objects.filter(pk=run.pk).update(customers=run.customers)
    if run.customers < 2:
        return None
    run.crowded = matching.add_block_keys(
        con, extra_columns=columns, cap=config.block_cap_for(run.customers)
    )
    DedupeRun.objects.filter(pk=run.pk).update(crowded=run.crowded)
    try:
        api, table = matching.database_api(config.backend, con, config.spark_options)
    except ImportError as exc:
        raise ValidationFailed(
            ErrorCode.BACKEND_UNAVAILABLE,
            _("The %(backend)s backend is not installed: %(error)s")
            % {"backend": config.backend, "error": exc},
        ) from exc
    return matching.train_and_score(
        api,
        table,
        records=run.customers,
        threshold=config.review_above,
        extra_columns=columns,
        u_max_pairs=config.u_max_pairs,
        em_max_pairs=config.em_max_pairs,
        seed=config.seed,
        progress=lambda stage, share: _step(run, stage, share, progress),
    )


def _apply(run: DedupeRun, scored: matching.Scored | None, progress) -> None:
    if scored is None:
        return
    run.model = scored.model
    rejected = set(
        DuplicatePair.objects.filter(status=PairStatus.REJECTED).values_list(
            "customer_a_id", "customer_b_id"
        )
    )
    sure, likely = [], []
    for i in sorted(range(len(scored)), key=lambda i: -scored.probability[i]):
        a, b = sorted((scored.left[i], scored.right[i]))
        if (a, b) in rejected:
            run.skipped_rejected += 1
            continue
        run.candidates += 1
        (sure if scored.probability[i] >= run.auto_merge_above else likely).append(
            (a, b, i)
        )
    if run.dry_run:
        run.auto_merged, run.queued = len(sure), len(likely)
        # Not stored: for the caller to look at what a real run would do.
        run.found_pairs = {
            "merge": [(a, b) for a, b, _i in sure],
            "review": [(a, b) for a, b, _i in likely],
        }
        return
    merged_into = _auto_merge(run, scored, sure, progress)
    _queue(run, scored, [p for p in likely if not ({p[0], p[1]} & merged_into)])


def _pair_values(scored: matching.Scored, i: int, run: DedupeRun) -> dict:
    return {
        "run": run,
        "probability": scored.probability[i],
        "match_weight": scored.weight[i],
        "evidence": scored.evidence(i),
    }


# Clusters merged in one transaction by the bulk path.
BULK_CLUSTERS = 500


def _clusters(sure: list) -> tuple[list[list[int]], dict[int, int]]:
    """Connected sure pairs (A~B, B~C) as clusters of customer ids, surest
    first, and for each customer its surest pair (an index into `scored`)."""
    parent: dict[int, int] = {}

    def root(pk: int) -> int:
        while parent.get(pk, pk) != pk:
            parent[pk] = parent.get(parent[pk], parent[pk])
            pk = parent[pk]
        return pk

    best: dict[int, int] = {}
    for a, b, i in sure:
        best.setdefault(a, i)
        best.setdefault(b, i)
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[rb] = ra
    members: dict[int, list[int]] = {}
    for pk in best:  # in the order first seen: surest first
        members.setdefault(root(pk), []).append(pk)
    return list(members.values()), best


def _auto_merge(run, scored, sure, progress) -> set[int]:
    """Merges the sure pairs: each cluster of connected pairs into its best
    record, through the bulk path a batch of clusters at a time. A batch
    that fails (a record changed meanwhile) is merged one pair at a time
    instead, which skips what cannot be merged. Returns the merged ids."""
    clusters, best = _clusters(sure)
    index = {(a, b): i for a, b, i in sure}

    def values_for(survivor: int, duplicate: int) -> dict:
        i = index.get(tuple(sorted((survivor, duplicate))), best[duplicate])
        values = _pair_values(scored, i, run)
        del values["run"]
        return values

    merged: set[int] = set()
    for start in range(0, len(clusters), BULK_CLUSTERS):
        chunk = clusters[start : start + BULK_CLUSTERS]
        try:
            merges = bulk.merge_clusters(clusters=chunk, values_for=values_for, run=run)
        except (DatabaseError, bulk.Changed) as exc:
            logger.warning("dedupe: bulk merge failed, one at a time: %s", exc)
            merges = _merge_one_by_one(chunk, values_for, run)
        merged.update(m.duplicate_id for m in merges)
        run.auto_merged += len(merges)
        _step(run, "merging", (start + len(chunk)) / len(clusters), progress)
    return merged


def _merge_one_by_one(clusters, values_for, run) -> list[Merge]:
    """What `bulk.plan` does, one merge a transaction: each cluster into its
    best live record; a member no longer live (or gone), of another kind,
    or rejected with the survivor or a member merged into it already is
    left out, and a merge that fails is skipped."""
    merges = []
    for members in clusters:
        customers = Customer.objects.select_related("source").in_bulk(members)
        live = [customers[pk] for pk in members if pk in customers]
        live = [c for c in live if c.is_live]
        if len(live) < 2:
            continue
        survivor, *others = sorted(
            live, key=lambda c: survivor_key(merging.facts_for(c, completeness=True))
        )
        absorbed = [survivor.pk]
        for duplicate in others:
            if duplicate.kind != survivor.kind:
                continue
            try:
                with transaction.atomic():
                    merge = _merge_unless_rejected(
                        survivor, duplicate, absorbed, values_for, run
                    )
            except (ClientbookError, DatabaseError) as exc:
                logger.warning(
                    "dedupe: merge of %s into %s skipped: %s",
                    duplicate.pk,
                    survivor.pk,
                    exc,
                )
                continue
            if merge is not None:
                merges.append(merge)
                absorbed.append(duplicate.pk)
    return merges


def _merge_unless_rejected(
    survivor: Customer, duplicate: Customer, absorbed: list[int], values_for, run
) -> Merge | None:
    """Merges the two unless a person rejected `duplicate` with one of
    `absorbed`; the pair is stored with the run's score, a rejected one is
    left as it is."""
    _locked(survivor, duplicate)  # customers first, as every merge does
    pairs = list(
        DuplicatePair.objects.select_for_update()
        .filter(
            Q(customer_a_id=duplicate.pk, customer_b_id__in=absorbed)
            | Q(customer_b_id=duplicate.pk, customer_a_id__in=absorbed)
        )
        .order_by("pk")
    )
    if any(p.status == PairStatus.REJECTED for p in pairs):
        logger.info(
            "dedupe: %s not merged into %s: rejected with one of %s",
            duplicate.pk,
            survivor.pk,
            absorbed,
        )
        return None
    a, b = _ordered(survivor, duplicate)
    pair = next(
        (p for p in pairs if (p.customer_a_id, p.customer_b_id) == (a, b)),
        DuplicatePair(customer_a_id=a, customer_b_id=b),
    )
    pair.run = run
    for name, value in values_for(survivor.pk, duplicate.pk).items():
        setattr(pair, name, value)
    pair.save()
    return customer_merge(survivor=survivor, duplicate=duplicate, pair=pair, run=run)


@transaction.atomic
def _queue(run: DedupeRun, scored: matching.Scored, likely: list) -> None:
    """Writes the grey-zone pairs: new ones created, open or superseded
    ones refreshed with this run's score."""
    existing = {}
    wanted = {(a, b) for a, b, _i in likely}
    rows = DuplicatePair.objects.filter(
        status__in=[PairStatus.PENDING, PairStatus.SUPERSEDED]
    ).values_list("pk", "customer_a_id", "customer_b_id")
    for pk, a, b in rows.iterator(chunk_size=10_000):
        if (a, b) in wanted:
            existing[(a, b)] = pk
    fresh, stale = [], []
    for a, b, i in likely:
        values = _pair_values(scored, i, run)
        if (a, b) in existing:
            stale.append(
                DuplicatePair(pk=existing[(a, b)], status=PairStatus.PENDING, **values)
            )
        else:
            fresh.append(DuplicatePair(customer_a_id=a, customer_b_id=b, **values))
    DuplicatePair.objects.bulk_create(fresh, batch_size=1000, ignore_conflicts=True)
    DuplicatePair.objects.bulk_update(
        stale,
        ["status", "run", "probability", "match_weight", "evidence"],
        batch_size=1000,
    )
    run.queued = len(likely)
