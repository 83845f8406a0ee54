"""The customer import: rows in chunks, each chunk matched, written in bulk
and committed together with the job's progress.

Writing in bulk is what makes an import fast (one INSERT per table per chunk
rather than per row), so this module writes the same rows the customer
services write, keeping their invariants: normalised values, name keys, one
live holder per hard identifier, an audit entry per changed customer.
"""

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
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
from clientbook.ingest import fastwrite
from clientbook.ingest.models import ImportJob, SourceRecord
from clientbook.ingest.rows import CustomerRecord, RowError
from clientbook.privacy.models import AuditEntry, Consent
from clientbook.privacy.selectors import consent_current

PROFILE_ORDER = [
    "kind",
    "name",
    "gender",
    "birth_date",
    "occupation",
    "employer",
    "position",
    "income_band",
    "lifecycle_stage",
    "notes",
]


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


def apply_customer_chunk(ctx: Context, records: list[CustomerRecord]) -> ChunkResult:
    """Writes one chunk. Runs inside the caller's transaction; if a concurrent
    writer took an identifier meanwhile, the chunk is redone row by row so
    that only the rows that collide are rejected."""
    try:
        with transaction.atomic():
            return _apply(ctx, records)
    except IntegrityError:
        result = ChunkResult()
        for record in records:
            try:
                with transaction.atomic():
                    _add(result, _apply(ctx, [record]))
            except IntegrityError:
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
    """What to do with one customer: a new one (customer is None) or an
    existing one, and the rows that describe it."""

    customer: Customer | None
    records: list[CustomerRecord] = field(default_factory=list)
    is_new: bool = False


def _apply(ctx: Context, records: list[CustomerRecord]) -> ChunkResult:
    result = ChunkResult()
    good = []
    for record in records:
        if record.errors:
            result.rejected += [(record, e) for e in record.errors]
        else:
            good.append(record)
    holders = _live_holders({i for r in good for i in r.hard_identifiers})
    known = {
        s.key: s
        for s in SourceRecord.objects.filter(
            source=ctx.job.source, key__in={r.source_key() for r in good}
        )
    }
    customers = Customer.objects.in_bulk(
        {*holders.values(), *(s.customer_id for s in known.values())}
    )
    plans = _plan(ctx, good, holders, known, customers, result)
    _write(ctx, plans, known, result)
    return result


def _live_holders(identifiers: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    by_type: dict[str, list[str]] = defaultdict(list)
    for type_, value in identifiers:
        by_type[type_].append(value)
    holders = {}
    for type_, values in by_type.items():
        rows = Identifier.objects.filter(type=type_, value__in=values, is_live=True)
        holders.update(
            {(type_, v): c for v, c in rows.values_list("value", "customer_id")}
        )
    return holders


def _plan(ctx, good, holders, known, customers, result) -> list[Plan]:
    plans: list[Plan] = []
    by_customer: dict[int, Plan] = {}
    pending: dict[Any, Plan] = {}  # identifier or source key → new customer's plan
    for record in good:
        key = record.source_key()
        matched = {holders[i] for i in record.hard_identifiers if i in holders}
        record_of_source = known.get(key)
        holder = (
            customers.get(record_of_source.customer_id) if record_of_source else None
        )
        if holder is not None and holder.is_live:
            matched.add(holder.pk)
        waiting = {
            id(pending[k]): pending[k]
            for k in (*record.hard_identifiers, key)
            if k in pending
        }
        if len(matched) + len(waiting) > 1:
            result.rejected.append((record, _conflict(record, holders, customers)))
            continue
        if matched:
            customer = customers[matched.pop()]
            if ctx.scoped_branch_id and customer.branch_id != ctx.scoped_branch_id:
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
                continue
            if (
                record_of_source
                and record_of_source.customer_id == customer.pk
                and record_of_source.content_hash == record.content_hash()
            ):
                result.unchanged += 1
                continue
            plan = by_customer.get(customer.pk)
            if plan is None:
                plan = by_customer[customer.pk] = Plan(customer)
                plans.append(plan)
        elif waiting:
            plan = next(iter(waiting.values()))
            result.merged += 1
        else:
            plan = Plan(None, is_new=True)
            plans.append(plan)
        plan.records.append(record)
        if plan.customer is None:
            for k in (*record.hard_identifiers, key):
                pending.setdefault(k, plan)
    return plans


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
                    "name": holder.name,
                    "uuid": holder.uuid,
                }
            )
    reason = _(
        "the identifiers of this row belong to different customers: %(list)s"
    ) % {"list": "; ".join(parts) or _("rows earlier in this file")}
    return RowError("", "", reason, "identifier_conflict")


# Writing -----------------------------------------------------------------------


def _write(ctx: Context, plans: list[Plan], known: dict, result: ChunkResult) -> None:
    new = [p for p in plans if p.is_new]
    for plan in new:
        # Later rows of the same new customer fill in what the first lacked.
        plan.customer = _new_customer(ctx, plan.records[0])
        for record in plan.records[1:]:
            _merge_profile(plan.customer, record, changes={})
    fastwrite.insert([p.customer for p in new])
    result.created += len(new)
    changes = {}
    for plan in plans:
        if plan.is_new:
            continue
        before = {f: _jsonable(getattr(plan.customer, f)) for f in PROFILE_ORDER}
        changed: dict[str, Any] = {}
        for record in plan.records:
            _merge_profile(plan.customer, record, changes=changed)
        changes[plan.customer.pk] = ({f: before.get(f) for f in changed}, changed)
    _save_updates(plans, changes)
    touched = _children(ctx, plans, new={p.customer.pk for p in new})
    updated = {pk for pk, (_b, after) in changes.items() if after}
    updated |= touched - {p.customer.pk for p in new}
    result.updated += len(updated)
    result.unchanged += sum(
        1 for p in plans if not p.is_new and p.customer.pk not in updated
    )
    _source_records(ctx, plans, known)
    _audit(ctx, new, changes, updated)


def _new_customer(ctx: Context, record: CustomerRecord) -> Customer:
    customer = Customer(
        source=ctx.job.source,
        branch_id=ctx.scoped_branch_id or record.branch_id,
        **record.profile,
    )
    customer.name_pinyin, customer.name_initials = normalise.name_keys(customer.name)
    return customer


def _merge_profile(
    customer: Customer, record: CustomerRecord, *, changes: dict
) -> None:
    """Fills blanks and takes newer non-empty values; never blanks a field."""
    for name, value in record.profile.items():
        if value in ("", None) or getattr(customer, name) == value:
            continue
        setattr(customer, name, value)
        changes[name] = _jsonable(value)
    if record.branch_id and not customer.branch_id:
        customer.branch_id = record.branch_id
        changes["branch"] = record.branch_id
    if "name" in changes:
        customer.name_pinyin, customer.name_initials = normalise.name_keys(
            customer.name
        )


def _save_updates(plans, changes) -> None:
    fields = {f for _pk, (_b, after) in changes.items() for f in after}
    if not fields:
        return
    fields = {"branch_id" if f == "branch" else f for f in fields}
    if "name" in fields:
        fields |= {"name_pinyin", "name_initials"}
    changed = [p.customer for p in plans if not p.is_new and changes[p.customer.pk][1]]
    for customer in changed:
        customer.updated_at = timezone.now()
    Customer.objects.bulk_update(changed, [*fields, "updated_at"], batch_size=1000)


def _jsonable(value):
    return value.isoformat() if isinstance(value, dt.date) else value


def _children(ctx: Context, plans: list[Plan], *, new: set[int]) -> set[int]:
    """Identifiers, addresses, preferences, key dates, consents, custom values
    and tags of every plan; returns the existing customers that gained any."""
    have = _existing_children(
        [p.customer.pk for p in plans if p.customer.pk not in new]
    )
    have["new"] = new
    touched: set[int] = set()
    rows: dict[str, list] = defaultdict(list)
    for plan in plans:
        for record in plan.records:
            if _record_children(ctx, plan.customer, record, have, rows):
                touched.add(plan.customer.pk)
    fastwrite.insert(rows["identifiers"])
    fastwrite.insert(rows["addresses"])
    fastwrite.insert(rows["preferences"])
    fastwrite.insert(rows["key_dates"])
    fastwrite.insert(rows["consents"])
    for pref in rows["preference_updates"]:
        pref.save(update_fields=["value", "source"])
    for value in rows["custom"]:
        CustomFieldValue.objects.update_or_create(
            customer_id=value.customer_id,
            field_id=value.field_id,
            defaults={c: getattr(value, c) for c in _VALUE_COLUMNS},
        )
    Customer.tags.through.objects.bulk_create(rows["tags"], ignore_conflicts=True)
    return touched


_VALUE_COLUMNS = [f"value_{c}" for c in set(VALUE_COLUMN.values())]


def _existing_children(ids: list[int]) -> dict[str, Any]:
    have: dict[str, Any] = {
        "identifiers": set(
            Identifier.objects.filter(customer_id__in=ids).values_list(
                "customer_id", "type", "value"
            )
        ),
        "addresses": set(
            Address.objects.filter(customer_id__in=ids).values_list(
                "customer_id", "province", "city", "district", "street"
            )
        ),
        "preferences": {
            (p.customer_id, p.category, p.key): p
            for p in Preference.objects.filter(customer_id__in=ids)
        },
        "key_dates": set(
            KeyDate.objects.filter(customer_id__in=ids).values_list(
                "customer_id", "kind", "date"
            )
        ),
        "custom": {
            (v.customer_id, v.field_id): v
            for v in CustomFieldValue.objects.filter(
                customer_id__in=ids
            ).select_related("field")
        },
        "tags": set(
            Customer.tags.through.objects.filter(customer_id__in=ids).values_list(
                "customer_id", "tag__name"
            )
        ),
        "consents": {},
    }
    return have


def _record_children(ctx, customer, record, have, rows) -> bool:
    pk, source, now, added = customer.pk, ctx.job.source, ctx.now, False
    for type_, value in record.identifiers:
        if (pk, type_, value) not in have["identifiers"]:
            have["identifiers"].add((pk, type_, value))
            rows["identifiers"].append(
                Identifier(
                    customer_id=pk,
                    type=type_,
                    value=value,
                    source=source,
                    is_live=True,
                    first_seen=now,
                    last_seen=now,
                )
            )
            added = True
    if record.address:
        key = (
            pk,
            *(
                record.address.get(k, "")
                for k in ("province", "city", "district", "street")
            ),
        )
        if key not in have["addresses"]:
            have["addresses"].add(key)
            rows["addresses"].append(
                Address(customer_id=pk, source=source, **record.address)
            )
            added = True
    added |= _preferences(pk, record, source, have, rows)
    for kind, date in record.key_dates:
        if (pk, kind, date) not in have["key_dates"]:
            have["key_dates"].add((pk, kind, date))
            rows["key_dates"].append(
                KeyDate(customer_id=pk, kind=kind, date=date, source=source)
            )
            added = True
    added |= _consents(ctx, customer, record, have, rows)
    added |= _custom(ctx, customer, record, have, rows)
    for tag in record.tags:
        if (pk, tag) not in have["tags"]:
            have["tags"].add((pk, tag))
            rows["tags"].append(
                Customer.tags.through(customer_id=pk, tag_id=_tag_id(ctx, tag))
            )
            added = True
    return added


def _preferences(pk, record, source, have, rows) -> bool:
    added = False
    for key, value in record.preferences:
        current = have["preferences"].get((pk, "", key))
        if current is None:
            pref = Preference(
                customer_id=pk, category="", key=key, value=value, source=source
            )
            have["preferences"][(pk, "", key)] = pref
            rows["preferences"].append(pref)
            added = True
        elif current.value != value:
            current.value, current.source = value, source
            if current.pk:
                rows["preference_updates"].append(current)
            added = True
    return added


def _consents(ctx, customer, record, have, rows) -> bool:
    if not record.consents:
        return False
    if customer.pk not in have["consents"]:
        new = customer.pk in have["new"]
        state = {} if new else consent_current(customer)
        have["consents"][customer.pk] = {k: e.status for k, e in state.items() if e}
    state, added = have["consents"][customer.pk], False
    for channel, purpose, status in record.consents:
        if state.get((channel, purpose)) != status:
            state[(channel, purpose)] = status
            rows["consents"].append(
                Consent(
                    customer_id=customer.pk,
                    channel=channel,
                    purpose=purpose,
                    status=status,
                    source=ctx.job.source,
                    occurred_at=ctx.now,
                    evidence=_("import %(file)s, row %(row)d")
                    % {"file": ctx.job.file_name, "row": record.row_number},
                    recorded_by=ctx.actor
                    if ctx.actor is not None and ctx.actor.pk
                    else None,
                )
            )
            added = True
    return added


def _custom(ctx, customer, record, have, rows) -> bool:
    added = False
    for key, value in record.custom.items():
        field_ = ctx.custom_fields[(customer.kind, key)]
        column = f"value_{VALUE_COLUMN[field_.field_type]}"
        current = have["custom"].get((customer.pk, field_.pk))
        if current is not None and getattr(current, column) == value:
            continue
        item = CustomFieldValue(
            customer_id=customer.pk, field=field_, **{column: value}
        )
        have["custom"][(customer.pk, field_.pk)] = item
        rows["custom"].append(item)
        added = True
    return added


def _tag_id(ctx: Context, name: str) -> int:
    if name not in ctx.tag_ids:
        ctx.tag_ids[name] = Tag.objects.get_or_create(name=name)[0].pk
    return ctx.tag_ids[name]


def _source_records(ctx: Context, plans: list[Plan], known: dict) -> None:
    fresh, stale = [], []
    for plan in plans:
        for record in plan.records:
            key, digest = record.source_key(), record.content_hash()
            current = known.get(key)
            if current is None:
                current = SourceRecord(
                    source=ctx.job.source,
                    key=key,
                    customer=plan.customer,
                    content_hash=digest,
                    job=ctx.job,
                )
                known[key] = current
                fresh.append(current)
            else:
                current.customer, current.content_hash, current.job = (
                    plan.customer,
                    digest,
                    ctx.job,
                )
                if current.pk:
                    stale.append(current)
    fastwrite.insert(fresh)
    SourceRecord.objects.bulk_update(
        stale, ["customer", "content_hash", "job"], batch_size=1000
    )


def _audit(ctx, new, changes, updated) -> None:
    actor = ctx.actor if ctx.actor is not None and ctx.actor.pk else None
    job = str(ctx.job.uuid)
    entries = [
        AuditEntry(
            actor=actor,
            action="customer.create",
            entity="customers.customer",
            entity_id=str(p.customer.pk),
            customer_id=p.customer.pk,
            after={
                **{f: _jsonable(getattr(p.customer, f)) for f in PROFILE_ORDER},
                "import_job": job,
            },
        )
        for p in new
    ]
    for pk in updated:
        before, after = changes.get(pk, ({}, {}))
        entries.append(
            AuditEntry(
                actor=actor,
                action="customer.import_update",
                entity="customers.customer",
                entity_id=str(pk),
                customer_id=pk,
                before=before,
                after={**after, "import_job": job},
            )
        )
    fastwrite.insert(entries)
