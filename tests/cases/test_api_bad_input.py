"""Bad input to the cases API: a clear 400 (or 409 for a stale version) on the field at
fault, never a 404 or 500, and nothing written — no case, event, link, interaction or audit
event."""

from datetime import timedelta

import pytest
from django.utils import timezone

from cases.models import Case
from cases.services import case_resolve, case_status_change
from customers.models import Interaction
from customers.services import customer_merge, interaction_log
from tests.cases.factories import open_case
from tests.cases.test_api import sms_conversation, written
from tests.customers.factories import CustomerFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/cases/"
LATER = "2199-01-01T09:00:00Z"
PAST = "2020-01-01T09:00:00Z"


@pytest.fixture
def client(api_as):
    return api_as("service")


@pytest.fixture
def customer():
    return CustomerFactory()


def _refused(response, field: str | None, status: int = 400) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"message", "code", "errors"}
    if field is not None:
        assert field in body["errors"], body
    return body


# --- Opening a case -----------------------------------------------------------------------


def _create_cases(customer, other_interaction, marketer):
    base = {"customer": customer.pk, "subject": "Card not arrived"}
    return [
        ({"subject": "No customer"}, "customer"),
        ({**base, "customer": 999_999}, "customer"),
        ({**base, "customer": "abc"}, "customer"),
        ({**base, "customer": 2**63}, "customer"),
        ({**base, "customer": None}, "customer"),
        ({**base, "interaction": 999_999}, "interaction"),
        ({**base, "interaction": other_interaction.pk}, "interaction"),
        ({**base, "assignee": "nobody"}, "assignee"),
        ({**base, "assignee": marketer.username}, "assignee"),  # cannot work on cases
        ({**base, "assignee": "a\x00b"}, "assignee"),
        ({**base, "team": "nosuchteam"}, "team"),
        ({**base, "team": ["service"]}, "team"),
        ({**base, "team": "x" * 500}, "team"),
        ({**base, "subject": "   "}, "subject"),
        ({**base, "subject": "x" * 201}, "subject"),
        ({**base, "subject": "a\x00b"}, "subject"),
        ({**base, "category": "gossip"}, "category"),
        ({**base, "priority": 7}, "priority"),
        ({**base, "origin_channel": "pigeon"}, "origin_channel"),
        (
            {**base, "customer_deadline": PAST, "customer_deadline_reason": "Trip"},
            "customer_deadline",
        ),
        ({**base, "customer_deadline": "next friday"}, "customer_deadline"),
        ({**base, "customer_deadline": "0001-01-01T00:00:00+05:00"}, "customer_deadline"),
        ({**base, "customer_deadline": LATER}, "customer_deadline_reason"),
        ({**base, "status": "open"}, "status"),  # not a field one sets on creation
        ({**base, "version": 3}, "version"),
    ]


def test_opening_a_case_with_bad_input_is_400_on_the_field_and_writes_nothing(
    client, customer, staff
):
    other_interaction = sms_conversation(n=7)  # another customer's message
    marketer = staff("marketing")
    cases = _create_cases(customer, other_interaction, marketer)
    before = written()
    for body, field in cases:
        _refused(client.post(URL, body, format="json"), field)
    assert written() == before


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[1, 2]",
        b'"a string"',
        b'{"customer": 1, "subject": "\\ud800"}',
        b'{"customer": 1, "subject": "Hi", "team": "\\ud800"}',
        b'{"customer": 1, "subject": "Hi", "assignee": "\\udfff"}',
    ],
)
def test_a_body_that_is_not_a_case_is_400(client, customer, raw):
    raw = raw.replace(b'"customer": 1', f'"customer": {customer.pk}'.encode())
    before = written()
    response = client.post(URL, data=raw, content_type="application/json")
    _refused(response, None)
    assert written() == before


def test_an_internal_note_is_not_an_interaction_a_partner_can_open_a_case_from(partner, customer):
    note = interaction_log(
        actor=None, customer=customer, channel="phone", direction="internal", summary="Note"
    )
    client = partner(["cases:write"])
    before = written()
    body = {"customer": customer.pk, "subject": "Hi", "interaction": note.pk}
    _refused(client.post(URL, body, format="json"), "interaction")
    assert written() == before


def test_a_merged_away_customer_gets_no_case(client, customer, staff):
    survivor = CustomerFactory()
    customer_merge(actor=staff("supervisor"), survivor=survivor, merged=customer)
    before = written()
    body = _refused(
        client.post(URL, {"customer": customer.pk, "subject": "Hi"}, format="json"), "customer"
    )
    assert "merged" in body["errors"]["customer"][0]
    assert written() == before


# --- Changing a case ----------------------------------------------------------------------


@pytest.fixture
def case():
    return open_case(subject="Card not arrived")


VERSIONED = [
    ("update", "patch", "", {"subject": "Card lost"}),
    ("assign", "post", "assign/", {"assignee": None}),
    ("status", "post", "status/", {"status": "open"}),
    ("resolve", "post", "resolve/", {}),
    ("deadline", "post", "deadline/", {"customer_deadline": None}),
]


@pytest.mark.parametrize(
    ("name", "method", "path", "body"), VERSIONED, ids=[v[0] for v in VERSIONED]
)
def test_a_stale_version_is_409_and_writes_nothing(client, case, name, method, path, body):
    case_status_change(actor=None, case=case, version=1, status="waiting")  # now version 2
    before = written()
    url = f"{URL}{case.pk}/{path}"
    response = getattr(client, method)(url, {"version": 1, **body}, format="json")
    refused = _refused(response, "version", status=409)
    assert refused["code"] == "conflict"
    assert refused["errors"]["version"] == ["The current version is 2."]
    assert written() == before
    assert Case.objects.get(pk=case.pk).version == 2


@pytest.mark.parametrize(
    ("name", "method", "path", "body"), VERSIONED, ids=[v[0] for v in VERSIONED]
)
@pytest.mark.parametrize("version", ["missing", None, "abc", 0, -1, 2**40, 1.5])
def test_a_missing_or_malformed_version_is_400(client, case, name, method, path, body, version):
    payload = dict(body) if version == "missing" else {"version": version, **body}
    before = written()
    response = getattr(client, method)(f"{URL}{case.pk}/{path}", payload, format="json")
    _refused(response, "version")
    assert written() == before


def test_a_stale_reopen_is_409(client, case):
    case_resolve(actor=None, case=case, version=1)
    before = written()
    _refused(client.post(f"{URL}{case.pk}/reopen/", {"version": 1}, format="json"), "version", 409)
    assert written() == before


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("", {"team": "nosuchteam"}, "team"),
        ("", {"team": None}, "team"),
        ("", {"subject": ""}, "subject"),
        ("", {"priority": "extreme"}, "priority"),
        ("", {"status": "resolved"}, "status"),  # status changes go through /status/
        ("", {"assignee": "x"}, "assignee"),
        ("", {"customer_deadline": LATER}, "customer_deadline"),
        ("assign/", {"assignee": "nobody"}, "assignee"),
        ("assign/", {}, "assignee"),
        ("status/", {"status": "shelved"}, "status"),
        ("status/", {"status": "new"}, "status"),  # already new
        ("status/", {"status": "closed"}, "status"),  # new cannot become closed
        ("status/", {"status": "open", "note": "a\x00b"}, "note"),
        ("reopen/", {}, "status"),  # only a resolved case reopens
        (
            "deadline/",
            {"customer_deadline": PAST, "customer_deadline_reason": "Trip"},
            "customer_deadline",
        ),
        ("deadline/", {"customer_deadline": LATER}, "customer_deadline_reason"),
        ("deadline/", {"customer_deadline_reason": "Trip"}, "customer_deadline"),
        (
            "deadline/",
            {"customer_deadline": "2199-02-30T09:00:00Z", "customer_deadline_reason": "x"},
            "customer_deadline",
        ),
    ],
)
def test_a_bad_change_is_400_on_the_field_and_writes_nothing(client, case, path, body, field):
    before = written()
    method = client.patch if path == "" else client.post
    _refused(method(f"{URL}{case.pk}/{path}", {"version": 1, **body}, format="json"), field)
    assert written() == before
    assert Case.objects.get(pk=case.pk).version == 1


def test_a_closed_case_cannot_be_opened_again(client, case):
    case = case_resolve(actor=None, case=case, version=1)
    case = case_status_change(actor=None, case=case, version=2, status="closed")
    before = written()
    for path, body in [("status/", {"status": "open"}), ("reopen/", {}), ("resolve/", {})]:
        response = client.post(f"{URL}{case.pk}/{path}", {"version": 3, **body}, format="json")
        refused = _refused(response, "status")
        assert (
            "Closed" in refused["errors"]["status"][0]
            or "resolved" in refused["errors"]["status"][0]
        )
    assert (
        "none (it is final)"
        in _refused(
            client.post(f"{URL}{case.pk}/status/", {"version": 3, "status": "open"}, format="json"),
            "status",
        )["errors"]["status"][0]
    )
    assert written() == before


def test_an_assignee_who_cannot_work_on_cases_is_refused(client, case, staff):
    before = written()
    for user in (staff("marketing"), staff("sales"), staff("service", is_active=False)):
        response = client.post(
            f"{URL}{case.pk}/assign/", {"version": 1, "assignee": user.username}, format="json"
        )
        _refused(response, "assignee")
    assert written() == before


# --- Replies and notes --------------------------------------------------------------------


def test_a_reply_to_a_customer_who_never_wrote_on_a_channel_is_400_on_channel(client, case):
    before = written()
    refused = _refused(
        client.post(f"{URL}{case.pk}/reply/", {"body": "Hello"}, format="json"), "channel"
    )
    assert "has not written to us" in refused["errors"]["channel"][0]
    assert written() == before


def test_a_reply_on_a_channel_the_customer_did_not_use_is_400_on_channel(client):
    message = sms_conversation()
    case = open_case(customer=message.customer, interaction=message)
    before = written()
    refused = _refused(
        client.post(f"{URL}{case.pk}/reply/", {"body": "Hi", "channel": "email"}, format="json"),
        "channel",
    )
    assert "by email" in refused["errors"]["channel"][0]
    assert written() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "body"),
        ({"body": "   "}, "body"),
        ({"body": "a\x00b"}, "body"),
        ({"body": "x" * (Interaction.BODY_MAX + 1)}, "body"),
        ({"body": "Hi", "channel": "pigeon"}, "channel"),
        ({"body": "Hi", "subject": "s" * 201}, "subject"),
        ({"body": "Hi", "version": 1, "to": "+447700900123"}, "to"),
    ],
)
def test_a_bad_reply_is_400_and_sends_nothing(client, body, field):
    message = sms_conversation()
    case = open_case(customer=message.customer, interaction=message)
    before = written()
    _refused(client.post(f"{URL}{case.pk}/reply/", body, format="json"), field)
    assert written() == before


def test_a_reply_to_a_resolved_case_is_400(client):
    message = sms_conversation()
    case = open_case(customer=message.customer, interaction=message)
    case_resolve(actor=None, case=case, version=1)
    before = written()
    _refused(client.post(f"{URL}{case.pk}/reply/", {"body": "Hi"}, format="json"), "status")
    assert written() == before


@pytest.mark.parametrize(
    "body", [{}, {"body": ""}, {"body": "  "}, {"body": "a\x00b"}, {"body": ["x"]}, {"body": {}}]
)
def test_a_bad_note_is_400(client, case, body):
    before = written()
    _refused(client.post(f"{URL}{case.pk}/notes/", body, format="json"), "body")
    assert written() == before


def test_a_case_that_is_not_there_is_404_for_every_action(client):
    before = written()
    for path in ("", "assign/", "status/", "resolve/", "reopen/", "deadline/", "reply/", "notes/"):
        method = client.patch if path == "" else client.post
        response = method(f"{URL}999999/{path}", {"version": 1, "body": "x"}, format="json")
        assert response.status_code == 404, path
    assert written() == before


def test_deadline_in_the_past_names_the_problem(client, case):
    yesterday = (timezone.now() - timedelta(days=1)).isoformat()
    refused = _refused(
        client.post(
            f"{URL}{case.pk}/deadline/",
            {"version": 1, "customer_deadline": yesterday, "customer_deadline_reason": "Trip"},
            format="json",
        ),
        "customer_deadline",
    )
    assert "in the past" in refused["errors"]["customer_deadline"][0]
