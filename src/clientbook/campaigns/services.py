"""Every write of the campaigns app: campaigns and their variants, stages,
selection with suppression, assignment to arms, roll-out of a test's winner,
responses and the do-not-contact list. Sending is in `sending`, call lists
in `channels.calls`, order attribution in `attribution`."""

import datetime as dt
import secrets
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
from django.db import IntegrityError, transaction
from django.db.models import Count, Q, QuerySet
from django.template import Template, TemplateSyntaxError
from django.utils import timezone
from django.utils.translation import gettext as _

from clientbook.activity.models import Direction, Interaction, InteractionType
from clientbook.campaigns import assignment, bulk
from clientbook.campaigns.errors import ErrorCode
from clientbook.campaigns.models import (
    OPEN_STAGES,
    Campaign,
    ContactStatus,
    DoNotContact,
    Member,
    Response,
    ResponseKind,
    ResponseVia,
    Stage,
    StageChange,
    Variant,
    Wave,
)
from clientbook.campaigns.selection import (
    members_clear,
    members_stage,
    members_write,
    stage_counts,
    stage_create,
    stage_drop,
    stage_eligible,
)
from clientbook.campaigns.selection import validate as selection_validate
from clientbook.customers import normalise
from clientbook.customers.models import Customer
from clientbook.errors import AccessDenied, Conflict, ValidationFailed
from clientbook.org.access import ensure_can_edit, is_branch_scoped
from clientbook.privacy.models import (
    ConsentChannel,
    ConsentPurpose,
    ConsentStatus,
    LegalBasis,
    Source,
    SourceKind,
)
from clientbook.privacy.services import (
    audit_changes,
    audit_record,
    consent_record,
    snapshot,
    source_create,
)
from clientbook.quality.services import selection_record

SOURCE_CODE = "campaigns"
CONTROL_CODE = "control"

# What a stratum may be made of: name → path from the member.
STRATA = {
    "branch": "customer__branch_id",
    "gender": "customer__gender",
    "rfm_cell": "customer__score__rfm_cell",
    "value_tier": "customer__score__value_tier",
    "grade": "customer__quality__grade",
}

# The lifecycle: where each stage may go next.
NEXT_STAGES = {
    Stage.IDEA: (Stage.ANALYSIS, Stage.PLAN),
    Stage.ANALYSIS: (Stage.IDEA, Stage.PLAN),
    Stage.PLAN: (Stage.ANALYSIS, Stage.TEST, Stage.EXECUTE),
    Stage.TEST: (Stage.EXECUTE,),
    Stage.EXECUTE: (Stage.EVALUATE,),
    Stage.EVALUATE: (Stage.CLOSED,),
    Stage.CLOSED: (),
}

_SETTINGS = (
    "objective",
    "offer",
    "purpose",
    "budget",
    "currency",
    "cost_per_contact",
    "expected_response_rate",
    "response_window_days",
    "starts_on",
    "ends_on",
    "frequency_cap_days",
    "holdout_share",
    "test_share",
    "stratify_by",
    "seed",
    "landing_url",
)
# Settings that decide who is selected or how they are split: frozen once
# the test or the execution starts.
_DESIGN = {"purpose", "frequency_cap_days", "holdout_share", "test_share"}
_DESIGN |= {"stratify_by", "seed", "selection"}


def campaign_source() -> Source:
    """The source recorded on interactions and consents that campaigns make."""
    source = Source.objects.filter(code=SOURCE_CODE).first()
    return source or source_create(
        code=SOURCE_CODE,
        name=_("Campaigns"),
        kind=SourceKind.MANUAL,
        legal_basis=LegalBasis.CONSENT,
    )


# Checks -----------------------------------------------------------------------


def ensure_can_run(actor) -> None:
    """Campaigns are run by marketers, managers and administrators; branch
    staff work their call lists, auditors read."""
    ensure_can_edit(actor)
    if actor is not None and is_branch_scoped(actor):
        raise AccessDenied(
            "campaign_role", _("Your role may not plan or run campaigns.")
        )


def _invalid(field: str, value: Any, message: str | None = None):
    return ValidationFailed(
        ErrorCode.INVALID_VALUE,
        message or _("“%(value)s” is not a valid value here.") % {"value": value},
        field=field,
        value=value,
    )


def _decimal(field: str, value: Any, low=None, high=None) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation as exc:
        raise _invalid(field, value) from exc
    if (low is not None and number < low) or (high is not None and number > high):
        raise _invalid(field, value)
    return number


def _clean_settings(values: dict) -> dict:
    """Validated and converted campaign settings (only those given)."""
    clean = dict(values)
    for field, low, high in (
        ("holdout_share", 0, Decimal("0.9")),
        ("test_share", 0, Decimal("0.9")),
        ("expected_response_rate", 0, 1),
        ("cost_per_contact", 0, None),
        ("budget", 0, None),
    ):
        if field in clean:
            clean[field] = _decimal(field, clean[field], low, high)
    for field in ("cost_per_contact", "holdout_share", "test_share"):
        if field in clean and clean[field] is None:
            clean[field] = Decimal(0)
    for field in ("response_window_days", "frequency_cap_days", "seed"):
        if field in clean:
            try:
                clean[field] = int(clean[field])
            except (TypeError, ValueError) as exc:
                raise _invalid(field, clean[field]) from exc
            if clean[field] < 0 or (
                field == "response_window_days" and not clean[field]
            ):
                raise _invalid(field, clean[field])
    if "purpose" in clean and clean["purpose"] not in ConsentPurpose.values:
        raise _invalid("purpose", clean["purpose"])
    if "stratify_by" in clean:
        clean["stratify_by"] = list(dict.fromkeys(clean["stratify_by"] or []))
        for name in clean["stratify_by"]:
            if name not in STRATA:
                raise _invalid("stratify_by", name)
    return clean


def _clean_name(name: str) -> str:
    name = " ".join(str(name or "").split())
    if not name:
        raise ValidationFailed(
            ErrorCode.NAME_REQUIRED, _("A campaign needs a name."), field="name"
        )
    return name[:200]


def _name_free(name: str, exclude: int | None = None) -> None:
    if Campaign.objects.filter(name=name).exclude(pk=exclude).exists():
        raise Conflict(
            ErrorCode.NAME_TAKEN,
            _("A campaign named “%(name)s” already exists.") % {"name": name},
            field="name",
            value=name,
        )


def ensure_open(campaign: Campaign, *, lock: bool = False) -> None:
    """Selection, variants and assignment change only before the test or
    the execution starts: after that the assignment is what is measured.
    The stage is read from the database, not from a possibly stale object;
    `lock` holds the campaign row to the end of the transaction, so two
    selections of one campaign (a double click) run one after the other."""
    rows = Campaign.objects.select_for_update() if lock else Campaign.objects
    campaign.stage = rows.values_list("stage", flat=True).get(pk=campaign.pk)
    if campaign.stage not in OPEN_STAGES:
        raise ValidationFailed(
            ErrorCode.FROZEN,
            _(
                "The campaign is in its “%(stage)s” stage: its selection and "
                "assignment can no longer change."
            )
            % {"stage": campaign.get_stage_display()},
            field="stage",
            value=campaign.stage,
        )


def _state(campaign: Campaign) -> dict:
    plain = [f for f in _SETTINGS if f != "stratify_by"]
    data = snapshot(campaign, ["name", *plain, "owner", "stage"])
    data["stratify_by"] = list(campaign.stratify_by)
    data["selection"] = campaign.selection
    data["branches"] = sorted(campaign.branches.values_list("pk", flat=True))
    return data


# Campaigns --------------------------------------------------------------------


@transaction.atomic
def campaign_create(
    *,
    name: str,
    actor,
    owner=None,
    branches=(),
    selection: dict | None = None,
    **settings: Any,
) -> Campaign:
    """A new campaign at the idea stage. `settings` are the fields of
    `Campaign` (objective, offer, cost_per_contact, holdout_share, …).

    Raises:
        ValidationFailed: no name, or a setting out of range (named).
        Conflict: the name is taken.
        AccessDenied: branch staff and auditors.
    """
    ensure_can_run(actor)
    unknown = set(settings) - set(_SETTINGS)
    if unknown:
        raise TypeError(f"unknown campaign settings: {sorted(unknown)}")
    name = _clean_name(name)
    _name_free(name)
    settings = _clean_settings(settings)
    settings.setdefault("seed", secrets.randbelow(2**31))
    settings.setdefault("stratify_by", ["branch"])
    person = actor if actor is not None and actor.pk else None
    try:
        with transaction.atomic():
            campaign = Campaign.objects.create(
                name=name,
                owner=owner or person,
                created_by=person,
                selection=selection_validate(selection) if selection else {},
                **settings,
            )
    except IntegrityError as exc:  # a concurrent create with the same name
        raise Conflict(
            ErrorCode.NAME_TAKEN,
            _("A campaign named “%(name)s” already exists.") % {"name": name},
            field="name",
            value=name,
        ) from exc
    campaign.branches.set(branches)
    StageChange.objects.create(
        campaign=campaign, to_stage=Stage.IDEA, at=timezone.now(), actor=person
    )
    audit_record(
        actor=actor, action="campaign.create", obj=campaign, after=_state(campaign)
    )
    return campaign


@transaction.atomic
def campaign_update(
    *,
    campaign: Campaign,
    actor,
    name: str | None = None,
    owner=None,
    branches=None,
    selection: dict | None = None,
    **settings: Any,
) -> Campaign:
    """Changes what is given. The selection, the split and the consent
    purpose are frozen once the test or the execution has started."""
    ensure_can_run(actor)
    _ensure_not_closed(campaign)
    unknown = set(settings) - set(_SETTINGS)
    if unknown:
        raise TypeError(f"unknown campaign settings: {sorted(unknown)}")
    design = _DESIGN & {*settings, *(["selection"] if selection is not None else [])}
    if design or branches is not None:
        ensure_open(campaign)
    before = _state(campaign)
    if name is not None:
        campaign.name = _clean_name(name)
        _name_free(campaign.name, exclude=campaign.pk)
    if owner is not None:
        campaign.owner = owner
    if selection is not None:
        campaign.selection = selection_validate(selection)
    for field, value in _clean_settings(settings).items():
        setattr(campaign, field, value)
    campaign.save()
    if branches is not None:
        campaign.branches.set(branches)
    old, new = audit_changes(before, _state(campaign))
    if new:
        audit_record(
            actor=actor, action="campaign.update", obj=campaign, before=old, after=new
        )
    return campaign


def _ensure_not_closed(campaign: Campaign) -> None:
    if campaign.stage == Stage.CLOSED:
        raise ValidationFailed(
            ErrorCode.INVALID_STAGE,
            _("The campaign is closed."),
            field="stage",
            value=campaign.stage,
        )


# Variants ---------------------------------------------------------------------


def _check_template(field: str, text: str) -> None:
    try:
        Template(text)
    except TemplateSyntaxError as exc:
        raise ValidationFailed(
            ErrorCode.TEMPLATE_ERROR,
            _("The message template has an error: %(error)s") % {"error": exc},
            field=field,
            value=text[:100],
        ) from exc


def _clean_variant(campaign: Campaign, variant: Variant) -> None:
    from clientbook.campaigns import channels

    if variant.channel not in ConsentChannel.values:
        raise ValidationFailed(
            ErrorCode.INVALID_CHANNEL,
            _("“%(value)s” is not a channel.") % {"value": variant.channel},
            field="channel",
            value=variant.channel,
        )
    if not variant.name.strip():
        raise _invalid("name", variant.name, _("A variant needs a name."))
    if variant.weight < 1:
        raise _invalid("weight", variant.weight)
    _check_template("subject", variant.subject)
    _check_template("body", variant.body)
    channels.check(variant)


@transaction.atomic
def variant_add(
    *,
    campaign: Campaign,
    code: str,
    name: str,
    channel: str,
    actor,
    weight: int = 1,
    subject: str = "",
    body: str = "",
) -> Variant:
    """Adds a message variant (A, B, …). The control group is not a variant
    one adds: it is made from the campaign's control share at assignment.

    Raises:
        ValidationFailed: frozen campaign, bad channel, template error, SMS
            too long or without the opt-out text.
        Conflict: the code is taken in this campaign.
    """
    ensure_can_run(actor)
    ensure_open(campaign)
    code = str(code or "").strip()
    if not code or code == CONTROL_CODE:
        raise _invalid("code", code)
    if campaign.variants.filter(code=code).exists():
        raise Conflict(
            ErrorCode.VARIANT_TAKEN,
            _("This campaign already has a variant “%(code)s”.") % {"code": code},
            field="code",
            value=code,
        )
    variant = Variant(
        campaign=campaign,
        code=code,
        name=str(name or "").strip(),
        channel=channel,
        weight=int(weight),
        subject=subject or "",
        body=body or "",
    )
    _clean_variant(campaign, variant)
    variant.save()
    _variants_changed(campaign)
    audit_record(
        actor=actor,
        action="variant.add",
        obj=variant,
        after=snapshot(variant, ["code", "name", "channel", "weight", "subject"]),
    )
    return variant


@transaction.atomic
def variant_update(*, variant: Variant, actor, **fields: Any) -> Variant:
    """Changes name, channel, weight, subject or message before the test or
    execution starts."""
    ensure_can_run(actor)
    ensure_open(variant.campaign)
    allowed = {"name", "channel", "weight", "subject", "body"}
    if set(fields) - allowed or variant.is_control:
        raise _invalid("variant", variant.code)
    before = snapshot(variant, sorted(allowed))
    for field, value in fields.items():
        setattr(variant, field, int(value) if field == "weight" else value or "")
    _clean_variant(variant.campaign, variant)
    variant.save()
    _variants_changed(variant.campaign)
    old, new = audit_changes(before, snapshot(variant, sorted(allowed)))
    audit_record(
        actor=actor, action="variant.update", obj=variant, before=old, after=new
    )
    return variant


@transaction.atomic
def variant_remove(*, variant: Variant, actor) -> None:
    ensure_can_run(actor)
    campaign = variant.campaign
    ensure_open(campaign)
    _variants_changed(campaign)
    audit_record(
        actor=actor,
        action="variant.remove",
        obj=variant,
        before=snapshot(variant, ["code", "name", "channel"]),
    )
    variant.delete()


def _variants_changed(campaign: Campaign) -> None:
    """Arms changed: the assignment no longer holds."""
    if campaign.assigned_at:
        Member.objects.filter(campaign=campaign).update(
            variant=None, wave="", code=None
        )
        Campaign.objects.filter(pk=campaign.pk).update(assigned_at=None)
        campaign.assigned_at = None


def treatment_variants(campaign: Campaign) -> list[Variant]:
    return list(campaign.variants.filter(is_control=False).order_by("code"))


# Selection --------------------------------------------------------------------


@transaction.atomic
def campaign_select(
    *,
    campaign: Campaign,
    actor,
    selection: dict | None = None,
    now: dt.datetime | None = None,
) -> dict[str, int]:
    """Builds the member list anew: segments and/or score, then suppression
    for the channels of the campaign's variants, then the eligible members'
    assignment to the control group and the variants (as `campaign_assign`
    would draw it). Logs the eligible members as selected (the quality
    grades count it). Returns the counts: matched, each suppression reason,
    eligible.

    Raises:
        ValidationFailed: frozen, no variant yet (the channels decide the
            suppression), or a bad selection (the bad part named).
    """
    ensure_can_run(actor)
    ensure_open(campaign, lock=True)
    if selection is not None:
        campaign.selection = selection_validate(selection)
    if not campaign.selection:
        raise ValidationFailed(
            ErrorCode.INVALID_SELECTION,
            _("Choose at least one segment or a model score."),
            field="selection",
        )
    channels = sorted({v.channel for v in treatment_variants(campaign)})
    if not channels:
        raise ValidationFailed(
            ErrorCode.NO_VARIANT,
            _("Add a variant first: its channel decides who can be reached."),
            field="variants",
        )
    now = now or timezone.now()
    members_clear(campaign)
    counts = _members_select(campaign, channels, now, actor)
    campaign.selection_counts = counts
    campaign.selected_at = now
    campaign.assigned_at = now
    campaign.save(
        update_fields=[
            "selection",
            "selection_counts",
            "selected_at",
            "assigned_at",
            "updated_at",
        ]
    )
    audit_record(
        actor=actor,
        action="campaign.select",
        obj=campaign,
        after={"selection": campaign.selection, "counts": counts},
    )
    return counts


def _members_select(campaign: Campaign, channels, now, actor) -> dict[str, int]:
    """Stages the selection, draws the arms of the eligible, writes the
    members once and logs the selection; returns the counts."""
    bulk.work_mem_raise()
    # On an error the rollback drops the staging table with the rest.
    stage_create()
    counts = members_stage(campaign, campaign.selection, channels, now)
    counts.update(stage_counts())
    ids, keys = _strata_keys(
        Customer.objects.filter(pk__in=stage_eligible()).order_by("pk"),
        [STRATA[name].removeprefix("customer__") for name in campaign.stratify_by],
    )
    rows = _arms(campaign, *_all_arms(campaign), ids, keys)
    _write_coded(rows, lambda rows: _members_write(campaign, rows))
    selection_record(
        customers=Customer.objects.filter(pk__in=stage_eligible()),
        purpose=campaign.name,
        actor=actor,
        at=now,
        channel=",".join(channels),
    )
    stage_drop()
    return counts


# Assignment -------------------------------------------------------------------


def _control(campaign: Campaign) -> Variant | None:
    """The control arm, made or removed to match the control share."""
    control = campaign.variants.filter(is_control=True).first()
    if campaign.holdout_share and control is None:
        control = Variant.objects.create(
            campaign=campaign,
            code=CONTROL_CODE,
            name=_("Control group"),
            is_control=True,
        )
    elif not campaign.holdout_share and control is not None:
        control.delete()
        control = None
    return control


def _strata(campaign: Campaign) -> tuple[list[int], list[str]]:
    """(member ids, stratum keys) of the eligible members, in customer order."""
    members = Member.objects.filter(campaign=campaign, suppression="")
    paths = [STRATA[name] for name in campaign.stratify_by]
    return _strata_keys(members.order_by("customer_id"), paths)


def _strata_keys(rows: QuerySet, paths: list[str]) -> tuple[list[int], list[str]]:
    """(ids, stratum keys) of `rows`, which must be in customer order: the
    same members in the same order draw the same arms, whether they are
    read as customers (staged) or as members."""
    ids, keys = [], []
    for row in rows.values_list("pk", *paths).iterator(chunk_size=20000):
        ids.append(row[0])
        keys.append("|".join("" if v is None else str(v) for v in row[1:]))
    return ids, keys


_CODE_ALPHABET = np.frombuffer(b"0123456789ABCDEFGHJKMNPQRSTVWXYZ", dtype=np.uint8)


def _codes(n: int) -> list[str]:
    """Unguessable response codes: 10 characters of Crockford's base 32."""
    raw = np.frombuffer(secrets.token_bytes(n * 10), dtype=np.uint8) & 31
    return _CODE_ALPHABET[raw].view("S10").astype(str).tolist()


def _write_coded(rows: list[tuple], write) -> None:
    """`write(rows)` in a savepoint; rows end with a random response code,
    and codes are unique across campaigns, so on the rare clash with an
    existing one (50 random bits: about 1 in 2,000 for a million new codes
    among ten million) the codes are drawn again."""
    for attempt in range(3):
        try:
            with transaction.atomic():
                write(rows)
            return
        except IntegrityError as exc:
            if attempt == 2 or not _code_clash(exc):
                raise
            codes = _codes(len(rows))
            rows = [(*row[:-1], code) for row, code in zip(rows, codes, strict=True)]


def _code_clash(exc: IntegrityError) -> bool:
    """The unique response code was violated (PostgreSQL names the index,
    SQLite the column)."""
    text = str(exc)
    return "campaign_member_code" in text or "campaigns_member.code" in text


_ARMS = "campaign_arms"
_ARM_COLUMNS = {
    "customer_id": "bigint",
    "variant_id": "bigint",
    "wave": "varchar(8)",
    "stratum": "varchar(100)",
    "code": "varchar(12)",
}


def _members_write(campaign: Campaign, rows: list[tuple]) -> None:
    bulk.temp_table(_ARMS, _ARM_COLUMNS, rows)
    members_write(campaign, _ARMS)
    bulk.temp_table_drop(_ARMS)


@transaction.atomic
def campaign_assign(*, campaign: Campaign, actor) -> dict[str, int]:
    """Splits the eligible members: first into the test sample and the
    roll-out (when the campaign has a test share), then into the control
    group and the variants by their weights — seeded, stratified, the same
    every time for the same members and seed. In a test, the roll-out's
    treated members wait (no variant) for the winner. Returns the count
    per arm code (and "waiting").

    Raises:
        ValidationFailed: frozen, not selected yet, or no variant.
    """
    ensure_can_run(actor)
    ensure_open(campaign, lock=True)
    if not campaign.selected_at:
        raise ValidationFailed(
            ErrorCode.NOT_SELECTED, _("Select the members first."), field="selection"
        )
    variants = treatment_variants(campaign)
    if not variants:
        raise ValidationFailed(
            ErrorCode.NO_VARIANT, _("Add a variant first."), field="variants"
        )
    ids, keys = _strata(campaign)
    rows = _arms(campaign, *_all_arms(campaign), ids, keys)
    # Only rows an earlier assignment touched: rewriting the rest of a
    # million suppressed members costs seconds.
    Member.objects.filter(campaign=campaign).exclude(suppression="").filter(
        Q(variant__isnull=False) | ~Q(wave="") | Q(code__isnull=False)
    ).update(variant=None, wave="", code=None)
    _write_coded(
        rows,
        lambda rows: bulk.members_set(["variant_id", "wave", "stratum", "code"], rows),
    )
    campaign.assigned_at = timezone.now()
    campaign.save(update_fields=["assigned_at", "updated_at"])
    counts = _arm_counts(campaign)
    audit_record(
        actor=actor,
        action="campaign.assign",
        obj=campaign,
        after={"seed": campaign.seed, "counts": counts},
    )
    return counts


def _all_arms(campaign: Campaign) -> tuple[list[Variant], Variant | None]:
    """(treatment variants, control arm or None)."""
    return treatment_variants(campaign), _control(campaign)


def _arms(campaign, variants, control, ids, keys) -> list[tuple]:
    """(id, variant id, wave, stratum, code) for every eligible member,
    given by its id (of the member, or of the customer while staged).
    Waves are drawn first, then arms within each wave, so each wave has the
    control share exactly (to within a block)."""
    arms = [control, *variants] if control else list(variants)
    holdout = float(campaign.holdout_share) if control else 0.0
    weights = [v.weight for v in variants]
    shares = [holdout] if control else []
    shares += [(1.0 - holdout) * w / sum(weights) for w in weights]
    test_share = float(campaign.test_share)
    waves = np.zeros(len(ids), dtype=int)
    if test_share:
        waves = assignment.assign(keys, [test_share, 1 - test_share], campaign.seed)
    picks = np.zeros(len(ids), dtype=int)
    for wave in np.unique(waves):
        where = np.flatnonzero(waves == wave)
        picks[where] = assignment.assign(
            [keys[i] for i in where], shares, campaign.seed + 1 + int(wave)
        )
    names = [Wave.TEST, Wave.ROLLOUT] if test_share else ["", ""]
    rows = []
    for i, code in enumerate(_codes(len(ids))):
        arm, wave = arms[picks[i]], names[waves[i]]
        if wave == Wave.ROLLOUT and not arm.is_control:
            arm = None  # waits for the test's winner
        rows.append((ids[i], arm.pk if arm else None, wave, keys[i][:100], code))
    return rows


def _arm_counts(campaign: Campaign) -> dict[str, int]:
    rows = (
        Member.objects.filter(campaign=campaign, suppression="")
        .values_list("variant__code")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return {code or "waiting": n for code, n in rows}


# Stages -----------------------------------------------------------------------


def _stage_error(campaign: Campaign, to: str, message: str):
    return ValidationFailed(ErrorCode.INVALID_STAGE, message, field="stage", value=to)


def _check_stage(campaign: Campaign, to: str) -> None:
    if to not in NEXT_STAGES.get(campaign.stage, ()):
        raise _stage_error(
            campaign,
            to,
            _("A campaign in its “%(from)s” stage cannot go to “%(to)s”.")
            % {"from": campaign.get_stage_display(), "to": Stage(to).label}
            if to in Stage.values
            else _("“%(value)s” is not a stage.") % {"value": to},
        )
    if to in (Stage.TEST, Stage.EXECUTE) and not campaign.assigned_at:
        raise _stage_error(
            campaign, to, _("Select and assign the members before sending.")
        )
    if to == Stage.TEST and not campaign.test_share:
        raise ValidationFailed(
            ErrorCode.NO_TEST,
            _("This campaign has no test sample (its test share is 0)."),
            field="test_share",
        )
    if to == Stage.EXECUTE and campaign.test_share:
        waiting = Member.objects.filter(
            campaign=campaign, suppression="", wave=Wave.ROLLOUT, variant__isnull=True
        )
        if waiting.exists():
            raise ValidationFailed(
                ErrorCode.NO_WINNER,
                _("Run the test and pick its winner first: the roll-out waits for it."),
                field="winner",
            )


@transaction.atomic
def campaign_stage_set(
    *, campaign: Campaign, to: str, actor, note: str = ""
) -> Campaign:
    """Moves the campaign along its lifecycle (idea → analysis → plan →
    test → execute → evaluate → closed) and records the change. Starting
    the test or the execution freezes the assignment: the control group is
    marked held out and is never contacted.

    Raises:
        ValidationFailed: a move the lifecycle does not allow, or one whose
            preconditions are missing (named in the message).
    """
    ensure_can_run(actor)
    given, campaign = campaign, Campaign.objects.select_for_update().get(pk=campaign.pk)
    _check_stage(campaign, to)
    now = timezone.now()
    if to in (Stage.TEST, Stage.EXECUTE):
        Member.objects.filter(campaign=campaign, variant__is_control=True).update(
            status=ContactStatus.HELD_OUT
        )
    if to == Stage.EXECUTE and not campaign.executed_at:
        campaign.executed_at = now
    previous = campaign.stage
    campaign.stage = to
    campaign.save(update_fields=["stage", "executed_at", "updated_at"])
    StageChange.objects.create(
        campaign=campaign,
        from_stage=previous,
        to_stage=to,
        note=note,
        at=now,
        actor=actor if actor is not None and actor.pk else None,
    )
    audit_record(
        actor=actor,
        action="campaign.stage",
        obj=campaign,
        before={"stage": previous},
        after={"stage": to, "note": note},
    )
    given.stage, given.executed_at = campaign.stage, campaign.executed_at
    return campaign


@transaction.atomic
def campaign_rollout(
    *, campaign: Campaign, winner: Variant, actor, note: str = ""
) -> Campaign:
    """Ends the test: `winner` goes to every roll-out member not held out,
    and the campaign moves to execution.

    Raises:
        ValidationFailed: not in the test stage, or the winner is not one of
            this campaign's variants.
    """
    ensure_can_run(actor)
    if campaign.stage != Stage.TEST:
        raise _stage_error(
            campaign, Stage.EXECUTE, _("The campaign is not in its test stage.")
        )
    if winner.campaign_id != campaign.pk or winner.is_control:
        raise ValidationFailed(
            ErrorCode.NO_WINNER,
            _("The winner must be one of this campaign's variants."),
            field="winner",
            value=winner.code,
        )
    campaign.variants.update(is_winner=False)
    Variant.objects.filter(pk=winner.pk).update(is_winner=True)
    Member.objects.filter(
        campaign=campaign, suppression="", wave=Wave.ROLLOUT, variant__isnull=True
    ).update(variant=winner)
    audit_record(
        actor=actor,
        action="campaign.rollout",
        obj=campaign,
        after={"winner": winner.code},
    )
    return campaign_stage_set(
        campaign=campaign, to=Stage.EXECUTE, actor=actor, note=note
    )


# Responses --------------------------------------------------------------------


def _response_interaction(member: Member, response: Response, staff) -> None:
    variant = member.variant
    channel = (variant.channel if variant and variant.channel else "") or "web"
    if channel not in ("phone", "visit", "email", "sms", "mail", "web"):
        channel = "web"
    Interaction.objects.create(
        customer_id=member.customer_id,
        channel=channel,
        direction=Direction.INBOUND,
        type=_INTERACTION_TYPE.get(channel, InteractionType.ENQUIRY),
        occurred_at=response.occurred_at,
        staff=staff,
        summary=_("Response to campaign “%(name)s”: %(kind)s")
        % {"name": member.campaign.name, "kind": response.get_kind_display()},
        outcome=response.kind,
        source=campaign_source(),
    )


_INTERACTION_TYPE = {
    "phone": InteractionType.CALL,
    "visit": InteractionType.VISIT,
    "email": InteractionType.EMAIL,
    "sms": InteractionType.SMS,
    "mail": InteractionType.LETTER,
    "web": InteractionType.WEB_VISIT,
}


def _when(value) -> dt.datetime:
    if value in (None, ""):
        return timezone.now()
    if isinstance(value, str):
        from django.utils.dateparse import parse_date, parse_datetime

        parsed = parse_datetime(value)
        if parsed is None and parse_date(value):
            parsed = dt.datetime.combine(parse_date(value), dt.time())
        if parsed is None:
            raise _invalid("occurred_at", value)
        value = parsed
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, dt.time())
    return timezone.make_aware(value) if timezone.is_naive(value) else value


@transaction.atomic
def response_record(
    *,
    member: Member,
    kind: str,
    via: str,
    actor=None,
    occurred_at=None,
    amount=None,
    note: str = "",
) -> tuple[Response, bool]:
    """Records a response (idempotent: the same member, kind and time is one
    response) and puts it on the customer's timeline. An unsubscribe also
    withdraws consent for the channel it came through. Returns (response,
    created).

    Raises:
        ValidationFailed: unknown kind or via, bad time or amount.
        AccessDenied: a read-only role, or branch staff for a customer of
            another branch.
    """
    ensure_can_edit(actor, member.customer)
    if kind not in ResponseKind.values:
        raise _invalid("kind", kind)
    if via not in ResponseVia.values:
        raise _invalid("via", via)
    occurred_at = _when(occurred_at)
    amount = _decimal("amount", amount)
    person = actor if actor is not None and actor.pk else None
    existing = Response.objects.filter(
        member=member, kind=kind, occurred_at=occurred_at
    ).first()
    if existing:
        return existing, False
    response = Response.objects.create(
        member=member,
        kind=kind,
        via=via,
        occurred_at=occurred_at,
        amount=amount,
        note=str(note or "")[:300],
        recorded_by=person,
    )
    if kind == ResponseKind.UNSUBSCRIBE:
        _withdraw(member, occurred_at, actor)
    else:
        Member.objects.filter(pk=member.pk).filter(
            Q(responded_at__isnull=True) | Q(responded_at__gt=occurred_at)
        ).update(responded_at=occurred_at)
    _response_interaction(member, response, person)
    audit_record(
        actor=actor,
        action="campaign.response",
        obj=response,
        customer=member.customer,
        after={"campaign": member.campaign.name, "kind": kind, "via": via},
    )
    return response, True


def _withdraw(member: Member, at: dt.datetime, actor) -> None:
    channel = (
        member.variant.channel if member.variant and member.variant.channel else None
    )
    if channel is None:
        return
    consent_record(
        customer=member.customer,
        channel=channel,
        purpose=member.campaign.purpose,
        status=ConsentStatus.WITHDRAWN,
        source=campaign_source(),
        occurred_at=at,
        evidence=_("Unsubscribed from campaign “%(name)s”")
        % {"name": member.campaign.name},
        actor=None,
    )


def member_by_code(code: str) -> Member:
    code = str(code or "").strip().upper()
    member = (
        Member.objects.select_related("campaign", "variant", "customer")
        .filter(code=code)
        .first()
        if code
        else None
    )
    if member is None:
        raise ValidationFailed(
            ErrorCode.UNKNOWN_CODE,
            _("“%(code)s” is not a response code of any campaign.") % {"code": code},
            field="code",
            value=code,
        )
    return member


def member_by_message(message_id: str) -> Member:
    """The member a sent message went to, by the provider's message id or
    the e-mail's Message-ID (with or without its angle brackets)."""
    found = Member.objects.select_related("campaign", "variant", "customer").filter(
        message_id__in=[message_id, f"<{message_id.strip('<>')}>"]
    )
    member = found.first() if message_id else None
    if member is None:
        raise ValidationFailed(
            ErrorCode.UNKNOWN_MESSAGE,
            _("“%(value)s” is not the id of a message sent by a campaign.")
            % {"value": message_id},
            field="message_id",
            value=message_id,
        )
    return member


@transaction.atomic
def delivery_record(
    *,
    member: Member,
    delivered: bool,
    occurred_at=None,
    reason: str = "",
    permanent: bool = False,
) -> tuple[Member, bool]:
    """A delivery receipt (`delivered`) or a bounce / failure report for a
    sent message; returns the member and whether it changed. Receipts come
    late, twice or out of order: a delivered message stays delivered unless
    a bounce follows, and nothing unsent becomes delivered. A `permanent`
    failure (a hard bounce, a number that does not exist) puts the address
    on the do-not-contact list for the channel, so no later selection or
    send tries it again until staff lift it."""
    member = Member.objects.select_for_update().get(pk=member.pk)
    at = _when(occurred_at)
    if delivered and member.status == ContactStatus.SENT:
        member.status, member.delivered_at = ContactStatus.DELIVERED, at
        member.save(update_fields=["status", "delivered_at"])
        return member, True
    if not delivered and member.status in (ContactStatus.SENT, ContactStatus.DELIVERED):
        member.status, member.delivered_at = ContactStatus.FAILED, None
        member.error = (reason or _("Bounced"))[:300]
        member.save(update_fields=["status", "delivered_at", "error"])
        if permanent:
            _undeliverable(member, member.error)
        return member, True
    return member, False


def _undeliverable(member: Member, reason: str) -> None:
    channel = member.variant.channel if member.variant else ""
    listed = DoNotContact.objects.filter(
        value=member.contact, channel=channel, lifted_at__isnull=True
    )
    if member.contact and channel and not listed.exists():
        do_not_contact_add(
            actor=None,
            value=member.contact,
            channel=channel,
            reason=_("Undeliverable: %(reason)s") % {"reason": reason},
        )


def table_rows(path) -> list[dict]:
    """A response file's rows as dicts with lower-cased headers (CSV, XLSX
    or JSON Lines, through the import app's readers)."""
    from clientbook.ingest.readers import open_table

    table = open_table(path)
    return [{k.strip().lower(): v for k, v in row.items()} for _n, row in table.rows]


def responses_import(
    *, campaign: Campaign, rows, actor, via: str = ResponseVia.FILE
) -> dict[str, Any]:
    """Records responses given as dicts with `code`, `kind` and optionally
    `occurred_at`, `amount`, `note` (a CSV's rows). Each good row is
    written in its own transaction; a bad one is reported with its row
    number (1 = the first data row), field and value, and nothing of it is
    written. Returns {"created", "unchanged", "rejected": [...]}."""
    ensure_can_edit(actor)
    result = {"created": 0, "unchanged": 0, "rejected": []}
    for number, row in enumerate(rows, start=1):
        try:
            member = member_by_code(row.get("code"))
            if member.campaign_id != campaign.pk:
                raise ValidationFailed(
                    ErrorCode.UNKNOWN_CODE,
                    _("This code belongs to another campaign."),
                    field="code",
                    value=row.get("code"),
                )
            _resp, created = response_record(
                member=member,
                kind=str(row.get("kind") or "").strip(),
                via=via,
                actor=actor,
                occurred_at=row.get("occurred_at") or None,
                amount=row.get("amount") or None,
                note=row.get("note") or "",
            )
        except ValidationFailed as exc:
            result["rejected"].append(
                {
                    "row": number,
                    "field": exc.field,
                    "value": exc.value,
                    "reason": exc.message,
                }
            )
            continue
        result["created" if created else "unchanged"] += 1
    return result


# Do not contact ---------------------------------------------------------------


def _normalised_contact(value: str) -> str:
    value = str(value or "").strip()
    if not value:
        return ""
    if "@" in value:
        try:
            return normalise.email(value)
        except normalise.NormaliseError as exc:
            raise _invalid("value", value, str(exc)) from exc
    try:
        return normalise.phone(value)[0]
    except normalise.NormaliseError as exc:
        raise _invalid("value", value, str(exc)) from exc


@transaction.atomic
def do_not_contact_add(
    *, actor, customer=None, value: str = "", channel: str = "", reason: str = ""
) -> DoNotContact:
    """Puts a customer, or a phone number or e-mail address, on the
    do-not-contact list for one channel or (empty) all. Every later
    selection and every send skips them."""
    ensure_can_edit(actor, customer)
    value = _normalised_contact(value)
    if customer is None and not value:
        raise _invalid(
            "value", value, _("Give a customer, a phone number or an e-mail address.")
        )
    if channel and channel not in ConsentChannel.values:
        raise _invalid("channel", channel)
    entry = DoNotContact.objects.create(
        customer=customer,
        value=value,
        channel=channel or "",
        reason=str(reason or "")[:200],
        added_by=actor if actor is not None and actor.pk else None,
        added_at=timezone.now(),
    )
    audit_record(
        actor=actor,
        action="do_not_contact.add",
        obj=entry,
        customer=customer,
        after={"channel": entry.channel, "reason": entry.reason, "value": entry.value},
    )
    return entry


@transaction.atomic
def do_not_contact_lift(*, entry: DoNotContact, actor) -> DoNotContact:
    ensure_can_edit(actor, entry.customer)
    if entry.lifted_at is None:
        entry.lifted_at = timezone.now()
        entry.save(update_fields=["lifted_at"])
        audit_record(
            actor=actor,
            action="do_not_contact.lift",
            obj=entry,
            customer=entry.customer,
            after={"lifted_at": entry.lifted_at.isoformat()},
        )
    return entry
