import datetime as dt
import uuid as uuid_lib
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _
from ninja import Router, Schema, Status

from clientbook.customers.api import customer_or_404, source_by_code
from clientbook.errors import NotFound, ValidationFailed
from clientbook.org.access import scope_by_branch
from clientbook.sales import services
from clientbook.sales.models import Order, Product

router = Router(tags=["sales"])


class ProductIn(Schema):
    sku: str
    name: str
    category: str
    price: Decimal
    unit_cost: Decimal
    currency: str | None = None


class ProductOut(Schema):
    uuid: uuid_lib.UUID
    sku: str
    name: str
    category: str
    price: Decimal
    unit_cost: Decimal
    currency: str
    is_active: bool


class LineIn(Schema):
    sku: str
    quantity: Decimal = Decimal(1)
    unit_price: Decimal | None = None


class OrderIn(Schema):
    customer: uuid_lib.UUID
    number: str
    ordered_at: dt.datetime
    channel: str = "store"
    source: str
    lines: list[LineIn]


class LineOut(Schema):
    sku: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    cost: Decimal


class OrderOut(Schema):
    uuid: uuid_lib.UUID
    number: str
    customer: uuid_lib.UUID
    branch: str | None
    channel: str
    ordered_at: dt.datetime
    currency: str
    amount: Decimal
    cost: Decimal
    lines: list[LineOut]


class BulkIn(Schema):
    source: str
    # Items are checked one by one in the service, so that one bad item is
    # reported by its index instead of failing the whole request.
    items: list[Any]


class Rejected(Schema):
    index: int
    code: str
    message: str
    field: str | None = None
    value: str | None = None


class BulkOut(Schema):
    created: int
    rejected: list[Rejected]
    orders: list[uuid_lib.UUID]


def _order_out(order: Order) -> dict:
    return {
        "uuid": order.uuid,
        "number": order.number,
        "customer": order.customer.uuid,
        "branch": order.branch.code if order.branch else None,
        "channel": order.channel,
        "ordered_at": order.ordered_at,
        "currency": order.currency,
        "amount": order.amount,
        "cost": order.cost,
        "lines": [
            {
                "sku": ln.product.sku,
                "quantity": ln.quantity,
                "unit_price": ln.unit_price,
                "amount": ln.amount,
                "cost": ln.cost,
            }
            for ln in order.lines.all()
        ],
    }


@router.get("/products", response=list[ProductOut])
def product_list(request, category: str = ""):
    qs = Product.objects.filter(is_active=True)
    return list(qs.filter(category=category) if category else qs)


@router.post("/products", response={201: ProductOut})
def product_create(request, payload: ProductIn):
    return Status(201, services.product_create(actor=request.user, **payload.dict()))


@router.post("/orders", response={201: OrderOut})
def order_create(request, payload: OrderIn):
    order = services.order_create(
        customer=customer_or_404(request, payload.customer),
        number=payload.number,
        ordered_at=payload.ordered_at,
        channel=payload.channel,
        lines=[line.dict() for line in payload.lines],
        source=source_by_code(payload.source),
        actor=request.user,
    )
    return Status(201, _order_out(order))


@router.post("/orders/bulk", response={200: BulkOut})
def order_bulk_create(request, payload: BulkIn):
    """Up to 10,000 orders; accepted ones are written, each rejected one is
    reported with its index and reason."""
    limit = settings.CLIENTBOOK["API_BULK_LIMIT"]
    if len(payload.items) > limit:
        raise ValidationFailed(
            "too_many",
            _("At most %(limit)d orders per request.") % {"limit": limit},
            field="items",
            value=len(payload.items),
        )
    result = services.order_bulk_create(
        items=payload.items, source=source_by_code(payload.source), actor=request.user
    )
    return {
        "created": len(result.created),
        "rejected": result.rejected,
        "orders": [o.uuid for o in result.created],
    }


def _orders(request):
    return (
        scope_by_branch(Order.objects.all(), request.user, field="customer__branch")
        .select_related("customer", "branch")
        .prefetch_related("lines__product")
    )


@router.get("/orders/{uuid}", response=OrderOut)
def order_get(request, uuid: uuid_lib.UUID):
    order = _orders(request).filter(uuid=uuid).first()
    if order is None:
        raise NotFound("not_found", _("No such order."), value=str(uuid))
    return _order_out(order)


@router.get("/customers/{uuid}/orders", response=list[OrderOut])
def customer_orders(request, uuid: uuid_lib.UUID, limit: int = 100):
    customer = customer_or_404(request, uuid)
    orders = _orders(request).filter(customer=customer).order_by("-ordered_at")
    return [_order_out(o) for o in orders[: min(max(limit, 1), 1000)]]
