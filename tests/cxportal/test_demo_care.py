"""The demo's proactive care: rules, templates, late orders, a lift outage and planned works,
and flags in the queues at once; a second run duplicates nothing."""

import io

import pytest
from django.core.management import call_command

from cases.models import CareFlag, CareRule, CareScan, Disruption, MessageTemplate
from customers.models import Order
from cxportal.demo import DEMO_LIFT_OUT, DEMO_WORKS

pytestmark = pytest.mark.django_db


def counts() -> dict[str, int]:
    return {
        "rules": CareRule.objects.count(),
        "templates": MessageTemplate.objects.count(),
        "late orders": Order.objects.filter(external_id__endswith="-LATE").count(),
        "disruptions": Disruption.objects.count(),
        "flags": CareFlag.objects.count(),
        "current flags": CareFlag.objects.current().count(),
    }


def test_demo_has_care_flags_and_disruptions_at_once_and_reruns_add_nothing():
    call_command("seed_demo", customers=20, stdout=io.StringIO())
    first = counts()
    assert first["rules"] == len(CareRule.Kind.values)
    assert first["templates"] == 2 and first["late orders"] == 4
    lift = Disruption.objects.get(title=DEMO_LIFT_OUT["title"])
    assert (lift.status, lift.accessibility_impact) == ("active", "lift_out")
    assert lift.affected_count >= 2  # among them customers who need step-free access
    assert lift.updates.get().notify_customers is False  # declared without notifying
    works = Disruption.objects.get(title=DEMO_WORKS["title"])
    assert (works.status, works.kind) == ("scheduled", "planned")
    kinds = set(CareFlag.objects.current().values_list("kind", flat=True))
    assert {"late_order", "disruption_impact"} <= kinds
    assert CareFlag.objects.filter(kind="late_order").count() == 4
    assert CareScan.objects.filter(finished_at__isnull=False).exists()

    call_command("seed_demo", customers=20, stdout=io.StringIO())
    assert counts() == first
