"""/api/v1/customers: create, read, update, archive, search; identifiers,
addresses, preferences and key dates. Thin: parse, call a service, serialise."""

import datetime as dt
import uuid as uuid_lib
from typing import Any

from django.utils.translation import gettext as _
from ninja import Field, Router, Schema, Status

from clientbook.customers import selectors, services
from clientbook.customers.models import Customer, Identifier
from clientbook.errors import NotFound, ValidationFailed
from clientbook.org.models import Branch, User
from clientbook.privacy.masking import show_identifier
from clientbook.privacy.models import Source

router = Router(tags=["customers"])


# Schemas ----------------------------------------------------------------------


class IdentifierIn(Schema):
    type: str
    value: str
    is_verified: bool = False


class IdentifierOut(Schema):
    id: int
    type: str
    value: str
    is_verified: bool
    source: str
    first_seen: dt.datetime
    last_seen: dt.datetime


class AddressIn(Schema):
    type: str = "home"
    country: str = "CN"
    province: str = ""
    city: str = ""
    district: str = ""
    street: str = ""
    postcode: str = ""
    raw: str = ""
    is_valid: bool = True


class AddressOut(AddressIn):
    id: int
    source: str


class CustomerIn(Schema):
    name: str
    source: str = Field(..., description="Code of the source the customer came from")
    kind: str = "individual"
    gender: str = ""
    birth_date: dt.date | None = None
    occupation: str = ""
    employer: str = ""
    position: str = ""
    income_band: str = ""
    lifecycle_stage: str = "prospect"
    branch: str | None = Field(None, description="Branch code")
    owner: str | None = Field(None, description="Username of the owning staff member")
    notes: str = ""
    tags: list[str] = []
    custom_fields: dict[str, Any] = {}
    identifiers: list[IdentifierIn] = []
    addresses: list[AddressIn] = []


class CustomerPatch(Schema):
    name: str | None = None
    kind: str | None = None
    gender: str | None = None
    birth_date: dt.date | None = None
    occupation: str | None = None
    employer: str | None = None
    position: str | None = None
    income_band: str | None = None
    lifecycle_stage: str | None = None
    branch: str | None = None
    owner: str | None = None
    notes: str | None = None
    tags: list[str] | None = None
    custom_fields: dict[str, Any] | None = None


class CustomerSummary(Schema):
    uuid: uuid_lib.UUID
    kind: str
    name: str
    gender: str
    birth_date: dt.date | None
    lifecycle_stage: str
    branch: str | None
    archived_at: dt.datetime | None


class CustomerOut(CustomerSummary):
    occupation: str
    employer: str
    position: str
    income_band: str
    owner: str | None
    source: str
    notes: str
    tags: list[str]
    custom_fields: dict[str, Any]
    identifiers: list[IdentifierOut]
    addresses: list[AddressOut]
    created_at: dt.datetime
    updated_at: dt.datetime
    merged_into: uuid_lib.UUID | None


class CustomerPage(Schema):
    items: list[CustomerSummary]
    page: int
    page_size: int
    has_next: bool


class PreferenceIn(Schema):
    key: str
    value: str
    category: str = ""
    source: str


class PreferenceOut(Schema):
    id: int
    category: str
    key: str
    value: str
    source: str


class KeyDateIn(Schema):
    kind: str
    date: dt.date
    label: str = ""
    source: str


class KeyDateOut(Schema):
    id: int
    kind: str
    date: dt.date
    label: str
    source: str


class SourceRef(Schema):
    source: str


# Lookups shared by the other apps' routers ------------------------------------


def customer_or_404(request, uuid: uuid_lib.UUID) -> Customer:
    customer = selectors.customer_get_for_user(user=request.user, uuid=uuid)
    if customer is None:
        raise NotFound("not_found", _("No such customer."), value=str(uuid))
    return customer


def source_by_code(code: str, *, field: str = "source") -> Source:
    source = Source.objects.filter(code=code, is_active=True).first()
    if source is None:
        raise ValidationFailed(
            "unknown_source",
            _("No active source “%(code)s”.") % {"code": code},
            field=field,
            value=code,
        )
    return source


def _branch(code: str | None) -> Branch | None:
    if not code:
        return None
    branch = Branch.objects.filter(code=code).first()
    if branch is None:
        raise ValidationFailed(
            "unknown_branch",
            _("No branch “%(code)s”.") % {"code": code},
            field="branch",
            value=code,
        )
    return branch


def _owner(username: str | None) -> User | None:
    if not username:
        return None
    owner = User.objects.filter(username=username, is_active=True).first()
    if owner is None:
        raise ValidationFailed(
            "unknown_owner",
            _("No staff member “%(name)s”.") % {"name": username},
            field="owner",
            value=username,
        )
    return owner


# Serialisers --------------------------------------------------------------------


def identifier_out(user, ident: Identifier) -> dict[str, Any]:
    return {
        "id": ident.pk,
        "type": ident.type,
        "value": show_identifier(user, ident.type, ident.value),
        "is_verified": ident.is_verified,
        "source": ident.source.code,
        "first_seen": ident.first_seen,
        "last_seen": ident.last_seen,
    }


def _address_out(address) -> dict[str, Any]:
    data = {f: getattr(address, f) for f in services.ADDRESS_FIELDS}
    return {**data, "id": address.pk, "source": address.source.code}


def _summary(customer: Customer) -> dict[str, Any]:
    return {
        "uuid": customer.uuid,
        "kind": customer.kind,
        "name": customer.name,
        "gender": customer.gender,
        "birth_date": customer.birth_date,
        "lifecycle_stage": customer.lifecycle_stage,
        "branch": customer.branch.code if customer.branch else None,
        "archived_at": customer.archived_at,
    }


def customer_out(user, customer: Customer) -> dict[str, Any]:
    identifiers = customer.identifiers.select_related("source").order_by("type", "id")
    addresses = customer.addresses.select_related("source").order_by("id")
    return {
        **_summary(customer),
        "occupation": customer.occupation,
        "employer": customer.employer,
        "position": customer.position,
        "income_band": customer.income_band,
        "owner": customer.owner.username if customer.owner else None,
        "source": customer.source.code,
        "notes": customer.notes,
        "tags": sorted(t.name for t in customer.tags.all()),
        "custom_fields": services.custom_values_dict(customer),
        "identifiers": [identifier_out(user, i) for i in identifiers],
        "addresses": [_address_out(a) for a in addresses],
        "created_at": customer.created_at,
        "updated_at": customer.updated_at,
        "merged_into": customer.merged_into.uuid if customer.merged_into else None,
    }


# Endpoints ----------------------------------------------------------------------


@router.get("", response=CustomerPage)
def customer_list(request, q: str = "", page: int = 1, page_size: int = 50):
    """Live customers the caller may see; `q` searches name, pinyin and identifiers."""
    page, page_size = max(page, 1), min(max(page_size, 1), 500)
    start = (page - 1) * page_size
    if q:
        qs = selectors.customer_search(
            user=request.user, query=q, limit=start + page_size + 1
        )
        rows = list(qs)[start:]
    else:
        qs = selectors.customer_list_for_user(user=request.user).order_by("id")
        rows = list(qs.select_related("branch")[start : start + page_size + 1])
    return {
        "items": [_summary(c) for c in rows[:page_size]],
        "page": page,
        "page_size": page_size,
        "has_next": len(rows) > page_size,
    }


@router.post("", response={201: CustomerOut})
def customer_create(request, payload: CustomerIn):
    data = payload.dict()
    customer = services.customer_create(
        actor=request.user,
        source=source_by_code(data.pop("source")),
        branch=_branch(data.pop("branch")) or request.user.branch,
        owner=_owner(data.pop("owner")),
        identifiers=data.pop("identifiers"),
        addresses=data.pop("addresses"),
        **data,
    )
    return Status(201, customer_out(request.user, customer))


@router.get("/{uuid}", response=CustomerOut)
def customer_get(request, uuid: uuid_lib.UUID):
    return customer_out(request.user, customer_or_404(request, uuid))


@router.patch("/{uuid}", response=CustomerOut)
def customer_update(request, uuid: uuid_lib.UUID, payload: CustomerPatch):
    customer = customer_or_404(request, uuid)
    changes = payload.dict(exclude_unset=True)
    if "branch" in changes:
        changes["branch"] = _branch(changes["branch"])
    if "owner" in changes:
        changes["owner"] = _owner(changes["owner"])
    customer = services.customer_update(
        customer=customer, actor=request.user, **changes
    )
    return customer_out(request.user, customer)


@router.post("/{uuid}/archive", response=CustomerOut)
def customer_archive(request, uuid: uuid_lib.UUID):
    customer = services.customer_archive(
        customer=customer_or_404(request, uuid), actor=request.user
    )
    return customer_out(request.user, customer)


@router.post("/{uuid}/restore", response=CustomerOut)
def customer_restore(request, uuid: uuid_lib.UUID):
    customer = services.customer_restore(
        customer=customer_or_404(request, uuid), actor=request.user
    )
    return customer_out(request.user, customer)


@router.get("/{uuid}/identifiers", response=list[IdentifierOut])
def identifier_list(request, uuid: uuid_lib.UUID):
    customer = customer_or_404(request, uuid)
    return [
        identifier_out(request.user, i)
        for i in customer.identifiers.select_related("source").order_by("type", "id")
    ]


class IdentifierCreate(IdentifierIn, SourceRef):
    pass


@router.post("/{uuid}/identifiers", response={201: IdentifierOut})
def identifier_add(request, uuid: uuid_lib.UUID, payload: IdentifierCreate):
    ident = services.identifier_add(
        customer=customer_or_404(request, uuid),
        type=payload.type,
        value=payload.value,
        source=source_by_code(payload.source),
        is_verified=payload.is_verified,
        actor=request.user,
    )
    return Status(201, identifier_out(request.user, ident))


@router.delete("/{uuid}/identifiers/{identifier_id}", response={204: None})
def identifier_remove(request, uuid: uuid_lib.UUID, identifier_id: int):
    customer = customer_or_404(request, uuid)
    ident = customer.identifiers.filter(pk=identifier_id).first()
    if ident is None:
        raise NotFound("not_found", _("No such identifier."), value=identifier_id)
    services.identifier_remove(identifier=ident, actor=request.user)
    return Status(204, None)


@router.get("/{uuid}/addresses", response=list[AddressOut])
def address_list(request, uuid: uuid_lib.UUID):
    customer = customer_or_404(request, uuid)
    return [_address_out(a) for a in customer.addresses.select_related("source")]


class AddressCreate(AddressIn, SourceRef):
    pass


@router.post("/{uuid}/addresses", response={201: AddressOut})
def address_add(request, uuid: uuid_lib.UUID, payload: AddressCreate):
    data = payload.dict()
    address = services.address_add(
        customer=customer_or_404(request, uuid),
        source=source_by_code(data.pop("source")),
        actor=request.user,
        **data,
    )
    return Status(201, _address_out(address))


def _preference_out(pref) -> dict[str, Any]:
    return {
        "id": pref.pk,
        "category": pref.category,
        "key": pref.key,
        "value": pref.value,
        "source": pref.source.code,
    }


@router.get("/{uuid}/preferences", response=list[PreferenceOut])
def preference_list(request, uuid: uuid_lib.UUID):
    customer = customer_or_404(request, uuid)
    return [_preference_out(p) for p in customer.preferences.select_related("source")]


@router.post("/{uuid}/preferences", response={201: PreferenceOut})
def preference_set(request, uuid: uuid_lib.UUID, payload: PreferenceIn):
    pref = services.preference_set(
        customer=customer_or_404(request, uuid),
        key=payload.key,
        value=payload.value,
        category=payload.category,
        source=source_by_code(payload.source),
        actor=request.user,
    )
    return Status(201, _preference_out(pref))


def _key_date_out(key_date) -> dict[str, Any]:
    return {
        "id": key_date.pk,
        "kind": key_date.kind,
        "date": key_date.date,
        "label": key_date.label,
        "source": key_date.source.code,
    }


@router.get("/{uuid}/key-dates", response=list[KeyDateOut])
def key_date_list(request, uuid: uuid_lib.UUID):
    customer = customer_or_404(request, uuid)
    return [_key_date_out(k) for k in customer.key_dates.select_related("source")]


@router.post("/{uuid}/key-dates", response={201: KeyDateOut})
def key_date_add(request, uuid: uuid_lib.UUID, payload: KeyDateIn):
    key_date = services.key_date_add(
        customer=customer_or_404(request, uuid),
        kind=payload.kind,
        date=payload.date,
        label=payload.label,
        source=source_by_code(payload.source),
        actor=request.user,
    )
    return Status(201, _key_date_out(key_date))
