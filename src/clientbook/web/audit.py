"""The audit log as a user may read it: identifier values masked without view_pii.

Audit entries store before/after as free-form JSON written by many services,
so masking goes by two rules: a dict holding an identifier (`type` + `value`)
is masked by its type, and any other string shaped like a national ID or a
phone number is masked too, so a new service cannot leak one by accident.
"""

from collections import defaultdict
from typing import Any

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils import dateformat, timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _

from clientbook.customers.models import Customer
from clientbook.org.access import can_view_pii
from clientbook.privacy.masking import mask_audit_data

ACTION_LABELS = {
    "customer.create": _("Customer created"),
    "customer.update": _("Customer changed"),
    "customer.archive": _("Customer archived"),
    "customer.restore": _("Customer restored"),
    "customer.merge": _("Customers merged"),
    "customer.unmerge": _("Merge undone"),
    "identifier.add": _("Identifier added"),
    "identifier.remove": _("Identifier removed"),
    "identifier.verify": _("Identifier verified"),
    "address.add": _("Address added"),
    "address.update": _("Address changed"),
    "preference.set": _("Preference set"),
    "key_date.add": _("Key date added"),
    "consent.record": _("Consent recorded"),
    "interaction.record": _("Interaction recorded"),
    "order.create": _("Order created"),
    "customer.import_update": _("Customer changed by an import"),
    "customer.import_create": _("Customers created by an import"),
    "customer.merged_into": _("Merged into another customer"),
    "customer.verify": _("Record confirmed by staff"),
    "duplicate_pair.reject": _("Not a duplicate"),
    "selection.record": _("Selected for a campaign"),
    "campaign.create": _("Campaign created"),
    "campaign.update": _("Campaign changed"),
    "campaign.select": _("Campaign members selected"),
    "campaign.assign": _("Campaign members assigned"),
    "campaign.stage": _("Campaign stage changed"),
    "campaign.rollout": _("Test winner rolled out"),
    "campaign.send": _("Campaign send started"),
    "campaign.response": _("Campaign response"),
    "campaign.attribute": _("Orders attributed to a campaign"),
    "campaign.mail_release": _("Direct mail released to print"),
    "campaign.calls_assign": _("Call list assigned"),
    "campaign.call_outcome": _("Call outcome recorded"),
    "campaign.history_import": _("Past campaign imported"),
    "variant.add": _("Campaign variant added"),
    "variant.update": _("Campaign variant changed"),
    "variant.remove": _("Campaign variant removed"),
    "do_not_contact.add": _("Put on the do-not-contact list"),
    "do_not_contact.lift": _("Taken off the do-not-contact list"),
    "verification.rotate": _("Proposed for verification"),
    "cleanup.propose": _("Proposed for clean-up"),
    "cleanup.confirm": _("Archived by clean-up"),
    "cleanup.keep": _("Kept after clean-up review"),
    "quality.compute": _("Data quality recomputed"),
    "import.create": _("Import started"),
    "mapping_template.save": _("Import mapping saved"),
}


def action_label(action: str) -> str:
    return str(ACTION_LABELS.get(action, action))


def entity_model(entity: str) -> type[models.Model]:
    """The model an audit entry is about (`customers.identifier`), else Customer."""
    try:
        return apps.get_model(entity)
    except (LookupError, ValueError):
        return Customer


def _field(model: type[models.Model], key: str):
    try:
        return model._meta.get_field(key)
    except FieldDoesNotExist:
        return None


def field_label(model: type[models.Model], key: str) -> str:
    """A field's translated name, or the key itself."""
    field = _field(model, key)
    return str(getattr(field, "verbose_name", key)) if field else key


def field_value(
    model: type[models.Model], key: str, value: Any, names: dict | None = None
) -> Any:
    """A choice's label, a related record's name (from `names`, see
    `related_names`), or a stored timestamp in local time; else the value."""
    field = _field(model, key)
    if field is not None and field.many_to_one and names:
        return names.get((field.related_model, value), value)
    if field is not None and field.choices and isinstance(value, str):
        return dict(field.flatchoices).get(value, value)
    if isinstance(value, str) and "T" in value:
        moment = parse_datetime(value)
        if moment is not None and timezone.is_aware(moment):
            return dateformat.format(timezone.localtime(moment), "Y-m-d H:i")
    return value


def related_names(entries) -> dict[tuple[type[models.Model], Any], str]:
    """The names of the records audit entries name by id (a branch, a
    source: snapshots store foreign keys as ids), one query per model."""
    wanted: dict[type[models.Model], set] = defaultdict(set)
    for entry in entries:
        model = entity_model(entry.entity)
        for side in (entry.before, entry.after):
            for key, value in (side if isinstance(side, dict) else {}).items():
                field = _field(model, key)
                if field is not None and field.many_to_one and isinstance(value, int):
                    wanted[field.related_model].add(value)
    return {
        (related, record.pk): str(record)
        for related, ids in wanted.items()
        for record in related._default_manager.filter(pk__in=ids)
    }


def audit_rows(
    user, data: Any, entity: str = "", names: dict | None = None
) -> list[tuple[str, Any]]:
    """(label, value) pairs of one side of an audit entry, masked for `user`;
    `names` from `related_names` show related records by name."""
    if not data:
        return []
    if not can_view_pii(user):
        data = mask_audit_data(data)
    if not isinstance(data, dict):
        return [("", data)]
    model = entity_model(entity)
    return [
        (field_label(model, k), field_value(model, k, v, names))
        for k, v in data.items()
    ]


def audit_format(value: Any) -> str:
    """One audit value as text (already masked by `audit_rows`)."""
    if value is None or value == "":
        return "—"
    if isinstance(value, list):
        return ", ".join(audit_format(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {audit_format(v)}" for k, v in value.items())
    if isinstance(value, bool):
        return str(_("yes") if value else _("no"))
    return str(value)
