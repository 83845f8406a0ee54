"""Who may see and change what. Every surface (web, API, admin) asks here.

Branch staff see only their own branch's customers; auditors read everything
and write nothing; national ID and phone numbers need `customers.view_pii`.
"""

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from clientbook.errors import AccessDenied
from clientbook.org.models import Role

VIEW_PII = "customers.view_pii"


def is_branch_scoped(user) -> bool:
    return not user.is_superuser and user.role == Role.BRANCH_STAFF


def can_view_pii(user) -> bool:
    return bool(user and user.is_active and user.has_perm(VIEW_PII))


def can_write(user) -> bool:
    return bool(
        user and user.is_active and (user.is_superuser or user.role != Role.AUDITOR)
    )


def scope_by_branch(queryset: QuerySet, user, *, field: str = "branch") -> QuerySet:
    """Narrows any queryset with a branch path to what `user` may see."""
    if user is None or not user.is_authenticated or not user.is_active:
        return queryset.none()
    if is_branch_scoped(user):
        if user.branch_id is None:
            return queryset.none()
        return queryset.filter(**{f"{field}_id": user.branch_id})
    return queryset


def can_see_customer(user, customer) -> bool:
    if user is None or not user.is_active:
        return False
    return not is_branch_scoped(user) or (
        user.branch_id is not None and customer.branch_id == user.branch_id
    )


def ensure_can_edit(actor, customer=None) -> None:
    """Raises AccessDenied unless `actor` may change `customer`. A `None`
    actor is the system itself (demo data, migrations, scheduled jobs)."""
    if actor is None:
        return
    if not can_write(actor):
        raise AccessDenied("read_only", _("Your role may not change data."))
    if customer is not None and not can_see_customer(actor, customer):
        raise AccessDenied(
            "other_branch", _("This customer belongs to another branch.")
        )
