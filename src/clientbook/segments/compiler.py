"""Turns a validated segment definition (see `language`) into one `Q` on
Customer. Behaviour becomes `Exists(...)` or a correlated `Subquery`, so a
segment of any size is counted by the database in one statement; nothing is
evaluated row by row in Python.

Compiling itself may read the custom fields and the segments a definition
refers to (a few small queries); the segment's own query is then one SQL
statement.
"""

import datetime as dt
import operator
from dataclasses import dataclass, field
from decimal import Decimal
from functools import reduce
from typing import Any

from django.db.models import (
    Count,
    DecimalField,
    Exists,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce
from django.db.models.lookups import (
    Exact,
    GreaterThanOrEqual,
    LessThanOrEqual,
)
from django.utils import timezone
from django.utils.translation import gettext as _

from clientbook.activity.models import Interaction
from clientbook.customers.models import (
    Address,
    Customer,
    CustomField,
    CustomFieldValue,
    Identifier,
)
from clientbook.errors import ValidationFailed
from clientbook.privacy.models import ConsentState, ConsentStatus
from clientbook.quality.models import CustomerSelection
from clientbook.sales.models import Order, OrderLine
from clientbook.segments import language
from clientbook.segments.errors import ErrorCode

# Fields that are a column of Customer or of a one-to-one row beside it.
COLUMNS = {
    "kind": "kind",
    "gender": "gender",
    "birth_date": "birth_date",
    "name": "name",
    "occupation": "occupation",
    "employer": "employer",
    "income_band": "income_band",
    "lifecycle_stage": "lifecycle_stage",
    "branch": "branch__code",
    "branch_region": "branch__region",
    "quality_grade": "quality__grade",
    "rfm_cell": "score__rfm_cell",
    "rfm_r": "score__rfm_r",
    "rfm_f": "score__rfm_f",
    "rfm_m": "score__rfm_m",
    "value_tier": "score__value_tier",
    "profit": "score__profit",
    "clv": "score__clv",
    "p_alive": "score__p_alive",
    "cluster": "score__cluster",
    "churn_score": "score__churn_score",
    "response_score": "score__response_score",
    "lookalike_score": "score__lookalike_score",
}
ADDRESS_FIELDS = ("province", "city", "district", "postcode")
NOTHING = Q(pk__isnull=True)
MONEY = DecimalField(max_digits=14, decimal_places=2)


@dataclass
class Context:
    now: dt.datetime
    stack: tuple[str, ...] = ()
    custom: dict[str, tuple[list[int], str]] = field(default_factory=dict)

    @property
    def today(self) -> dt.date:
        return timezone.localdate(self.now)


def compile_definition(
    definition: dict, *, now: dt.datetime | None = None, stack: tuple[str, ...] = ()
) -> Q:
    """The `Q` on Customer that `definition` (already validated) describes."""
    return _group(definition, Context(now=now or timezone.now(), stack=stack))


def live_customers() -> QuerySet[Customer]:
    return Customer.objects.filter(archived_at__isnull=True, merged_into__isnull=True)


def customers_matching(
    definition: dict, *, now: dt.datetime | None = None, stack: tuple[str, ...] = ()
) -> QuerySet[Customer]:
    """Live customers matching `definition`, as one lazy queryset."""
    return live_customers().filter(compile_definition(definition, now=now, stack=stack))


# Groups -------------------------------------------------------------------


def _group(node: dict, ctx: Context) -> Q:
    parts = [
        _group(c, ctx) if "conditions" in c else _condition(c, ctx)
        for c in node.get("conditions", [])
    ]
    if node.get("match") == "any" and parts:
        # An empty Q matches everyone, so it absorbs the others in an OR.
        q = Q() if not all(parts) else reduce(operator.or_, parts)
    else:
        q = reduce(operator.and_, parts, Q())
    return _not(q) if node.get("negate") else q


def _not(q: Q) -> Q:
    return ~q if q else NOTHING


def _condition(node: dict, ctx: Context) -> Q:
    name = node["field"]
    op = node.get("op", "exists")
    value = node.get("value")
    if name in COLUMNS:
        spec = language.FIELDS[name]
        q = _column(COLUMNS[name], op, value, spec.type)
    else:
        q = BUILDERS[name](node, op, value, ctx)
    return _not(q) if node.get("negate") else q


# Plain columns --------------------------------------------------------------


def _convert(value: Any, type_: str) -> Any:
    if type_ in ("number", "aggregate"):
        return language.parse_number(value)
    if type_ == "date":
        return language.parse_date(value)
    return value


def _column(column: str, op: str, value: Any, type_: str) -> Q:
    """A comparison on one column; `is_set` means not null and, for text, not
    empty (text columns store "unknown" as "")."""
    if op in ("is_set", "not_set"):
        q = Q(**{f"{column}__isnull": False})
        if type_ in ("text", "choice"):
            q &= ~Q(**{column: ""})
        return q if op == "is_set" else ~q
    if op == "in":
        return Q(**{f"{column}__in": [_convert(v, type_) for v in value]})
    if op == "between":
        low, high = (_convert(v, type_) for v in value)
        return Q(**{f"{column}__gte": low, f"{column}__lte": high})
    lookup = {"eq": "exact"}.get(op, op)
    return Q(**{f"{column}__{lookup}": _convert(value, type_)})


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _created(node: dict, op: str, value: Any, ctx: Context) -> Q:
    """Dates compare with a timestamp column by whole local days."""
    if op in ("is_set", "not_set"):
        return Q() if op == "is_set" else NOTHING
    if op == "between":
        low, high = (language.parse_date(v) for v in value)
    else:
        low = high = language.parse_date(value)
    q = Q()
    if op in ("eq", "gte", "between"):
        q &= Q(created_at__gte=_day_start(low))
    if op in ("eq", "lte", "between"):
        q &= Q(created_at__lt=_day_start(high + dt.timedelta(days=1)))
    return q


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=day.year - years, day=28)


def _age(node: dict, op: str, value: Any, ctx: Context) -> Q:
    """Age in whole years today, as a range of birth dates (index-friendly)."""
    if op in ("is_set", "not_set"):
        return _column("birth_date", op, None, "date")
    if op == "in":
        q = NOTHING
        for v in value:
            q |= _age(node, "eq", v, ctx)
        return q
    if op == "between":
        low, high = (language.parse_number(v) for v in value)
    else:
        low = high = language.parse_number(value)
    today = ctx.today
    q = Q()
    if op in ("eq", "gte", "between"):
        # at least `low` years old: born on or before today minus ceil(low) years
        q &= Q(birth_date__lte=_years_before(today, int(-(-low // 1))))
    if op in ("eq", "lte", "between"):
        # at most `high`: born after today minus (floor(high) + 1) years
        q &= Q(birth_date__gt=_years_before(today, int(high // 1) + 1))
    return q


# Related rows ---------------------------------------------------------------


def _custom(node: dict, op: str, value: Any, ctx: Context) -> Q:
    key = node["key"]
    if key not in ctx.custom:
        fields = list(
            CustomField.objects.filter(key=key).values_list("id", "field_type")
        )
        if not fields:
            raise ValidationFailed(
                ErrorCode.UNKNOWN_CUSTOM_FIELD,
                _("There is no custom field “%(key)s”.") % {"key": key},
                field="key",
                value=key,
            )
        ctx.custom[key] = ([i for i, _t in fields], fields[0][1])
    ids, field_type = ctx.custom[key]
    type_ = language.CUSTOM_FIELD_TYPE[field_type]
    column = f"value_{_value_column(field_type)}"
    inner = _column(column, "is_set" if op == "not_set" else op, value, type_)
    values = CustomFieldValue.objects.filter(
        inner, customer_id=OuterRef("pk"), field_id__in=ids
    )
    return ~Q(Exists(values)) if op == "not_set" else Q(Exists(values))


def _value_column(field_type: str) -> str:
    from clientbook.customers.models import VALUE_COLUMN

    return VALUE_COLUMN[field_type]


def _exists_q(queryset: QuerySet, *, negated: bool = False) -> Q:
    q = Q(Exists(queryset))
    return ~q if negated else q


def _tag(node: dict, op: str, value: Any, ctx: Context) -> Q:
    links = Customer.tags.through.objects.filter(customer_id=OuterRef("pk"))
    if op == "eq":
        links = links.filter(tag__name=value)
    elif op == "in":
        links = links.filter(tag__name__in=value)
    return _exists_q(links, negated=op == "not_set")


def _identifier(node: dict, op: str, value: Any, ctx: Context) -> Q:
    found = Identifier.objects.filter(customer_id=OuterRef("pk"), type=node["type"])
    if node.get("verified"):
        found = found.filter(is_verified=True)
    return _exists_q(found)


def _address(node: dict, op: str, value: Any, ctx: Context) -> Q:
    column = node["field"]
    inner = _column(column, "is_set" if op == "not_set" else op, value, "text")
    found = Address.objects.filter(inner, customer_id=OuterRef("pk"))
    return _exists_q(found, negated=op == "not_set")


def _consent(node: dict, op: str, value: Any, ctx: Context) -> Q:
    """The current state is the latest ledger entry for the channel × purpose
    (kept in `ConsentState`, so this is a semi-join, not a lookup of the
    latest entry per customer); no entry is "unknown"."""
    state = ConsentState.objects.filter(
        customer_id=OuterRef("pk"), channel=node["channel"], purpose=node["purpose"]
    )
    if op in ("is_set", "not_set"):
        known = state.exclude(status=ConsentStatus.UNKNOWN)
        return _exists_q(known, negated=op == "not_set")
    statuses = value if op == "in" else [value]
    q = _exists_q(state.filter(status__in=statuses))
    if ConsentStatus.UNKNOWN in statuses:
        q |= _exists_q(state, negated=True)
    return q


# Behaviour ------------------------------------------------------------------


def _window(node: dict, ctx: Context) -> tuple[dt.datetime | None, dt.datetime | None]:
    """(start, end): start inclusive, end exclusive; None is open."""
    window = node.get("window") or {}
    if "last_days" in window:
        return ctx.now - dt.timedelta(days=window["last_days"]), None
    start = end = None
    if window.get("from"):
        start = _day_start(language.parse_date(window["from"]))
    if window.get("to"):
        end = _day_start(language.parse_date(window["to"]) + dt.timedelta(days=1))
    return start, end


def _in_window(queryset: QuerySet, column: str, node: dict, ctx: Context):
    start, end = _window(node, ctx)
    if start is not None:
        queryset = queryset.filter(**{f"{column}__gte": start})
    if end is not None:
        queryset = queryset.filter(**{f"{column}__lt": end})
    return queryset


def _as_list(value: Any) -> list:
    if value in (None, "", []):
        return []
    return value if isinstance(value, list) else [value]


def _bought(node: dict, op: str, value: Any, ctx: Context) -> Q:
    lines = OrderLine.objects.filter(order__customer_id=OuterRef("pk"), quantity__gt=0)
    if skus := _as_list(node.get("product")):
        lines = lines.filter(product__sku__in=skus)
    if categories := _as_list(node.get("category")):
        lines = lines.filter(product__category__in=categories)
    return _exists_q(_in_window(lines, "order__ordered_at", node, ctx))


def _compare(expression, op: str, value: Any) -> Q:
    if op == "between":
        low, high = (language.parse_number(v) for v in value)
        return Q(GreaterThanOrEqual(expression, low)) & Q(
            LessThanOrEqual(expression, high)
        )
    number = language.parse_number(value)
    lookup = {"eq": Exact, "gte": GreaterThanOrEqual, "lte": LessThanOrEqual}[op]
    return Q(lookup(expression, number))


def _spent(node: dict, op: str, value: Any, ctx: Context) -> Q:
    """Net of returns: the sum of every order's amount in the window."""
    orders = _in_window(
        Order.objects.filter(customer_id=OuterRef("pk")), "ordered_at", node, ctx
    )
    total = Subquery(
        orders.order_by()
        .values("customer_id")
        .annotate(total=Sum("amount"))
        .values("total"),
        output_field=MONEY,
    )
    return _compare(Coalesce(total, Value(Decimal(0)), output_field=MONEY), op, value)


def _order_count(node: dict, op: str, value: Any, ctx: Context) -> Q:
    orders = Order.objects.filter(customer_id=OuterRef("pk"), amount__gt=0)
    if channels := _as_list(node.get("channel")):
        orders = orders.filter(channel__in=channels)
    orders = _in_window(orders, "ordered_at", node, ctx)
    number = Subquery(
        orders.order_by().values("customer_id").annotate(n=Count("id")).values("n"),
        output_field=IntegerField(),
    )
    return _compare(Coalesce(number, Value(0)), op, value)


def _days_since_purchase(node: dict, op: str, value: Any, ctx: Context) -> Q:
    """Whole-day recency from purchases (orders with a positive amount),
    written as existence tests over (customer, ordered_at), which PostgreSQL
    answers from its index far faster than a MAX per customer."""
    purchases = Order.objects.filter(customer_id=OuterRef("pk"), amount__gt=0)
    ever = Q(Exists(purchases))
    if op in ("is_set", "not_set"):
        return ever if op == "is_set" else ~ever

    def since(days: Decimal) -> dt.datetime:
        return ctx.now - dt.timedelta(days=float(days))

    def bought_after(moment: dt.datetime, *, strictly: bool) -> Q:
        lookup = "ordered_at__gt" if strictly else "ordered_at__gte"
        return Q(Exists(purchases.filter(**{lookup: moment})))

    if op == "in":
        q = NOTHING
        for v in value:
            q |= _days_since_purchase(node, "eq", v, ctx)
        return q
    if op == "between":
        low, high = (language.parse_number(v) for v in value)
    elif op == "eq":
        low = language.parse_number(value)
        high = low + 1
    else:
        low = high = language.parse_number(value)
    if op == "gte":
        return ever & ~bought_after(since(low), strictly=True)
    if op == "lte":
        return bought_after(since(high), strictly=False)
    upper_q = bought_after(since(high), strictly=op == "eq")
    return upper_q & ~bought_after(since(low), strictly=True)


def _interactions(node: dict, ctx: Context, **fixed) -> Q:
    found = Interaction.objects.filter(customer_id=OuterRef("pk"), **fixed)
    if channels := _as_list(node.get("channel")):
        found = found.filter(channel__in=channels)
    if types := _as_list(node.get("type")):
        found = found.filter(type__in=types)
    if node.get("direction") and "direction" not in fixed:
        found = found.filter(direction=node["direction"])
    return _exists_q(_in_window(found, "occurred_at", node, ctx))


def _interaction(node: dict, op: str, value: Any, ctx: Context) -> Q:
    return _interactions(node, ctx)


def _contacted(node: dict, op: str, value: Any, ctx: Context) -> Q:
    return _interactions(node, ctx, direction="out")


def _responded(node: dict, op: str, value: Any, ctx: Context) -> Q:
    return _interactions(node, ctx, direction="in")


def _complained(node: dict, op: str, value: Any, ctx: Context) -> Q:
    return _interactions({**node, "type": None}, ctx, type="complaint")


def _segment(node: dict, op: str, value: Any, ctx: Context) -> Q:
    from clientbook.segments.models import SegmentKind, SegmentMember, SegmentSnapshot

    target = language.segment_by_ref(node["segment"])
    if target is None:
        return NOTHING
    key = str(target.uuid)
    if key in ctx.stack:
        raise ValidationFailed(
            ErrorCode.SEGMENT_CYCLE,
            _("Segment “%(name)s” refers to itself.") % {"name": target.name},
            field="segment",
            value=node["segment"],
        )
    if target.kind == SegmentKind.STATIC:
        latest = SegmentSnapshot.objects.filter(segment_id=target.pk).order_by(
            "-taken_at", "-id"
        )
        members = SegmentMember.objects.filter(
            customer_id=OuterRef("pk"), snapshot_id=Subquery(latest.values("id")[:1])
        )
        return _exists_q(members)
    inner = Context(now=ctx.now, stack=(*ctx.stack, key), custom=ctx.custom)
    return _group(target.definition, inner)


def _selected(node: dict, op: str, value: Any, ctx: Context) -> Q:
    found = CustomerSelection.objects.filter(customer_id=OuterRef("pk"))
    if node.get("purpose"):
        found = found.filter(run__purpose__contains=node["purpose"])
    if node.get("channel"):
        found = found.filter(run__channel=node["channel"])
    return _exists_q(_in_window(found, "selected_at", node, ctx))


def _campaign(node: dict, op: str, value: Any, ctx: Context) -> Q:
    from clientbook.campaigns.models import Campaign, Member
    from clientbook.campaigns.selection import is_uuid

    ref = str(node["campaign"])
    target = Campaign.objects.filter(name=ref).first()
    if target is None and is_uuid(ref):
        target = Campaign.objects.filter(uuid=ref).first()
    if target is None:
        return NOTHING
    found = Member.objects.filter(
        customer_id=OuterRef("pk"), campaign=target, suppression=""
    )
    arm = node.get("arm") or ""
    if arm in ("control", "treated"):
        found = found.filter(variant__is_control=arm == "control")
    elif arm:
        found = found.filter(variant__code=arm)
    if node.get("responded") is not None:
        found = found.filter(responded_at__isnull=not node["responded"])
    return _exists_q(found)


BUILDERS = {
    "created": _created,
    "age": _age,
    "custom": _custom,
    "tag": _tag,
    "identifier": _identifier,
    "consent": _consent,
    **{name: _address for name in ADDRESS_FIELDS},
    "bought": _bought,
    "spent": _spent,
    "order_count": _order_count,
    "days_since_purchase": _days_since_purchase,
    "interaction": _interaction,
    "contacted": _contacted,
    "responded": _responded,
    "complained": _complained,
    "segment": _segment,
    "selected": _selected,
    "campaign": _campaign,
}
