"""Past experiments brought in with their assignment and outcomes, so they
are evaluated like campaigns run here (the Hillstrom e-mail test is one).

Each row names a customer, the arm they were in and what they did:

    {"customer": "<uuid>"}                       an existing customer,
    {"identifier_type": "mobile", "identifier": "13812345678"}
                                                 or one found by a hard identifier,
    {"external_id": "hillstrom-17"}              or an anonymous customer found
                                                 or created with this external ID;
    "arm": "Mens E-Mail"                         the arm (one is the control);
    "visited": 1, "converted": 1, "spend": "29.99"   the outcomes;
    optional "margin", "wave" (test / rollout), "stratum", "occurred_at".

A visit becomes a response of kind visit, a conversion one of kind purchase
with the spend as its amount (via = file). The member also gets what the
attribution run would have written — orders (1 when converted), revenue
(the spend), margin (when given, else 0) and converted_at — since the
orders themselves are not in the database; `attribution` leaves such a
campaign alone (`selection["history"]`).

The import is one transaction: every row is checked first, and any bad
row rejects the whole file with its row number, field and value.
"""

import datetime as dt
import uuid as uuid_lib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection, models, transaction
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from clientbook.campaigns.attribution import HISTORY_KEY
from clientbook.campaigns.errors import ErrorCode
from clientbook.campaigns.models import (
    Campaign,
    ContactStatus,
    Member,
    Response,
    ResponseKind,
    ResponseVia,
    Stage,
    StageChange,
    Variant,
    Wave,
)
from clientbook.customers import normalise
from clientbook.customers.models import (
    HARD_IDENTIFIER_TYPES,
    Customer,
    Identifier,
    IdentifierType,
)
from clientbook.errors import Conflict, ValidationFailed
from clientbook.org.access import ensure_can_edit
from clientbook.privacy.models import ConsentChannel, LegalBasis, Source, SourceKind
from clientbook.privacy.services import audit_record, source_create

SOURCE_CODE = "campaign-history"
MAX_ERRORS = 100
_CHUNK = 5000
_TRUE = {"1", "true", "yes", "y", "t", "是"}
_FALSE = {"0", "false", "no", "n", "f", "否", ""}


@dataclass
class _Row:
    number: int
    ref: tuple  # ("uuid", UUID) | ("identifier", type, value) | ("external", value)
    arm: str
    visited: bool
    converted: bool
    spend: Decimal
    margin: Decimal
    wave: str
    stratum: str
    occurred_at: dt.datetime
    customer_id: int | None = None


class _Rejects(Exception):
    """Raised inside the parsing when the error list is full."""


class _Errors:
    def __init__(self) -> None:
        self.items: list[dict] = []

    def add(self, number: int, field: str, value, message: str) -> None:
        self.items.append(
            {"row": number, "field": field, "value": str(value), "message": message}
        )
        if len(self.items) >= MAX_ERRORS:
            raise _Rejects

    def raise_any(self) -> None:
        if not self.items:
            return
        first = self.items[0]
        raise ValidationFailed(
            ErrorCode.INVALID_FILE,
            _("Row %(row)s, %(field)s “%(value)s”: %(message)s") % first,
            field=first["field"],
            value=first["value"],
            details={"row": first["row"], "errors": self.items},
        )


def history_source() -> Source:
    """The privacy source of customers and responses imported this way."""
    source = Source.objects.filter(code=SOURCE_CODE).first()
    if source is None:
        source = source_create(
            code=SOURCE_CODE,
            name=_("Campaign history import"),
            kind=SourceKind.MANUAL,
            legal_basis=LegalBasis.LEGITIMATE_INTEREST,
        )
    return source


# Parsing ----------------------------------------------------------------------


def _flag(value) -> bool | None:
    text = str(value if value is not None else "").strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


def _reference(row: dict, number: int, errors: _Errors) -> tuple | None:
    if row.get("customer"):
        try:
            return ("uuid", uuid_lib.UUID(str(row["customer"]).strip()))
        except ValueError:
            errors.add(number, "customer", row["customer"], _("not a customer UUID"))
            return None
    if row.get("identifier"):
        kind = str(row.get("identifier_type") or "").strip()
        if kind not in HARD_IDENTIFIER_TYPES:
            errors.add(number, "identifier_type", kind, _("not a hard identifier type"))
            return None
        try:
            return ("identifier", kind, normalise.identifier(kind, row["identifier"]))
        except normalise.NormaliseError as exc:
            errors.add(number, "identifier", row["identifier"], str(exc))
            return None
    external = str(row.get("external_id") or "").strip()
    if external:
        return ("external", external[:200])
    errors.add(
        number,
        "customer",
        "",
        _("give a customer UUID, an identifier or an external ID"),
    )
    return None


def _money(row: dict, name: str, number: int, errors: _Errors) -> Decimal | None:
    value = row.get(name)
    if value in (None, ""):
        return Decimal("0.00")
    try:
        return normalise.money(value)
    except normalise.NormaliseError as exc:
        errors.add(number, name, value, str(exc))
        return None


def _outcomes(row: dict, number: int, errors: _Errors) -> tuple | None:
    visited, converted = _flag(row.get("visited")), _flag(row.get("converted"))
    if visited is None:
        errors.add(number, "visited", row.get("visited"), _("not yes or no (1 / 0)"))
    if converted is None:
        errors.add(
            number, "converted", row.get("converted"), _("not yes or no (1 / 0)")
        )
    spend, margin = (
        _money(row, "spend", number, errors),
        _money(row, "margin", number, errors),
    )
    if None in (visited, converted, spend, margin):
        return None
    if spend and not converted:
        errors.add(number, "spend", row.get("spend"), _("spend without a conversion"))
        return None
    return visited, converted, spend, margin


def _when(row: dict, number: int, errors: _Errors, default: dt.datetime):
    value = row.get("occurred_at")
    if value in (None, ""):
        return default
    try:
        return normalise.datetime_value(value, tz=timezone.get_current_timezone())
    except (normalise.NormaliseError, ValueError):
        errors.add(number, "occurred_at", value, _("not a date and time"))
        return None


def _parse(
    rows: Iterable[dict], started_at: dt.datetime, errors: _Errors
) -> list[_Row]:
    parsed = []
    waves = {"", *Wave.values}
    for number, row in enumerate(rows, start=1):
        ref = _reference(row, number, errors)
        arm = str(row.get("arm") or "").strip()
        if not arm:
            errors.add(number, "arm", "", _("an arm is required"))
        wave = str(row.get("wave") or "").strip()
        if wave not in waves:
            errors.add(number, "wave", wave, _("not test or rollout"))
        outcomes = _outcomes(row, number, errors)
        occurred_at = _when(row, number, errors, started_at)
        if ref is None or not arm or outcomes is None or occurred_at is None:
            continue
        if wave not in waves:
            continue
        stratum = str(row.get("stratum") or "")[:100]
        parsed.append(_Row(number, ref, arm, *outcomes, wave, stratum, occurred_at))
    return parsed


# Writing rows -------------------------------------------------------------------
#
# 64,000 rows in a few seconds: no model instances (Django's __init__ and
# per-value preparation were most of the time), tuples sent by COPY on
# PostgreSQL and one executemany on SQLite, every column not given set to
# its default.


def _allocate(model, count: int) -> list[int]:
    """New primary keys, taken before the insert so children can refer to
    them."""
    table, column = model._meta.db_table, model._meta.pk.column
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s))"
                " FROM generate_series(1, %s)",
                [table, column, count],
            )
            return [value for (value,) in cursor.fetchall()]
        # AUTOINCREMENT never reuses an id: start above the highest row and
        # the highest id ever given; the transaction holds SQLite's lock.
        cursor.execute(f"SELECT COALESCE(MAX({column}), 0) FROM {table}")  # noqa: S608
        highest = cursor.fetchone()[0]
        cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
        row = cursor.fetchone()
        start = max(highest, row[0] if row else 0) + 1
        return list(range(start, start + count))


def _converter(field: models.Field):
    """Per-value conversion for SQLite (PostgreSQL's driver adapts values)."""
    if connection.vendor == "postgresql":
        return None
    kind = field.get_internal_type()
    if kind == "DateTimeField":
        return connection.ops.adapt_datetimefield_value
    if kind == "UUIDField":
        return lambda v: None if v is None else v.hex
    if kind == "BooleanField":
        return lambda v: None if v is None else int(v)
    return None  # text, integers and Decimals (Django registers str) as they are


def _insert(model, columns: list[str], rows: list[tuple]) -> list[int]:
    """Inserts `rows` (tuples of the `columns`, attribute names) into the
    model's table; other columns get their default, automatic times now.
    Returns the new ids, in order."""
    if not rows:
        return []
    pk = model._meta.pk
    fields = [f for f in model._meta.concrete_fields if f is not pk]
    given = {name: i for i, name in enumerate(columns)}
    now = timezone.now()
    template, slots = [None], []
    for position, f in enumerate(fields, start=1):
        if f.attname in given:
            slots.append((position, given[f.attname], _converter(f)))
            template.append(None)
            continue
        automatic = getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
        value = now if automatic else f.get_default()
        template.append(f.get_db_prep_save(value, connection))
    ids = _allocate(model, len(rows))
    out = []
    for pk_value, row in zip(ids, rows, strict=True):
        values = template.copy()
        values[0] = pk_value
        for position, index, convert in slots:
            value = row[index]
            values[position] = convert(value) if convert else value
        out.append(values)
    _write(model, [pk.column, *(f.column for f in fields)], out)
    return ids


def _write(model, columns: list[str], rows: list[list]) -> None:
    quote = connection.ops.quote_name
    table, names = quote(model._meta.db_table), ", ".join(map(quote, columns))
    if connection.vendor == "postgresql":
        with (
            connection.connection.cursor() as cursor,
            cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join(["%s"] * len(columns))
    with connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)  # noqa: S608


# Customers ----------------------------------------------------------------------


def _chunks(items: list, size: int = _CHUNK):
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _existing(rows: list[_Row], errors: _Errors) -> dict[tuple, int]:
    """Reference → customer id, for the references found among live customers."""
    live = {"archived_at__isnull": True, "merged_into__isnull": True}
    uuids = [r.ref[1] for r in rows if r.ref[0] == "uuid"]
    found: dict[tuple, int] = {}
    for chunk in _chunks(uuids):
        for pk, value in Customer.objects.filter(uuid__in=chunk, **live).values_list(
            "pk", "uuid"
        ):
            found[("uuid", value)] = pk
    by_kind: dict[str, list[str]] = {}
    for r in rows:
        if r.ref[0] == "identifier":
            by_kind.setdefault(r.ref[1], []).append(r.ref[2])
        elif r.ref[0] == "external":
            by_kind.setdefault(IdentifierType.EXTERNAL, []).append(r.ref[1])
    for kind, values in by_kind.items():
        for pk, value in _holders(kind, values):
            key = (
                ("external", value)
                if kind == IdentifierType.EXTERNAL
                else ("identifier", kind, value)
            )
            found.setdefault(key, pk)
    for r in rows:
        if r.ref[0] != "external" and r.ref not in found:
            field = "customer" if r.ref[0] == "uuid" else "identifier"
            errors.add(r.number, field, r.ref[-1], _("no live customer has it"))
    return found


def _holders(kind: str, values: list[str]):
    """(customer id, value) of the live identifiers of `kind` among `values`,
    lowest customer id first: one query with an array on PostgreSQL (64,000
    values in IN lists were a third of an import's time), chunks on SQLite."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT customer_id, value FROM {Identifier._meta.db_table}"  # noqa: S608
                " WHERE type = %s AND is_live AND value = ANY(%s)"
                " ORDER BY customer_id",
                [kind, list(set(values))],
            )
            yield from cursor.fetchall()
        return
    for chunk in _chunks(values):
        held = Identifier.objects.filter(type=kind, value__in=chunk, is_live=True)
        yield from held.order_by("customer_id").values_list("customer_id", "value")


def _create_customers(refs: list[str], source: Source, now) -> dict[tuple, int]:
    """Anonymous customers, each with its external identifier."""
    ids = _insert(
        Customer,
        ["name", "uuid", "source_id"],
        [(ref, uuid_lib.uuid4(), source.pk) for ref in refs],
    )
    _insert(
        Identifier,
        ["customer_id", "type", "value", "source_id", "first_seen", "last_seen"],
        [
            (pk, IdentifierType.EXTERNAL, ref, source.pk, now, now)
            for pk, ref in zip(ids, refs, strict=True)
        ],
    )
    return {("external", ref): pk for ref, pk in zip(refs, ids, strict=True)}


def _check_duplicates(rows: list[_Row], errors: _Errors) -> None:
    seen: dict[int, int] = {}
    for r in rows:
        if r.customer_id is None:
            continue
        if r.customer_id in seen:
            errors.add(
                r.number,
                "customer",
                r.ref[-1],
                _("the same customer as row %(row)s") % {"row": seen[r.customer_id]},
            )
        seen.setdefault(r.customer_id, r.number)


# Writing --------------------------------------------------------------------------


def _check_name(name: str) -> str:
    name = " ".join(str(name or "").split())[:200]
    if not name:
        raise ValidationFailed(
            ErrorCode.NAME_REQUIRED, _("A campaign needs a name."), field="name"
        )
    if Campaign.objects.filter(name=name).exists():
        raise Conflict(
            ErrorCode.NAME_TAKEN,
            _("A campaign named “%(name)s” already exists.") % {"name": name},
            field="name",
            value=name,
        )
    return name


def _variants(campaign, arms: list[str], control: str, channel: str) -> dict:
    """Arm name → Variant; codes are the names as slugs (unique, ≤ 20)."""
    variants, codes = {}, set()
    for arm in sorted(arms, key=lambda a: (a == control, a)):
        base = (slugify(arm) or "arm")[:20]
        code, n = base, 1
        while code in codes:
            n += 1
            code = f"{base[: 20 - len(str(n)) - 1]}-{n}"
        codes.add(code)
        is_control = arm == control
        variants[arm] = Variant.objects.create(
            campaign=campaign,
            code=code,
            name=arm[:200],
            is_control=is_control,
            channel="" if is_control else channel,
        )
    return variants


_MEMBER_COLUMNS = [
    "campaign_id",
    "customer_id",
    "variant_id",
    "wave",
    "stratum",
    "status",
    "sent_at",
    "responded_at",
    "orders",
    "revenue",
    "margin",
    "converted_at",
]


def _member(row: _Row, campaign_id: int, variant: Variant) -> tuple:
    treated = not variant.is_control
    responded = row.visited or row.converted
    return (
        campaign_id,
        row.customer_id,
        variant.pk,
        row.wave,
        row.stratum,
        ContactStatus.SENT if treated else ContactStatus.HELD_OUT,
        row.occurred_at if treated else None,
        row.occurred_at if responded else None,
        1 if row.converted else 0,
        row.spend,
        row.margin,
        row.occurred_at if row.converted else None,
    )


_RESPONSE_COLUMNS = [
    "uuid",
    "member_id",
    "kind",
    "via",
    "occurred_at",
    "amount",
    "recorded_by_id",
]


def _responses(row: _Row, member_id: int, actor_id: int | None) -> list[tuple]:
    made = []
    if row.visited:
        made.append((ResponseKind.VISIT, None))
    if row.converted:
        made.append((ResponseKind.PURCHASE, row.spend))
    return [
        (
            uuid_lib.uuid4(),
            member_id,
            kind,
            ResponseVia.FILE,
            row.occurred_at,
            amount,
            actor_id,
        )
        for kind, amount in made
    ]


def _resolve(parsed: list[_Row], errors: _Errors, source: Source, now) -> int:
    """Sets each row's customer id, creating the anonymous customers; returns
    how many were created."""
    found = _existing(parsed, errors)
    missing = sorted(
        {r.ref[1] for r in parsed if r.ref[0] == "external"}
        - {key[1] for key in found if key[0] == "external"}
    )
    if not errors.items:
        found.update(_create_customers(missing, source, now))
    for r in parsed:
        r.customer_id = found.get(r.ref)
    return len(missing)


@transaction.atomic
def campaign_history_import(
    *,
    name: str,
    rows: Iterable[dict],
    actor,
    control: str,
    channel: str = "",
    started_at: dt.datetime | None = None,
    response_window_days: int = 30,
    objective: str = "",
) -> Campaign:
    """Imports a past experiment as a campaign in its evaluation stage: its
    arms as variants (`control` names the control arm), its customers as
    members with their arm and wave, their outcomes as responses and as the
    members' orders, revenue and conversion (see the module's docstring for
    the rows). `started_at` is when the experiment ran (the rows' default
    time). One transaction; bad rows reject everything.

    Raises:
        ValidationFailed: a bad row (row, field and value named; every error
            found, up to 100, in ``details["errors"]``), no rows, a control
            arm no row is in, or an unknown channel.
        Conflict: the name is taken.
        AccessDenied: a read-only role.
    """
    ensure_can_edit(actor)
    name = _check_name(name)
    if channel and channel not in ConsentChannel.values:
        raise ValidationFailed(
            ErrorCode.INVALID_CHANNEL,
            _("“%(value)s” is not a channel.") % {"value": channel},
            field="channel",
            value=channel,
        )
    now = timezone.now()
    started_at = started_at or now
    errors = _Errors()
    source = history_source()
    try:
        parsed = _parse(rows, started_at, errors)
        errors.raise_any()
        created = _resolve(parsed, errors, source, now)
        _check_duplicates(parsed, errors)
    except _Rejects:
        pass
    errors.raise_any()
    arms = Counter(r.arm for r in parsed)
    if not parsed or control not in arms:
        raise ValidationFailed(
            ErrorCode.INVALID_FILE,
            _("No row is in the control arm “%(arm)s”.") % {"arm": control},
            field="arm",
            value=control,
        )
    campaign = _campaign(
        name, objective, parsed, arms, control, started_at, response_window_days, actor
    )
    variants = _variants(campaign, list(arms), control, channel)
    members = _insert(
        Member,
        _MEMBER_COLUMNS,
        [_member(r, campaign.pk, variants[r.arm]) for r in parsed],
    )
    person = actor if actor is not None and actor.pk else None
    _insert(
        Response,
        _RESPONSE_COLUMNS,
        [
            response
            for r, pk in zip(parsed, members, strict=True)
            for response in _responses(r, pk, person.pk if person else None)
        ],
    )
    StageChange.objects.create(
        campaign=campaign,
        from_stage="",
        to_stage=Stage.EVALUATE,
        at=now,
        actor=person,
        note=_("Imported with its outcomes."),
    )
    audit_record(
        actor=actor,
        action="campaign.history_import",
        obj=campaign,
        after={
            "rows": len(parsed),
            "arms": dict(arms),
            "control": control,
            "customers_created": created,
        },
    )
    return campaign


def _campaign(
    name, objective, parsed, arms, control, started_at, window, actor
) -> Campaign:
    person = actor if actor is not None and actor.pk else None
    share = Decimal(arms[control] / len(parsed)).quantize(Decimal("0.001"))
    return Campaign.objects.create(
        name=name,
        objective=objective,
        stage=Stage.EVALUATE,
        owner=person,
        created_by=person,
        holdout_share=share,
        frequency_cap_days=0,
        response_window_days=window,
        selection={HISTORY_KEY: {"rows": len(parsed), "control": control}},
        selection_counts={"matched": len(parsed), "eligible": len(parsed)},
        selected_at=started_at,
        assigned_at=started_at,
        executed_at=started_at,
        starts_on=timezone.localdate(started_at),
    )
