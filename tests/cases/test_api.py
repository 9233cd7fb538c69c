"""The cases API: list and filters, cursor pages, pinned query counts, and each action
working through its service (replies through a real SMS provider, the resolve signal after
the commit)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from cases.models import Case, CaseEvent, CaseInteraction
from cases.services import case_note_add, case_resolve, case_status_change
from cases.signals import case_resolved
from customers.channels.base import RawEvent
from customers.models import Interaction
from customers.services import inbound_event_process, inbound_events_store
from customers.tasks import interaction_send_task
from cxportal.models import AuditEvent
from tests.cases.factories import open_case, sla_policy, team
from tests.customers.channel_support import sms_message, sms_source
from tests.customers.factories import CustomerFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/cases/"
WRITTEN = (Case, CaseEvent, CaseInteraction, Interaction, AuditEvent)


def written() -> dict[str, int]:
    """How many rows of everything a case write touches: equal before and after a refusal."""
    return {model.__name__: model.objects.count() for model in WRITTEN}


def sms_conversation(source=None, n: int = 1, text: str = "Card not arrived") -> Interaction:
    """A customer's SMS, as the channel delivers it (stored in the inbox, processed)."""
    source = source or sms_source()
    event = RawEvent(f"SM{n:06d}", sms_message(n, text=text))
    (event_id,) = inbound_events_store(source=source, events=[event])
    processed = inbound_event_process(event_id=event_id)
    assert processed.status == "processed", processed.error
    return processed.interaction


def fresh_client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(type(user).objects.get(pk=user.pk))  # cold permission cache
    return client


def ids(response) -> list[int]:
    assert response.status_code == 200, response.json()
    return [row["id"] for row in response.json()["results"]]


# --- Output -------------------------------------------------------------------------------


def test_a_case_shows_its_version_sla_clocks_deadline_team_assignee_and_customer(staff, api_as):
    sla_policy(first_response_minutes=60, resolution_minutes=480)
    agent = staff("service")
    customer = CustomerFactory(display_name="Ada Lovelace")
    now = timezone.now()
    case = open_case(
        actor=agent,
        customer=customer,
        subject="Card not arrived",
        priority="high",
        assignee=agent,
        customer_deadline=now + timedelta(days=3),
        customer_deadline_reason="Going on holiday",
        now=now,
    )
    for data in (
        api_as("marketing").get(f"{URL}{case.pk}/").json(),
        api_as("sales").get(URL).json()["results"][0],
    ):
        assert data["id"] == case.pk and data["version"] == 1
        assert data["customer"] == {"id": customer.pk, "display_name": "Ada Lovelace"}
        assert (data["team"], data["assignee"], data["status"]) == (
            "service",
            agent.username,
            "new",
        )
        assert (data["priority"], data["category"]) == ("high", "general")
        assert data["customer_deadline_reason"] == "Going on holiday"
        assert data["customer_deadline"].startswith((now + timedelta(days=3)).strftime("%Y-%m-%d"))
        for field in ("first_response_due_at", "resolution_due_at", "next_due_at"):
            assert data[field], field
        assert data["next_due_at"] == data["first_response_due_at"]
        assert (data["sla_paused"], data["first_response_met"], data["resolution_met"]) == (
            False,
            None,
            None,
        )
        assert data["created_by"] == agent.username


def test_unknown_case_is_404_json(api_as):
    for path in ("999999/", "abc/", "99999999999999999999/", "999999/events/"):
        response = api_as("service").get(URL + path)
        assert response.status_code == 404, path
        assert response.json() == {"message": "Not found.", "code": "not_found", "errors": {}}


def test_delete_and_put_are_not_offered(api_as):
    case = open_case()
    client = api_as("supervisor")
    assert client.delete(f"{URL}{case.pk}/").status_code == 405
    assert client.put(f"{URL}{case.pk}/", {"version": 1}, format="json").status_code == 405
    assert Case.objects.filter(pk=case.pk).exists()


# --- Query counts -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", 3),  # user perms, group perms, the page
        ("?team=service&status=new&status=open", 4),  # + the team named in the filter
        ("?priority=normal&state=active&due_before=2200-01-01T00:00:00Z", 3),
    ],
)
def test_list_query_count_is_pinned_and_does_not_grow_with_rows(staff, query, expected):
    user = staff("service")
    sla_policy()

    def count() -> int:
        client = fresh_client(user)
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(URL + query)
        assert response.status_code == 200, response.json()
        return len(ctx), len(response.json()["results"])

    customer = CustomerFactory()
    for _ in range(3):
        open_case(customer=customer, assignee=user)
    assert count() == (expected, 3)
    for _ in range(27):
        open_case(customer=CustomerFactory(), assignee=user)
    assert count() == (expected, 30)


def test_list_query_count_is_pinned_for_a_partner_too(partner, django_assert_num_queries):
    client = partner(["cases:read"])
    for _ in range(3):
        open_case()
    assert client.get(URL).status_code == 200  # first use stamps last_used_at, caches the key
    with django_assert_num_queries(1):  # the page alone
        assert len(client.get(URL).json()["results"]) == 3
    for _ in range(27):
        open_case()
    with django_assert_num_queries(1):
        assert len(client.get(URL).json()["results"]) == 30


def test_retrieve_query_count_is_pinned(staff, django_assert_num_queries):
    user = staff("service")
    case = open_case(assignee=user)
    client = fresh_client(user)
    with django_assert_num_queries(3):  # user perms, group perms, the case with its joins
        assert client.get(f"{URL}{case.pk}/").json()["assignee"] == user.username


def test_events_query_count_is_pinned_and_does_not_grow_with_history(
    staff, django_assert_num_queries
):
    user = staff("service")
    sla_policy()
    case = open_case(actor=user)

    def get() -> list[dict]:
        client = fresh_client(user)
        # user perms, group perms, the case, the page of events (with their interactions)
        with django_assert_num_queries(4):
            response = client.get(f"{URL}{case.pk}/events/")
        return response.json()["results"]

    case_note_add(actor=user, case=case, body="Called the depot")
    case = case_status_change(actor=user, case=case, version=case.version, status="open")
    assert [e["kind"] for e in get()] == ["created", "note", "status"]
    for i in range(10):
        case_note_add(actor=user, case=case, body=f"Note {i}")
        case = case_status_change(
            actor=user, case=case, version=case.version, status=["waiting", "open"][i % 2]
        )
    assert len(get()) == 23


# --- Cursor pagination --------------------------------------------------------------------


def test_walking_every_page_sees_each_case_once(api_as):
    made = [open_case().pk for _ in range(7)]
    client = api_as("service")
    seen, url, pages = [], URL + "?page_size=3", 0
    while url:
        page = client.get(url).json()
        seen += [row["id"] for row in page["results"]]
        url, pages = page["next"], pages + 1
    assert pages == 3
    assert seen == sorted(made, reverse=True)  # newest first, no duplicates, none missed


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "bz1hYmM=",  # o=abc
        "cD1hYmM=",  # p=abc
        "cD05OTk5OTk5OTk5OTk5OTk5OTk5OTk5",  # p=99999999999999999999999
        "cD0tMQ==",  # p=-1
    ],
)
def test_a_bad_cursor_is_400(api_as, cursor):
    open_case()
    response = api_as("service").get(f"{URL}?cursor={cursor}")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"cursor"}


def test_the_history_pages_oldest_first(api_as, staff):
    user = staff("service")
    case = open_case(actor=user)
    for i in range(5):
        case_note_add(actor=user, case=case, body=f"Note {i}")
    client = api_as("service")
    first = client.get(f"{URL}{case.pk}/events/?page_size=4").json()
    second = client.get(first["next"]).json()
    bodies = [e["body"] for e in first["results"] + second["results"]]
    assert bodies == ["", "Note 0", "Note 1", "Note 2", "Note 3", "Note 4"]
    assert second["next"] is None


# --- Filters ------------------------------------------------------------------------------


def test_filters_team_and_status_together(api_as):
    new_service = open_case()
    open_service = open_case(team=team("service"))
    case_status_change(actor=None, case=open_service, version=1, status="open")
    open_sales = open_case(team=team("sales"))
    case_status_change(actor=None, case=open_sales, version=1, status="open")
    client = api_as("service")
    assert ids(client.get(URL + "?team=service&status=open")) == [open_service.pk]
    assert ids(client.get(URL + "?team=service&status=open&status=new")) == [
        open_service.pk,
        new_service.pk,
    ]
    assert ids(client.get(URL + "?team=sales")) == [open_sales.pk]
    assert ids(client.get(URL + "?state=done")) == []


def test_filters_by_assignee_and_unassigned(api_as, staff):
    ann, bob = staff("service"), staff("service")
    for_ann = open_case(assignee=ann)
    for_bob = open_case(assignee=bob)
    nobodys = open_case()
    client = api_as("service")
    assert ids(client.get(f"{URL}?assignee={ann.username}")) == [for_ann.pk]
    assert ids(client.get(f"{URL}?assignee={bob.username}")) == [for_bob.pk]
    assert ids(client.get(f"{URL}?unassigned=true")) == [nobodys.pk]


def test_filters_by_sla_due_before_and_customer_deadline_before(api_as):
    sla_policy(first_response_minutes=60)
    now = timezone.now()
    overdue = open_case(now=now - timedelta(hours=2))  # first response due an hour ago
    soon = open_case(now=now)  # due in an hour
    open_case(now=now, priority="low")
    deadline = open_case(
        customer_deadline=now + timedelta(hours=5), customer_deadline_reason="Flight", now=now
    )
    client = api_as("service")
    stamp = lambda t: t.isoformat().replace("+00:00", "Z")  # noqa: E731
    assert ids(client.get(f"{URL}?due_before={stamp(now)}")) == [overdue.pk]
    due_soon = ids(client.get(f"{URL}?due_before={stamp(now + timedelta(minutes=61))}"))
    assert overdue.pk in due_soon and soon.pk in due_soon
    assert ids(client.get(f"{URL}?deadline_before={stamp(now + timedelta(days=1))}")) == [
        deadline.pk
    ]


def test_filters_by_customer_priority_and_category(api_as):
    ada, bob = CustomerFactory(), CustomerFactory()
    adas = open_case(customer=ada, priority="urgent", category="billing")
    open_case(customer=bob)
    client = api_as("service")
    assert ids(client.get(f"{URL}?customer={ada.pk}")) == [adas.pk]
    assert ids(client.get(f"{URL}?customer={ada.pk + 1000}")) == []
    assert ids(client.get(f"{URL}?priority=urgent&priority=high")) == [adas.pk]
    assert ids(client.get(f"{URL}?category=billing")) == [adas.pk]


@pytest.mark.parametrize(
    "query",
    [
        "status=shelved",
        "team=nosuchteam",
        "assignee=nobody",
        "priority=extreme",
        "customer=abc",
        "customer=99999999999999999999",
        "due_before=yesterday",
        "due_before=0001-01-01T00:00:00%2B05:00",
    ],
)
def test_an_invalid_filter_value_is_400_on_that_filter(api_as, query):
    open_case()
    response = api_as("service").get(f"{URL}?{query}")
    assert response.status_code == 400, response.json()
    assert set(response.json()["errors"]) == {query.split("=")[0]}


# --- Writes -------------------------------------------------------------------------------


def test_create_opens_a_case_from_an_interaction_routes_it_and_audits(api_as, staff):
    message = sms_conversation()
    agent = staff("service")
    deadline = timezone.now() + timedelta(days=2)
    response = api_as("service").post(
        URL,
        {
            "customer": message.customer_id,
            "subject": "  Card not arrived  ",
            "description": "Ordered two weeks ago",
            "category": "account",
            "priority": "high",
            "interaction": message.pk,
            "assignee": agent.username,
            "customer_deadline": deadline.isoformat(),
            "customer_deadline_reason": "Going on holiday",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    data = response.json()
    case = Case.objects.get(pk=data["id"])
    assert (case.subject, case.origin_channel, case.team.slug) == (
        "Card not arrived",
        "sms",
        "service",
    )
    assert (data["assignee"], data["version"], data["status"]) == (agent.username, 1, "new")
    assert list(case.links.values_list("interaction_id", flat=True)) == [message.pk]
    assert AuditEvent.objects.get(action="case.open").target_id == str(case.pk)


def test_a_partner_key_opens_and_works_a_case_as_itself(partner):
    customer = CustomerFactory()
    client = partner(["cases:read", "cases:write"])
    response = client.post(
        URL, {"customer": customer.pk, "subject": "From the app", "team": "sales"}, format="json"
    )
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["team"] == "sales" and data["created_by"].startswith("api:partner-")
    response = client.post(f"{URL}{data['id']}/resolve/", {"version": 1}, format="json")
    assert response.status_code == 200, response.json()
    audit = AuditEvent.objects.filter(action="case.status").get()
    assert audit.actor_api_client is not None and audit.actor_user is None
    events = client.get(f"{URL}{data['id']}/events/").json()["results"]
    assert [(e["kind"], e["actor_label"]) for e in events] == [
        ("created", data["created_by"]),
        ("status", data["created_by"]),
    ]


def test_partial_update_changes_fields_bumps_the_version_and_repicks_the_sla(api_as):
    sla_policy(first_response_minutes=60)
    urgent = sla_policy(priority="urgent", first_response_minutes=15)
    case = open_case()
    response = api_as("service").patch(
        f"{URL}{case.pk}/",
        {"version": 1, "subject": "Card lost", "priority": "urgent", "team": "service"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    data = response.json()
    assert (data["subject"], data["priority"], data["version"]) == ("Card lost", "urgent", 2)
    assert data["sla_policy"] == urgent.pk
    event = CaseEvent.objects.get(case=case, kind="updated")
    assert event.changes == {"subject": "Card lost", "priority": "urgent"}


def test_partial_update_with_a_stale_version_is_409_and_writes_nothing(api_as):
    case = open_case()
    client = api_as("service")
    first = client.patch(f"{URL}{case.pk}/", {"version": 1, "subject": "A"}, format="json")
    assert first.status_code == 200
    before = written()
    response = client.patch(f"{URL}{case.pk}/", {"version": 1, "subject": "B"}, format="json")
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "conflict" and "changed by someone else" in body["message"]
    assert body["errors"] == {"version": ["The current version is 2."]}
    assert written() == before
    assert Case.objects.get(pk=case.pk).subject == "A"


def test_assign_and_unassign(api_as, staff):
    agent = staff("service")
    case = open_case()
    client = api_as("supervisor")
    response = client.post(
        f"{URL}{case.pk}/assign/", {"version": 1, "assignee": agent.username}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert (response.json()["assignee"], response.json()["version"]) == (agent.username, 2)
    response = client.post(
        f"{URL}{case.pk}/assign/", {"version": 2, "assignee": None}, format="json"
    )
    assert (response.json()["assignee"], response.json()["version"]) == (None, 3)
    changes = list(CaseEvent.objects.filter(kind="assigned").values_list("changes", flat=True))
    assert changes == [{"assignee": agent.username}, {"assignee": None}]


def test_status_moves_along_allowed_transitions(api_as):
    sla_policy(pause_statuses=("waiting",))
    case = open_case()
    client = api_as("service")
    post = lambda version, status: client.post(  # noqa: E731
        f"{URL}{case.pk}/status/",
        {"version": version, "status": status, "note": "Asked for a photo"},
        format="json",
    )
    waiting = post(1, "waiting").json()
    assert (waiting["status"], waiting["sla_paused"], waiting["next_due_at"]) == (
        "waiting",
        True,
        None,
    )
    assert post(2, "open").json()["sla_paused"] is False
    assert post(3, "resolved").json()["status"] == "resolved"
    closed = post(4, "closed").json()
    assert (closed["status"], closed["version"]) == ("closed", 5)
    assert closed["closed_at"] and closed["next_due_at"] is None


def test_resolve_announces_case_resolved_only_after_the_commit(
    api_as, staff, django_capture_on_commit_callbacks
):
    agent = staff("service")
    case = open_case()
    received = []

    def receiver(sender, **kwargs):
        received.append((sender, kwargs["case_id"], kwargs["actor_label"]))

    case_resolved.connect(receiver)
    try:
        client = APIClient()
        client.force_authenticate(agent)
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            response = client.post(
                f"{URL}{case.pk}/resolve/", {"version": 1, "note": "Refunded"}, format="json"
            )
            assert response.status_code == 200, response.json()
            assert received == []  # not while the transaction is open
        assert response.json()["status"] == "resolved" and response.json()["resolved_at"]
        for callback in callbacks:
            callback()
        assert received == [(Case, case.pk, agent.username)]
    finally:
        case_resolved.disconnect(receiver)


def test_reopen_a_resolved_case(api_as):
    case = open_case()
    case_resolve(actor=None, case=case, version=1)
    response = api_as("service").post(
        f"{URL}{case.pk}/reopen/", {"version": 2, "note": "Still not arrived"}, format="json"
    )
    assert response.status_code == 200, response.json()
    data = response.json()
    assert (data["status"], data["resolved_at"], data["version"]) == ("open", None, 3)


def test_deadline_is_set_and_cleared(api_as):
    case = open_case()
    client = api_as("service")
    when = timezone.now() + timedelta(days=4)
    response = client.post(
        f"{URL}{case.pk}/deadline/",
        {"version": 1, "customer_deadline": when.isoformat(), "customer_deadline_reason": "Trip"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json()["customer_deadline_reason"] == "Trip"
    assert Case.objects.get(pk=case.pk).customer_deadline == when.replace(
        microsecond=when.microsecond
    )
    response = client.post(
        f"{URL}{case.pk}/deadline/", {"version": 2, "customer_deadline": None}, format="json"
    )
    assert response.status_code == 200, response.json()
    data = response.json()
    assert (data["customer_deadline"], data["customer_deadline_reason"], data["version"]) == (
        None,
        "",
        3,
    )


def test_a_reply_goes_out_through_the_customers_sms_channel(
    provider, broker, staff, django_capture_on_commit_callbacks
):
    sla_policy(first_response_minutes=60)
    source = sms_source(settings={"api_url": provider.url, "from_number": "+447700900999"})
    message = sms_conversation(source)
    agent = staff("service")
    case = open_case(actor=agent, customer=message.customer, interaction=message)
    client = fresh_client(agent)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"{URL}{case.pk}/reply/", {"body": "New card posted today."}, format="json"
        )
    assert response.status_code == 201, response.json()
    reply = response.json()
    assert (reply["channel"], reply["direction"], reply["delivery_status"]) == (
        "sms",
        "outbound",
        "queued",
    )
    assert (reply["in_reply_to"], reply["recorded_by"]) == (message.pk, agent.username)
    # Queued for the worker after the commit; nothing left before it ran.
    assert broker() == [("outbound.interaction_send", [reply["id"]])]
    assert provider.received == []
    assert interaction_send_task(reply["id"]) == "sent"
    assert [r["body"] for r in provider.received] == [
        {"from": "+447700900999", "to": "+447700900001", "text": "New card posted today."}
    ]
    case.refresh_from_db()
    assert (case.status, case.version, case.first_response_met) == ("open", 2, True)
    assert case.first_responded_at is not None
    assert set(case.links.values_list("interaction_id", flat=True)) == {message.pk, reply["id"]}
    events = client.get(f"{URL}{case.pk}/events/").json()["results"]
    assert [(e["kind"], e["interaction"]) for e in events] == [
        ("created", None),
        ("reply", reply["id"]),
        ("status", None),
    ]


def test_notes_are_added_and_shown_only_to_those_who_may_read_them(api_as, partner, staff):
    case = open_case()
    case_status_change(actor=None, case=case, version=1, status="open", note="Goodwill £20")
    response = api_as("service").post(
        f"{URL}{case.pk}/notes/", {"body": "Customer is a journalist"}, format="json"
    )
    assert response.status_code == 201, response.json()
    assert (response.json()["kind"], response.json()["body"]) == (
        "note",
        "Customer is a journalist",
    )
    assert Case.objects.get(pk=case.pk).version == 2  # a note needs and bumps no version

    def history(client) -> list[tuple[str, str]]:
        response = client.get(f"{URL}{case.pk}/events/")
        assert response.status_code == 200, response.json()
        return [(e["kind"], e["body"]) for e in response.json()["results"]]

    for readers in (api_as("service"), api_as("supervisor")):
        assert history(readers) == [
            ("created", ""),
            ("status", "Goodwill £20"),
            ("note", "Customer is a journalist"),
        ]
    for others in (api_as("sales"), api_as("operations"), partner(["cases:read"])):
        assert history(others) == [("created", ""), ("status", "")]
    # Marketing sees the case's status, not its history.
    assert api_as("marketing").get(f"{URL}{case.pk}/events/").status_code == 403
    assert api_as("marketing").get(f"{URL}{case.pk}/").json()["status"] == "open"


# --- SLA policies -------------------------------------------------------------------------


def test_sla_policies_are_listed_and_retrieved(api_as, partner):
    policy = sla_policy(priority="urgent", first_response_minutes=15, resolution_minutes=120)
    any_priority = sla_policy(team_slug="sales")
    for client in (api_as("service"), partner(["cases:read"])):
        rows = client.get("/api/v1/sla-policies/").json()["results"]
        assert [r["id"] for r in rows] == [any_priority.pk, policy.pk]
        data = client.get(f"/api/v1/sla-policies/{policy.pk}/").json()
        assert data == {
            "id": policy.pk,
            "name": policy.name,
            "team": "service",
            "priority": "urgent",
            "category": "",
            "first_response_minutes": 15,
            "resolution_minutes": 120,
            "pause_statuses": ["waiting", "on_hold"],
            "is_active": True,
        }
    assert api_as("supervisor").post("/api/v1/sla-policies/", {}, format="json").status_code == 405
