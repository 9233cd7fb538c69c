"""Reads of customers, shared by the staff UI, the API and tasks."""

from django.db.models import Count, QuerySet

from customers.filtersets import CustomerFilterSet
from customers.models import Customer, Interaction


def customer_list(*, actor, filters: dict | None = None) -> QuerySet[Customer]:
    """Live (not merged-away) customers the actor may see, newest first, filtered and searched
    with ``CustomerFilterSet`` (``q`` searches name, email, phone, social handle, order number)."""
    qs = Customer.objects.restrict(actor, "view").live().order_by("-id")
    if filters:
        filterset = CustomerFilterSet(data=filters, queryset=qs)
        qs = filterset.qs if filterset.is_valid() else qs.none()
    return qs


def customer_get(*, actor, customer_id: int) -> Customer:
    return Customer.objects.restrict(actor, "view").get(pk=customer_id)


def customer_timeline(*, customer: Customer, channel: str | None = None) -> QuerySet[Interaction]:
    """One customer's interactions across every channel, newest first.

    Ordered by ``(-occurred_at, -id)``, which the ``interaction_timeline`` /
    ``interaction_channel`` indexes serve directly; page it with a keyset cursor
    (``cxportal.pagination.timeline_page`` in the UI, DRF's CursorPagination in the API).
    """
    qs = Interaction.objects.filter(customer=customer)
    if channel:
        qs = qs.filter(channel=channel)
    return qs.order_by("-occurred_at", "-id")


def customer_stage_counts(*, actor) -> list[dict]:
    """Customers per lifecycle stage, in the stage order, for home-page charts."""
    rows = dict(
        Customer.objects.restrict(actor, "view")
        .live()
        .values_list("lifecycle_stage")
        .annotate(n=Count("id"))
        .order_by()
    )
    return [
        {"stage": value, "label": label, "count": rows.get(value, 0)}
        for value, label in Customer.Lifecycle.choices
    ]


def can_see_restricted(actor) -> bool:
    return bool(actor and actor.has_perm("customers.view_restricted_customer"))
