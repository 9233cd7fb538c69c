import io
from collections import Counter
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Max, Min
from django.utils import timezone

from cases.models import ACTIVE_STATUSES, Case, CaseEvent, SlaPolicy
from cases.services import SLA_FIELDS, case_sla_refresh
from customers.models import Customer
from customers.seed import seed_customers
from tests.cases.factories import sla_policy

pytestmark = pytest.mark.django_db


def seed(n: int, *more: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("seed_cases", "--cases", str(n), *more, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_seed_cases_makes_realistic_cases_for_the_seeded_customers(capsys):
    seed_customers(customers=40, interactions_per_customer=0)
    out, _ = seed(1000, "--batch", "400")
    now = timezone.now()

    assert Case.objects.count() == 1000
    assert "Seeded 1,000 cases" in out and "12 default SLA policies created" in out
    assert "1000/1000" in capsys.readouterr().err  # the progress bar, on stderr
    assert set(Case.objects.values_list("customer_id", flat=True)) <= set(
        Customer.objects.values_list("id", flat=True)
    )
    assert Case.objects.values("customer_id").distinct().count() >= 30

    # Mixed: about 15% active, the rest resolved or closed; three teams, all priorities.
    statuses = Counter(Case.objects.values_list("status", flat=True))
    active = sum(statuses[s] for s in ACTIVE_STATUSES)
    assert 100 <= active <= 200, statuses
    assert set(statuses) == {"new", "open", "waiting", "on_hold", "resolved", "closed"}
    assert set(Case.objects.values_list("team__slug", flat=True)) == {
        "service",
        "operations",
        "sales",
    }
    assert set(Case.objects.values_list("priority", flat=True)) == {
        "low",
        "normal",
        "high",
        "urgent",
    }

    # Opened in id order over the last 180 days, nothing in the future; history neither.
    created = list(Case.objects.order_by("id").values_list("created_at", flat=True))
    assert created == sorted(created)
    span = Case.objects.aggregate(first=Min("created_at"), last=Max("created_at"))
    assert span["first"] >= now - timedelta(days=181) and span["last"] <= now
    assert span["first"] <= now - timedelta(days=170) and span["last"] >= now - timedelta(days=1)
    # Active ones are mostly recent.
    ages = [
        now - c
        for c in Case.objects.filter(status__in=ACTIVE_STATUSES).values_list(
            "created_at", flat=True
        )
    ]
    assert sum(age < timedelta(days=30) for age in ages) > len(ages) / 2
    assert CaseEvent.objects.aggregate(last=Max("occurred_at"))["last"] <= now
    assert (
        Case.objects.exclude(customer_deadline=None).exclude(customer_deadline_reason="").exists()
    )
    assert not Case.objects.filter(customer_deadline__isnull=False, customer_deadline_reason="")

    # A few events per case, starting with its creation; resolved ones have a resolved_at.
    per_case = Counter(CaseEvent.objects.values_list("case_id", flat=True))
    assert min(per_case.values()) >= 1 and 3 <= sum(per_case.values()) / 1000 <= 10
    for case in Case.objects.all()[:50]:
        assert case.events.order_by("occurred_at", "id").first().kind == "created"
    assert not Case.objects.filter(status__in=["resolved", "closed"], resolved_at=None)
    assert not Case.objects.filter(status="closed", closed_at=None)

    # The SLA fields are what the services compute from the same history.
    for case in Case.objects.all():
        stored = {f: getattr(case, f) for f in SLA_FIELDS}
        case_sla_refresh(case=case, choose_policy=True)
        assert {f: getattr(case, f) for f in SLA_FIELDS} == stored, case.pk
    assert Case.objects.filter(next_due_at__lt=now).exists()  # some breached
    assert Case.objects.filter(status__in=ACTIVE_STATUSES, next_due_at__gt=now).exists()


def test_seed_cases_seeds_up_to_n_and_keeps_existing_policies():
    seed_customers(customers=10, interactions_per_customer=0)
    mine = sla_policy(first_response_minutes=15, resolution_minutes=120)
    seed(60)
    assert Case.objects.count() == 60
    assert list(SlaPolicy.objects.all()) == [mine]  # a supervisor's set is left alone
    service = Case.objects.filter(team__slug="service")
    assert set(service.values_list("sla_policy", flat=True)) == {mine.pk}
    assert set(Case.objects.exclude(team__slug="service").values_list("sla_policy", flat=True)) == {
        None
    }

    ids = set(Case.objects.values_list("id", flat=True))
    out, _ = seed(60)
    assert "Nothing to do" in out and Case.objects.count() == 60
    seed(90)
    assert Case.objects.count() == 90
    assert ids < set(Case.objects.values_list("id", flat=True))


def test_seed_cases_needs_customers():
    with pytest.raises(CommandError, match="run `manage.py seed` first"):
        seed(5)
    with pytest.raises(CommandError):
        seed(5, "--batch", "0")
