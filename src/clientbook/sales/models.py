import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

MONEY = {"max_digits": 14, "decimal_places": 2}


class Product(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    sku = models.CharField(_("SKU"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200)
    category = models.CharField(_("category"), max_length=100, db_index=True)
    price = models.DecimalField(_("price"), **MONEY)
    unit_cost = models.DecimalField(_("unit cost"), **MONEY)
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        ordering = ["sku"]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"


class SalesChannel(models.TextChoices):
    STORE = "store", _("In store")
    ONLINE = "online", _("Online")
    PHONE = "phone", _("Phone")
    MAIL = "mail", _("Mail order")
    PARTNER = "partner", _("Partner")


class Order(models.Model):
    """A purchase or, with negative lines, a return. `amount` and `cost` are
    the sums of the lines, kept by the services so value reads stay cheap."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    number = models.CharField(_("order number"), max_length=64, unique=True)
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.PROTECT,
        related_name="orders",
    )
    branch = models.ForeignKey(
        "org.Branch",
        verbose_name=_("branch"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="orders",
    )
    salesperson = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("salesperson"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    channel = models.CharField(
        _("channel"), max_length=10, choices=SalesChannel, default=SalesChannel.STORE
    )
    ordered_at = models.DateTimeField(_("time"))
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    amount = models.DecimalField(_("amount"), default=0, **MONEY)
    cost = models.DecimalField(_("cost"), default=0, **MONEY)
    source = models.ForeignKey(
        "privacy.Source", verbose_name=_("source"), on_delete=models.PROTECT
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        indexes = [
            models.Index(fields=["customer", "ordered_at"]),
            models.Index(fields=["ordered_at"]),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def margin(self):
        return self.amount - self.cost


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(
        Product, verbose_name=_("product"), on_delete=models.PROTECT, related_name="+"
    )
    quantity = models.DecimalField(_("quantity"), max_digits=12, decimal_places=3)
    unit_price = models.DecimalField(_("unit price"), **MONEY)
    amount = models.DecimalField(_("amount"), **MONEY)
    cost = models.DecimalField(_("cost"), **MONEY)

    class Meta:
        verbose_name = _("order line")
        verbose_name_plural = _("order lines")

    def __str__(self) -> str:
        return f"{self.product_id} × {self.quantity}"
