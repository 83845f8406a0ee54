"""Merge and unmerge: the row moves, recorded so that undo is exact.

Every table that points at a customer is named in `RELATIONS` with what a
merge does to its rows; `test_every_customer_relation_is_decided` fails when
a new table appears that nobody has decided for.
"""

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.apps import apps
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Model

from clientbook.customers import normalise
from clientbook.customers.models import (
    HARD_IDENTIFIER_TYPES,
    Customer,
    Identifier,
    IdentifierType,
)
from clientbook.identity.survivorship import Facts

MOVE = "move"  # every row goes to the survivor
MOVE_NEW = "move_new"  # rows the survivor already has the same of stay behind
SPECIAL = "special"  # handled by its own function below
KEEP = "keep"  # stays with the record it describes

# (model label, foreign key) → (rule, the fields that make two rows "the same").
RELATIONS: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {
    ("customers.identifier", "customer"): (SPECIAL, ("type", "value")),
    ("customers.address", "customer"): (
        MOVE_NEW,
        ("type", "province", "city", "district", "street", "postcode"),
    ),
    ("customers.preference", "customer"): (SPECIAL, ("category", "key")),
    ("customers.keydate", "customer"): (MOVE_NEW, ("kind", "date", "label")),
    # One value per field and customer: the survivor's value stays, the
    # duplicate's fills a field the survivor lacks.
    ("customers.customfieldvalue", "customer"): (MOVE_NEW, ("field_id",)),
    # The consent ledger is history: all entries move, and the latest entry
    # per channel and purpose (a withdrawal included) is the state.
    ("privacy.consent", "customer"): (MOVE, ()),
    # The current state of the ledger, kept by triggers on it (they follow
    # the entries as they move).
    ("privacy.consentstate", "customer"): (KEEP, ()),
    ("sales.order", "customer"): (MOVE, ()),
    ("activity.interaction", "customer"): (MOVE, ()),
    # So the next file from that source finds the survivor.
    ("ingest.sourcerecord", "customer"): (MOVE, ()),
    # Campaign history follows the person: the survivor inherits a
    # membership of a campaign it was not in itself (so its later orders are
    # attributed and the frequency cap sees the contact), and every
    # do-not-contact request.
    ("campaigns.member", "customer"): (MOVE_NEW, ("campaign_id",)),
    ("campaigns.donotcontact", "customer"): (MOVE, ()),
    # Campaign selections are usage history the quality grades count.
    ("quality.customerselection", "customer"): (MOVE, ()),
    # The audit log is never rewritten: entries keep naming the record they
    # were written about (the survivor's page lists its duplicates').
    ("privacy.auditentry", "customer"): (KEEP, ()),
    # Derived from the record, recomputed for the survivor by quality runs.
    ("quality.customerquality", "customer"): (KEEP, ()),
    ("quality.qualityissue", "customer"): (KEEP, ()),
    # Outputs of analysis runs: the next run scores the survivor.
    ("analytics.customerscore", "customer"): (KEEP, ()),
    ("analytics.recommendation", "customer"): (KEEP, ()),
    ("analytics.offerassignment", "customer"): (KEEP, ()),
    # A snapshot says who was in a segment then; it is not rewritten.
    ("segments.segmentmember", "customer"): (KEEP, ()),
    # A check of that record by branch staff; it closes with the record.
    ("quality.verificationtask", "customer"): (KEEP, ()),
    ("customers.customer", "merged_into"): (KEEP, ()),
    ("identity.merge", "survivor"): (KEEP, ()),
    ("identity.merge", "duplicate"): (KEEP, ()),
    ("identity.duplicatepair", "customer_a"): (KEEP, ()),
    ("identity.duplicatepair", "customer_b"): (KEEP, ()),
}

_encoder = DjangoJSONEncoder()


def jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return _encoder.default(value)


def _model(label: str) -> type[Model] | None:
    try:
        return apps.get_model(label)
    except LookupError:
        return None


def facts_for(customer: Customer, *, completeness: bool = False) -> Facts:
    """The source trust and verified national ID of a record, and with
    `completeness` how many of its fields, identifiers and addresses are set."""
    verified = (
        Identifier.objects.filter(
            customer=customer, type=IdentifierType.NATIONAL_ID, is_verified=True
        )
        .order_by("-last_seen")
        .values_list("value", flat=True)
        .first()
    )
    birth, gender = None, ""
    if verified:
        try:
            parsed = normalise.national_id(verified)
            birth, gender = parsed.birth_date, parsed.gender
        except normalise.NormaliseError:
            pass
    profile = ["name", "gender", "birth_date", "occupation", "employer", "position"]
    filled = sum(1 for f in profile if getattr(customer, f) not in (None, ""))
    return Facts(
        customer=customer,
        trust=customer.source.trust,
        verified_birth_date=birth,
        verified_gender=gender,
        completeness=filled + customer.identifiers.count() + customer.addresses.count(),
    )


def move_rows(survivor: Customer, duplicate: Customer) -> dict[str, Any]:
    """Moves the duplicate's rows to the survivor; returns what moved."""
    moved: dict[str, list[int]] = {}
    moved_back: dict[str, list[int]] = {}
    for (label, fk), (rule, same) in RELATIONS.items():
        model = _model(label)
        if model is None or rule in (KEEP, SPECIAL):
            continue
        rows = model._default_manager.filter(**{f"{fk}_id": duplicate.pk})
        if rule == MOVE_NEW:
            have = set(
                model._default_manager.filter(**{f"{fk}_id": survivor.pk}).values_list(
                    *same
                )
            )
            ids = [
                row[0]
                for row in rows.values_list("pk", *same)
                if tuple(row[1:]) not in have
            ]
        else:
            ids = list(rows.values_list("pk", flat=True))
        if ids:
            model._default_manager.filter(pk__in=ids).update(
                **{f"{fk}_id": survivor.pk}
            )
        moved[label] = ids
    unlived, moved["customers.identifier"] = _move_identifiers(survivor, duplicate)
    moved["customers.preference"], moved_back["customers.preference"] = (
        _move_preferences(survivor, duplicate)
    )
    tags = set(survivor.tags.values_list("pk", flat=True))
    added = sorted(set(duplicate.tags.values_list("pk", flat=True)) - tags)
    survivor.tags.add(*added)
    return {
        "moved": moved,
        "moved_back": moved_back,
        "identifiers_unlived": unlived,
        "tags_added": added,
    }


def _move_identifiers(
    survivor: Customer, duplicate: Customer
) -> tuple[list[int], list[int]]:
    """The duplicate's identifiers the survivor lacks move (still live);
    those it has too stay on the duplicate, no longer live."""
    have = set(survivor.identifiers.values_list("type", "value"))
    stay, move = [], []
    for pk, type_, value in duplicate.identifiers.values_list("pk", "type", "value"):
        (stay if (type_, value) in have else move).append(pk)
    # Stop the staying ones being live first: for a moment the same hard
    # identifier would otherwise have two live holders.
    unlived = list(
        Identifier.objects.filter(pk__in=stay, is_live=True).values_list(
            "pk", flat=True
        )
    )
    Identifier.objects.filter(pk__in=unlived).update(is_live=False)
    Identifier.objects.filter(pk__in=move).update(customer=survivor)
    return unlived, move


def _move_preferences(
    survivor: Customer, duplicate: Customer
) -> tuple[list[int], list[int]]:
    """Per category and key the newer preference is the survivor's; the older
    one is kept on the duplicate, where history can still find it."""
    mine = {(p.category, p.key): p for p in survivor.preferences.all()}
    forward, back = [], []
    for pref in duplicate.preferences.all():
        current = mine.get((pref.category, pref.key))
        if current is None:
            forward.append(pref.pk)
        elif (pref.created_at, pref.pk) > (current.created_at, current.pk):
            forward.append(pref.pk)
            back.append(current.pk)
    model = survivor.preferences.model
    model.objects.filter(pk__in=forward).update(customer=survivor)
    model.objects.filter(pk__in=back).update(customer=duplicate)
    return forward, back


def survivor_audit_after(merge, record: dict[str, Any]) -> dict[str, Any]:
    """The "after" of a merge's audit entry on the survivor: its fields,
    whom it absorbed, the merge, and how many rows of each table moved."""
    return {
        **record["survivor_after"],
        "merged_from": str(merge.duplicate.uuid),
        "merge": str(merge.uuid),
        "moved": {k: len(v) for k, v in record["moved"].items()},
    }


def move_back(record: dict[str, Any], survivor: Customer, duplicate: Customer) -> None:
    """Undoes `move_rows` from its record. Rows changed since (moved again
    by someone, deleted) are left where they are."""
    unlived = record["identifiers_unlived"]
    for label, ids in record["moved"].items():
        model = _model(label)
        if model is not None:
            fk = _fk(label)
            model._default_manager.filter(pk__in=ids, **{fk: survivor.pk}).update(
                **{fk: duplicate.pk}
            )
    for label, ids in record["moved_back"].items():
        model = _model(label)
        if model is not None:
            fk = _fk(label)
            model._default_manager.filter(pk__in=ids, **{fk: duplicate.pk}).update(
                **{fk: survivor.pk}
            )
    Identifier.objects.filter(pk__in=unlived, customer=duplicate).update(is_live=True)
    survivor.tags.remove(*record["tags_added"])


def _fk(label: str) -> str:
    fk = next(f for (lbl, f) in RELATIONS if lbl == label)
    return f"{fk}_id"


def identifiers_blocking_unmerge(
    record: dict[str, Any], duplicate: Customer
) -> Iterable[Identifier]:
    """Identifiers that would come back live although another live customer
    now holds them (one live holder per hard identifier)."""
    back = [*record["identifiers_unlived"], *record["moved"]["customers.identifier"]]
    for ident in Identifier.objects.filter(pk__in=back, type__in=HARD_IDENTIFIER_TYPES):
        holder = (
            Identifier.objects.filter(type=ident.type, value=ident.value, is_live=True)
            .exclude(pk=ident.pk)
            .exclude(customer=duplicate)
            .exclude(pk__in=back)
            .first()
        )
        if holder is not None:
            yield holder


def stamp(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None
