from django.contrib import admin

from clientbook.sales.models import Order, OrderLine, Product
from clientbook.web.admin_base import AuditedAdmin, ReadOnlyInline, ScopedAdmin


@admin.register(Product)
class ProductAdmin(AuditedAdmin):
    list_display = ["sku", "name", "category", "price", "unit_cost", "is_active"]
    list_filter = ["category", "is_active"]
    search_fields = ["sku", "name"]


class OrderLineInline(ReadOnlyInline):
    model = OrderLine
    fields = ["product", "quantity", "unit_price", "amount", "cost"]
    readonly_fields = fields


@admin.register(Order)
class OrderAdmin(ScopedAdmin):
    """Orders arrive from tills, imports and the API; here they are read."""

    branch_path = "customer__branch"
    list_display = [
        "number",
        "customer",
        "branch",
        "channel",
        "ordered_at",
        "amount",
        "cost",
    ]
    list_filter = ["channel", "branch"]
    list_select_related = ["customer", "branch"]
    search_fields = ["number"]
    date_hierarchy = "ordered_at"
    inlines = [OrderLineInline]
    readonly_fields = [
        "uuid",
        "number",
        "customer",
        "branch",
        "salesperson",
        "channel",
        "ordered_at",
        "currency",
        "amount",
        "cost",
        "source",
    ]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
