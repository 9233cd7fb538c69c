"""Care scans: raise each exception once, clear it when its cause is gone, incrementally."""

from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest

from cases.care import care_rules_ensure, care_scan
from cases.models import CareFlag, CareRule, CareScan
from cases.services import case_deadline_set, case_resolve, case_status_change
from customers.models import Interaction, Order
from customers.services.core import interaction_log
from tests.cases.factories import open_case, sla_policy
from tests.customers.factories import CustomerFactory

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    c = Clock(NOW)
    with mock.patch("django.utils.timezone.now", c):
        yield c


@pytest.fixture
def agent(staff):
    return staff("service")


def order(customer, *, n: int, promised_in: timedelta, shipping="express", **fields) -> Order:
    return Order.objects.create(
        customer=customer,
        external_id=f"ORD-{n}",
        placed_at=NOW - timedelta(days=2),
        shipping_method=shipping,
        promised_by=NOW + promised_in,
        **fields,
    )


def flags(kind=None):
    qs = CareFlag.objects.filter(cleared_at__isnull=True)
    if kind:
        qs = qs.filter(kind=kind)
    return sorted(qs.values_list("dedupe_key", flat=True))


def test_late_express_orders_are_flagged_once_and_cleared_on_delivery(clock):
    customer = CustomerFactory()
    late = order(customer, n=1, promised_in=-timedelta(hours=2))
    order(customer, n=2, promised_in=-timedelta(hours=2), shipping="standard")
    order(customer, n=3, promised_in=timedelta(hours=2))
    order(customer, n=4, promised_in=-timedelta(hours=2), status="cancelled")
    result = care_scan()
    assert result.raised["late_order"] == 1 and result.full
    assert flags() == [f"late_order:order:{late.pk}"]
    flag = CareFlag.objects.get()
    assert (flag.team.slug, flag.severity, flag.customer, flag.order) == (
        "operations",
        "high",
        customer,
        late,
    )
    assert flag.summary == "Express order ORD-1 is late"
    # A rescan, full or not, raises nothing new.
    assert care_scan(full=True).raised["late_order"] == 0
    assert care_scan().raised["late_order"] == 0
    assert CareFlag.objects.count() == 1
    # The order arrives: the flag clears itself.
    clock.now += timedelta(minutes=5)
    Order.objects.filter(pk=late.pk).update(delivered_at=clock.now, status="delivered")
    assert care_scan().cleared["late_order"] == 1
    assert flags() == []


def test_an_incremental_scan_finds_what_became_late_since_the_last_one(clock):
    customer = CustomerFactory()
    care_scan()
    soon = order(customer, n=1, promised_in=timedelta(minutes=30))
    clock.now += timedelta(minutes=10)
    assert care_scan().raised["late_order"] == 0
    clock.now += timedelta(minutes=30)
    result = care_scan()
    assert not result.full and result.raised["late_order"] == 1
    assert flags() == [f"late_order:order:{soon.pk}"]
    assert CareScan.objects.filter(since__isnull=False).count() == 2


def test_sla_breach_and_risk_follow_the_case(agent, clock):
    sla_policy(first_response_minutes=60, resolution_minutes=600)
    case = open_case(actor=agent)
    clock.now += timedelta(minutes=50)  # 83% of the first-response target used
    care_scan()
    assert flags() == [f"sla_at_risk:case:{case.pk}"]
    clock.now += timedelta(minutes=20)
    result = care_scan()
    assert (result.raised["sla_breached"], result.cleared["sla_at_risk"]) == (1, 1)
    assert flags() == [f"sla_breached:case:{case.pk}"]
    flag = CareFlag.objects.get(kind="sla_breached", cleared_at__isnull=True)
    assert (flag.team.slug, flag.case) == ("service", case)
    # Waiting on the customer pauses the clock: nothing is overdue right now.
    case = case_status_change(actor=agent, case=case, version=case.version, status="waiting")
    care_scan()
    assert flags() == []


def test_a_customer_deadline_close_to_now_is_flagged_until_resolved(agent, clock):
    case = open_case(actor=agent)
    case = case_deadline_set(
        actor=agent,
        case=case,
        version=case.version,
        deadline=NOW + timedelta(days=3),
        reason="Holiday on Friday",
    )
    care_scan()
    assert flags("deadline_at_risk") == []
    clock.now = NOW + timedelta(days=2, hours=1)
    care_scan()
    assert flags("deadline_at_risk") == [f"deadline_at_risk:case:{case.pk}"]
    case_resolve(actor=agent, case=case, version=case.version)
    care_scan()
    assert flags("deadline_at_risk") == []


def test_three_contacts_in_a_week_with_nothing_resolved(agent, clock):
    customer, other = CustomerFactory(), CustomerFactory()
    for days in (6, 3, 1):
        interaction_log(
            actor=agent,
            customer=customer,
            channel="phone",
            direction="inbound",
            summary="Still no card",
            occurred_at=NOW - timedelta(days=days),
        )
    for days in (20, 10, 1):  # three, but not within a week
        interaction_log(
            actor=agent,
            customer=other,
            channel="email",
            direction="inbound",
            summary="Hello",
            occurred_at=NOW - timedelta(days=days),
        )
    care_scan()
    assert flags("repeat_contact") == [f"repeat_contact:customer:{customer.pk}"]
    # A week later the oldest contacts fell out of the window.
    clock.now = NOW + timedelta(days=4)
    assert care_scan().cleared["repeat_contact"] == 1


def test_resolving_a_case_clears_repeat_contact(agent, clock):
    customer = CustomerFactory()
    for hours in (5, 3, 1):
        interaction_log(
            actor=agent,
            customer=customer,
            channel="sms",
            direction="inbound",
            summary="?",
            occurred_at=NOW - timedelta(hours=hours),
        )
    care_scan()
    case = open_case(actor=agent, customer=customer)
    case_resolve(actor=agent, case=case, version=case.version)
    care_scan()
    assert flags("repeat_contact") == []
    assert Interaction.objects.count() == 3


def test_a_switched_off_rule_raises_nothing_but_still_clears(clock):
    customer = CustomerFactory()
    late = order(customer, n=1, promised_in=-timedelta(hours=1))
    care_scan()
    care_rules_ensure()
    CareRule.objects.filter(kind="late_order").update(is_active=False)
    order(customer, n=2, promised_in=-timedelta(hours=1))
    Order.objects.filter(pk=late.pk).update(delivered_at=NOW)
    result = care_scan(full=True)
    assert (result.raised["late_order"], result.cleared["late_order"]) == (0, 1)
    assert flags() == []


def test_an_incremental_scan_recounts_only_customers_whose_count_can_have_dropped(agent, clock):
    customer = CustomerFactory()
    contacts = [
        interaction_log(
            actor=agent,
            customer=customer,
            channel="phone",
            direction="inbound",
            summary="Still no card",
            occurred_at=NOW - timedelta(days=days),
        )
        for days in (5, 3, 1)
    ]
    care_scan()
    assert flags("repeat_contact") == [f"repeat_contact:customer:{customer.pk}"]
    # A contact gone without leaving the window (an erasure): nothing the incremental scan
    # reads changed, so the flag stays until the nightly full scan recounts everyone.
    Interaction.objects.filter(pk=contacts[1].pk).delete()
    clock.now += timedelta(minutes=1)
    assert care_scan().cleared["repeat_contact"] == 0
    assert care_scan(full=True).cleared["repeat_contact"] == 1
