"""The customer pages: search, the 360 page, create/edit and the 360 page's
small actions. Views parse with forms, read with selectors and write with
services; a `ClientbookError` becomes a message on the form, never a traceback."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Prefetch
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from clientbook.activity.services import interaction_record
from clientbook.customers import forms as cforms
from clientbook.customers.models import Customer, CustomerKind, Identifier
from clientbook.customers.selectors import (
    custom_values_for_display,
    customer_get_for_user,
    customer_search,
    customer_timeline,
    customer_value_summary,
)
from clientbook.customers.services import (
    address_add,
    customer_archive,
    customer_create,
    customer_restore,
    customer_update,
    identifier_add,
    identifier_remove,
    identifier_verify,
    key_date_add,
    preference_set,
)
from clientbook.errors import AccessDenied, ClientbookError, NotFound
from clientbook.org.access import can_write, ensure_can_edit
from clientbook.privacy.models import ConsentChannel, ConsentPurpose
from clientbook.privacy.selectors import (
    audit_list_for_customer,
    consent_current,
    consent_history,
    source_list,
)
from clientbook.privacy.services import consent_record
from clientbook.web.audit import action_label, audit_rows, related_names

PHONE_TYPES = ["mobile", "landline"]
# The 360 page opens with the newest entries; "show all" asks for the rest, so
# a customer with years of orders still opens fast.
TIMELINE_LIMIT = 30
AUDIT_LIMIT = 50
SHOW_ALL_LIMIT = 1000


def _customer_or_404(user, uuid) -> Customer:
    customer = customer_get_for_user(user=user, uuid=uuid)
    if customer is None:
        raise Http404(_("No such customer."))
    return customer


def _refused(request, exc: ClientbookError, back_url: str = "") -> HttpResponse:
    """A clean page for a write the user's role or branch does not allow."""
    context = {"message": exc.message, "back_url": back_url}
    return render(request, "web/error.html", context, status=exc.status)


# Search -----------------------------------------------------------------------


def search_results(user, query: str) -> list[Customer]:
    """Customers matching `query`, with branch and phone numbers in two queries."""
    phones = Identifier.objects.filter(type__in=PHONE_TYPES).order_by("type", "id")
    found = customer_search(user=user, query=query).select_related("branch")
    found = found.prefetch_related(
        Prefetch("identifiers", queryset=phones, to_attr="phones")
    )
    return list(found)


@login_required
def search(request):
    query = request.GET.get("q", "").strip()
    context = {"query": query, "results": search_results(request.user, query)}
    if request.htmx and request.htmx.target == "results":
        return render(request, "customers/_results.html", context)
    return render(request, "customers/search.html", context)


# The 360 page -------------------------------------------------------------------


def consent_grid(customer: Customer) -> list[dict[str, Any]]:
    """One row per channel, one cell per purpose, each the current entry or None."""
    state = consent_current(customer)
    return [
        {
            "channel": channel.label,
            "cells": [state[(channel.value, p.value)] for p in ConsentPurpose],
        }
        for channel in ConsentChannel
    ]


def audit_entries(user, customer: Customer, limit: int) -> list[dict[str, Any]]:
    entries = list(audit_list_for_customer(customer)[:limit])
    names = related_names(entries)
    return [
        {
            "entry": entry,
            "label": action_label(entry.action),
            "before": audit_rows(user, entry.before, entry.entity, names),
            "after": audit_rows(user, entry.after, entry.entity, names),
        }
        for entry in entries
    ]


def action_forms(sources, bound: dict[str, cforms.ServiceForm], open_action: str):
    """Only the form that is open: the others load when their section opens."""
    forms = dict(bound)
    if open_action in ACTIONS and open_action not in forms:
        forms[open_action] = ACTIONS[open_action].form_class(sources=sources)
    return forms


def detail_context(request, customer: Customer, bound=None, open_action=""):
    user = request.user
    writable = can_write(user)
    open_action = open_action or request.GET.get("open", "")
    sources = list(source_list()) if writable and (bound or open_action) else []
    shown = request.GET.get("show", "")
    timeline_limit = SHOW_ALL_LIMIT if shown == "timeline" else TIMELINE_LIMIT
    audit_limit = SHOW_ALL_LIMIT if shown == "audit" else AUDIT_LIMIT
    timeline = customer_timeline(customer, limit=timeline_limit + 1)
    audit = audit_entries(user, customer, audit_limit + 1)
    return {
        "customer": customer,
        "identifiers": customer.identifiers.select_related("source").order_by(
            "type", "id"
        ),
        "addresses": customer.addresses.select_related("source").order_by("type"),
        "preferences": customer.preferences.all(),
        "key_dates": customer.key_dates.all(),
        "tags": customer.tags.all(),
        "custom_values": custom_values_for_display(customer),
        "value": customer_value_summary(customer),
        "timeline": timeline[:timeline_limit],
        "timeline_more": len(timeline) > timeline_limit,
        "consent_purposes": [p.label for p in ConsentPurpose],
        "consent_grid": consent_grid(customer),
        "consent_history": consent_history(customer),
        "audit": audit[:audit_limit],
        "audit_more": len(audit) > audit_limit,
        "writable": writable,
        "forms": action_forms(sources, bound or {}, open_action) if writable else {},
        "open_action": open_action,
    }


@login_required
def detail(request, uuid):
    customer = _customer_or_404(request.user, uuid)
    return render(request, "customers/detail.html", detail_context(request, customer))


# The small actions of the 360 page ------------------------------------------------


@dataclass(frozen=True)
class Action:
    form_class: type[cforms.ServiceForm]
    # (customer, actor, cleaned form data) -> what the service returns
    run: Callable[..., Any]
    done: str
    anchor: str = ""  # where the page scrolls to after it (default: its form)


def _archive(customer, actor, data):
    return customer_archive(customer=customer, actor=actor, reason=data["reason"])


def _restore(customer, actor, data):
    return customer_restore(customer=customer, actor=actor)


def _on_identifier(service):
    """Adapts a service taking `identifier=` and `actor=` to the customer's
    identifier the form names."""

    def run(customer, actor, data):
        identifier = customer.identifiers.filter(pk=data["identifier"]).first()
        if identifier is not None:
            return service(identifier=identifier, actor=actor)
        if Identifier.objects.filter(pk=data["identifier"]).exists():
            raise Http404  # another customer's
        # Removed meanwhile: by someone else, or by a second click.
        raise NotFound(
            "identifier_gone",
            _("This identifier is no longer there: it was removed."),
            field="identifier",
            value=data["identifier"],
        )

    return run


def _call(service):
    """Adapts a service taking `customer=`, `actor=` and the form's fields."""

    def run(customer, actor, data):
        return service(customer=customer, actor=actor, **data)

    return run


ACTIONS: dict[str, Action] = {
    "identifier": Action(
        cforms.IdentifierForm, _call(identifier_add), gettext_lazy("Identifier added.")
    ),
    "identifier_verify": Action(
        cforms.IdentifierChoiceForm,
        _on_identifier(identifier_verify),
        gettext_lazy("Identifier marked verified."),
        anchor="identifiers-card",
    ),
    "identifier_remove": Action(
        cforms.IdentifierChoiceForm,
        _on_identifier(identifier_remove),
        gettext_lazy("Identifier removed."),
        anchor="identifiers-card",
    ),
    "address": Action(
        cforms.AddressForm, _call(address_add), gettext_lazy("Address added.")
    ),
    "preference": Action(
        cforms.PreferenceForm, _call(preference_set), gettext_lazy("Preference saved.")
    ),
    "key_date": Action(
        cforms.KeyDateForm, _call(key_date_add), gettext_lazy("Key date added.")
    ),
    "consent": Action(
        cforms.ConsentForm, _call(consent_record), gettext_lazy("Consent recorded.")
    ),
    "interaction": Action(
        cforms.InteractionForm,
        _call(interaction_record),
        gettext_lazy("Interaction recorded."),
    ),
    "archive": Action(cforms.ArchiveForm, _archive, gettext_lazy("Customer archived.")),
    "restore": Action(cforms.RestoreForm, _restore, gettext_lazy("Customer restored.")),
}


@login_required
@require_http_methods(["GET", "POST"])
def action(request, uuid, name):
    spec = ACTIONS.get(name)
    if spec is None:
        raise Http404
    customer = _customer_or_404(request.user, uuid)
    detail_url = reverse("customers:detail", args=[customer.uuid])
    try:
        # Refuse a read-only role before looking at the data it sent.
        ensure_can_edit(request.user, customer)
    except AccessDenied as exc:
        return _refused(request, exc, detail_url)
    if request.method == "GET":  # the empty form, for a section being opened
        form = spec.form_class(sources=list(source_list()))
        context = {"customer": customer, "name": name, "form": form}
        return render(request, "customers/_action_body.html", context)
    form = spec.form_class(request.POST, sources=list(source_list()))
    status = 422
    if form.is_valid():
        try:
            spec.run(customer, request.user, form.cleaned_data)
        except AccessDenied as exc:
            return _refused(request, exc, detail_url)
        except NotFound as exc:  # what the form names is gone: nothing to correct
            messages.warning(request, exc.message)
            return redirect(f"{detail_url}#{spec.anchor or name}")
        except ClientbookError as exc:
            form.add_service_error(exc)
            status = exc.status
        else:
            messages.success(request, spec.done)
            return redirect(f"{detail_url}#{spec.anchor or name}")
    customer.refresh_from_db()
    context = detail_context(request, customer, {name: form}, open_action=name)
    return render(request, "customers/detail.html", context, status=status)


# Create and edit --------------------------------------------------------------------


def _kind(value: str | None) -> str:
    return value if value in CustomerKind.values else CustomerKind.INDIVIDUAL


@login_required
def create(request):
    if not can_write(request.user):
        return _refused(
            request, AccessDenied("read_only", _("Your role may not change data."))
        )
    data = request.POST if request.method == "POST" else None
    kind = _kind((data or request.GET).get("kind"))
    form = cforms.CustomerForm(
        data, user=request.user, kind=kind, sources=list(source_list())
    )
    status = 200
    if data is not None:
        status = 422
        if form.is_valid():
            try:
                customer = customer_create(actor=request.user, **form.create_kwargs())
            except ClientbookError as exc:
                form.add_service_error(exc)
                status = exc.status
            else:
                messages.success(request, _("Customer created."))
                return redirect("customers:detail", customer.uuid)
    context = {"form": form, "kind": kind, "kinds": CustomerKind.choices}
    return render(request, "customers/form.html", context, status=status)


@login_required
def edit(request, uuid):
    customer = _customer_or_404(request.user, uuid)
    detail_url = reverse("customers:detail", args=[customer.uuid])
    try:
        ensure_can_edit(request.user, customer)
    except AccessDenied as exc:
        return _refused(request, exc, detail_url)
    data = request.POST if request.method == "POST" else None
    form = cforms.CustomerForm(
        data,
        user=request.user,
        kind=customer.kind,
        customer=customer,
        initial=cforms.customer_initial(customer),
    )
    status = 200
    if data is not None:
        status = 422
        if form.is_valid():
            try:
                customer_update(
                    customer=customer, actor=request.user, **form.update_kwargs()
                )
            except ClientbookError as exc:
                form.add_service_error(exc)
                status = exc.status
            else:
                messages.success(request, _("Customer saved."))
                return redirect(detail_url)
    context = {"form": form, "customer": customer, "kind": customer.kind}
    return render(request, "customers/form.html", context, status=status)
