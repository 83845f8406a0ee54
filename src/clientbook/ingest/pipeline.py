"""The customer import: rows in chunks, each chunk matched, written in bulk
and committed together with the job's progress.

Writing in bulk is what makes an import fast (one INSERT per table per chunk
rather than per row), so this module writes the same rows the customer
services write, keeping their invariants: normalised values, name keys, one
live holder per hard identifier, an audit entry per changed customer.

Rows are plain tuples and customers plain dicts, and every lookup is one
query per chunk: model instances and per-customer queries were most of an
import's time (profile of 20,000 rows: Model.__init__ 21%, fastwrite's
attribute reads 12%, bulk_update 9%, parsing 26%).
"""

import datetime as dt
import operator
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Lookup, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from clientbook.customers import normalise
from clientbook.customers.models import (
    VALUE_COLUMN,
    Address,
    Customer,
    CustomFieldValue,
    Identifier,
    IdentifierType,
    KeyDate,
    Preference,
    Tag,
)
from clientbook.ingest import fastwrite, staging
from clientbook.ingest.absent import Absent
from clientbook.ingest.hashes import KeySet
from clientbook.ingest.models import ImportJob, SourceRecord
from clientbook.ingest.rows import (
    ADDRESS_COLUMNS,
    HASH_LENGTH,
    NEW_CUSTOMER,
    PROFILE_ORDER,
    CustomerRecord,
    RowError,
    RowParser,
    profile_defaults,
)
from clientbook.privacy.models import IMPORT_CREATED, AuditEntry, Consent

# The tables a chunk looks its keys up in, and the columns it looks up by
# (services keeps their statistics fresh).
PROBED = {
    Customer: ["id"],
    Identifier: ["value", "type", "is_live", "customer_id"],
    SourceRecord: ["source_id", "key", "customer_id"],
    Address: ["customer_id"],
    Preference: ["customer_id"],
    KeyDate: ["customer_id"],
    Consent: ["customer_id"],
    CustomFieldValue: ["customer_id"],
    Customer.tags.through: ["customer_id"],
}


@dataclass
class ChunkResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    merged: int = 0
    rejected: list[tuple[CustomerRecord, RowError]] = field(default_factory=list)


@dataclass
class Context:
    job: ImportJob
    actor: Any
    scoped_branch_id: int | None  # branch staff import into their branch only
    custom_fields: dict[tuple[str, str], Any] = field(default_factory=dict)
    columns: dict[str, str] = field(default_factory=dict)  # target → column
    now: dt.datetime = field(default_factory=timezone.now)
    tag_ids: dict[str, int] = field(default_factory=dict)
    # Keys of one row this job found unchanged and so wrote nothing for
    # (`Seen.passed`): a re-import of 10 million unchanged rows would hold
    # 690 MB of them in a set of their hashes, 80 in a `KeySet`.
    passed: KeySet = field(default_factory=KeySet)
    parser: RowParser | None = None  # the file's (see `_whole_records`)
    # What the database may hold: other keys are not looked up (`absent`).
    absent: Absent | None = None


def apply_customer_chunk(ctx: Context, records: list[CustomerRecord]) -> ChunkResult:
    """Writes one chunk. Runs inside the caller's transaction; if a concurrent
    writer took an identifier meanwhile, the chunk is redone row by row so
    that only the rows that collide are rejected."""
    try:
        with transaction.atomic():
            return _apply(ctx, records)
    except IntegrityError:
        ctx.tag_ids.clear()  # tags made by the attempt went with it
        return redo(ctx, records)


def redo(ctx: Context, records: list[CustomerRecord]) -> ChunkResult:
    """A chunk the database refused (a key someone else took meanwhile),
    row by row: only the rows that collide are rejected."""
    result = ChunkResult()
    for record in records:
        try:
            with transaction.atomic():
                _add(result, _apply(ctx, [record]))
        except IntegrityError:
            ctx.tag_ids.clear()
            result.rejected.append(
                (
                    record,
                    RowError(
                        "",
                        "",
                        _("changed by someone else meanwhile; import it again"),
                        "concurrent_change",
                    ),
                )
            )
    return result


def _add(total: ChunkResult, part: ChunkResult) -> None:
    total.created += part.created
    total.updated += part.updated
    total.unchanged += part.unchanged
    total.merged += part.merged
    total.rejected += part.rejected


@dataclass(eq=False)
class Plan:
    """What to do with one customer: a new one or an existing one, and the
    rows that describe it. `customer` holds the stored values (for a new
    one, the values it will be stored with)."""

    customer: dict | None
    records: list[CustomerRecord] = field(default_factory=list)
    is_new: bool = False

    @property
    def pk(self) -> int:
        return self.customer["id"]


@dataclass(eq=False, slots=True)
class Seen:
    """A source record: how the source knows a customer, the hashes of the
    rows of its key the customer took, in file order, and how many of them
    this job has read so far.

    A file may hold several rows of one customer that disagree (one mobile,
    two addresses): read again, each row is compared with the row at its
    place, so an unchanged file changes nothing, however its rows fall into
    chunks. Compared with the last row only, every earlier row was applied
    again, over edits made since. A file that drops the later rows of a key
    leaves what they said, as absent rows delete nothing: its first rows
    are found unchanged, and the hashes keep the rows the customer took."""

    id: int | None
    customer_id: int
    hashes: list[str]
    read: int = 0
    changed: bool = False  # to be written back

    def repeats(self, record: CustomerRecord) -> bool:
        """Whether the row says what the row before it at its key's place
        said: rows repeated one after the other count once, so the first
        import's duplicates cost no write."""
        return 0 < self.read <= len(self.hashes) and self._is(self.read - 1, record)

    def expects(self, record: CustomerRecord) -> bool:
        """Whether the row is the one the customer took at this place of its
        key's rows."""
        return self.read < len(self.hashes) and self._is(self.read, record)

    def _is(self, place: int, record: CustomerRecord) -> bool:
        digest = self.hashes[place]
        if len(digest) == HASH_LENGTH:
            return digest == record.content_hash()
        return digest in record.older_hashes()  # stored by an earlier version

    def is_older(self) -> bool:
        """Whether an earlier version stored some of the hashes (of a whole
        record's parts: `CustomerRecord.older_hashes`)."""
        return any(len(digest) != HASH_LENGTH for digest in self.hashes)

    def passed(self) -> None:
        """The expected row read. Where the key has one row, nothing needs
        writing: that keeps a re-import of an unchanged file write-free."""
        self.read += 1
        self.changed |= len(self.hashes) > 1

    def took(self, record: CustomerRecord) -> None:
        """A row applied: the rows stored from here on no longer describe
        the customer."""
        if 0 < self.read <= len(self.hashes) and self._is(self.read - 1, record):
            return  # a repeat
        del self.hashes[self.read :]
        if self.read < KEPT_HASHES:
            self.hashes.append(record.content_hash())
        self.read += 1
        self.changed = True


# Rows of one key a source record remembers; later ones are always applied.
KEPT_HASHES = 1000

# What planning and merging read of an existing customer.
_CUSTOMER_READ = [
    "id",
    "uuid",
    *PROFILE_ORDER,
    "name_pinyin",
    "name_initials",
    "branch_id",
    "archived_at",
    "merged_into_id",
]


@dataclass(eq=False)
class Prepared:
    """A chunk looked up and planned (`prepare`, `finish`), to be written
    (`write`)."""

    result: ChunkResult
    plans: list[Plan] = field(default_factory=list)
    known: dict[str, Seen] = field(default_factory=dict)
    good: list[CustomerRecord] = field(default_factory=list)  # rows not rejected
    held: list[CustomerRecord] = field(default_factory=list)  # for `finish`
    whole: list[int] = field(default_factory=lambda: [0, 0])  # `_whole_records`
    # What a chunk planned while this one is written must not have read:
    # its rows' keys, the existing customers it changes (`finish`).
    keys: set = field(default_factory=set)
    customers: set[int] = field(default_factory=set)


def _apply(ctx: Context, records: list[CustomerRecord]) -> ChunkResult:
    ready = prepare(ctx, records)
    finish(ctx, ready)
    return write(ctx, ready)


def prepare(
    ctx: Context, records: list[CustomerRecord], *, meanwhile: Prepared | None = None
) -> Prepared:
    """Looks a chunk's keys up and plans its rows. `meanwhile` is the chunk
    before, if another connection is writing it now: this one's lookups
    cannot see what it writes, so the rows it may change the answer for
    are held back for `finish`, to be looked up once it has committed."""
    ready = Prepared(ChunkResult())
    for record in records:
        if record.errors:
            ready.result.rejected += [(record, e) for e in record.errors]
        else:
            ready.good.append(record)
    rows, found = ready.good, _look_up(ctx, ready.good)
    ready.keys = found.asked
    if meanwhile is not None:
        rows, ready.held, found = _independent(rows, found, meanwhile)
    _plan_rows(ctx, ready, rows, found)
    return ready


def finish(ctx: Context, ready: Prepared) -> None:
    """Plans the rows `prepare` held back; after it, the chunk is ready to
    be written."""
    if ready.held:
        held, ready.held = ready.held, []
        _plan_rows(ctx, ready, held, _look_up(ctx, held))
    if ctx.parser is not None:
        ctx.parser.needed(*ready.whole)
    ready.customers = {p.pk for p in ready.plans if not p.is_new}


def write(ctx: Context, ready: Prepared) -> ChunkResult:
    """Writes a chunk `finish` made ready. Runs inside the caller's
    transaction; an IntegrityError (a key someone else took meanwhile) is
    the caller's to `redo`."""
    _write(ctx, ready.plans, ready.known, ready.result)
    return ready.result


@dataclass(frozen=True)
class _Found:
    holders: dict[tuple[str, str], int]  # live hard identifier → customer
    known: dict[str, Seen]  # source key → its record
    customers: dict[int, dict]  # both's customers
    asked: set  # the hard identifiers and source keys of the rows


def _look_up(ctx: Context, rows: list[CustomerRecord]) -> _Found:
    hard = {i for r in rows for i in r.hard_identifiers}
    keys = {r.source_key() for r in rows}
    holders = _live_holders(_maybe(ctx, hard))
    known = _source_records_of(ctx, _maybe(ctx, keys))
    customers = _customers(
        {*holders.values(), *(s.customer_id for s in known.values())}
    )
    return _Found(holders, known, customers, hard | keys)


def _independent(rows, found: _Found, meanwhile: Prepared):
    """The rows whose lookups the chunk `meanwhile` writes cannot change,
    the others, and the lookups of the first. Held back: the rows holding
    a key that chunk holds or found a customer it changes, and every row
    sharing a key or a customer with one held back (rows of one customer
    make one plan). In the bench's 1M-row first import: 3,724 rows in all,
    a median of 20 of a chunk's 10,000, 637 at most."""
    # Rows tied by a key or a customer, as sets that union-find merges: a
    # pass over the rows until no more are held back was quadratic for a
    # chain of rows each tied to the one after it.
    parent = list(range(len(rows)))
    holder: dict = {}  # key or customer → the first row with it
    for i, row_nodes in enumerate(nodes := [_nodes(r, found) for r in rows]):
        for node in row_nodes:
            first = holder.setdefault(node, i)
            if first != i:
                parent[_root(parent, i)] = _root(parent, first)
    touched = meanwhile.keys | meanwhile.customers
    held = {_root(parent, i) for i, n in enumerate(nodes) if not touched.isdisjoint(n)}
    is_held = [bool(held) and _root(parent, i) in held for i in range(len(rows))]
    free = [r for r, h in zip(rows, is_held, strict=True) if not h]
    keys = {r.source_key() for r in free}
    known = {k: s for k, s in found.known.items() if k in keys}
    back = [r for r, h in zip(rows, is_held, strict=True) if h]
    return free, back, _Found(found.holders, known, found.customers, found.asked)


def _root(parent: list[int], i: int) -> int:
    while parent[i] != i:
        parent[i] = i = parent[parent[i]]  # halves the path
    return i


def _nodes(record: CustomerRecord, found: _Found) -> tuple:
    key, hard = record.source_key(), record.hard_identifiers
    seen = found.known.get(key)
    customers = [found.holders[i] for i in hard if i in found.holders]
    return (key, *hard, *customers, *((seen.customer_id,) if seen else ()))


def _plan_rows(ctx: Context, ready: Prepared, rows: list, found: _Found) -> None:
    known = found.known
    rows = _whole_if_older(ctx, rows, known)
    plans = _plan(ctx, rows, found.holders, known, found.customers, ready.result)
    needed, could = _whole_records(ctx, plans, known)
    ready.whole[0] += needed
    ready.whole[1] += could
    ready.plans += plans
    ready.known.update(known)


def _maybe(ctx: Context, keys: set) -> set | list:
    """The keys worth looking up: those the database may hold."""
    return keys if ctx.absent is None else ctx.absent.sift(keys)


def _whole_records(ctx: Context, plans: list[Plan], known: dict) -> tuple[int, int]:
    """Whole records for the customers staging does not write: rows that
    came as `rows.Staged` are parsed again (a few in a first import).
    Returns how many were, of how many could have stayed `Staged`."""
    could = needed = 0
    for plan in plans:
        stageable = [r for r in plan.records if r.staged is not None]
        could += len(stageable)
        if stageable and not (plan.is_new and _stageable(plan, known)):
            needed += len(stageable)
            plan.records = [ctx.parser.whole(r) for r in plan.records]
    return needed, could


def _whole_if_older(ctx: Context, records: list, known: dict[str, Seen]) -> list:
    """The records, parsed again whole (`RowParser.whole`) where their key's
    stored hashes are older than `content_digest`: only a whole record can
    make those again (`CustomerRecord.older_hashes`)."""
    older = {key for key, seen in known.items() if seen.is_older()}
    if not older or ctx.parser is None:
        return records
    return [ctx.parser.whole(r) if r.source_key() in older else r for r in records]


def _source_records_of(ctx: Context, keys: set[str]) -> dict[str, Seen]:
    """The source's records of these keys, with the rows of each this job
    has read so far: as written with the record in an earlier chunk (or
    before the job was stopped and resumed), or the one row of a key it
    found unchanged."""
    job = ctx.job
    found = SourceRecord.objects.filter(_in("key", keys), source_id=job.source_id)
    columns = ["key", "id", "customer_id", "content_hashes", "job_id", "rows_read"]
    rows = list(found.values_list(*columns))
    # A key this job found unchanged has one row read; else it wrote how many.
    passed = ctx.passed.among(r[0] for r in rows if r[4] != job.pk) if rows else ()
    return {
        key: Seen(
            pk,
            customer,
            hashes.split(","),
            read if last == job.pk else int(key in passed),
        )
        for key, pk, customer, hashes, last, read in rows
    }


class _AnyOf(Lookup):
    """`column = ANY(array)`: PostgreSQL gets a chunk's thousands of keys as
    one array parameter; as an IN list, preparing the query took longer
    than running it (profiled: a third of the writing process's time)."""

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        literal, type_ = fastwrite.array_literal(self.rhs)
        return f"{lhs} = ANY(%s::{type_}[])", [*params, literal]


def _in(field: str, values) -> Q | _AnyOf:
    """`field__in=values`, as one array on PostgreSQL."""
    values = list(values)
    if connection.vendor != "postgresql" or not values:
        return Q(**{f"{field}__in": values})
    return _AnyOf(F(field), values)


def _customers(ids: set[int]) -> dict[int, dict]:
    rows = Customer.objects.filter(_in("id", ids)).values(*_CUSTOMER_READ)
    return {c["id"]: c for c in rows}


def _is_live(customer: dict) -> bool:
    return customer["archived_at"] is None and customer["merged_into_id"] is None


def _live_holders(identifiers: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    by_type: dict[str, list[str]] = defaultdict(list)
    for type_, value in identifiers:
        by_type[type_].append(value)
    holders = {}
    for type_, values in by_type.items():
        rows = Identifier.objects.filter(_in("value", values), type=type_, is_live=True)
        holders.update(
            {(type_, v): c for v, c in rows.values_list("value", "customer_id")}
        )
    return holders


def _plan(ctx, good, holders, known, customers, result) -> list[Plan]:
    plans: list[Plan] = []
    by_customer: dict[int, Plan] = {}
    pending: dict[Any, Plan] = {}  # identifier or source key → new customer's plan
    claimed: dict[str, int] = {}  # a key new to the source → the customer it went to
    for record in good:
        key, hard = record.source_key(), record.hard_identifiers
        matched = {holders[i] for i in hard if i in holders}
        record_of_source = known.get(key)
        holder = (
            customers.get(record_of_source.customer_id) if record_of_source else None
        )
        if holder is not None and _is_live(holder):
            matched.add(holder["id"])
        elif key in claimed:  # as a source record written by an earlier chunk
            matched.add(claimed[key])
        waiting = {id(pending[k]): pending[k] for k in (*hard, key) if k in pending}
        if len(matched) + len(waiting) > 1:
            result.rejected.append((record, _conflict(record, holders, customers)))
            _skipped(ctx, key, record_of_source, record)
            continue
        if matched:
            customer = customers[matched.pop()]
            if ctx.scoped_branch_id and customer["branch_id"] != ctx.scoped_branch_id:
                result.rejected.append(
                    (
                        record,
                        RowError(
                            "",
                            "",
                            _("this customer belongs to another branch"),
                            "other_branch",
                        ),
                    )
                )
                _skipped(ctx, key, record_of_source, record)
                continue
            if (
                record_of_source
                and record_of_source.customer_id == customer["id"]
                and _unchanged(ctx, key, record_of_source, record)
            ):
                result.unchanged += 1
                continue
            if record_of_source is None:
                claimed.setdefault(key, customer["id"])
            plan = by_customer.get(customer["id"])
            if plan is None:
                plan = by_customer[customer["id"]] = Plan(customer)
                plans.append(plan)
        elif waiting:
            plan = next(iter(waiting.values()))
            result.merged += 1
        else:
            plan = Plan(None, is_new=True)
            plans.append(plan)
        plan.records.append(record)
        if record_of_source:  # what a later row of the key compares with
            record_of_source.took(record)
        if plan.is_new:
            for k in (*hard, key):
                pending.setdefault(k, plan)
    return plans


def _unchanged(ctx: Context, key: str, seen: Seen, record: CustomerRecord) -> bool:
    if seen.repeats(record):
        return True
    if not seen.expects(record):
        return False
    _passed(ctx, key, seen)
    return True


def _skipped(ctx: Context, key: str, seen: Seen | None, record) -> None:
    """A row refused (its identifiers now belong to another customer): if it
    is the one at this place, the rows after it keep theirs."""
    if seen is not None and seen.expects(record):
        _passed(ctx, key, seen)


def _passed(ctx: Context, key: str, seen: Seen) -> None:
    seen.passed()
    if not seen.changed:  # nothing written to say so
        ctx.passed.add(key)


def _conflict(record, holders, customers) -> RowError:
    parts = []
    for type_, value in record.hard_identifiers:
        holder = customers.get(holders.get((type_, value)))
        if holder is not None:
            parts.append(
                _("%(type)s %(value)s belongs to %(name)s (%(uuid)s)")
                % {
                    "type": IdentifierType(type_).label,
                    "value": value,
                    "name": holder["name"],
                    "uuid": holder["uuid"],
                }
            )
    reason = _(
        "the identifiers of this row belong to different customers: %(list)s"
    ) % {"list": "; ".join(parts) or _("rows earlier in this file")}
    return RowError("", "", reason, "identifier_conflict")


# Writing -----------------------------------------------------------------------


def _write(ctx: Context, plans: list[Plan], known: dict, result: ChunkResult) -> None:
    new = [p for p in plans if p.is_new]
    staged = _insert_customers(ctx, new, known)
    result.created += len(new)
    if staged:  # written whole: the rest is for the others
        plans = [p for p in plans if p not in staged]
        new = [p for p in new if p not in staged]
    changes = {}
    for plan in plans:
        if plan.is_new:
            continue
        before = {f: _jsonable(plan.customer[f]) for f in PROFILE_ORDER}
        changed: dict[str, Any] = {}
        for record in plan.records:
            _merge_profile(plan.customer, record, changes=changed)
        # Rows of one chunk may change a field and change it back.
        changed = {f: v for f, v in changed.items() if v != before.get(f)}
        changes[plan.pk] = ({f: before.get(f) for f in changed}, changed)
    _save_updates(plans, changes)
    touched = _children(ctx, plans, new={p.pk for p in new})
    updated = {pk for pk, (_b, after) in changes.items() if after}
    updated |= touched - {p.pk for p in new}
    result.updated += len(updated)
    result.unchanged += sum(1 for p in plans if not p.is_new and p.pk not in updated)
    _source_records(ctx, plans, known)
    _audit(ctx, changes, updated)


_new_customer_values = operator.itemgetter(*NEW_CUSTOMER)


def _insert_customers(ctx: Context, new: list[Plan], known: dict) -> set[Plan]:
    """Later rows of the same new customer fill in what the first lacked.
    Returns the customers `staging` wrote with all their rows."""
    if not new:
        return set()
    staged = {p for p in new if _stageable(p, known)} if staging.is_used() else set()
    # Staged customers are numbered by PostgreSQL as they are staged: nothing
    # after reads their ids.
    rest = [p for p in new if p not in staged]
    for plan, pk in zip(rest, fastwrite.next_ids(Customer, len(rest)), strict=True):
        plan.customer = _new_customer(ctx, plan, pk)
    staging.write(
        ctx,
        [
            staging.with_branch(_branch(ctx, p.records[0]), p.records[0].staged)
            for p in new
            if p in staged
        ],
    )
    source, job = ctx.job.source_id, ctx.job.pk
    fastwrite.insert_rows(
        Customer,
        ["id", *NEW_CUSTOMER, "source_id", "import_job_id"],
        [
            (p.pk, *_new_customer_values(p.customer), source, job)
            for p in new
            if p not in staged
        ],
        ids=False,
    )
    _import_created(ctx)
    return staged


def _new_customer(ctx: Context, plan: Plan, pk: int) -> dict:
    first = plan.records[0]
    values = {**profile_defaults(), **first.profile, "id": pk}
    values["branch_id"] = _branch(ctx, first)
    for record in plan.records[1:]:
        _merge_profile(values, record, changes={}, keys=False)
    values["name_pinyin"], values["name_initials"] = _name_keys(plan, values)
    return values


def _branch(ctx: Context, record: CustomerRecord) -> int | None:
    return ctx.scoped_branch_id or record.branch_id


def _stageable(plan: Plan, known: dict) -> bool:
    """A new customer from one row that `staging` could take (a profile,
    identifiers and an address only), named by the source for the first time."""
    if len(plan.records) != 1:
        return False
    record = plan.records[0]
    return record.staged is not None and record.source_key() not in known


def _name_keys(plan: Plan, values: dict) -> tuple[str, str]:
    for record in plan.records:  # worked out by the parser, mostly
        if record.name_keys and record.profile.get("name") == values["name"]:
            return record.name_keys
    return normalise.name_keys(values["name"])


def _merge_profile(
    customer: dict, record: CustomerRecord, *, changes: dict, keys: bool = True
) -> None:
    """Fills blanks and takes newer non-empty values; never blanks a field."""
    for name, value in record.profile.items():
        if value in ("", None) or customer[name] == value:
            continue
        customer[name] = value
        changes[name] = _jsonable(value)
    if record.branch_id and not customer["branch_id"]:
        customer["branch_id"] = record.branch_id
        changes["branch"] = record.branch_id
    if keys and "name" in changes:
        customer["name_pinyin"], customer["name_initials"] = normalise.name_keys(
            customer["name"]
        )


def _save_updates(plans, changes) -> None:
    fields = {f for _pk, (_b, after) in changes.items() for f in after}
    if not fields:
        return
    fields = {"branch_id" if f == "branch" else f for f in fields}
    if "name" in fields:
        fields |= {"name_pinyin", "name_initials"}
    columns, now = sorted(fields), timezone.now()
    fastwrite.update_rows(
        Customer,
        [*columns, "updated_at"],
        [
            (*(p.customer[c] for c in columns), now, p.pk)
            for p in plans
            if not p.is_new and changes[p.pk][1]
        ],
    )


def _jsonable(value):
    return value.isoformat() if isinstance(value, dt.date) else value


# Children: identifiers, addresses, preferences, key dates, consents, custom
# values and tags ----------------------------------------------------------------

_IDENTIFIER = ["customer_id", "type", "value", "source_id", "is_live"]
_CONSENT = [
    "customer_id",
    "channel",
    "purpose",
    "status",
    "source_id",
    "occurred_at",
    "evidence",
    "recorded_by_id",
]
_VALUE_COLUMNS = sorted({f"value_{c}" for c in VALUE_COLUMN.values()})


def _children(ctx: Context, plans: list[Plan], *, new: set[int]) -> set[int]:
    """Writes the children of every plan; returns the existing customers that
    gained any."""
    have = _existing_children([p.pk for p in plans if p.pk not in new])
    have["new"] = new
    touched: set[int] = set()
    rows: dict[str, Any] = defaultdict(list)
    rows["custom"] = {}
    for plan in plans:
        for record in plan.records:
            if _record_children(ctx, plan, record, have, rows):
                touched.add(plan.pk)
    _write_children(ctx, rows)
    return touched


def _write_children(ctx: Context, rows: dict) -> None:
    source, now = ctx.job.source_id, ctx.now
    fastwrite.insert_rows(
        Identifier,
        [*_IDENTIFIER, "first_seen", "last_seen"],
        [(pk, t, v, source, True, now, now) for pk, t, v in rows["identifiers"]],
        ids=False,
    )
    fastwrite.insert_rows(
        Address,
        ["customer_id", "source_id", *ADDRESS_COLUMNS],
        rows["addresses"],
        ids=False,
    )
    fastwrite.insert_rows(
        Preference,
        ["customer_id", "category", "key", "value", "source_id"],
        [(pk, "", key, p["value"], source) for pk, key, p in rows["preferences"]],
        ids=False,
    )
    fastwrite.update_rows(
        Preference,
        ["value", "source_id"],
        [(p["value"], source, p["id"]) for p in rows["preference_updates"]],
    )
    fastwrite.insert_rows(
        KeyDate,
        ["customer_id", "kind", "date", "source_id"],
        rows["key_dates"],
        ids=False,
    )
    fastwrite.insert_rows(Consent, _CONSENT, rows["consents"], ids=False)
    values = rows["custom"].values()
    fastwrite.insert_rows(
        CustomFieldValue,
        ["customer_id", "field_id", *_VALUE_COLUMNS],
        [
            (v["customer_id"], v["field_id"], *map(v.get, _VALUE_COLUMNS))
            for v in values
            if v["id"] is None
        ],
        ids=False,
    )
    fastwrite.update_rows(
        CustomFieldValue,
        _VALUE_COLUMNS,
        [(*map(v.get, _VALUE_COLUMNS), v["id"]) for v in values if v["id"] is not None],
    )
    Customer.tags.through.objects.bulk_create(
        [
            Customer.tags.through(customer_id=pk, tag_id=tag_id)
            for pk, tag_id in rows["tags"]
        ],
        ignore_conflicts=True,
    )


def _existing_children(ids: list[int]) -> dict[str, Any]:
    if not ids:  # new customers only (a first import): nothing to read
        empty = ("identifiers", "addresses", "key_dates", "tags")
        return {
            **{k: set() for k in empty},
            "preferences": {},
            "custom": {},
            "consents": {},
        }
    preferences = Preference.objects.filter(_in("customer_id", ids))
    custom = CustomFieldValue.objects.filter(_in("customer_id", ids))
    return {
        "identifiers": set(
            Identifier.objects.filter(_in("customer_id", ids)).values_list(
                "customer_id", "type", "value"
            )
        ),
        "addresses": set(
            Address.objects.filter(_in("customer_id", ids)).values_list(
                "customer_id", "province", "city", "district", "street"
            )
        ),
        "preferences": {
            (p["customer_id"], p["category"], p["key"]): p
            for p in preferences.values("id", "customer_id", "category", "key", "value")
        },
        "key_dates": set(
            KeyDate.objects.filter(_in("customer_id", ids)).values_list(
                "customer_id", "kind", "date"
            )
        ),
        "custom": {
            (v["customer_id"], v["field_id"]): v
            for v in custom.values("id", "customer_id", "field_id", *_VALUE_COLUMNS)
        },
        "tags": set(
            Customer.tags.through.objects.filter(_in("customer_id", ids)).values_list(
                "customer_id", "tag__name"
            )
        ),
        "consents": _consent_states(ids),
    }


def _consent_states(ids: list[int]) -> dict[int, dict[tuple[str, str], str]]:
    """The current consent per customer, channel and purpose: the latest
    entry by when it happened, then by when it was recorded (as
    `privacy.selectors.consent_current`, for a chunk of customers at once)."""
    states: dict[int, dict] = defaultdict(dict)
    entries = Consent.objects.filter(_in("customer_id", ids)).order_by(
        "customer_id", "occurred_at", "id"
    )
    for pk, channel, purpose, status in entries.values_list(
        "customer_id", "channel", "purpose", "status"
    ):
        states[pk][(channel, purpose)] = status
    return states


def _record_children(ctx, plan, record, have, rows) -> bool:
    pk, added = plan.pk, False
    for type_, value in record.identifiers:
        if (pk, type_, value) not in have["identifiers"]:
            have["identifiers"].add((pk, type_, value))
            rows["identifiers"].append((pk, type_, value))
            added = True
    added |= _address(ctx, pk, record, have, rows)
    added |= _preferences(pk, record, have, rows)
    for kind, date in record.key_dates:
        if (pk, kind, date) not in have["key_dates"]:
            have["key_dates"].add((pk, kind, date))
            rows["key_dates"].append((pk, kind, date, ctx.job.source_id))
            added = True
    added |= _consents(ctx, pk, record, have, rows)
    added |= _custom(ctx, plan, record, have, rows)
    for tag in record.tags:
        if (pk, tag) not in have["tags"]:
            have["tags"].add((pk, tag))
            rows["tags"].append((pk, _tag_id(ctx, tag)))
            added = True
    return added


def _address_row(record: CustomerRecord) -> tuple | None:
    if record.address_row is None and record.address:
        return tuple(record.address.get(k, d) for k, d in ADDRESS_COLUMNS.items())
    return record.address_row


def _address(ctx, pk, record, have, rows) -> bool:
    row = _address_row(record)
    if row is None:
        return False
    key = (pk, row[2], row[3], row[4], row[5])  # province, city, district, street
    if key in have["addresses"]:
        return False
    have["addresses"].add(key)
    rows["addresses"].append((pk, ctx.job.source_id, *row))
    return True


def _preferences(pk, record, have, rows) -> bool:
    added = False
    for key, value in record.preferences:
        current = have["preferences"].get((pk, "", key))
        if current is None:
            # Inserted at the end of the chunk, with the chunk's last value.
            current = have["preferences"][(pk, "", key)] = {"id": None, "value": value}
            rows["preferences"].append((pk, key, current))
            added = True
        elif current["value"] != value:
            current["value"] = value
            if current["id"]:
                rows["preference_updates"].append(current)
            added = True
    return added


def _consents(ctx, pk, record, have, rows) -> bool:
    if not record.consents:
        return False
    state, added = have["consents"].setdefault(pk, {}), False
    actor = ctx.actor.pk if ctx.actor is not None and ctx.actor.pk else None
    for channel, purpose, status in record.consents:
        if state.get((channel, purpose)) != status:
            state[(channel, purpose)] = status
            evidence = _("import %(file)s, row %(row)d") % {
                "file": ctx.job.file_name,
                "row": record.row_number,
            }
            rows["consents"].append(
                (
                    pk,
                    channel,
                    purpose,
                    status,
                    ctx.job.source_id,
                    ctx.now,
                    evidence,
                    actor,
                )
            )
            added = True
    return added


def _custom(ctx, plan, record, have, rows) -> bool:
    added = False
    for key, value in record.custom.items():
        field_ = ctx.custom_fields[(plan.customer["kind"], key)]
        column = f"value_{VALUE_COLUMN[field_.field_type]}"
        current = have["custom"].get((plan.pk, field_.pk))
        if current is not None and current[column] == value:
            continue
        # Every value column is written: the one of the field's type, the
        # others cleared.
        item = {
            "id": current["id"] if current else None,
            "customer_id": plan.pk,
            "field_id": field_.pk,
            **dict.fromkeys(_VALUE_COLUMNS),
            column: value,
        }
        have["custom"][(plan.pk, field_.pk)] = item
        rows["custom"][(plan.pk, field_.pk)] = item
        added = True
    return added


def _tag_id(ctx: Context, name: str) -> int:
    if name not in ctx.tag_ids:
        ctx.tag_ids[name] = Tag.objects.get_or_create(name=name)[0].pk
    return ctx.tag_ids[name]


def _source_records(ctx: Context, plans: list[Plan], known: dict) -> None:
    fresh: dict[str, Seen] = {}
    for plan in plans:
        for record in plan.records:
            key = record.source_key()
            seen = known.get(key)
            if seen is None:
                seen = fresh[key] = known[key] = Seen(None, plan.pk, [])
            if seen.id is None:  # new to the source (`_plan` took known ones)
                seen.took(record)
            seen.customer_id = plan.pk
    source, job = ctx.job.source_id, ctx.job.pk
    fastwrite.insert_rows(
        SourceRecord,
        ["source_id", "key", "customer_id", "content_hashes", "job_id", "rows_read"],
        [
            (source, k, s.customer_id, ",".join(s.hashes), job, s.read)
            for k, s in fresh.items()
        ],
        ids=False,
    )
    fastwrite.update_rows(
        SourceRecord,
        ["customer_id", "content_hashes", "job_id", "rows_read", "last_seen"],
        [
            (s.customer_id, ",".join(s.hashes), job, s.read, ctx.now, s.id)
            for s in known.values()
            if s.id and s.changed
        ],
    )


_AUDIT = ["actor_id", "action", "entity", "entity_id", "customer_id", "before", "after"]


def _audit(ctx, changes, updated) -> None:
    actor = ctx.actor.pk if ctx.actor is not None and ctx.actor.pk else None
    job = str(ctx.job.uuid)
    entries = []
    for pk in updated:
        before, after = changes.get(pk, ({}, {}))
        entries.append(
            (
                actor,
                "customer.import_update",
                "customers.customer",
                str(pk),
                pk,
                before,
                {**after, "import_job": job},
            )
        )
    fastwrite.insert_rows(AuditEntry, _AUDIT, entries, ids=False)


def _import_created(ctx: Context) -> None:
    """The job's one audit entry of the customers it creates, written with
    the first of them: each is in the audit log of every customer whose
    `import_job` is the job (`privacy.selectors.audit_list_for_customer`).
    An entry per customer, with its profile as imported, was 15% of a
    million-row import's time and 400 MB; the profile as imported is the
    customer's own, less what the audited changes since say."""
    job = ctx.job
    entry = {"action": IMPORT_CREATED, "entity": "ingest.importjob"}
    if not AuditEntry.objects.filter(**entry, entity_id=str(job.pk)).exists():
        AuditEntry.objects.create(
            **entry,
            entity_id=str(job.pk),
            actor=ctx.actor if ctx.actor is not None and ctx.actor.pk else None,
            after={"import_job": str(job.uuid), "file": job.file_name},
        )
