"""What the cases app adds to the customer 360 page (``customers.panels``): an "Open cases"
panel, and an "Open a case" link on every timeline entry. Both check the user's permissions
and cost a constant number of queries (the panel one, the link none)."""

from django.urls import reverse
from django.utils import timezone

from cases.selectors import case_list_open_for_customer
from cases.views import decorate
from customers.panels import TimelineAction

PANEL_LIMIT = 5


def _may_open(request, customer) -> bool:
    return (
        request.user.has_perm("cases.add_case")
        and customer.erased_at is None
        and customer.merged_into_id is None
    )


def open_cases_panel(request, customer):
    """The customer's open cases with their status, SLA clock and customer deadline, and
    "Open a case"; nothing for users who may not see cases."""
    if not request.user.has_perm("cases.view_case"):
        return None
    cases = case_list_open_for_customer(
        actor=request.user, customer_id=customer.pk, limit=PANEL_LIMIT + 1
    )
    may_open = _may_open(request, customer)
    if not cases and not may_open:
        return None
    context = {
        "cases": decorate(cases[:PANEL_LIMIT], timezone.now()),
        "more": len(cases) > PANEL_LIMIT,
        "queue_url": f"{reverse('cases:queue')}?team=&customer={customer.pk}",
        "new_url": f"{reverse('cases:new')}?customer={customer.pk}" if may_open else "",
    }
    return "Open cases", "cases/_customer_panel.html", context


def open_case_action(request, customer):
    """ "Open a case" on each timeline entry: a case from that interaction."""
    if not _may_open(request, customer):
        return None
    return TimelineAction("Open a case", f"{reverse('cases:new')}?customer={customer.pk}")
