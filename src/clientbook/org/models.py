import uuid

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    ADMIN = "admin", _("Administrator")
    MANAGER = "manager", _("Manager")
    MARKETER = "marketer", _("Marketer / analyst")
    BRANCH_STAFF = "branch_staff", _("Branch staff")
    AUDITOR = "auditor", _("Auditor")


class Branch(models.Model):
    """A branch (网点): a shop, an outlet, a bank or post office."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=200)
    region = models.CharField(_("region"), max_length=100, blank=True, db_index=True)
    address = models.CharField(_("address"), max_length=300, blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("branch")
        verbose_name_plural = _("branches")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    """A staff member. The role decides what they may do, the branch what they see."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    branch = models.ForeignKey(
        Branch,
        verbose_name=_("branch"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="staff",
    )
    role = models.CharField(
        _("role"), max_length=20, choices=Role.choices, default=Role.BRANCH_STAFF
    )

    class Meta:
        verbose_name = _("staff member")
        verbose_name_plural = _("staff")

    def __str__(self) -> str:
        return self.get_full_name() or self.username


class ApiToken(models.Model):
    """A bearer token for the REST API; only its SHA-256 hash is stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(_("prefix"), max_length=12)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
