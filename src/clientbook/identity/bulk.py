"""Many merges in a few statements: the automatic merges of a run.

`customer_merge` costs ~47 queries a merge (locks, facts, one UPDATE per
table, pairs, audit): a first run over a big database has tens of thousands
of sure pairs, hours of that. Here a batch of clusters is merged at once:
the rows of every customer in the batch are read once per table, the
merges are worked out in memory one after another exactly as
`customer_merge` would do them in that order, and each table is written in
a few statements. Every merge still gets its own `Merge` record (the rows
it moved, the flags it flipped, the survivor's fields before) and its two
audit entries, so `customer_unmerge` undoes it like any other.
"""

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from clientbook.customers import normalise
from clientbook.customers.models import (
    Customer,
    Identifier,
    IdentifierType,
    Preference,
)
from clientbook.identity import merging
from clientbook.identity.models import DedupeRun, DuplicatePair, Merge, PairStatus
from clientbook.identity.survivorship import (
    RULES,
    Facts,
    survivor_key,
    survivor_values,
)
from clientbook.ingest import fastwrite
from clientbook.privacy.models import AuditEntry, Source

PROFILE = ["name", "gender", "birth_date", "occupation", "employer", "position"]


class Changed(Exception):
    """What the batch read changed before it wrote (a pair rejected): the
    batch is rolled back, for its merges to be made one at a time."""


@dataclass
class _Ident:
    pk: int
    owner: int
    type: str
    value: str
    is_live: bool
    is_verified: bool
    last_seen: dt.datetime


@dataclass
class _Pref:
    pk: int
    owner: int
    category: str
    key: str
    created_at: dt.datetime


@dataclass
class _Table:
    """The rows of one moving table held by the batch's customers."""

    label: str
    fk: str
    rule: str
    owner: dict[int, int] = field(default_factory=dict)  # row → customer
    same: dict[int, tuple] = field(default_factory=dict)  # row → "same" fields
    held: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))


@dataclass
class _Batch:
    """Everything a batch of merges reads, as it stands after each merge."""

    customers: dict[int, Customer]
    trust: dict[int, int]
    tables: list[_Table]
    idents: dict[int, list[_Ident]]
    prefs: dict[int, list[_Pref]]
    tags: dict[int, set[int]]
    addresses: _Table
    # Pairs people said are two persons: a chain of sure pairs (A~B, B~C)
    # does not merge them (A, C) anyway.
    rejected: set[tuple[int, int]]
    moves: dict[str, dict[int, int]] = field(default_factory=lambda: defaultdict(dict))


@dataclass
class Planned:
    survivor: Customer
    duplicate: Customer
    record: dict[str, Any]


def _read(ids: Sequence[int]) -> _Batch:
    # Locked in id order (no deadlocks), only the customer rows: `of` keeps
    # the joined sources unlocked, else every insert citing one waits.
    customers = (
        Customer.objects.select_for_update(of=("self",))
        .select_related("source")
        .order_by("pk")
        .in_bulk(ids)
    )
    tables = []
    addresses = None
    for (label, fk), (rule, same) in merging.RELATIONS.items():
        model = merging._model(label)
        if model is None or rule not in (merging.MOVE, merging.MOVE_NEW):
            continue
        table = _Table(label, fk, rule)
        rows = model._default_manager.filter(**{f"{fk}_id__in": ids}).values_list(
            "pk", f"{fk}_id", *same
        )
        for pk, owner, *values in rows:
            table.owner[pk], table.same[pk] = owner, tuple(values)
            table.held[owner].add(pk)
        tables.append(table)
        if label == "customers.address":
            addresses = table
    idents: dict[int, list[_Ident]] = defaultdict(list)
    for row in Identifier.objects.filter(customer_id__in=ids).values_list(
        "pk", "customer_id", "type", "value", "is_live", "is_verified", "last_seen"
    ):
        idents[row[1]].append(_Ident(*row))
    prefs: dict[int, list[_Pref]] = defaultdict(list)
    for row in (
        Preference.objects.filter(customer_id__in=ids)
        .order_by("category", "key", "pk")
        .values_list("pk", "customer_id", "category", "key", "created_at")
    ):
        prefs[row[1]].append(_Pref(*row))
    tags: dict[int, set[int]] = defaultdict(set)
    through = Customer.tags.through
    for owner, tag in through.objects.filter(customer_id__in=ids).values_list(
        "customer_id", "tag_id"
    ):
        tags[owner].add(tag)
    # The pairs between the batch's customers are locked too: a person
    # cannot reject one while the batch merges its two customers (the
    # rejection waits, then finds the pair decided).
    rejected = {
        (a, b)
        for a, b, status in DuplicatePair.objects.select_for_update()
        .filter(customer_a_id__in=ids, customer_b_id__in=ids)
        .order_by("pk")
        .values_list("customer_a_id", "customer_b_id", "status")
        if status == PairStatus.REJECTED
    }
    return _Batch(
        rejected=rejected,
        customers=customers,
        trust=dict(Source.objects.values_list("pk", "trust")),
        tables=tables,
        idents=idents,
        prefs=prefs,
        tags=tags,
        addresses=addresses,
    )


def _facts(batch: _Batch, pk: int, *, completeness: bool = False) -> Facts:
    """`merging.facts_for`, from the batch as it stands."""
    customer = batch.customers[pk]
    verified = [
        i
        for i in batch.idents[pk]
        if i.type == IdentifierType.NATIONAL_ID and i.is_verified
    ]
    birth, gender = None, ""
    if verified:
        latest = max(verified, key=lambda i: (i.last_seen, i.pk))
        try:
            parsed = normalise.national_id(latest.value)
            birth, gender = parsed.birth_date, parsed.gender
        except normalise.NormaliseError:
            pass
    filled = 0
    if completeness:
        filled = sum(1 for f in PROFILE if getattr(customer, f) not in (None, ""))
        filled += len(batch.idents[pk]) + len(batch.addresses.held[pk])
    return Facts(
        customer=customer,
        trust=batch.trust[customer.source_id],
        verified_birth_date=birth,
        verified_gender=gender,
        completeness=filled,
    )


def _order(batch: _Batch, members: Iterable[int]) -> list[int]:
    """Survivor first: `survivor_order` over the whole cluster."""
    return sorted(
        members, key=lambda pk: survivor_key(_facts(batch, pk, completeness=True))
    )


def _move(batch: _Batch, table: _Table, rows: list[int], target: int) -> None:
    for pk in rows:
        table.held[table.owner[pk]].discard(pk)
        table.owner[pk] = target
        table.held[target].add(pk)
        batch.moves[table.label][pk] = target


def _move_tables(batch: _Batch, survivor: int, duplicate: int) -> dict:
    moved = {}
    for table in batch.tables:
        theirs = sorted(table.held[duplicate])
        if table.rule == merging.MOVE_NEW:
            have = {table.same[pk] for pk in table.held[survivor]}
            theirs = [pk for pk in theirs if table.same[pk] not in have]
        _move(batch, table, theirs, survivor)
        moved[table.label] = theirs
    return moved


def _move_identifiers(batch: _Batch, survivor: int, duplicate: int) -> tuple:
    """As `merging._move_identifiers`: the ones the survivor has too stay,
    no longer live; the others move."""
    have = {(i.type, i.value) for i in batch.idents[survivor]}
    stay, move = [], []
    for ident in batch.idents[duplicate]:
        (stay if (ident.type, ident.value) in have else move).append(ident)
    unlived = sorted(i.pk for i in stay if i.is_live)
    for ident in stay:
        ident.is_live = False
    for ident in move:
        ident.owner = survivor
        batch.moves["customers.identifier"][ident.pk] = survivor
    batch.idents[survivor].extend(move)
    batch.idents[duplicate] = stay
    return unlived, sorted(i.pk for i in move)


def _move_preferences(batch: _Batch, survivor: int, duplicate: int) -> tuple:
    """As `merging._move_preferences`: the newer per category and key is the
    survivor's, the older goes to the duplicate."""
    mine = {(p.category, p.key): p for p in batch.prefs[survivor]}
    forward, back = [], []
    for pref in list(batch.prefs[duplicate]):
        current = mine.get((pref.category, pref.key))
        if current is None:
            forward.append(pref)
        elif (pref.created_at, pref.pk) > (current.created_at, current.pk):
            forward.append(pref)
            back.append(current)
    for pref, target in [(p, survivor) for p in forward] + [
        (p, duplicate) for p in back
    ]:
        batch.prefs[pref.owner].remove(pref)
        pref.owner = target
        batch.prefs[target].append(pref)
        batch.moves["customers.preference"][pref.pk] = target
    return sorted(p.pk for p in forward), sorted(p.pk for p in back)


def _plan_one(batch: _Batch, survivor: int, duplicate: int, now) -> dict:
    """One merge in memory; returns its record as `customer_merge` writes it."""
    s, d = batch.customers[survivor], batch.customers[duplicate]
    changes = survivor_values(_facts(batch, survivor), _facts(batch, duplicate))
    record: dict[str, Any] = {
        "survivor_before": {f: merging.jsonable(getattr(s, f)) for f in changes},
        "survivor_after": {f: merging.jsonable(v) for f, v in changes.items()},
        "survivor_updated_at": merging.stamp(s.updated_at),
        "duplicate_updated_at": merging.stamp(d.updated_at),
    }
    moved = _move_tables(batch, survivor, duplicate)
    unlived, moved["customers.identifier"] = _move_identifiers(
        batch, survivor, duplicate
    )
    forward, back = _move_preferences(batch, survivor, duplicate)
    moved["customers.preference"] = forward
    added = sorted(batch.tags[duplicate] - batch.tags[survivor])
    batch.tags[survivor].update(added)
    record.update(
        moved=moved,
        moved_back={"customers.preference": back},
        identifiers_unlived=unlived,
        tags_added=added,
        updated_at=merging.stamp(now),
    )
    for name, value in changes.items():
        setattr(s, name, value)
    s.updated_at = d.updated_at = now
    d.merged_into_id = survivor
    return record


def _rejected_with(
    rejected: set[tuple[int, int]], pk: int, group: Iterable[int]
) -> bool:
    """Whether a person said `pk` and one of `group` are two people."""
    return any((min(pk, other), max(pk, other)) in rejected for other in group)


def plan(batch: _Batch, clusters: Sequence[Sequence[int]], now) -> list[Planned]:
    """The merges of the clusters, survivor first, in memory. Members that
    are no longer live, of another kind than the survivor or rejected with
    the survivor or any member merged into it already are left out (they
    stay for review or a later run)."""
    planned = []
    for members in clusters:
        live = [pk for pk in members if pk in batch.customers]
        live = [pk for pk in live if batch.customers[pk].is_live]
        if len(live) < 2:
            continue
        survivor, *others = _order(batch, live)
        kind = batch.customers[survivor].kind
        absorbed = [survivor]
        for duplicate in others:
            if batch.customers[duplicate].kind != kind or _rejected_with(
                batch.rejected, duplicate, absorbed
            ):
                continue
            absorbed.append(duplicate)
            record = _plan_one(batch, survivor, duplicate, now)
            planned.append(
                Planned(batch.customers[survivor], batch.customers[duplicate], record)
            )
    return planned


def _update_rows(model, names: Sequence[str], rows: dict[int, Sequence]) -> None:
    """Each row's own values (`fastwrite.update_rows`), in key order."""
    fastwrite.update_rows(
        model, list(names), [(*values, pk) for pk, values in sorted(rows.items())]
    )


def _write_rows(batch: _Batch) -> None:
    # The identifiers that stay stop being live before any moves.
    unlived = [i.pk for ids in batch.idents.values() for i in ids if not i.is_live]
    for start in range(0, len(unlived), 900):
        Identifier.objects.filter(
            pk__in=unlived[start : start + 900], is_live=True
        ).update(is_live=False)
    for label, moves in batch.moves.items():
        if moves:
            fk = merging._fk(label).removesuffix("_id")
            targets = {pk: (target,) for pk, target in moves.items()}
            _update_rows(merging._model(label), [fk], targets)


def _write_customers(planned: list[Planned], batch: _Batch) -> None:
    survivors = {p.survivor.pk: p.survivor for p in planned}
    duplicates = [p.duplicate for p in planned]
    fields = [*RULES, "name_pinyin", "name_initials", "updated_at"]
    _update_rows(
        Customer,
        fields,
        {pk: [getattr(c, f) for f in fields] for pk, c in survivors.items()},
    )
    _update_rows(
        Customer,
        ["merged_into", "updated_at"],
        {c.pk: (c.merged_into_id, c.updated_at) for c in duplicates},
    )
    through = Customer.tags.through
    have = set(
        through.objects.filter(customer_id__in=list(survivors)).values_list(
            "customer_id", "tag_id"
        )
    )
    through.objects.bulk_create(
        [
            through(customer_id=pk, tag_id=tag)
            for pk in survivors
            for tag in batch.tags[pk]
            if (pk, tag) not in have
        ],
        batch_size=500,
    )


def _write_pairs(
    planned: list[Planned], values_for: Callable[[int, int], dict], run, now
) -> None:
    """Each merge's pair marked merged (made if new), and the open pairs of
    each duplicate superseded by the first merge that took it."""
    keys = [_ordered(p) for p in planned]
    existing = {
        (pair.customer_a_id, pair.customer_b_id): pair
        for pair in DuplicatePair.objects.filter(
            customer_a_id__in={a for a, _b in keys},
            customer_b_id__in={b for _a, b in keys},
        )
    }
    fresh, stale = [], []
    for (a, b), p in zip(keys, planned, strict=True):
        pair = existing.get((a, b)) or DuplicatePair(customer_a_id=a, customer_b_id=b)
        if pair.status == PairStatus.REJECTED:
            # Locked by `_read`, so only a pair made rejected since.
            raise Changed(f"pair {a}, {b} was rejected while the batch ran")
        for name, value in values_for(p.survivor.pk, p.duplicate.pk).items():
            setattr(pair, name, value)
        pair.run, pair.status, pair.decided_at = run, PairStatus.MERGED, now
        pair.decided_by = None
        (stale if pair.pk else fresh).append(pair)
        existing[(a, b)] = pair
    DuplicatePair.objects.bulk_create(fresh, batch_size=500)
    DuplicatePair.objects.bulk_update(
        stale,
        [
            "run",
            "probability",
            "match_weight",
            "evidence",
            "status",
            "decided_at",
            "decided_by",
        ],
        batch_size=200,
    )
    dups = [p.duplicate.pk for p in planned]
    open_pairs = DuplicatePair.objects.filter(status=PairStatus.PENDING).filter(
        Q(customer_a_id__in=dups) | Q(customer_b_id__in=dups)
    )
    taken: dict[int, list[int]] = defaultdict(list)
    first_merge = {}
    for index, dup in enumerate(dups):
        first_merge.setdefault(dup, index)
    superseded = []
    for pk, a, b in open_pairs.values_list("pk", "customer_a_id", "customer_b_id"):
        index = min(first_merge.get(a, len(dups)), first_merge.get(b, len(dups)))
        taken[index].append(pk)
        superseded.append(pk)
    for start in range(0, len(superseded), 900):
        # Still open: a pair with someone outside the batch (not locked) may
        # have been rejected meanwhile, which stays.
        DuplicatePair.objects.filter(
            pk__in=superseded[start : start + 900], status=PairStatus.PENDING
        ).update(status=PairStatus.SUPERSEDED)
    for index, (key, p) in enumerate(zip(keys, planned, strict=True)):
        p.record["pair"] = existing[key].pk
        p.record["pairs_superseded"] = sorted(taken.get(index, []))


def _ordered(p: Planned) -> tuple[int, int]:
    a, b = p.survivor.pk, p.duplicate.pk
    return (a, b) if a < b else (b, a)


def _write_merges(planned: list[Planned], run) -> list[Merge]:
    merges = Merge.objects.bulk_create(
        [
            Merge(
                survivor=p.survivor,
                duplicate=p.duplicate,
                run=run,
                is_automatic=True,
                record=p.record,
            )
            for p in planned
        ],
        batch_size=500,
    )
    _update_rows(
        DuplicatePair,
        ["merge"],
        {p.record["pair"]: (m.pk,) for p, m in zip(planned, merges, strict=True)},
    )
    return merges


def _audit(merges: list[Merge]) -> None:
    """The entries `customer_merge` writes, two a merge, in bulk."""
    entries = []
    for merge in merges:
        record = merge.record
        entries.append(
            AuditEntry(
                action="customer.merge",
                entity="customers.customer",
                entity_id=str(merge.survivor_id),
                customer_id=merge.survivor_id,
                before=record["survivor_before"],
                after=merging.survivor_audit_after(merge, record),
            )
        )
        entries.append(
            AuditEntry(
                action="customer.merged_into",
                entity="customers.customer",
                entity_id=str(merge.duplicate_id),
                customer_id=merge.duplicate_id,
                before={"merged_into": None},
                after={"merged_into": merge.survivor_id, "merge": str(merge.uuid)},
            )
        )
    AuditEntry.objects.bulk_create(entries, batch_size=1000)


@transaction.atomic
def merge_clusters(
    *,
    clusters: Sequence[Sequence[int]],
    values_for: Callable[[int, int], dict],
    run: DedupeRun | None = None,
) -> list[Merge]:
    """Merges each cluster of customer ids into its best record (the more
    trusted source, then the more complete, then the first created), in
    one transaction. `values_for(survivor, duplicate)` gives the
    probability, match weight and evidence stored on the merge's pair."""
    ids = sorted({pk for members in clusters for pk in members})
    batch = _read(ids)
    now = timezone.now()
    planned = plan(batch, clusters, now)
    if not planned:
        return []
    _write_rows(batch)
    _write_customers(planned, batch)
    _write_pairs(planned, values_for, run, now)
    merges = _write_merges(planned, run)
    _audit(merges)
    return merges
