"""Supervisors' tools on a customer page: GDPR export and erase, merge and undo a merge.

Reached from ``templates/customers/_supervisor_tools.html`` (included in the 360 page).
Thin: reads through selectors, writes through ``customers.services``; a refusal from a
service (``ValidationError``) comes back as a message on the page, never an error page.
"""

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from customers.models import Customer
from customers.selectors import (
    customer_contact_points,
    customer_get,
    customer_list,
    customer_merge_get,
    customer_merge_list,
    customer_volumes,
)
from customers.services import customer_erase, customer_export, customer_merge, customer_unmerge

MERGE_CANDIDATES = 10
MERGE_HISTORY = 20


def _customer(request: HttpRequest, customer_id: int) -> Customer:
    try:
        return customer_get(actor=request.user, customer_id=customer_id)
    except Customer.DoesNotExist:
        raise Http404("No such customer.") from None


def _refusal(request: HttpRequest, error: ValidationError) -> None:
    for message in error.messages:
        messages.error(request, message)


@login_required
@permission_required("customers.erase_customer", raise_exception=True)
@require_GET
def customer_export_view(request: HttpRequest, customer_id: int) -> HttpResponse:
    """Everything held about the customer as a JSON download (audited)."""
    customer = _customer(request, customer_id)
    data = customer_export(actor=request.user, customer=customer)
    response = HttpResponse(
        json.dumps(data, cls=DjangoJSONEncoder, indent=2), content_type="application/json"
    )
    response["Content-Disposition"] = f'attachment; filename="customer-{customer.pk}.json"'
    return response


@login_required
@permission_required("customers.erase_customer", raise_exception=True)
@require_http_methods(["GET", "POST"])
def customer_erase_view(request: HttpRequest, customer_id: int) -> HttpResponse:
    """GET: what erasing means, and a confirm button. POST: erase."""
    customer = _customer(request, customer_id)
    if request.method == "POST":
        try:
            customer_erase(actor=request.user, customer=customer)
        except ValidationError as error:
            _refusal(request, error)
            return redirect("customers:erase", customer.pk)
        messages.success(request, f"Personal data of customer #{customer.pk} erased.")
        return redirect("customers:detail", customer.pk)
    return render(request, "customers/erase_confirm.html", {"customer": customer})


@login_required
@permission_required("customers.merge_customer", raise_exception=True)
@require_http_methods(["GET", "POST"])
def customer_merge_view(request: HttpRequest, customer_id: int) -> HttpResponse:
    """Merge another customer into this one.

    GET without ``merged``: the picker and this customer's merge history (with undo).
    GET ``?merged=<id>``: both customers side by side and a confirm button; any other text
    searches customers to pick from. POST ``merged_id``: merge."""
    survivor = _customer(request, customer_id)
    if request.method == "POST":
        merged = _merged_from(request, request.POST.get("merged_id", ""))
        if merged is not None:
            try:
                customer_merge(actor=request.user, survivor=survivor, merged=merged)
            except ValidationError as error:
                _refusal(request, error)
            else:
                messages.success(request, f"Customer #{merged.pk} was merged into #{survivor.pk}.")
                return redirect("customers:detail", survivor.pk)
        return redirect("customers:merge", survivor.pk)

    query = request.GET.get("merged", "").strip()
    context = {"customer": survivor, "query": query}
    if query.isdigit():
        merged = _merged_from(request, query)
        if merged is None:
            return redirect("customers:merge", survivor.pk)
        context["merged"] = merged
        context["sides"] = [_side(survivor), _side(merged)]
    elif query:
        context["candidates"] = list(
            customer_list(actor=request.user, filters={"q": query}).exclude(pk=survivor.pk)[
                :MERGE_CANDIDATES
            ]
        )
    else:
        context["history"] = list(customer_merge_list(customer=survivor)[:MERGE_HISTORY])
    return render(request, "customers/merge_confirm.html", context)


def _merged_from(request: HttpRequest, value: str) -> Customer | None:
    if not value.isdigit():
        messages.error(request, "Pick the customer to merge by its number.")
        return None
    try:
        return customer_get(actor=request.user, customer_id=int(value))
    except Customer.DoesNotExist:
        messages.error(request, f"There is no customer #{value}.")
        return None


def _side(customer: Customer) -> dict:
    """What a supervisor checks before merging: identity, contact points, volumes."""
    return {
        "customer": customer,
        "contact_points": list(customer_contact_points(customer=customer)[:20]),
        **customer_volumes(customer=customer),
    }


@login_required
@permission_required("customers.merge_customer", raise_exception=True)
@require_POST
def customer_unmerge_view(request: HttpRequest, customer_id: int) -> HttpResponse:
    """Undo a merge: ``merge_id`` names one into (or from) this customer; without it, the
    merge that took this (merged-away) customer."""
    customer = _customer(request, customer_id)
    merge_id = request.POST.get("merge_id", "")
    merge = customer_merge_get(
        customer=customer, merge_id=int(merge_id) if merge_id.isdigit() else None
    )
    if merge is None:
        messages.error(request, "There is no such merge to undo.")
        return redirect("customers:merge", customer.pk)
    try:
        customer_unmerge(actor=request.user, merge=merge)
    except ValidationError as error:
        _refusal(request, error)
        return redirect("customers:merge", merge.survivor_id)
    messages.success(
        request, f"Merge undone: customer #{merge.merged_id} is separate from #{merge.survivor_id}."
    )
    return redirect("customers:detail", merge.merged_id)
