from django.db.models import Q, QuerySet

from clientbook.privacy.models import (
    IMPORT_CREATED,
    AuditEntry,
    Consent,
    ConsentChannel,
    ConsentPurpose,
    ConsentStatus,
    Source,
)


def consent_current(customer) -> dict[tuple[str, str], Consent | None]:
    """The current state per channel × purpose: the latest ledger entry, by
    when it happened, then by when it was recorded. None means never asked."""
    state: dict[tuple[str, str], Consent | None] = {
        (c, p): None for c in ConsentChannel.values for p in ConsentPurpose.values
    }
    entries = customer.consents.select_related("source").order_by("occurred_at", "id")
    for entry in entries:
        state[(entry.channel, entry.purpose)] = entry
    return state


def consent_status(customer, *, channel: str, purpose: str) -> str:
    entry = consent_current(customer)[(channel, purpose)]
    return entry.status if entry else ConsentStatus.UNKNOWN


def consent_history(customer) -> QuerySet[Consent]:
    return customer.consents.select_related("source", "recorded_by").order_by(
        "-occurred_at", "-id"
    )


def audit_list_for_customer(customer) -> QuerySet[AuditEntry]:
    """The customer's entries, and the entry of the import that created it,
    which stands for all the customers that import created."""
    found = Q(customer=customer)
    if customer.import_job_id:
        found |= Q(
            action=IMPORT_CREATED,
            entity="ingest.importjob",
            entity_id=str(customer.import_job_id),
        )
    return AuditEntry.objects.filter(found).select_related("actor")


def source_list(*, active_only: bool = True) -> QuerySet[Source]:
    qs = Source.objects.all()
    return qs.filter(is_active=True) if active_only else qs
