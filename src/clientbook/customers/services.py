"""Every write to customers and what hangs off them. Each function is one
transaction, checks the actor's access, and leaves an audit entry."""

import datetime as dt
import decimal
from collections.abc import Iterable, Mapping
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _

from clientbook.customers import normalise
from clientbook.customers.errors import ErrorCode
from clientbook.customers.models import (
    HARD_IDENTIFIER_TYPES,
    VALUE_COLUMN,
    Address,
    AddressType,
    Customer,
    CustomerKind,
    CustomField,
    CustomFieldValue,
    FieldType,
    Gender,
    Identifier,
    IdentifierType,
    IncomeBand,
    KeyDate,
    KeyDateKind,
    LifecycleStage,
    Preference,
    Tag,
)
from clientbook.errors import Conflict, ValidationFailed
from clientbook.org.access import ensure_can_edit
from clientbook.privacy.models import Source
from clientbook.privacy.services import audit_changes, audit_record, snapshot

# The profile fields a create or update may set, with their choices if any.
PROFILE_FIELDS: dict[str, Any] = {
    "kind": CustomerKind,
    "name": None,
    "gender": Gender,
    "birth_date": None,
    "occupation": None,
    "employer": None,
    "position": None,
    "income_band": IncomeBand,
    "lifecycle_stage": LifecycleStage,
    "branch": None,
    "owner": None,
    "notes": None,
}
AUDITED_FIELDS = [*PROFILE_FIELDS, "archived_at", "merged_into"]


def _invalid(field: str, value: Any, message: str, code=ErrorCode.INVALID):
    return ValidationFailed(code, message, field=field, value=value)


def validate_profile(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Checks profile fields without writing; returns them cleaned."""
    return _clean_profile(changes)


def _clean_profile(changes: Mapping[str, Any]) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for field, value in changes.items():
        if field not in PROFILE_FIELDS:
            raise _invalid(field, value, _("Unknown field."), ErrorCode.UNKNOWN_FIELD)
        choices = PROFILE_FIELDS[field]
        if choices is not None and value not in choices.values:
            raise _invalid(
                field, value, _("“%(value)s” is not a valid choice.") % {"value": value}
            )
        if field == "name":
            value = normalise.name(value or "")
            if not value:
                raise _invalid(
                    field, value, _("A customer needs a name."), ErrorCode.REQUIRED
                )
        if field == "birth_date" and isinstance(value, str):
            value = _parse_date(field, value)
        if field == "birth_date" and value and value > timezone.localdate():
            raise _invalid(field, value, _("A birth date cannot be in the future."))
        clean[field] = value
    return clean


def _parse_date(field: str, value: str) -> dt.date | None:
    if not value:
        return None
    try:
        parsed = parse_date(value)
    except ValueError:
        parsed = None
    if parsed is None:
        raise _invalid(field, value, _("Not a date (expected YYYY-MM-DD)."))
    return parsed


def _set_name_keys(customer: Customer) -> None:
    customer.name_pinyin, customer.name_initials = normalise.name_keys(customer.name)


@transaction.atomic
def customer_create(
    *,
    name: str,
    source: Source,
    actor=None,
    identifiers: Iterable[Mapping[str, Any]] = (),
    addresses: Iterable[Mapping[str, Any]] = (),
    custom_fields: Mapping[str, Any] | None = None,
    tags: Iterable[str] = (),
    **profile: Any,
) -> Customer:
    """Creates a customer with its identifiers, addresses, custom values and tags.

    Raises:
        ValidationFailed: a field is invalid (nothing is written).
        Conflict: a hard identifier belongs to another live customer.
    """
    fields = _clean_profile({"name": name, **profile})
    customer = Customer(source=source, **fields)
    ensure_can_edit(actor, customer)
    _set_name_keys(customer)
    customer.save()
    for item in identifiers:
        _identifier_add(customer=customer, source=source, **item)
    for item in addresses:
        _address_add(customer=customer, source=source, **item)
    _custom_values_set(customer, custom_fields or {}, creating=True)
    if tags:
        customer.tags.set(_tags(tags))
    audit_record(
        actor=actor,
        action="customer.create",
        obj=customer,
        customer=customer,
        after=snapshot(customer, AUDITED_FIELDS),
    )
    return customer


@transaction.atomic
def customer_update(
    *,
    customer: Customer,
    actor=None,
    custom_fields: Mapping[str, Any] | None = None,
    tags: Iterable[str] | None = None,
    **changes: Any,
) -> Customer:
    """Changes profile fields, custom values or tags; only changes are audited.

    The customer is read again, locked, and only the fields changed are
    written: a copy loaded before a merge or an archive does not undo it.

    Raises:
        ValidationFailed: a field is invalid, or the customer was archived
            or merged into another.
    """
    given = customer
    customer = Customer.objects.select_for_update(of=("self",)).get(pk=given.pk)
    ensure_can_edit(actor, customer)
    if not customer.is_live:
        raise ValidationFailed(
            ErrorCode.NOT_LIVE,
            _("%(name)s is archived or merged already.") % {"name": customer},
            value=str(customer.uuid),
        )
    if changes.get("branch", customer.branch) != customer.branch:
        # Moving a customer to another branch is a change to both branches.
        ensure_can_edit(actor, Customer(branch=changes["branch"]))
    fields = _clean_profile(changes)
    before = snapshot(customer, AUDITED_FIELDS)
    keys = ("name_pinyin", "name_initials")
    old_keys = [getattr(customer, f) for f in keys]
    changed = [f for f, v in fields.items() if getattr(customer, f) != v]
    for field in changed:
        setattr(customer, field, fields[field])
    _set_name_keys(customer)
    changed += [
        f for f, old in zip(keys, old_keys, strict=True) if getattr(customer, f) != old
    ]
    changed.append("updated_at")
    customer.save(update_fields=changed)
    # The caller's copy as it would have been changed in place.
    for field in changed:
        setattr(given, field, getattr(customer, field))
    if custom_fields:
        before["custom_fields"] = custom_values_dict(customer)
        _custom_values_set(customer, custom_fields)
    if tags is not None:
        before["tags"] = sorted(customer.tags.values_list("name", flat=True))
        customer.tags.set(_tags(tags))
    after = snapshot(customer, AUDITED_FIELDS)
    if custom_fields:
        after["custom_fields"] = custom_values_dict(customer)
    if tags is not None:
        after["tags"] = sorted(customer.tags.values_list("name", flat=True))
    old, new = audit_changes(before, after)
    if new:
        audit_record(
            actor=actor,
            action="customer.update",
            obj=customer,
            customer=customer,
            before=old,
            after=new,
        )
    return customer


@transaction.atomic
def customer_archive(*, customer: Customer, actor=None, reason: str = "") -> Customer:
    """Archives a customer; its hard identifiers are freed for live customers."""
    ensure_can_edit(actor, customer)
    if customer.archived_at is not None:
        return customer
    before = snapshot(customer, ["lifecycle_stage", "archived_at"])
    customer.archived_at = timezone.now()
    customer.lifecycle_stage = LifecycleStage.ARCHIVED
    customer.save(update_fields=["archived_at", "lifecycle_stage", "updated_at"])
    customer.identifiers.update(is_live=False)
    after = snapshot(customer, ["lifecycle_stage", "archived_at"])
    after["reason"] = reason
    audit_record(
        actor=actor,
        action="customer.archive",
        obj=customer,
        customer=customer,
        before=before,
        after=after,
    )
    return customer


@transaction.atomic
def customer_restore(*, customer: Customer, actor=None) -> Customer:
    """Brings an archived customer back, if no live customer took its identifiers."""
    ensure_can_edit(actor, customer)
    if customer.archived_at is None or customer.merged_into_id is not None:
        raise ValidationFailed(
            ErrorCode.NOT_LIVE, _("Only an archived customer can be restored.")
        )
    for ident in customer.identifiers.all():
        if ident.type in HARD_IDENTIFIER_TYPES:
            _ensure_identifier_free(ident.type, ident.value, customer)
    before = snapshot(customer, ["lifecycle_stage", "archived_at"])
    customer.archived_at = None
    customer.lifecycle_stage = LifecycleStage.LAPSED
    customer.save(update_fields=["archived_at", "lifecycle_stage", "updated_at"])
    customer.identifiers.update(is_live=True)
    audit_record(
        actor=actor,
        action="customer.restore",
        obj=customer,
        customer=customer,
        before=before,
        after=snapshot(customer, ["lifecycle_stage", "archived_at"]),
    )
    return customer


def _tags(names: Iterable[str]) -> list[Tag]:
    tags = []
    for raw in names:
        label = normalise.name(raw)
        if label:
            tags.append(Tag.objects.get_or_create(name=label)[0])
    return tags


# Identifiers -----------------------------------------------------------------


def _normalise_identifier(type_: str, value: Any) -> str:
    if type_ not in IdentifierType.values:
        raise _invalid(
            "type",
            type_,
            _("“%(value)s” is not an identifier type.") % {"value": type_},
        )
    try:
        return normalise.identifier(type_, value)
    except normalise.NormaliseError as exc:
        raise ValidationFailed(
            ErrorCode.INVALID_IDENTIFIER,
            _("%(type)s “%(value)s”: %(reason)s")
            % {"type": IdentifierType(type_).label, "value": value, "reason": exc},
            field=type_,
            value=value,
        ) from exc


def _ensure_identifier_free(type_: str, value: str, customer: Customer) -> None:
    holder = (
        Identifier.objects.filter(type=type_, value=value, is_live=True)
        .exclude(customer=customer)
        .select_related("customer")
        .first()
    )
    if holder is not None:
        raise _identifier_taken(type_, value, holder.customer)


def _identifier_taken(type_: str, value: str, holder: Customer) -> Conflict:
    return Conflict(
        ErrorCode.IDENTIFIER_TAKEN,
        _("%(type)s %(value)s already belongs to customer %(name)s (%(uuid)s).")
        % {
            "type": IdentifierType(type_).label,
            "value": value,
            "name": holder.name,
            "uuid": holder.uuid,
        },
        field=type_,
        value=value,
        details={"existing_customer": str(holder.uuid)},
    )


def _identifier_add(
    *,
    customer: Customer,
    type: str,
    value: Any,
    source: Source,
    is_verified: bool = False,
    seen_at: dt.datetime | None = None,
) -> Identifier:
    clean = _normalise_identifier(type, value)
    seen_at = seen_at or timezone.now()
    existing = customer.identifiers.filter(type=type, value=clean).first()
    if existing is not None:
        existing.last_seen = max(existing.last_seen, seen_at)
        existing.is_verified = existing.is_verified or is_verified
        existing.save(update_fields=["last_seen", "is_verified"])
        return existing
    if type in HARD_IDENTIFIER_TYPES and customer.is_live:
        _ensure_identifier_free(type, clean, customer)
    try:
        with transaction.atomic():
            return Identifier.objects.create(
                customer=customer,
                type=type,
                value=clean,
                source=source,
                is_verified=is_verified,
                is_live=customer.is_live,
                first_seen=seen_at,
                last_seen=seen_at,
            )
    except IntegrityError:
        # Another transaction took it between the check and the insert.
        holder = Identifier.objects.get(type=type, value=clean, is_live=True).customer
        raise _identifier_taken(type, clean, holder) from None


@transaction.atomic
def identifier_add(
    *,
    customer: Customer,
    type: str,
    value: Any,
    source: Source,
    actor=None,
    is_verified: bool = False,
) -> Identifier:
    """Adds an identifier (normalised); seeing a known one again updates last_seen.

    Raises:
        ValidationFailed: the value does not normalise.
        Conflict: a hard identifier held by another live customer.
    """
    ensure_can_edit(actor, customer)
    ident = _identifier_add(
        customer=customer,
        type=type,
        value=value,
        source=source,
        is_verified=is_verified,
    )
    audit_record(
        actor=actor,
        action="identifier.add",
        obj=ident,
        customer=customer,
        after=snapshot(ident, ["type", "value", "is_verified", "source"]),
    )
    return ident


@transaction.atomic
def identifier_remove(*, identifier: Identifier, actor=None) -> None:
    customer = identifier.customer
    ensure_can_edit(actor, customer)
    before = snapshot(identifier, ["type", "value", "is_verified", "source"])
    audit_record(
        actor=actor,
        action="identifier.remove",
        obj=identifier,
        customer=customer,
        before=before,
    )
    identifier.delete()


@transaction.atomic
def identifier_verify(*, identifier: Identifier, actor=None) -> Identifier:
    ensure_can_edit(actor, identifier.customer)
    identifier.is_verified = True
    identifier.last_seen = timezone.now()
    identifier.save(update_fields=["is_verified", "last_seen"])
    audit_record(
        actor=actor,
        action="identifier.verify",
        obj=identifier,
        customer=identifier.customer,
        after={"is_verified": True},
    )
    return identifier


# Addresses, preferences, key dates --------------------------------------------

ADDRESS_FIELDS = [
    "type",
    "country",
    "province",
    "city",
    "district",
    "street",
    "postcode",
    "raw",
    "is_valid",
]


def _address_add(*, customer: Customer, source: Source, **fields: Any) -> Address:
    unknown = set(fields) - set(ADDRESS_FIELDS)
    if unknown:
        field = sorted(unknown)[0]
        raise _invalid(
            field, fields[field], _("Unknown field."), ErrorCode.UNKNOWN_FIELD
        )
    if fields.get("type", AddressType.HOME) not in AddressType.values:
        raise _invalid(
            "type",
            fields["type"],
            _("“%(value)s” is not a valid choice.") % {"value": fields["type"]},
        )
    clean = {
        k: normalise.name(v) if isinstance(v, str) else v for k, v in fields.items()
    }
    if not any(clean.get(k) for k in ("province", "city", "district", "street", "raw")):
        raise _invalid(
            "street",
            "",
            _("An address needs at least a street or a city."),
            ErrorCode.REQUIRED,
        )
    return Address.objects.create(customer=customer, source=source, **clean)


@transaction.atomic
def address_add(
    *, customer: Customer, source: Source, actor=None, **fields: Any
) -> Address:
    ensure_can_edit(actor, customer)
    address = _address_add(customer=customer, source=source, **fields)
    audit_record(
        actor=actor,
        action="address.add",
        obj=address,
        customer=customer,
        after=snapshot(address, ADDRESS_FIELDS),
    )
    return address


@transaction.atomic
def address_update(*, address: Address, actor=None, **fields: Any) -> Address:
    ensure_can_edit(actor, address.customer)
    before = snapshot(address, ADDRESS_FIELDS)
    for key, value in fields.items():
        if key not in ADDRESS_FIELDS:
            raise _invalid(key, value, _("Unknown field."), ErrorCode.UNKNOWN_FIELD)
        setattr(
            address, key, normalise.name(value) if isinstance(value, str) else value
        )
    address.save()
    old, new = audit_changes(before, snapshot(address, ADDRESS_FIELDS))
    audit_record(
        actor=actor,
        action="address.update",
        obj=address,
        customer=address.customer,
        before=old,
        after=new,
    )
    return address


@transaction.atomic
def preference_set(
    *,
    customer: Customer,
    key: str,
    value: str,
    source: Source,
    category: str = "",
    actor=None,
) -> Preference:
    """Sets a preference; an existing one with the same category and key is replaced."""
    ensure_can_edit(actor, customer)
    key, value, category = (
        normalise.name(key),
        normalise.name(value),
        normalise.name(category),
    )
    if not key:
        raise _invalid("key", key, _("A preference needs a key."), ErrorCode.REQUIRED)
    if not value:
        raise _invalid(
            "value", value, _("A preference needs a value."), ErrorCode.REQUIRED
        )
    pref = customer.preferences.filter(category=category, key=key).first()
    before = snapshot(pref, ["category", "key", "value"]) if pref else None
    if pref is None:
        pref = Preference(customer=customer, category=category, key=key)
    pref.value, pref.source = value, source
    pref.save()
    audit_record(
        actor=actor,
        action="preference.set",
        obj=pref,
        customer=customer,
        before=before,
        after=snapshot(pref, ["category", "key", "value"]),
    )
    return pref


@transaction.atomic
def key_date_add(
    *,
    customer: Customer,
    kind: str,
    date: dt.date | str,
    source: Source,
    label: str = "",
    actor=None,
) -> KeyDate:
    ensure_can_edit(actor, customer)
    if kind not in KeyDateKind.values:
        raise _invalid(
            "kind", kind, _("“%(value)s” is not a valid choice.") % {"value": kind}
        )
    if isinstance(date, str):
        date = _parse_date("date", date)
    if date is None:
        raise _invalid("date", date, _("A key date needs a date."), ErrorCode.REQUIRED)
    key_date = KeyDate.objects.create(
        customer=customer,
        kind=kind,
        date=date,
        label=normalise.name(label),
        source=source,
    )
    audit_record(
        actor=actor,
        action="key_date.add",
        obj=key_date,
        customer=customer,
        after=snapshot(key_date, ["kind", "date", "label"]),
    )
    return key_date


# Custom fields ----------------------------------------------------------------


@transaction.atomic
def custom_field_define(
    *,
    key: str,
    label: str,
    customer_kind: str,
    field_type: str,
    choices: list[str] | None = None,
    is_required: bool = False,
    help_text: str = "",
    actor=None,
) -> CustomField:
    """Declares an extra attribute for one kind of customer."""
    ensure_can_edit(actor)
    if field_type not in FieldType.values:
        raise _invalid(
            "field_type",
            field_type,
            _("“%(value)s” is not a valid choice.") % {"value": field_type},
        )
    if customer_kind not in CustomerKind.values:
        raise _invalid(
            "customer_kind",
            customer_kind,
            _("“%(value)s” is not a valid choice.") % {"value": customer_kind},
        )
    if field_type == FieldType.CHOICE and not choices:
        raise _invalid(
            "choices",
            choices,
            _("A choice field needs its choices."),
            ErrorCode.REQUIRED,
        )
    if CustomField.objects.filter(customer_kind=customer_kind, key=key).exists():
        raise Conflict(
            "field_exists",
            _("A field “%(key)s” exists already.") % {"key": key},
            field="key",
            value=key,
        )
    field = CustomField.objects.create(
        key=key,
        label=label,
        customer_kind=customer_kind,
        field_type=field_type,
        choices=list(choices or []),
        is_required=is_required,
        help_text=help_text,
    )
    audit_record(
        actor=actor, action="custom_field.define", obj=field, after=snapshot(field)
    )
    return field


# What numeric(20, 6) stores: values that round, at 6 places, below 10^14.
_DECIMAL_LIMIT = decimal.Decimal(10) ** 14 - decimal.Decimal("0.0000005")


def custom_value_parse(field: CustomField, value: Any) -> Any:
    """Checks a value against its declaration and returns it in its stored type."""
    path = f"custom_fields.{field.key}"
    if value is None or value == "":
        if field.is_required:
            raise _invalid(
                path,
                value,
                _("“%(label)s” is required.") % {"label": field.label},
                ErrorCode.REQUIRED,
            )
        return None
    kind = field.field_type
    try:
        if kind == FieldType.INTEGER:
            if isinstance(value, bool) or (
                isinstance(value, float) and not value.is_integer()
            ):
                raise ValueError
            number = int(str(value).strip()) if isinstance(value, str) else int(value)
            if not -(2**63) <= number < 2**63:  # the column's bigint
                raise ValueError
            return number
        if kind == FieldType.DECIMAL:
            number = decimal.Decimal(str(value).strip())
            # The database refused more, failing the whole request or import.
            if not number.is_finite() or abs(number) >= _DECIMAL_LIMIT:
                raise ValueError
            return number
        if kind == FieldType.DATE:
            parsed = value if isinstance(value, dt.date) else parse_date(str(value))
            if parsed is None:
                raise ValueError
            return parsed
        if kind == FieldType.BOOLEAN:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "y", "是", "对"):
                return True
            if text in ("0", "false", "no", "n", "否", "不"):
                return False
            raise ValueError
        if kind == FieldType.CHOICE:
            if str(value) not in field.choices:
                raise ValueError
            return str(value)
        return str(value)
    except (ValueError, decimal.InvalidOperation):
        raise _invalid(
            path,
            value,
            _("“%(value)s” is not a valid %(type)s for “%(label)s”.")
            % {"value": value, "type": FieldType(kind).label, "label": field.label},
        ) from None


def _custom_values_set(
    customer: Customer, values: Mapping[str, Any], *, creating: bool = False
) -> None:
    fields = {f.key: f for f in CustomField.objects.filter(customer_kind=customer.kind)}
    if creating:
        # A required field must be given when the customer is created.
        missing = [f for f in fields.values() if f.is_required and f.key not in values]
        for field in missing:
            custom_value_parse(field, None)
    for key, raw in values.items():
        field = fields.get(key)
        if field is None:
            raise _invalid(
                f"custom_fields.{key}",
                raw,
                _("No such custom field."),
                ErrorCode.UNKNOWN_FIELD,
            )
        parsed = custom_value_parse(field, raw)
        if parsed is None:
            CustomFieldValue.objects.filter(customer=customer, field=field).delete()
            continue
        column = f"value_{VALUE_COLUMN[field.field_type]}"
        CustomFieldValue.objects.update_or_create(
            customer=customer, field=field, defaults={column: parsed}
        )


def custom_values_dict(customer: Customer) -> dict[str, Any]:
    return {
        v.field.key: snapshot_value(v.value)
        for v in customer.custom_values.select_related("field")
    }


def snapshot_value(value: Any) -> Any:
    if isinstance(value, dt.date | decimal.Decimal):
        return str(value)
    return value
