"""The contact gate (one customer, and in SQL for an audience) and segment rules."""

from datetime import time, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from campaigns.gate import contact_gate, gate_settings, gated
from campaigns.segments import segment_compile, segment_customers
from cases.disruptions import disruption_declare
from cases.services import case_resolve
from customers.models import Customer, CustomerPlace, Holding, Place
from customers.services import consent_set
from customers.services.core import interaction_log
from tests.campaigns.factories import marketable
from tests.cases.factories import open_case

pytestmark = pytest.mark.django_db
NOON = timezone.now().replace(hour=12, minute=0, second=0, microsecond=0)


@pytest.fixture
def boss(staff):
    return staff("supervisor")


def reasons(customer, purpose="marketing", channel="email", now=NOON):
    return [
        code
        for code, _ in contact_gate(
            customer_id=customer.pk, purpose=purpose, channel=channel, now=now
        ).reasons
    ]


def test_a_consenting_customer_may_be_marketed_to(boss):
    answer = contact_gate(
        customer_id=marketable(boss, 1).pk, purpose="marketing", channel="email", now=NOON
    )
    assert (answer.allowed, answer.reasons) == (True, [])


def test_every_reason_is_named(boss):
    no_consent = marketable(boss, 1, consent=False)
    assert reasons(no_consent) == ["no_consent"]
    assert reasons(no_consent, purpose="service") == []  # service needs no opt-in
    assert reasons(no_consent, channel="sms") == ["no_consent", "no_address"]

    in_trouble = marketable(boss, 2)
    case = open_case(actor=boss, customer=in_trouble, category="complaint")
    assert reasons(in_trouble) == ["open_case", "complaint"]
    case_resolve(actor=boss, case=case, version=case.version)
    assert reasons(in_trouble) == ["complaint"]  # a complaint last month still counts
    assert reasons(in_trouble, now=NOON + timedelta(days=40)) == []

    rider = marketable(boss, 3)
    station = Place.objects.create(kind="station", code="S-1", name="Bank")
    CustomerPlace.objects.create(customer=rider, place=station)
    disruption_declare(
        actor=boss,
        title="Lift out",
        kind="incident",
        starts_at=timezone.now() - timedelta(hours=1),
        places=[station],
        public_message="Lift out at Bank",
        notify=False,
    )
    assert reasons(rider) == ["disruption"]

    settings = gate_settings()
    settings.quiet_hours_start, settings.quiet_hours_end = time(21), time(8)
    settings.save()
    night = NOON.replace(hour=23)
    assert reasons(marketable(boss, 4), now=night) == ["quiet_hours"]
    assert reasons(marketable(boss, 5), purpose="service", now=night) == []


def test_the_pressure_budget_counts_marketing_and_surveys(boss):
    from campaigns.models import Campaign, Delivery
    from tests.campaigns.factories import campaign

    customer = marketable(boss, 1)
    settings = gate_settings()
    settings.pressure_budget = 2
    settings.save()
    c = campaign(boss)
    Delivery.objects.create(
        campaign=c,
        customer=customer,
        status="sent",
        sent_at=NOON - timedelta(days=1),
        created_at=NOON,
    )
    assert reasons(customer) == []
    c2 = campaign(boss, name="Other")
    Delivery.objects.create(
        campaign=c2,
        customer=customer,
        status="sent",
        sent_at=NOON - timedelta(days=2),
        created_at=NOON,
    )
    assert reasons(customer) == ["pressure"]
    assert reasons(customer, now=NOON + timedelta(days=7)) == []
    assert Campaign.objects.count() == 2


def test_the_sql_gate_agrees_with_the_one_customer_gate(boss):
    people = [marketable(boss, 1), marketable(boss, 2, consent=False), marketable(boss, 3)]
    open_case(actor=boss, customer=people[2])
    first = dict(
        gated(
            Customer.objects.filter(pk__in=[p.pk for p in people]),
            purpose="marketing",
            channel="email",
            now=NOON,
        ).values_list("pk", "gate_reason")
    )
    assert first == {people[0].pk: "", people[1].pk: "no_consent", people[2].pk: "open_case"}
    for person in people:
        one = reasons(person)
        assert first[person.pk] == (one[0] if one else "")


def test_segment_rules_compile_to_one_query(boss, django_assert_num_queries):
    north = marketable(boss, 1)
    south = marketable(boss, 2, region="South", stage="at_risk")
    Holding.objects.create(customer=south, name="Fibre Broadband 500")
    interaction_log(actor=boss, customer=north, channel="email", direction="inbound", summary="hi")
    rules = {
        "any": [
            {
                "all": [
                    {"field": "region", "op": "eq", "value": "North"},
                    {"field": "last_contact", "op": "within_days", "value": 30},
                ]
            },
            {"field": "holding", "op": "has", "value": "broadband"},
        ]
    }
    with django_assert_num_queries(1):
        assert set(segment_customers(rules)) == {north, south}
    assert list(
        segment_customers({"not": {"field": "lifecycle_stage", "op": "in", "value": ["active"]}})
    ) == [south]
    consented = {
        "field": "consent",
        "op": "granted",
        "value": {"channel": "email", "purpose": "marketing"},
    }
    consent_set(
        actor=boss, customer=south, channel="email", purpose="marketing", granted=False, source="x"
    )
    assert list(segment_customers(consented)) == [north]


def test_bad_rules_say_where(boss):
    with pytest.raises(ValidationError) as error:
        segment_compile(
            {
                "all": [
                    {"field": "shoe_size", "op": "eq", "value": 9},
                    {"field": "region", "op": "like", "value": "x"},
                    {"field": "last_contact", "op": "within_days", "value": "soon"},
                ]
            }
        )
    assert set(error.value.message_dict) == {"all.0.field", "all.1.op", "all.2.value"}
    with pytest.raises(ValidationError):
        segment_compile("region = North")
    with pytest.raises(ValidationError):
        segment_compile({"all": []})


def test_surveys_go_through_the_same_gate(boss, smtp):
    from campaigns.models import Delivery
    from customers.services import consent_set
    from cxportal.models import Team
    from feedback.models import Survey
    from feedback.services.surveys import invitation_send, survey_invite
    from tests.campaigns.factories import campaign
    from tests.customers.test_outbound import mail_source

    mail_source(smtp)
    survey = Survey.objects.create(
        name="NPS",
        kind="nps",
        question="?",
        trigger="manual",
        delay_hours=0,
        team=Team.objects.get(slug="service"),
    )
    person = marketable(boss, 1)
    consent_set(
        actor=boss, customer=person, channel="email", purpose="feedback", granted=True, source="x"
    )
    settings = gate_settings()
    settings.pressure_budget = 1
    settings.save()
    Delivery.objects.create(
        campaign=campaign(boss),
        customer=person,
        status="sent",
        sent_at=timezone.now() - timedelta(days=1),
        created_at=timezone.now(),
    )
    invitation = survey_invite(survey=survey, customer=person, trigger_key="t1")
    assert invitation_send(invitation_id=invitation.pk) == "suppressed"
    invitation.refresh_from_db()
    assert "Contact-pressure budget spent" in invitation.suppressed_reason

    # At night a survey waits for the morning instead of being dropped.
    settings.pressure_budget = 5
    settings.quiet_hours_start, settings.quiet_hours_end = time(21), time(8)
    settings.save()
    other = survey_invite(survey=survey, customer=person, trigger_key="t2")
    night = timezone.now().replace(hour=23, minute=30)
    assert invitation_send(invitation_id=other.pk, now=night) == "scheduled"
    other.refresh_from_db()
    assert other.send_after > night
