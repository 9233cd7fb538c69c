import django_filters
from django.db.models import Q

from customers.models import ContactPoint, Customer, Order
from customers.normalize import SOCIAL_NETWORKS, guess_kind


class CustomerFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(
        method="filter_q", label="Search", help_text="Name, email, phone, @handle or order number"
    )
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Customer
        fields = ["lifecycle_stage", "region", "preferred_channel", "language"]

    def filter_q(self, queryset, name, value):
        """An email, phone or @handle finds its contact point exactly (normalized, indexed);
        anything else matches names (trigram index on PostgreSQL) or an order number."""
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
            return queryset.filter(pk__in=points.values("customer_id"))
        order_customers = list(
            Order.objects.filter(external_id=value).values_list("customer_id", flat=True)[:1]
        )
        return queryset.filter(Q(display_name__icontains=value) | Q(pk__in=order_customers))
