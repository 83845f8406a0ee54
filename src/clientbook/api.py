"""The REST API at /api/v1/: token auth, one error shape, the apps' routers."""

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.security import HttpBearer

from clientbook.errors import ClientbookError
from clientbook.org.services import api_token_authenticate


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str):
        user = api_token_authenticate(token)
        if user is not None:
            request.user = user
        return user


api = NinjaAPI(
    title="Clientbook API",
    version="1",
    urls_namespace="api",
    auth=TokenAuth(),
    docs_url="/docs",
)


@api.exception_handler(ClientbookError)
def _clientbook_error(request, exc: ClientbookError):
    return api.create_response(request, {"error": exc.as_dict()}, status=exc.status)


@api.exception_handler(NinjaValidationError)
def _validation_error(request, exc: NinjaValidationError):
    errors = [
        {
            "code": "invalid",
            "field": _field_path(err.get("loc", ())),
            "message": err.get("msg", ""),
        }
        for err in exc.errors
    ]
    body = {
        "error": {
            "code": "validation",
            "message": _("The request is invalid."),
            "errors": errors,
        }
    }
    return api.create_response(request, body, status=422)


def _field_path(loc) -> str | None:
    """("body", "payload", "lines", 0, "sku") → "lines.0.sku"."""
    parts = list(loc)
    if parts[:1] == ["body"]:
        parts = parts[2:]
    elif parts[:1] in (["query"], ["path"]):
        parts = parts[1:]
    return ".".join(str(p) for p in parts) or None


@api.exception_handler(AuthenticationError)
def _unauthenticated(request, exc):
    body = {
        "error": {
            "code": "unauthenticated",
            "message": _("A valid API token is needed."),
        }
    }
    return api.create_response(request, body, status=401)


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    body = {"error": {"code": str(exc.status_code), "message": str(exc)}}
    return api.create_response(request, body, status=exc.status_code)


def _routers() -> None:
    from clientbook.activity.api import router as activity
    from clientbook.analytics.api import router as analytics
    from clientbook.campaigns.api import router as campaigns
    from clientbook.customers.api import router as customers
    from clientbook.identity.api import router as identity
    from clientbook.ingest.api import router as ingest
    from clientbook.privacy.api import router as privacy
    from clientbook.quality.api import router as quality
    from clientbook.sales.api import router as sales
    from clientbook.segments.api import router as segments

    api.add_router("/customers", customers)
    api.add_router("/", privacy)
    api.add_router("/", activity)
    api.add_router("/", sales)
    api.add_router("/imports", ingest)
    api.add_router("/duplicates", identity)
    api.add_router("/quality", quality)
    api.add_router("/analytics", analytics)
    api.add_router("/segments", segments)
    api.add_router("/campaigns", campaigns)


_routers()
