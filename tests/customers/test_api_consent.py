"""``GET/POST /api/v1/customers/{id}/consent/``: current answers and their history."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from customers.models import Consent, ConsentEvent
from customers.services import consent_set
from cxportal.models import AuditEvent
from tests.customers.factories import CustomerFactory

pytestmark = pytest.mark.django_db
GRANT = {"channel": "email", "purpose": "marketing", "granted": True, "source": "signup form"}


def url(customer) -> str:
    return f"/api/v1/customers/{customer.pk}/consent/"


def test_grant_then_withdraw_keeps_the_history(partner):
    customer = CustomerFactory()
    client = partner(["customers:read", "customers:write"])
    granted = client.post(url(customer), GRANT, format="json")
    assert granted.status_code == 200, granted.json()
    assert granted.json()["status"] == "granted"
    withdrawn = client.post(
        url(customer), {**GRANT, "granted": False, "source": "unsubscribe link"}, format="json"
    )
    assert withdrawn.json()["status"] == "withdrawn"
    assert Consent.objects.get(customer=customer).status == "withdrawn"

    body = client.get(url(customer)).json()
    assert body["current"] == [
        {
            "channel": "email",
            "purpose": "marketing",
            "status": "withdrawn",
            "source": "unsubscribe link",
            "updated_at": withdrawn.json()["updated_at"],
        }
    ]
    assert [(e["status"], e["source"]) for e in body["history"]] == [
        ("withdrawn", "unsubscribe link"),
        ("granted", "signup form"),
    ]
    assert body["history"][0]["actor_label"].startswith("api:partner-")
    assert AuditEvent.objects.filter(action="consent.set").count() == 2


def test_setting_the_same_answer_again_adds_no_history(api_as):
    customer = CustomerFactory()
    api = api_as("service")
    for _ in range(3):
        assert api.post(url(customer), GRANT, format="json").status_code == 200
    assert ConsentEvent.objects.count() == 1


def test_current_consent_is_per_channel_and_purpose(api_as):
    customer, other = CustomerFactory(), CustomerFactory()
    for channel, purpose, granted in [
        ("sms", "service", True),
        ("email", "marketing", False),
        ("email", "feedback", True),
    ]:
        consent_set(
            actor=None,
            customer=customer,
            channel=channel,
            purpose=purpose,
            granted=granted,
            source="x",
        )
    consent_set(
        actor=None, customer=other, channel="app", purpose="service", granted=True, source="x"
    )
    body = api_as("marketing").get(url(customer)).json()
    assert [(c["channel"], c["purpose"], c["status"]) for c in body["current"]] == [
        ("email", "feedback", "granted"),
        ("email", "marketing", "withdrawn"),
        ("sms", "service", "granted"),
    ]
    assert len(body["history"]) == 3


def test_history_shows_the_latest_100_changes_newest_first(api_as):
    customer = CustomerFactory()
    start = timezone.now() - timedelta(days=200)
    for day in range(105):
        consent_set(
            actor=None,
            customer=customer,
            channel="email",
            purpose="marketing",
            granted=day % 2 == 0,
            source=f"day {day}",
            at=start + timedelta(days=day),
        )
    history = api_as("service").get(url(customer)).json()["history"]
    assert len(history) == 100
    assert (history[0]["source"], history[-1]["source"]) == ("day 104", "day 5")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"channel": "fax"}, "channel"),
        ({"channel": ""}, "channel"),
        ({"channel": ["email"]}, "channel"),
        ({"purpose": "spam"}, "purpose"),
        ({"granted": "perhaps"}, "granted"),
        ({"granted": None}, "granted"),
        ({"granted": ["yes"]}, "granted"),
        ({"granted": {"value": True}}, "granted"),
        ({"source": "s" * 101}, "source"),
        ({"source": ""}, "source"),
        ({"source": 12.5}, None),  # a number is read as its text: accepted
        ({"at": "2020-01-01T00:00:00Z"}, "at"),
    ],
)
def test_bad_input_is_400_per_field_and_nothing_is_written(api_as, change, field):
    customer = CustomerFactory()
    response = api_as("service").post(url(customer), {**GRANT, **change}, format="json")
    if field is None:
        assert response.status_code == 200
        return
    assert response.status_code == 400, response.json()
    assert list(response.json()["errors"]) == [field]
    assert not Consent.objects.exists() and not ConsentEvent.objects.exists()


@pytest.mark.parametrize("missing", ["channel", "purpose", "granted", "source"])
def test_every_field_is_required(api_as, missing):
    customer = CustomerFactory()
    body = {k: v for k, v in GRANT.items() if k != missing}
    response = api_as("service").post(url(customer), body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {missing: ["This field is required."]}


@pytest.mark.parametrize("raw", ["{", "[]", "null", "true"])
def test_a_body_that_is_not_a_json_object_is_400(api_as, raw):
    customer = CustomerFactory()
    response = api_as("service").post(url(customer), raw, content_type="application/json")
    assert response.status_code == 400
    assert set(response.json()) == {"message", "code", "errors"}
    assert not Consent.objects.exists()


def test_query_count_is_pinned_and_does_not_grow_with_rows(staff, django_assert_num_queries):
    user = staff("service")
    customer = CustomerFactory()
    start = timezone.now() - timedelta(days=60)
    channels = ["email", "sms", "app", "phone", "social", "store", "web"]
    purposes = ["service", "marketing", "feedback"]

    def add(n: int, offset: int) -> None:
        for i in range(offset, offset + n):
            consent_set(
                actor=None,
                customer=customer,
                channel=channels[i % 7],
                purpose=purposes[(i // 7) % 3],
                granted=i % 2 == 0,
                source="x",
                at=start + timedelta(hours=i),
            )

    def get() -> dict:
        api = APIClient()
        api.force_authenticate(type(user).objects.get(pk=user.pk))
        # user perms, group perms, the customer, current consent, history
        with django_assert_num_queries(5):
            return api.get(url(customer)).json()

    add(3, 0)
    small = get()
    add(27, 3)
    large = get()
    assert (len(small["history"]), len(large["history"])) == (3, 30)
    assert len(large["current"]) == 21
