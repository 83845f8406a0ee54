"""Imports of what happened to existing customers: orders and interactions.

A row names its customer by an identifier (mobile, membership number…) or
by the source's own customer id; a row whose customer is unknown is
rejected, not guessed. An order spans consecutive rows with one order
number; its checks are the sales service's (`order_draft`).
"""

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from clientbook.activity.models import (
    Direction,
    Interaction,
    InteractionChannel,
    InteractionType,
)
from clientbook.customers import normalise
from clientbook.customers.models import HARD_IDENTIFIER_TYPES, Customer
from clientbook.errors import ClientbookError
from clientbook.ingest.mapping import IDENTIFIER_TARGETS
from clientbook.ingest.models import ImportJob, SourceRecord
from clientbook.ingest.pipeline import ChunkResult, _live_holders
from clientbook.ingest.rows import RowError, _choice, shown, storable
from clientbook.privacy.models import AuditEntry
from clientbook.sales.models import Order, SalesChannel
from clientbook.sales.services import order_draft, orders_save, products_for


@dataclass
class EventRow:
    """One row, for the reject report, and the customer keys it names."""

    row_number: int
    raw: dict[str, str]
    keys: list[tuple[str, str]] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    errors: list[RowError] = field(default_factory=list)


def read_row(
    mapping: dict[str, str], number: int, raw: dict[str, str], parse: dict[str, Any]
) -> EventRow:
    row = EventRow(number, raw)
    for column, target in mapping.items():
        value = (raw.get(column) or "").strip()
        if not target or not value:
            continue
        try:
            if target in IDENTIFIER_TARGETS:
                row.keys.append(_customer_key(target, storable(value)))
            else:
                row.values[target] = parse.get(target, str)(storable(value))
        except (normalise.NormaliseError, ClientbookError) as exc:
            reason = exc.message if isinstance(exc, ClientbookError) else str(exc)
            row.errors.append(RowError(column, shown(value), reason))
    if not row.keys and not row.errors:
        row.errors.append(
            RowError("", "", _("no column names the customer"), "required")
        )
    return row


def _customer_key(target: str, value: str) -> tuple[str, str]:
    if target == "external_id":
        return ("source", "id:" + normalise.halfwidth(value))
    if target == "phone":
        number, kind = normalise.phone(value)
        return (kind, number)
    return (target, normalise.identifier(target, value))


def _resolve(job: ImportJob, rows: list[EventRow]) -> dict[tuple[str, str], int]:
    """Customer id per key: hard identifiers of live customers, or the id the
    source gave the customer in an earlier import."""
    keys = {k for r in rows for k in r.keys}
    found = _live_holders({k for k in keys if k[0] in HARD_IDENTIFIER_TYPES})
    source_keys = {v for t, v in keys if t == "source"}
    for record in SourceRecord.objects.filter(source=job.source, key__in=source_keys):
        found[("source", record.key)] = record.customer_id
    return found


def _customer_of(row: EventRow, found: dict, scoped_branch_id, customers) -> int | None:
    ids = {found[k] for k in row.keys if k in found}
    if len(ids) > 1:
        row.errors.append(
            RowError(
                "",
                "",
                _("the identifiers of this row belong to different customers"),
                "identifier_conflict",
            )
        )
        return None
    if not ids:
        shown = ", ".join(v for _t, v in row.keys)
        row.errors.append(
            RowError(
                "", shown, _("no customer has this identifier"), "unknown_customer"
            )
        )
        return None
    customer_id = ids.pop()
    if scoped_branch_id and customers[customer_id].branch_id != scoped_branch_id:
        row.errors.append(
            RowError(
                "", "", _("this customer belongs to another branch"), "other_branch"
            )
        )
        return None
    return customer_id


# Orders -----------------------------------------------------------------------

ORDER_PARSE = {
    "quantity": str,
    "unit_price": normalise.money,
    "amount": normalise.money,
}


def order_groups(rows: Iterator, size: int, *, number: Callable) -> Iterator[list]:
    """Chunks of about `size` rows that never split an order's run of rows."""
    chunk: list = []
    for item in rows:
        if len(chunk) >= size and number(item) != number(chunk[-1]):
            yield chunk
            chunk = []
        chunk.append(item)
    if chunk:
        yield chunk


def apply_order_chunk(ctx, rows: list[EventRow]) -> ChunkResult:
    result = ChunkResult()
    tz = timezone.get_current_timezone()
    found = _resolve(ctx.job, rows)
    customers = Customer.objects.in_bulk(set(found.values()))
    groups: dict[str, list[EventRow]] = {}
    for row in rows:
        groups.setdefault(row.values.get("order_number", ""), []).append(row)
    existing = {o.number: o for o in Order.objects.filter(number__in=groups)}
    products = products_for([[{"sku": r.values.get("sku")} for r in rows]])
    drafts = []
    for number, lines in groups.items():
        draft = _order(ctx, number, lines, found, customers, products, existing, tz)
        if draft == "unchanged":
            result.unchanged += 1
        elif draft is not None:
            drafts.append(draft)
        result.rejected += [(r, e) for r in lines for e in r.errors]
    orders_save(drafts, ctx.actor)
    result.created += len(drafts)
    return result


def _order(ctx, number, lines, found, customers, products, existing, tz):
    if any(r.errors for r in lines):
        _share_errors(lines)
        return None
    ids = {_customer_of(r, found, ctx.scoped_branch_id, customers) for r in lines}
    if None in ids or len(ids) > 1:
        if len(ids) > 1 and None not in ids:
            lines[0].errors.append(
                RowError(
                    "",
                    number,
                    _("the rows of this order name different customers"),
                    "invalid",
                )
            )
        _share_errors(lines)
        return None
    first = lines[0].values
    try:
        draft = order_draft(
            customer=customers[ids.pop()],
            number=number,
            source=ctx.job.source,
            ordered_at=normalise.datetime_value(first.get("ordered_at", ""), tz=tz),
            channel=_choice(SalesChannel, first["channel"])
            if "channel" in first
            else SalesChannel.STORE,
            branch=None,
            lines=[_line(r.values) for r in lines],
            products=products,
        )
    except normalise.NormaliseError as exc:
        lines[0].errors.append(
            RowError(
                ctx.columns.get("ordered_at", ""), first.get("ordered_at", ""), str(exc)
            )
        )
        _share_errors(lines)
        return None
    except ClientbookError as exc:
        _line_error(ctx, lines, exc)
        return None
    old = existing.get(number)
    if old is not None:
        if (
            old.customer_id == draft.order.customer_id
            and old.amount == draft.order.amount
        ):
            return "unchanged"
        lines[0].errors.append(
            RowError(
                ctx.columns.get("order_number", ""),
                number,
                _("an order with this number exists with other content"),
                "duplicate_order",
            )
        )
        _share_errors(lines)
        return None
    return draft


def _line(values: dict[str, Any]) -> dict[str, Any]:
    line = {"sku": values.get("sku", ""), "quantity": values.get("quantity", "1")}
    if "unit_price" in values:
        line["unit_price"] = values["unit_price"]
    if "amount" in values:
        line["amount"] = values["amount"]
    return line


def _line_error(ctx, lines: list[EventRow], exc: ClientbookError) -> None:
    """Puts a service error ("lines.2.quantity") on the row and column it came from."""
    parts = (exc.field or "").split(".")
    row = lines[int(parts[1])] if parts[0] == "lines" and len(parts) > 2 else lines[0]
    target = parts[-1] if parts[0] == "lines" else exc.field or ""
    row.errors.append(
        RowError(
            ctx.columns.get(target, ""),
            "" if exc.value is None else str(exc.value),
            exc.message,
            exc.code,
        )
    )
    _share_errors(lines)


def _share_errors(lines: list[EventRow]) -> None:
    """An order is imported whole or not at all: its other rows say why."""
    first = next((e for r in lines for e in r.errors), None)
    for row in lines:
        if not row.errors and first is not None:
            row.errors.append(
                RowError(
                    first.column,
                    first.value,
                    _("another row of this order was rejected: %(reason)s")
                    % {"reason": first.reason},
                    first.code,
                )
            )


# Interactions -------------------------------------------------------------------


def apply_interaction_chunk(ctx, rows: list[EventRow]) -> ChunkResult:
    result = ChunkResult()
    tz = timezone.get_current_timezone()
    found = _resolve(ctx.job, rows)
    customers = Customer.objects.in_bulk(set(found.values()))
    keys = {r.row_number: "row:" + _digest(r.raw) for r in rows}
    seen = set(
        SourceRecord.objects.filter(
            source=ctx.job.source, key__in=keys.values()
        ).values_list("key", flat=True)
    )
    made, records = [], []
    for row in rows:
        if keys[row.row_number] in seen:
            result.unchanged += 1
            continue
        item = None if row.errors else _interaction(ctx, row, found, customers, tz)
        if item is None:
            result.rejected += [(row, e) for e in row.errors]
            continue
        seen.add(keys[row.row_number])
        made.append(item)
        records.append(
            SourceRecord(
                source=ctx.job.source,
                key=keys[row.row_number],
                customer_id=item.customer_id,
                content_hashes=keys[row.row_number][4:],
                job=ctx.job,
            )
        )
    Interaction.objects.bulk_create(made, batch_size=1000)
    SourceRecord.objects.bulk_create(records, batch_size=1000)
    actor = ctx.actor if ctx.actor is not None and ctx.actor.pk else None
    AuditEntry.objects.bulk_create(
        [
            AuditEntry(
                actor=actor,
                action="interaction.record",
                entity="activity.interaction",
                entity_id=str(i.pk),
                customer_id=i.customer_id,
                after={
                    "type": i.type,
                    "channel": i.channel,
                    "import_job": str(ctx.job.uuid),
                },
            )
            for i in made
        ],
        batch_size=1000,
    )
    result.created += len(made)
    return result


def _interaction(ctx, row: EventRow, found, customers, tz) -> Interaction | None:
    customer_id = _customer_of(row, found, ctx.scoped_branch_id, customers)
    values, checks = row.values, []
    try:
        channel = _choice(InteractionChannel, values.get("channel", ""))
        checks.append("type")
        kind = _choice(InteractionType, values.get("type", ""))
        checks.append("direction")
        direction = _choice(Direction, values.get("direction", "in"))
        checks.append("occurred_at")
        when = (
            normalise.datetime_value(values["occurred_at"], tz=tz)
            if "occurred_at" in values
            else timezone.now()
        )
    except normalise.NormaliseError as exc:
        target = checks[-1] if checks else "channel"
        row.errors.append(
            RowError(ctx.columns.get(target, ""), values.get(target, ""), str(exc))
        )
        return None
    if customer_id is None:
        return None
    return Interaction(
        customer_id=customer_id,
        channel=channel,
        direction=direction,
        type=kind,
        occurred_at=when,
        summary=values.get("summary", ""),
        outcome=values.get("outcome", "")[:200],
        source=ctx.job.source,
        staff=ctx.actor if ctx.actor is not None and ctx.actor.pk else None,
    )


def _digest(raw: dict[str, str]) -> str:
    content = json.dumps(raw, sort_keys=True, ensure_ascii=False)
    # An unmapped cell may hold half a surrogate pair (`rows.storable`).
    return hashlib.sha256(content.encode("utf-8", "surrogatepass")).hexdigest()
