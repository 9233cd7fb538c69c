"""Bad input to the campaigns API: a clear 400 on the field at fault (dotted paths inside
rules and variants), never a 500, and nothing written — no segment, campaign, variant,
review, delivery change, opportunity or audit event."""

import pytest
from django.utils import timezone

from campaigns.models import Delivery
from campaigns.services import campaign_review, campaign_submit
from customers.services import customer_erase
from tests.campaigns.factories import campaign, marketable, segment
from tests.campaigns.test_api import client_as, member, written

pytestmark = pytest.mark.django_db
URL = "/api/v1/"
NORTH = {"all": [{"field": "region", "op": "eq", "value": "North"}]}
VARIANT = {"subject": "Spring", "body": "Hello {first_name}"}


def _refused(response, fields: set[str]) -> None:
    assert response.status_code == 400, response.content
    body = response.json()
    assert set(body) == {"message", "code", "errors"}
    assert body["code"] == "invalid"
    assert fields <= set(body["errors"]), body


def _deep(levels: int) -> dict:
    rule: dict = {"field": "region", "op": "eq", "value": "North"}
    for _ in range(levels):
        rule = {"all": [rule]}
    return rule


SEGMENT_CREATE = [
    ({}, {"name", "rules"}),
    ({"name": "   ", "rules": NORTH}, {"name"}),
    ({"name": "x" * 101, "rules": NORTH}, {"name"}),
    ({"name": "a\x00b", "rules": NORTH}, {"name"}),
    ({"name": "N", "rules": NORTH, "description": "x" * 301}, {"description"}),
    ({"name": "N", "rules": "region = North"}, {"rules"}),
    ({"name": "N", "rules": NORTH, "team": "nosuchteam"}, {"team"}),
    ({"name": "N", "rules": NORTH, "team": ["marketing"]}, {"team"}),
    ({"name": "N", "rules": NORTH, "team": "service"}, {"team"}),  # not the caller's team
    ({"name": "N", "rules": NORTH, "id": 5}, {"id"}),
    ({"name": "N", "rules": {"all": [NORTH["all"][0]] * 51}}, {"rules.all.49"}),
    ({"name": "N", "rules": _deep(6)}, {"rules" + ".all.0" * 5}),
    (
        {"name": "N", "rules": {"all": [{"field": "consent", "op": "granted"}]}},
        {"rules.all.0.value"},
    ),
]


@pytest.mark.parametrize(("body", "fields"), SEGMENT_CREATE)
def test_saving_a_segment_with_bad_input_is_400_and_writes_nothing(body, fields):
    client = client_as("marketing")
    before = written()
    _refused(client.post(f"{URL}segments/", body, "json"), fields)
    assert written() == before


@pytest.mark.parametrize(
    ("body", "fields"),
    [({}, {"rules"}), ({"rules": NORTH, "name": "N"}, {"name"}), ([NORTH], {"non_field_errors"})],
)
def test_a_preview_with_bad_input_is_400(body, fields):
    _refused(client_as("marketing").post(f"{URL}segments/preview/", body, "json"), fields)


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"name": ""}, {"name"}),
        ({"team": "service"}, {"team"}),  # the owner stays
        ({"rules": None}, {"rules"}),
        (
            {"rules": {"all": [{"field": "place", "op": "uses", "value": ""}]}},
            {"rules.all.0.value"},
        ),
    ],
)
def test_changing_a_segment_with_bad_input_is_400_and_writes_nothing(body, fields):
    marketer = member("marketing")
    seg = segment(marketer)
    before = written()
    _refused(client_as(marketer).patch(f"{URL}segments/{seg.pk}/", body, "json"), fields)
    assert written() == before


def _campaign_bodies(segment_id: int) -> list[tuple[dict, set[str]]]:
    base = {"name": "Spring", "channel": "email", "segment": segment_id, "variants": [VARIANT]}
    two = [{**VARIANT, "weight": 60}, {**VARIANT, "weight": 30}]
    return [
        ({}, {"name", "channel", "segment", "variants"}),
        ({**base, "segment": 999_999}, {"segment"}),
        ({**base, "segment": "abc"}, {"segment"}),
        ({**base, "segment": 2**63}, {"segment"}),
        ({**base, "channel": "fax"}, {"channel"}),
        ({**base, "name": ""}, {"name"}),
        ({**base, "name": "x" * 151}, {"name"}),
        ({**base, "team": "service"}, {"team"}),
        ({**base, "variants": []}, {"variants"}),
        ({**base, "variants": [VARIANT] * 5}, {"variants"}),
        ({**base, "variants": "A"}, {"variants"}),
        ({**base, "variants": [{"subject": "Hi"}]}, {"variants.0.body"}),
        ({**base, "variants": [VARIANT, {"body": "x"}]}, {"variants.1.subject"}),  # email
        ({**base, "variants": [{**VARIANT, "weight": 101}]}, {"variants.0.weight"}),
        ({**base, "variants": [{**VARIANT, "colour": "red"}]}, {"variants.0.colour"}),
        ({**base, "variants": [{**VARIANT, "body": "a\x00b"}]}, {"variants.0.body"}),
        ({**base, "variants": two}, {"variants"}),  # shares add up to 90
        ({**base, "eligible_for_service_follow_up": True}, {"follow_up_text"}),
        ({**base, "status": "approved"}, {"status"}),
        ({**base, "version": 7}, {"version"}),
    ]


def test_creating_a_campaign_with_bad_input_is_400_and_writes_nothing():
    marketer = member("marketing")
    seg = segment(marketer)
    client = client_as(marketer)
    before = written()
    for body, fields in _campaign_bodies(seg.pk):
        _refused(client.post(f"{URL}campaigns/", body, "json"), fields)
    assert written() == before


LATER = "2199-01-01T09:00:00Z"


@pytest.mark.parametrize(
    ("state", "action", "body", "fields"),
    [
        ("draft", "submit", {}, {"version"}),
        ("draft", "submit", {"version": "two"}, {"version"}),
        ("draft", "submit", {"version": 2**40}, {"version"}),
        ("draft", "submit", {"version": 1, "note": "hi"}, {"note"}),
        ("draft", "pause", {"version": 1}, {"status"}),
        ("draft", "resume", {"version": 1}, {"status"}),
        ("draft", "review", {"version": 1, "decision": "approved"}, {"status"}),
        ("review", "review", {"version": 2, "decision": "maybe"}, {"decision"}),
        ("review", "review", {"version": 2, "decision": "sent_back"}, {"comment"}),
        (
            "review",
            "review",
            {"version": 2, "decision": "comment", "comment": "x" * 5001},
            {"comment"},
        ),
        ("review", "launch", {"version": 2}, {"status"}),
        ("approved", "launch", {"version": 3, "at": "tomorrow"}, {"at"}),
        ("approved", "launch", {"version": 3, "at": "0001-01-01T00:00:00+05:00"}, {"at"}),
        ("approved", "submit", {"version": 3}, {"status"}),
    ],
)
def test_a_campaign_action_with_bad_input_is_400_and_writes_nothing(state, action, body, fields):
    marketer, reviewer = member("marketing"), member("service")
    c = campaign(marketer)
    if state in ("review", "approved"):
        c = campaign_submit(actor=marketer, campaign=c, version=c.version)
    if state == "approved":
        c = campaign_review(actor=reviewer, campaign=c, version=c.version, decision="approved")
    client = client_as(reviewer if action == "review" else marketer)
    before = written()
    _refused(client.post(f"{URL}campaigns/{c.pk}/{action}/", body, "json"), fields)
    assert written() == before


def test_reporting_a_conversion_with_bad_input_is_400_and_writes_nothing(partner):
    marketer = member("marketing")
    c = campaign(marketer)
    customer, stranger = marketable(marketer, 1), marketable(marketer, 2)
    now = timezone.now()
    delivery = Delivery.objects.create(
        campaign=c, customer=customer, variant="A", status="sent", created_at=now, sent_at=now
    )
    client = partner(["campaigns:write"])
    before = written()
    for body, fields in [
        ({}, {"campaign", "customer"}),
        ({"delivery": 999_999}, {"delivery"}),
        ({"delivery": "abc"}, {"delivery"}),
        ({"delivery": delivery.pk, "campaign": c.pk}, {"delivery"}),
        ({"campaign": c.pk}, {"customer"}),
        ({"campaign": c.pk, "customer": stranger.pk}, {"customer"}),
        ({"delivery": delivery.pk, "value": "-1"}, {"value"}),
        ({"delivery": delivery.pk, "value": "1e12"}, {"value"}),
        ({"delivery": delivery.pk, "value": "abc"}, {"value"}),
        ({"delivery": delivery.pk, "value": "1.234"}, {"value"}),
        ({"delivery": delivery.pk, "value": "NaN"}, {"value"}),
        ({"delivery": delivery.pk, "status": "converted"}, {"status"}),
    ]:
        _refused(client.post(f"{URL}conversions/", body, "json"), fields)
    assert written() == before


def test_the_pipeline_with_bad_input_is_400_and_writes_nothing():
    seller = member("sales")
    customer, erased = marketable(seller, 1), marketable(seller, 2)
    customer_erase(actor=None, customer=erased)
    client = client_as(seller)
    made = client.post(f"{URL}opportunities/", {"customer": customer.pk, "title": "Fibre"}, "json")
    assert made.status_code == 201, made.json()
    url = f"{URL}opportunities/{made.json()['id']}/"
    base = {"customer": customer.pk, "title": "Mobile"}
    before = written()
    for body, fields in [
        ({}, {"customer", "title"}),
        ({**base, "customer": 999_999}, {"customer"}),
        ({**base, "customer": erased.pk}, {"customer"}),
        ({**base, "title": ""}, {"title"}),
        ({**base, "title": "x" * 201}, {"title"}),
        ({**base, "stage": "maybe"}, {"stage"}),
        ({**base, "value": -5}, {"value"}),
        ({**base, "owner": "nobody"}, {"owner"}),
        ({**base, "owner": None}, {"owner"}),
        ({**base, "closed_at": "2020-01-01"}, {"closed_at"}),
    ]:
        _refused(client.post(f"{URL}opportunities/", body, "json"), fields)
    for body, fields in [
        ({"stage": "x"}, {"stage"}),
        ({"owner": None}, {"owner"}),
        ({"customer": customer.pk}, {"customer"}),
        ({"value": "1e10"}, {"value"}),
    ]:
        _refused(client.patch(url, body, "json"), fields)
    assert written() == before
