"""What proactive care adds to the customer 360 page (``customers.panels``): the customer's
open care flags, and the live disruptions that affect them. Each checks the user's
permissions, says nothing (``None``) when there is nothing to show, and costs one query."""

from django.utils import timezone

from cases.selectors import care_flags_for_customer, customer_disruptions
from cases.views_care import decorate_flags
from cases.views_disruptions import decorate_disruptions

PANEL_LIMIT = 5


def care_flags_panel(request, customer):
    """Open care flags: kind, severity, who is on it, and "Work on it" where the user may."""
    if not request.user.has_perm("cases.view_careflag"):
        return None
    flags = care_flags_for_customer(
        actor=request.user, customer_id=customer.pk, limit=PANEL_LIMIT + 1
    )
    if not flags:
        return None
    context = {
        "flags": decorate_flags(flags[:PANEL_LIMIT], request.user, timezone.now()),
        "more": len(flags) > PANEL_LIMIT,
    }
    return "Care flags", "cases/care/_customer_panel.html", context


def customer_disruptions_panel(request, customer):
    """Scheduled and active disruptions on the places the customer uses, follows or holds."""
    if not request.user.has_perm("cases.view_disruption"):
        return None
    disruptions = customer_disruptions(actor=request.user, customer_id=customer.pk)
    if not disruptions:
        return None
    context = {"disruptions": decorate_disruptions(disruptions)}
    return "Disruptions affecting this customer", "cases/disruptions/_customer_panel.html", context
