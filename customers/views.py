"""Staff pages for customers: search and list, the 360 page, its timeline, logging a contact.

Thin: reads through ``customers.selectors``, writes through ``customers.services``. The
360 page and its fragments cost a fixed number of queries whatever the customer holds."""

from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import get_language_info
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from customers.filtersets import CustomerFilterSet
from customers.forms import InteractionLogForm
from customers.models import Channel, Customer
from customers.panels import customer_panels, timeline_actions
from customers.selectors import (
    can_see_restricted,
    consent_grid,
    customer_360,
    customer_exact_match,
    customer_get,
    customer_list,
    customer_timeline,
)
from customers.services import interaction_log
from cxportal.pagination import keyset_page, timeline_page
from cxportal.selectors import audit_list
from cxportal.web import query_id

TIMELINE_PAGE_SIZE = 20


@login_required
@permission_required("customers.view_customer", raise_exception=True)
@require_GET
def customer_list_view(request: HttpRequest) -> HttpResponse:
    filters = {k: v for k, v in request.GET.items() if k != "before" and v}
    if list(filters) == ["q"] and not request.htmx:
        # An email, phone, @handle or order number that names exactly one customer.
        hit = customer_exact_match(actor=request.user, query=filters["q"])
        if hit is not None:
            return redirect("customers:detail", hit.pk)
    filterset = CustomerFilterSet(request.GET or None, queryset=Customer.objects.none())
    page = keyset_page(
        customer_list(actor=request.user, filters=filters),
        before=request.GET.get("before"),
        size=settings.CXPORTAL_PAGE_SIZE,
    )
    query = request.GET.copy()
    query.pop("before", None)
    context = {"filterset": filterset, "page": page, "query": query.urlencode()}
    template = "customers/_customer_rows.html" if request.htmx else "customers/list.html"
    return render(request, template, context)


def _visible_customer(request: HttpRequest, customer_id: int, *, full: bool = False) -> Customer:
    select = customer_360 if full else customer_get
    try:
        return select(actor=request.user, customer_id=customer_id)
    except Customer.DoesNotExist:
        raise Http404("No such customer.") from None


def customer_from_query(
    request: HttpRequest, *, page: str, missing: str
) -> Customer | HttpResponse:
    """The customer a page started from theirs is for (``?customer=<id>``), or where to go
    instead: the customer list (saying ``missing``) when none is named, the same ``page`` for
    the survivor when this one was merged. 404 when the caller may not see them."""
    customer_id = query_id(request, "customer")
    if customer_id is None:
        messages.info(request, missing)
        return redirect("customers:list")
    try:
        customer = customer_get(actor=request.user, customer_id=customer_id)
    except Customer.DoesNotExist:
        raise Http404("No such customer.") from None
    if customer.merged_into_id:
        return redirect(f"{reverse(page)}?customer={customer.merged_into_id}")
    return customer


def _channel_filter(request: HttpRequest) -> str:
    channel = request.GET.get("channel", "")
    return channel if channel in Channel.values else ""


def _timeline_context(
    request: HttpRequest, customer: Customer, *, channel: str, cursor: str | None
) -> dict:
    page = timeline_page(
        customer_timeline(customer=customer, channel=channel or None),
        cursor=cursor,
        size=TIMELINE_PAGE_SIZE,
    )
    detail = reverse("customers:detail", args=[customer.pk])
    fragment = reverse("customers:timeline", args=[customer.pk])
    more_query = urlencode(
        {k: v for k, v in (("channel", channel), ("cursor", page.next_cursor)) if v}
    )
    chips = [("", "All channels", detail)] + [
        (value, label, f"{detail}?{urlencode({'channel': value})}")
        for value, label in Channel.choices
    ]
    return {
        "customer": customer,
        "timeline": page,
        "channel": channel,
        "chips": chips,
        "timeline_url": fragment,
        "more_page_url": f"{detail}?{more_query}",
        "more_fragment_url": f"{fragment}?{more_query}",
        "timeline_actions": timeline_actions(request, customer),
    }


def _language_label(code: str) -> str:
    try:
        return get_language_info(code)["name"]
    except KeyError:
        return code


def _detail_context(request: HttpRequest, customer: Customer, *, form=None) -> dict:
    now = timezone.now()
    today = timezone.localdate(now)
    soon = today + timedelta(days=settings.CXPORTAL_WARRANTY_SOON_DAYS)
    for holding in customer.holdings_shown:
        ends = holding.warranty_ends_on
        holding.warranty_soon = bool(ends and today <= ends <= soon)
        holding.warranty_over = bool(ends and ends < today)
    for order in customer.recent_orders:
        order.late = order.is_late(now)
    # Nothing is added to an erased customer (an anonymous aggregate now).
    may_log = request.user.has_perm("customers.add_interaction") and customer.erased_at is None
    if may_log and form is None:
        form = InteractionLogForm()
    return {
        **_timeline_context(
            request, customer, channel=_channel_filter(request), cursor=request.GET.get("cursor")
        ),
        "show_restricted": can_see_restricted(request.user),
        "language_label": _language_label(customer.language),
        "consent_rows": consent_grid(customer=customer),
        "panels": customer_panels(request, customer),
        "log_form": form if may_log else None,
        "warranty_soon_days": settings.CXPORTAL_WARRANTY_SOON_DAYS,
        "history": list(
            audit_list(target_type="customers.customer", target_id=str(customer.pk))[:10]
        )
        if request.user.has_perm("cxportal.view_auditevent")
        else [],
    }


@login_required
@permission_required("customers.view_customer", raise_exception=True)
@require_GET
def customer_detail_view(request: HttpRequest, customer_id: int) -> HttpResponse:
    customer = _visible_customer(request, customer_id, full=True)
    if customer.merged_into_id:
        messages.info(
            request,
            f"Customer #{customer.pk} ({customer.display_name}) was merged into this one; "
            "everything they had is here.",
        )
        return redirect("customers:detail", customer.merged_into_id)
    return render(request, "customers/detail.html", _detail_context(request, customer))


@login_required
@permission_required("customers.view_customer", raise_exception=True)
@require_GET
def customer_timeline_view(request: HttpRequest, customer_id: int) -> HttpResponse:
    """The timeline fragment (htmx): the whole section for a channel filter, or just the
    next entries when given a ``cursor`` ("Show more")."""
    if not request.htmx:
        url = reverse("customers:detail", args=[customer_id])
        query = request.GET.urlencode()
        return redirect(f"{url}?{query}" if query else url)
    customer = _visible_customer(request, customer_id)
    cursor = request.GET.get("cursor")
    context = _timeline_context(request, customer, channel=_channel_filter(request), cursor=cursor)
    template = "customers/_timeline_entries.html" if cursor else "customers/_timeline.html"
    return render(request, template, context)


@login_required
@permission_required("customers.view_customer", raise_exception=True)
@permission_required("customers.add_interaction", raise_exception=True)
@require_POST
def interaction_log_view(request: HttpRequest, customer_id: int) -> HttpResponse:
    """Log a phone call, store visit, ... With htmx the answer is a fresh form plus the new
    entry swapped onto the top of the timeline; without, a redirect back to the page."""
    customer = _visible_customer(request, customer_id)
    if customer.merged_into_id:
        url = reverse("customers:detail", args=[customer.merged_into_id])
        messages.info(request, "This customer was merged; log the interaction here instead.")
        return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    if customer.erased_at is not None:
        url = reverse("customers:detail", args=[customer.pk])
        messages.error(request, f"Customer #{customer.pk} was erased; nothing can be logged.")
        return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    form = InteractionLogForm(request.POST)
    entry = None
    if form.is_valid():
        try:
            entry = interaction_log(actor=request.user, customer=customer, **form.cleaned_data)
        except ValidationError as error:
            for field, problems in error.message_dict.items():
                form.add_error(field if field in form.fields else None, problems)
    if request.htmx:
        context = {
            "customer": customer,
            "log_form": InteractionLogForm() if entry else form,
            "logged": entry,
        }
        return render(request, "customers/_log_form.html", context)
    if entry is not None:
        messages.success(request, f"Logged: {entry.summary}")
        return redirect("customers:detail", customer.pk)
    customer = _visible_customer(request, customer_id, full=True)
    return render(request, "customers/detail.html", _detail_context(request, customer, form=form))
