"""/api/v1/campaigns: campaigns and variants, selection, assignment, stages,
roll-out, sending, responses (one, or many by code), attribution, the
evaluation report and the do-not-contact list. Thin: parse, call a service
or selector, serialise. A campaign is addressed by its UUID or its name."""

import dataclasses
import datetime as dt
import uuid as uuid_lib
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _
from ninja import Router, Schema, Status

from clientbook.campaigns import selectors, services
from clientbook.campaigns.models import Campaign, DoNotContact, Variant
from clientbook.errors import NotFound, ValidationFailed

router = Router(tags=["campaigns"])


class CampaignIn(Schema):
    name: str
    objective: str = ""
    offer: str = ""
    purpose: str = "marketing"
    branches: list[str] = []
    budget: Decimal | None = None
    cost_per_contact: Decimal = Decimal(0)
    expected_response_rate: Decimal = Decimal("0.05")
    response_window_days: int = 30
    starts_on: dt.date | None = None
    ends_on: dt.date | None = None
    selection: dict[str, Any] | None = None
    frequency_cap_days: int = 30
    holdout_share: Decimal = Decimal("0.1")
    test_share: Decimal = Decimal(0)
    stratify_by: list[str] = ["branch"]
    seed: int | None = None
    landing_url: str = ""


class CampaignPatch(Schema):
    name: str | None = None
    objective: str | None = None
    offer: str | None = None
    purpose: str | None = None
    branches: list[str] | None = None
    budget: Decimal | None = None
    cost_per_contact: Decimal | None = None
    expected_response_rate: Decimal | None = None
    response_window_days: int | None = None
    starts_on: dt.date | None = None
    ends_on: dt.date | None = None
    selection: dict[str, Any] | None = None
    frequency_cap_days: int | None = None
    holdout_share: Decimal | None = None
    test_share: Decimal | None = None
    stratify_by: list[str] | None = None
    seed: int | None = None
    landing_url: str | None = None


class VariantIn(Schema):
    code: str
    name: str
    channel: str
    weight: int = 1
    subject: str = ""
    body: str = ""


class VariantOut(Schema):
    code: str
    name: str
    channel: str
    is_control: bool
    weight: int
    subject: str
    body: str
    is_winner: bool


class CampaignOut(Schema):
    uuid: uuid_lib.UUID
    name: str
    stage: str
    objective: str
    offer: str
    purpose: str
    owner: str | None
    branches: list[str]
    budget: Decimal | None
    currency: str
    cost_per_contact: Decimal
    expected_response_rate: Decimal
    response_window_days: int
    starts_on: dt.date | None
    ends_on: dt.date | None
    selection: dict[str, Any]
    frequency_cap_days: int
    holdout_share: Decimal
    test_share: Decimal
    stratify_by: list[str]
    seed: int
    landing_url: str
    selection_counts: dict[str, int]
    selected_at: dt.datetime | None
    assigned_at: dt.datetime | None
    executed_at: dt.datetime | None
    variants: list[VariantOut]


class StageIn(Schema):
    to: str
    note: str = ""


class RolloutIn(Schema):
    winner: str
    note: str = ""


class ResponseIn(Schema):
    code: str
    kind: str
    occurred_at: dt.datetime | None = None
    amount: Decimal | None = None
    note: str = ""


class ResponsesIn(Schema):
    items: list[ResponseIn]


class DoNotContactIn(Schema):
    customer: uuid_lib.UUID | None = None
    value: str = ""
    channel: str = ""
    reason: str = ""


class DoNotContactOut(Schema):
    id: int
    customer: uuid_lib.UUID | None
    value: str
    channel: str
    reason: str
    added_at: dt.datetime
    lifted_at: dt.datetime | None


def _campaign(ref: str) -> Campaign:
    return selectors.campaign_get(ref=ref)


def variant_out(variant: Variant) -> dict:
    return {
        f: getattr(variant, f)
        for f in ("code", "name", "channel", "is_control", "weight", "subject")
    } | {"body": variant.body, "is_winner": variant.is_winner}


def campaign_out(campaign: Campaign) -> dict:
    data = {
        field: getattr(campaign, field)
        for field in CampaignOut.model_fields
        if field not in ("owner", "branches", "variants")
    }
    data["owner"] = campaign.owner.username if campaign.owner else None
    data["branches"] = [b.code for b in campaign.branches.order_by("code")]
    data["variants"] = [variant_out(v) for v in campaign.variants.all()]
    return data


def _branches(codes: list[str] | None):
    from clientbook.org.models import Branch

    if codes is None:
        return None
    found = list(Branch.objects.filter(code__in=codes))
    missing = set(codes) - {b.code for b in found}
    if missing:
        raise ValidationFailed(
            "unknown_branch",
            _("There is no branch “%(code)s”.") % {"code": sorted(missing)[0]},
            field="branches",
            value=sorted(missing)[0],
        )
    return found


@router.get("/do-not-contact/entries", response=list[DoNotContactOut])
def do_not_contact_list(request, include_lifted: bool = False):
    entries = selectors.do_not_contact_list(include_lifted=include_lifted)
    return [dnc_out(e) for e in entries[:10000]]


@router.post("/do-not-contact/entries", response={201: DoNotContactOut})
def do_not_contact_add(request, payload: DoNotContactIn):
    from clientbook.customers.selectors import customer_get_for_user

    customer = None
    if payload.customer:
        customer = customer_get_for_user(user=request.user, uuid=payload.customer)
        if customer is None:
            raise ValidationFailed(
                "not_found", _("No such customer."), field="customer",
                value=payload.customer,
            )  # fmt: skip
    entry = services.do_not_contact_add(
        actor=request.user,
        customer=customer,
        value=payload.value,
        channel=payload.channel,
        reason=payload.reason,
    )
    return Status(201, dnc_out(entry))


@router.delete("/do-not-contact/entries/{pk}", response=DoNotContactOut)
def do_not_contact_lift(request, pk: int):
    entry = DoNotContact.objects.filter(pk=pk).first()
    if entry is None:
        raise NotFound("not_found", _("No such entry."), value=pk)
    return dnc_out(services.do_not_contact_lift(entry=entry, actor=request.user))


@router.get("", response=list[CampaignOut])
def campaign_list(request, stage: str | None = None):
    return [campaign_out(c) for c in selectors.campaign_list(stage=stage)]


@router.post("", response={201: CampaignOut})
def campaign_create(request, payload: CampaignIn):
    data = payload.dict()
    branches = _branches(data.pop("branches"))
    selection = data.pop("selection")
    if data["seed"] is None:
        data.pop("seed")
    campaign = services.campaign_create(
        actor=request.user, branches=branches, selection=selection, **data
    )
    return Status(201, campaign_out(campaign))


@router.get("/{ref}", response=CampaignOut)
def campaign_get(request, ref: str):
    return campaign_out(_campaign(ref))


@router.patch("/{ref}", response=CampaignOut)
def campaign_update(request, ref: str, payload: CampaignPatch):
    data = payload.dict(exclude_unset=True)
    branches = _branches(data.pop("branches", None))
    campaign = services.campaign_update(
        campaign=_campaign(ref), actor=request.user, branches=branches, **data
    )
    return campaign_out(campaign)


@router.post("/{ref}/variants", response={201: VariantOut})
def variant_add(request, ref: str, payload: VariantIn):
    variant = services.variant_add(
        campaign=_campaign(ref), actor=request.user, **payload.dict()
    )
    return Status(201, variant_out(variant))


class VariantPatch(Schema):
    name: str | None = None
    channel: str | None = None
    weight: int | None = None
    subject: str | None = None
    body: str | None = None


@router.patch("/{ref}/variants/{code}", response=VariantOut)
def variant_update(request, ref: str, code: str, payload: VariantPatch):
    """Changes a variant before the test or execution starts."""
    variant = selectors.variant_get(_campaign(ref), code)
    changes = payload.dict(exclude_unset=True)
    return variant_out(
        services.variant_update(variant=variant, actor=request.user, **changes)
    )


@router.delete("/{ref}/variants/{code}", response={204: None})
def variant_remove(request, ref: str, code: str):
    variant = selectors.variant_get(_campaign(ref), code)
    services.variant_remove(variant=variant, actor=request.user)
    return Status(204, None)


@router.post("/{ref}/select", response=dict[str, int])
def campaign_select(request, ref: str):
    """Builds the member list and returns the counts: matched, each
    suppression reason, eligible."""
    return services.campaign_select(campaign=_campaign(ref), actor=request.user)


@router.post("/{ref}/assign", response=dict[str, int])
def campaign_assign(request, ref: str):
    """Splits the eligible members; returns the count per arm."""
    return services.campaign_assign(campaign=_campaign(ref), actor=request.user)


@router.post("/{ref}/stage", response=CampaignOut)
def campaign_stage(request, ref: str, payload: StageIn):
    campaign = services.campaign_stage_set(
        campaign=_campaign(ref), to=payload.to, note=payload.note, actor=request.user
    )
    return campaign_out(campaign)


@router.post("/{ref}/rollout", response=CampaignOut)
def campaign_rollout(request, ref: str, payload: RolloutIn):
    campaign = _campaign(ref)
    winner = selectors.variant_get(campaign, payload.winner)
    campaign = services.campaign_rollout(
        campaign=campaign, winner=winner, note=payload.note, actor=request.user
    )
    return campaign_out(campaign)


@router.post("/{ref}/send", response={202: dict[str, Any]})
def campaign_send(request, ref: str):
    """Starts the send job of the current stage's wave (a background task)."""
    from clientbook.campaigns.sending import campaign_send as send

    dispatch = send(campaign=_campaign(ref), actor=request.user)
    return Status(202, {"dispatch": dispatch.pk, "started_at": dispatch.started_at})


@router.post("/{ref}/responses", response=dict[str, Any])
def responses_add(request, ref: str, payload: ResponsesIn):
    """Records responses by response code; each item is accepted or rejected
    on its own (`rejected` names the item, field and value)."""
    rows = [item.dict() for item in payload.items]
    return services.responses_import(
        campaign=_campaign(ref), rows=rows, actor=request.user, via="api"
    )


@router.post("/{ref}/attribute", response=dict[str, Any])
def campaign_attribute(request, ref: str):
    """Attributes orders in the response window to the members."""
    from clientbook.campaigns.attribution import campaign_attribute as attribute

    result = attribute(campaign=_campaign(ref), actor=request.user)
    return {"result": jsonable(result)}


@router.get("/{ref}/report", response=dict[str, Any])
def campaign_report(request, ref: str, by: str = "variant,branch,segment,wave"):
    """The evaluation: per arm (and per branch, segment, wave) contacted,
    responded, converted, revenue, cost, ROI and lift over the control with
    a 95% interval and a p-value; and the responder profile."""
    from clientbook.campaigns import evaluation

    campaign = _campaign(ref)
    dims = tuple(d.strip() for d in by.split(",") if d.strip())
    try:
        report = evaluation.campaign_report(campaign, by=dims)
    except ValueError as exc:
        raise ValidationFailed("invalid_value", str(exc), field="by", value=by) from exc
    return {
        "dimensions": jsonable(report.dimensions),
        "total": jsonable(report.total),
        "generated_at": report.generated_at,
        "profile": jsonable(evaluation.responder_profile(campaign)),
    }


def dnc_out(entry: DoNotContact) -> dict:
    return {
        "id": entry.pk,
        "customer": entry.customer.uuid if entry.customer else None,
        "value": entry.value,
        "channel": entry.channel,
        "reason": entry.reason,
        "added_at": entry.added_at,
        "lifted_at": entry.lifted_at,
    }


def jsonable(value: Any) -> Any:
    """Report dataclasses as plain JSON: Decimals as strings, models as ids."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: jsonable(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if f.name != "campaign"
        }
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, float) and value != value:  # NaN
        return None
    if hasattr(value, "pk"):
        return value.pk
    return value
