"""Branches, staff and their roles, API tokens."""

import hashlib
import secrets

from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.utils import timezone

from clientbook.org.access import ensure_can_edit
from clientbook.org.models import ApiToken, Branch, Role, User
from clientbook.privacy.services import audit_record, snapshot

# What each role may do in the back office, as Django model permissions.
_CUSTOMER_MODELS = [
    "customer",
    "identifier",
    "address",
    "preference",
    "keydate",
    "customfieldvalue",
    "tag",
    "consent",
    "interaction",
    "order",
    "orderline",
]
_ROLE_PERMISSIONS: dict[str, list[str]] = {
    Role.MANAGER: [
        "view_pii",
        *(f"{a}_{m}" for m in _CUSTOMER_MODELS for a in ("view", "add", "change")),
        "view_product",
        "add_product",
        "change_product",
        "view_source",
        "view_branch",
        "view_user",
        "view_auditentry",
        "view_customfield",
    ],
    Role.MARKETER: [
        *(f"{a}_{m}" for m in _CUSTOMER_MODELS for a in ("view", "add", "change")),
        "view_product",
        "view_source",
        "view_branch",
        "view_customfield",
    ],
    Role.BRANCH_STAFF: [
        *(f"{a}_{m}" for m in _CUSTOMER_MODELS for a in ("view", "add", "change")),
        "view_product",
        "view_source",
    ],
    Role.AUDITOR: [
        *(f"view_{m}" for m in _CUSTOMER_MODELS),
        "view_product",
        "view_source",
        "view_branch",
        "view_user",
        "view_auditentry",
        "view_customfield",
    ],
}


# Imports, duplicates, quality, analytics, segments and campaigns: roles
# that see every branch may look at their records in the back office (writes
# go through their own pages); branch staff only at imports, whose admin is
# branch-scoped, since snapshots and runs there are company-wide. Importers
# keep mapping templates.
_WORK_APPS = ["ingest", "identity", "quality", "analytics", "segments", "campaigns"]
_TEMPLATE_EDITORS = {Role.MANAGER, Role.MARKETER, Role.BRANCH_STAFF}


def role_groups_sync() -> dict[str, Group]:
    """Makes one group per role carrying that role's permissions. Idempotent."""
    groups = {}
    for role, codenames in _ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=f"role:{role}")
        perms = Permission.objects.filter(
            codename__in=codenames,
            content_type__app_label__in=[
                "customers",
                "privacy",
                "activity",
                "sales",
                "org",
            ],
        )
        apps = ["ingest"] if role == Role.BRANCH_STAFF else _WORK_APPS
        work = Permission.objects.filter(
            content_type__app_label__in=apps, codename__startswith="view_"
        )
        if role in _TEMPLATE_EDITORS:
            work |= Permission.objects.filter(
                content_type__app_label="ingest",
                codename__in=["add_mappingtemplate", "change_mappingtemplate"],
            )
        perms = perms | work
        group.permissions.set(perms)
        groups[role] = group
    return groups


@transaction.atomic
def branch_create(
    *, code: str, name: str, region: str = "", address: str = "", actor=None
) -> Branch:
    ensure_can_edit(actor)
    branch = Branch.objects.create(code=code, name=name, region=region, address=address)
    audit_record(
        actor=actor, action="branch.create", obj=branch, after=snapshot(branch)
    )
    return branch


@transaction.atomic
def staff_create(
    *,
    username: str,
    password: str,
    role: str,
    branch: Branch | None = None,
    first_name: str = "",
    last_name: str = "",
    email: str = "",
    actor=None,
) -> User:
    """Creates a staff member who can log in to the web UI and the back office."""
    ensure_can_edit(actor)
    user = User.objects.create_user(
        username=username,
        password=password,
        email=email,
        first_name=first_name,
        last_name=last_name,
        role=role,
        branch=branch,
        is_staff=True,
        is_superuser=role == Role.ADMIN,
    )
    staff_set_role(user=user, role=role)
    audit_record(
        actor=actor,
        action="staff.create",
        obj=user,
        after=snapshot(user, ["username", "role", "branch"]),
    )
    return user


def staff_set_role(*, user: User, role: str) -> None:
    groups = role_groups_sync()
    user.role = role
    user.is_superuser = role == Role.ADMIN
    user.save(update_fields=["role", "is_superuser"])
    user.groups.remove(*groups.values())
    if role in groups:
        user.groups.add(groups[role])


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@transaction.atomic
def api_token_create(*, user: User, name: str, actor=None) -> tuple[ApiToken, str]:
    """Returns the token and its key; the key is shown once and stored hashed."""
    key = "cb_" + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name, prefix=key[:10], key_hash=_hash(key)
    )
    audit_record(
        actor=actor,
        action="api_token.create",
        obj=token,
        after={"user": user.pk, "name": name, "prefix": token.prefix},
    )
    return token, key


@transaction.atomic
def api_token_revoke(*, token: ApiToken, actor=None) -> ApiToken:
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    audit_record(
        actor=actor,
        action="api_token.revoke",
        obj=token,
        after={"prefix": token.prefix},
    )
    return token


def api_token_authenticate(key: str) -> User | None:
    """The active user a key belongs to, or None."""
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=_hash(key), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user
