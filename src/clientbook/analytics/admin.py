"""Back office: analysis runs, scores and models, read-only (services write them)."""

from django.contrib import admin

from clientbook.analytics.models import AnalysisRun, CustomerScore, ModelVersion
from clientbook.web.admin_base import ReadOnlyAdmin


@admin.register(AnalysisRun)
class AnalysisRunAdmin(ReadOnlyAdmin):
    list_display = ["kind", "as_of", "status", "is_current", "customers", "created_at"]
    list_filter = ["kind", "status", "is_current"]
    exclude = ["metrics"]


@admin.register(CustomerScore)
class CustomerScoreAdmin(ReadOnlyAdmin):
    branch_path = "customer__branch"
    list_display = ["customer", "rfm_cell", "value_tier", "clv", "p_alive", "cluster"]
    list_filter = ["rfm_cell", "value_tier", "cluster"]
    list_select_related = ["customer"]
    raw_id_fields = ["customer"]


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyAdmin):
    list_display = ["target", "category", "algorithm", "chosen", "created_at"]
    list_filter = ["target", "algorithm", "chosen"]
    exclude = ["estimator"]
