from django.conf import settings
from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from customers.filtersets import CustomerFilterSet
from customers.models import Customer
from customers.selectors import can_see_restricted, customer_get, customer_list
from cxportal.pagination import keyset_page
from cxportal.selectors import audit_list


@login_required
@permission_required("customers.view_customer", raise_exception=True)
def customer_list_view(request: HttpRequest) -> HttpResponse:
    filterset = CustomerFilterSet(request.GET or None, queryset=Customer.objects.none())
    filters = {k: v for k, v in request.GET.items() if k != "before" and v}
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


@login_required
@permission_required("customers.view_customer", raise_exception=True)
def customer_detail_view(request: HttpRequest, customer_id: int) -> HttpResponse:
    try:
        customer = customer_get(actor=request.user, customer_id=customer_id)
    except Customer.DoesNotExist:
        raise Http404("No such customer.") from None
    context = {
        "customer": customer,
        "show_restricted": can_see_restricted(request.user),
        "history": list(
            audit_list(target_type="customers.customer", target_id=str(customer.pk))[:10]
        )
        if request.user.has_perm("cxportal.view_auditevent")
        else [],
    }
    return render(request, "customers/detail.html", context)
