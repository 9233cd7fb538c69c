import django_filters
from django_filters.fields import IsoDateTimeField

from customers.models import ContactPoint, Customer, Order
from customers.normalize import SOCIAL_NETWORKS, guess_kind
from cxportal.validation import validate_datetime


class BoundedIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 date-time within the years we store (``cxportal.validation``): year 1 at
    +05:00 is a form error (a 400 in the API), not an OverflowError in the query."""

    default_validators = [validate_datetime]


class BoundedIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = BoundedIsoDateTimeField


class CustomerFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(
        method="filter_q", label="Search", help_text="Name, email, phone, @handle or order number"
    )
    created_after = BoundedIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = BoundedIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Customer
        fields = ["lifecycle_stage", "region", "preferred_channel", "language"]

    def filter_q(self, queryset, name, value):
        """An email, phone or @handle finds its contact point exactly (normalized, indexed);
        a number of digits alone may be a phone or an order number, so it looks up both; an
        order number finds its order's customer exactly; anything else matches names
        (trigram index on PostgreSQL). Exact matches skip the name search: a trigram scan
        for "ORD-00500123-1" costs more than both indexed lookups and finds nobody."""
        value = value.strip()
        if not value:
            return queryset
        guess = guess_kind(value)
        if guess is not None:
            kind, normalized = guess
            if kind == "social":
                points = ContactPoint.objects.filter(
                    kind=kind, normalized__in=[f"{n}:{normalized}" for n in SOCIAL_NETWORKS]
                )
            else:
                points = ContactPoint.objects.filter(kind=kind, normalized=normalized)
            if kind == "phone" and value.isdigit():
                # Two indexed lookups in one query (contact point, order number), not an OR
                # over a join, which no index answers.
                by_order = Order.objects.filter(external_id=value).values_list("customer_id")
                ids = (
                    points.values_list("customer_id")
                    .order_by()
                    .union(by_order.order_by())
                    .order_by()
                )
                return queryset.filter(pk__in=[pk for (pk,) in ids])
            return queryset.filter(pk__in=points.values("customer_id"))
        by_order = list(
            Order.objects.filter(external_id=value).order_by().values_list("customer_id")[:1]
        )
        if by_order:
            return queryset.filter(pk__in=[pk for (pk,) in by_order])
        return queryset.filter(display_name__icontains=value)
