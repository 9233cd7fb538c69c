import django_filters
from django import forms
from django.contrib.auth import get_user_model

from cases.models import ACTIVE_STATUSES, Case, Category, Priority, Status
from customers.filtersets import BoundedIsoDateTimeFilter
from cxportal.models import Team
from cxportal.validation import MAX_ID


class IdFilter(django_filters.Filter):
    field_class = forms.IntegerField


class CaseFilterSet(django_filters.FilterSet):
    """Filters of the team queues (staff UI) and ``/api/v1/cases/``."""

    # distinct=False: a column of the case itself can't repeat rows, and django-filter's
    # default SELECT DISTINCT sorts every matching case (measured: 500 ms at 500k cases).
    status = django_filters.MultipleChoiceFilter(choices=Status.choices, distinct=False)
    state = django_filters.ChoiceFilter(
        method="filter_state",
        choices=[("active", "Active (not resolved or closed)"), ("done", "Resolved or closed")],
        label="State",
    )
    team = django_filters.ModelChoiceFilter(
        queryset=Team.objects.all(), to_field_name="slug", label="Team"
    )
    assignee = django_filters.ModelChoiceFilter(
        queryset=get_user_model().objects.filter(is_active=True),
        to_field_name="username",
        label="Assignee",
    )
    unassigned = django_filters.BooleanFilter(
        field_name="assignee", lookup_expr="isnull", label="Unassigned"
    )
    priority = django_filters.MultipleChoiceFilter(choices=Priority.choices, distinct=False)
    category = django_filters.ChoiceFilter(choices=Category.choices)
    customer = IdFilter(field_name="customer_id", min_value=1, max_value=MAX_ID)
    due_before = BoundedIsoDateTimeFilter(
        field_name="next_due_at", lookup_expr="lt", label="SLA due before"
    )
    deadline_before = BoundedIsoDateTimeFilter(
        field_name="customer_deadline", lookup_expr="lt", label="Customer deadline before"
    )

    class Meta:
        model = Case
        fields = ["status", "team", "assignee", "priority", "category", "customer"]

    def filter_state(self, queryset, name, value):
        if value == "active":
            return queryset.filter(status__in=ACTIVE_STATUSES)
        if value == "done":
            return queryset.exclude(status__in=ACTIVE_STATUSES)
        return queryset
