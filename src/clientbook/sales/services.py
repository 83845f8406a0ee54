"""Writes of products and orders. Order totals are the sums of their lines."""

import datetime as dt
import decimal
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from clientbook.customers.models import Customer
from clientbook.errors import ClientbookError, Conflict, ValidationFailed
from clientbook.org.access import ensure_can_edit
from clientbook.privacy.models import AuditEntry, Source
from clientbook.privacy.services import audit_record, snapshot
from clientbook.sales.models import Order, OrderLine, Product, SalesChannel

CENT = decimal.Decimal("0.01")


class ErrorCode:
    INVALID = "invalid"
    REQUIRED = "required"
    DUPLICATE_ORDER = "duplicate_order"
    UNKNOWN_PRODUCT = "unknown_product"
    UNKNOWN_CUSTOMER = "unknown_customer"
    SKU_TAKEN = "sku_taken"


def _money(value: Any, field: str) -> decimal.Decimal:
    try:
        amount = decimal.Decimal(str(value)).quantize(CENT)
    except (decimal.InvalidOperation, ValueError):
        raise ValidationFailed(
            ErrorCode.INVALID,
            _("“%(value)s” is not an amount.") % {"value": value},
            field=field,
            value=value,
        ) from None
    if not amount.is_finite() or abs(amount) >= decimal.Decimal("1e12"):
        raise ValidationFailed(
            ErrorCode.INVALID, _("Amount out of range."), field=field, value=value
        )
    return amount


@transaction.atomic
def product_create(
    *,
    sku: str,
    name: str,
    category: str,
    price: Any,
    unit_cost: Any,
    currency: str | None = None,
    actor=None,
) -> Product:
    ensure_can_edit(actor)
    sku = sku.strip()
    if not sku:
        raise ValidationFailed(
            ErrorCode.REQUIRED, _("A product needs a SKU."), field="sku", value=sku
        )
    if Product.objects.filter(sku=sku).exists():
        raise Conflict(
            ErrorCode.SKU_TAKEN,
            _("SKU %(sku)s exists already.") % {"sku": sku},
            field="sku",
            value=sku,
        )
    product = Product.objects.create(
        sku=sku,
        name=name.strip(),
        category=category.strip(),
        price=_money(price, "price"),
        unit_cost=_money(unit_cost, "unit_cost"),
        currency=currency or settings.CLIENTBOOK["DEFAULT_CURRENCY"],
    )
    audit_record(
        actor=actor, action="product.create", obj=product, after=snapshot(product)
    )
    return product


@dataclass
class OrderDraft:
    """An order checked and priced, not yet saved."""

    order: Order
    lines: list[OrderLine] = field(default_factory=list)


def order_draft(
    *,
    customer: Customer,
    number: str,
    ordered_at: Any,
    lines: Sequence[Mapping[str, Any]],
    source: Source,
    products: Mapping[str, Product],
    branch=None,
    salesperson=None,
    channel: str = SalesChannel.STORE,
    currency: str | None = None,
) -> OrderDraft:
    """Checks and prices an order without saving it (see `orders_save`).

    Raises:
        ValidationFailed: naming the field, e.g. "lines.2.quantity".
    """
    number = str(number or "").strip()
    if not number:
        raise ValidationFailed(
            ErrorCode.REQUIRED, _("An order needs a number."), field="number"
        )
    if channel not in SalesChannel.values:
        raise ValidationFailed(
            ErrorCode.INVALID,
            _("“%(value)s” is not a valid choice.") % {"value": channel},
            field="channel",
            value=channel,
        )
    if isinstance(ordered_at, str):
        parsed = parse_datetime(ordered_at)
        if parsed is None:
            raise ValidationFailed(
                ErrorCode.INVALID,
                _("Not a date and time."),
                field="ordered_at",
                value=ordered_at,
            )
        ordered_at = parsed
    if not isinstance(ordered_at, dt.datetime):
        raise ValidationFailed(
            ErrorCode.REQUIRED, _("An order needs a time."), field="ordered_at"
        )
    if timezone.is_naive(ordered_at):
        ordered_at = timezone.make_aware(ordered_at)
    if not lines or not isinstance(lines, list | tuple):
        raise ValidationFailed(
            ErrorCode.REQUIRED, _("An order needs at least one line."), field="lines"
        )
    order = Order(
        customer=customer,
        number=number,
        ordered_at=ordered_at,
        source=source,
        branch=branch if branch is not None else customer.branch,
        salesperson=salesperson,
        channel=channel,
        currency=currency or settings.CLIENTBOOK["DEFAULT_CURRENCY"],
    )
    draft = OrderDraft(order)
    for i, line in enumerate(lines):
        draft.lines.append(_line(order, line, products, f"lines.{i}"))
    order.amount = sum((ln.amount for ln in draft.lines), decimal.Decimal(0))
    order.cost = sum((ln.cost for ln in draft.lines), decimal.Decimal(0))
    return draft


def _line(
    order: Order, line: Mapping[str, Any], products: Mapping[str, Product], path: str
) -> OrderLine:
    if not isinstance(line, Mapping):
        raise ValidationFailed(
            ErrorCode.INVALID, _("An order line must be an object."), field=path
        )
    sku = str(line.get("sku") or "")
    product = products.get(sku)
    if product is None:
        raise ValidationFailed(
            ErrorCode.UNKNOWN_PRODUCT,
            _("No product with SKU “%(sku)s”.") % {"sku": sku},
            field=f"{path}.sku",
            value=sku,
        )
    try:
        quantity = decimal.Decimal(str(line.get("quantity", 1)))
    except decimal.InvalidOperation:
        quantity = decimal.Decimal("NaN")
    if not quantity.is_finite() or quantity == 0:
        # Negative quantities are returns; zero is a mistake.
        raise ValidationFailed(
            ErrorCode.INVALID,
            _("Quantity must be a non-zero number."),
            field=f"{path}.quantity",
            value=line.get("quantity"),
        )
    unit_price = line.get("unit_price")
    unit_price = _money(
        product.price if unit_price is None else unit_price, f"{path}.unit_price"
    )
    amount = line.get("amount")
    amount = (
        (quantity * unit_price).quantize(CENT)
        if amount is None
        else _money(amount, f"{path}.amount")
    )
    cost = line.get("cost")
    cost = (
        (quantity * product.unit_cost).quantize(CENT)
        if cost is None
        else _money(cost, f"{path}.cost")
    )
    return OrderLine(
        order=order,
        product=product,
        quantity=quantity,
        unit_price=unit_price,
        amount=amount,
        cost=cost,
    )


def products_for(
    lines_lists: Iterable[Sequence[Mapping[str, Any]]],
) -> dict[str, Product]:
    """The products the lines name by SKU, fetched in one query."""
    skus = {
        str(line.get("sku"))
        for lines in lines_lists
        for line in lines or ()
        if isinstance(line, Mapping)
    }
    return {p.sku: p for p in Product.objects.filter(sku__in=skus)}


def orders_save(drafts: list[OrderDraft], actor) -> list[Order]:
    """Saves checked orders, their lines and audit entries in bulk."""
    orders = Order.objects.bulk_create([d.order for d in drafts])
    for draft in drafts:
        for line in draft.lines:
            line.order = draft.order
    OrderLine.objects.bulk_create(
        [ln for d in drafts for ln in d.lines], batch_size=2000
    )
    AuditEntry.objects.bulk_create(
        [
            AuditEntry(
                actor=actor if actor is not None and actor.pk else None,
                action="order.create",
                entity="sales.order",
                entity_id=str(o.pk),
                customer_id=o.customer_id,
                after={
                    "number": o.number,
                    "amount": str(o.amount),
                    "cost": str(o.cost),
                    "ordered_at": o.ordered_at.isoformat(),
                },
            )
            for o in orders
        ],
        batch_size=2000,
    )
    return orders


@transaction.atomic
def order_create(
    *,
    customer: Customer,
    number: str,
    ordered_at: Any,
    lines: Sequence[Mapping[str, Any]],
    source: Source,
    actor=None,
    **fields: Any,
) -> Order:
    """Creates an order with its lines; each line names a product by `sku`."""
    ensure_can_edit(actor, customer)
    if Order.objects.filter(number=str(number).strip()).exists():
        raise Conflict(
            ErrorCode.DUPLICATE_ORDER,
            _("Order %(number)s exists already.") % {"number": number},
            field="number",
            value=number,
        )
    draft = order_draft(
        customer=customer,
        number=number,
        ordered_at=ordered_at,
        lines=lines,
        source=source,
        products=products_for([lines]),
        **fields,
    )
    return orders_save([draft], actor)[0]


@dataclass
class BulkResult:
    created: list[Order]
    rejected: list[dict[str, Any]]


def order_bulk_create(
    *,
    items: Sequence[Mapping[str, Any]],
    source: Source,
    actor=None,
    customers: Mapping[str, Customer] | None = None,
) -> BulkResult:
    """Creates many orders at once. Each item names its customer by `customer`
    (UUID); a bad item is reported by its index and reason, the rest are written.

    The checks run before anything is written and the writes are one
    transaction, so an item is either fully written or reported.
    """
    if customers is None:
        from clientbook.customers.selectors import customer_map_for_user

        uuids = [str(i.get("customer", "")) for i in items if isinstance(i, Mapping)]
        customers = customer_map_for_user(user=actor, uuids=uuids)
    products = products_for(
        i["lines"]
        for i in items
        if isinstance(i, Mapping) and isinstance(i.get("lines"), list)
    )
    numbers = [
        str(item.get("number", "")).strip() if isinstance(item, Mapping) else ""
        for item in items
    ]
    taken = set(
        Order.objects.filter(number__in=numbers).values_list("number", flat=True)
    )
    seen: set[str] = set()
    drafts, rejected = [], []
    for index, item in enumerate(items):
        try:
            drafts.append(
                _bulk_draft(
                    item,
                    numbers[index],
                    customers,
                    products,
                    taken,
                    seen,
                    source,
                    actor,
                )
            )
        except ClientbookError as exc:
            rejected.append({"index": index, **exc.as_dict()})
    with transaction.atomic():
        created = orders_save(drafts, actor) if drafts else []
    return BulkResult(created=created, rejected=rejected)


_BULK_FIELDS = {
    "customer",
    "number",
    "ordered_at",
    "lines",
    "branch",
    "salesperson",
    "channel",
    "currency",
}


def _bulk_draft(
    item, number, customers, products, taken, seen, source, actor
) -> OrderDraft:
    if not isinstance(item, Mapping):
        raise ValidationFailed(ErrorCode.INVALID, _("An order must be an object."))
    unknown = set(item) - _BULK_FIELDS
    if unknown:
        name = sorted(unknown)[0]
        raise ValidationFailed(
            ErrorCode.INVALID, _("Unknown field."), field=name, value=item[name]
        )
    customer = customers.get(str(item.get("customer", "")))
    if customer is None:
        raise ValidationFailed(
            ErrorCode.UNKNOWN_CUSTOMER,
            _("No such customer."),
            field="customer",
            value=item.get("customer"),
        )
    ensure_can_edit(actor, customer)
    if number in taken or number in seen:
        raise Conflict(
            ErrorCode.DUPLICATE_ORDER,
            _("Order %(number)s exists already.") % {"number": number},
            field="number",
            value=number,
        )
    fields = {
        k: item[k]
        for k in ("branch", "salesperson", "channel", "currency")
        if k in item
    }
    draft = order_draft(
        customer=customer,
        number=number,
        ordered_at=item.get("ordered_at"),
        lines=item.get("lines") or [],
        source=source,
        products=products,
        **fields,
    )
    seen.add(number)
    return draft
