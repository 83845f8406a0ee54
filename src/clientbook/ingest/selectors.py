"""Reads for the import pages and API: which jobs a user may see, their
rejects, the saved mapping templates and the targets a column can map to."""

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from clientbook.customers.models import CustomField, KeyDateKind
from clientbook.ingest import mapping as mappings
from clientbook.ingest.models import ImportJob, ImportKind, MappingTemplate
from clientbook.org.access import can_view_pii, is_branch_scoped
from clientbook.privacy.masking import mask
from clientbook.privacy.models import ConsentChannel, ConsentPurpose

# Columns whose raw values are masked for users without `view_pii`.
PII_TARGETS = {"national_id", "mobile", "landline", "phone", "passport"}


def import_job_list_for_user(*, user) -> QuerySet[ImportJob]:
    """Jobs newest first: branch staff see the ones they or their branch's
    staff started; every other role sees all."""
    if user is None or not user.is_authenticated or not user.is_active:
        return ImportJob.objects.none()
    jobs = ImportJob.objects.select_related("source", "started_by")
    if is_branch_scoped(user):
        mine = Q(started_by=user)
        if user.branch_id is not None:
            mine |= Q(started_by__branch_id=user.branch_id)
        jobs = jobs.filter(mine)
    return jobs.order_by("-created_at", "-id")


def import_job_get_for_user(*, user, uuid) -> ImportJob | None:
    return import_job_list_for_user(user=user).filter(uuid=uuid).first()


def can_download_rejects(user, job: ImportJob) -> bool:
    """The rejects file holds whole rows as read, unmasked: for the one who
    uploaded them, or for users who may see personal data anyway."""
    return job.started_by_id == user.pk or can_view_pii(user)


def mapping_template_list(*, source=None, kind: str = "") -> QuerySet:
    templates = MappingTemplate.objects.select_related("source")
    if source is not None:
        templates = templates.filter(source=source)
    if kind:
        templates = templates.filter(kind=kind)
    return templates.order_by("source__name", "kind", "name")


def reject_rows(user, job: ImportJob, rejects) -> list[dict]:
    """Rejects as shown on screen: values of identifier columns masked
    unless the user may see personal data."""
    masked = not can_view_pii(user)
    rows = []
    for reject in rejects:
        value = reject.value
        if masked and job.mapping.get(reject.column) in PII_TARGETS:
            value = mask_raw(value)
        rows.append(
            {
                "row_number": reject.row_number,
                "column": reject.column,
                "value": value,
                "reason": reject.reason,
                "code": reject.code,
            }
        )
    return rows


def mask_raw(value: str) -> str:
    """A raw value as typed (any length): never more than a quarter shown at
    each end, so a short or malformed number is not shown whole."""
    keep = min(len(value) // 4, 4)
    return mask(value, keep_start=min(keep, 3), keep_end=keep)


def mapping_target_groups(*, kind: str) -> list[tuple[str, list]]:
    """The targets a column can map to, grouped for a <select>: the kind's
    fields and, for customers, custom fields, consents and key dates. (A
    preference takes its name from the column, so each column adds its own.)"""
    fields = [(k, str(v)) for k, v in mappings.TARGETS[kind].items()]
    groups = [(_("Fields"), fields)]
    if kind != ImportKind.CUSTOMERS:
        return groups
    custom = {}
    for field in CustomField.objects.order_by("customer_kind", "position", "key"):
        custom.setdefault(f"custom:{field.key}", f"{field.label} ({field.key})")
    if custom:
        groups.append((_("Custom fields"), list(custom.items())))
    consents = [
        (f"consent:{c.value}:{p.value}", f"{c.label} · {p.label}")
        for c in ConsentChannel
        for p in ConsentPurpose
    ]
    groups.append((_("Consents"), consents))
    key_dates = [(f"key_date:{k.value}", str(k.label)) for k in KeyDateKind]
    groups.append((_("Key dates"), key_dates))
    return groups


def mapping_target_label(kind: str, target: str) -> str:
    """A target in words: "Mobile", "Preference “饮品”", "Consent: SMS · Marketing"."""
    label = mappings.TARGETS.get(kind, {}).get(target)
    if label is not None:
        return str(label)
    prefix, _sep, rest = target.partition(":")
    if prefix == "custom":
        field = CustomField.objects.filter(key=rest).first()
        return _("Custom field “%(name)s”") % {"name": field.label if field else rest}
    if prefix == "preference":
        return _("Preference “%(name)s”") % {"name": rest}
    if prefix == "key_date" and rest in KeyDateKind.values:
        return _("Key date: %(kind)s") % {"kind": KeyDateKind(rest).label}
    if prefix == "consent":
        channel, _sep, purpose = rest.partition(":")
        if channel in ConsentChannel.values and purpose in ConsentPurpose.values:
            return _("Consent: %(channel)s · %(purpose)s") % {
                "channel": ConsentChannel(channel).label,
                "purpose": ConsentPurpose(purpose).label,
            }
    return target
