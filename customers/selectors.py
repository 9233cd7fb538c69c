"""Reads of customers, shared by the staff UI, the API and tasks."""

from django.db.models import Count, QuerySet

from customers.filtersets import CustomerFilterSet
from customers.models import Customer


def customer_list(*, actor, filters: dict | None = None) -> QuerySet[Customer]:
    qs = Customer.objects.restrict(actor, "view").order_by("-id")
    if filters:
        filterset = CustomerFilterSet(data=filters, queryset=qs)
        qs = filterset.qs if filterset.is_valid() else qs.none()
    return qs


def customer_get(*, actor, customer_id: int) -> Customer:
    return Customer.objects.restrict(actor, "view").get(pk=customer_id)


def customer_stage_counts(*, actor) -> list[dict]:
    """Customers per lifecycle stage, in the stage order, for home-page charts."""
    rows = dict(
        Customer.objects.restrict(actor, "view")
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
