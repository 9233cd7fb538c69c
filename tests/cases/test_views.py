"""Staff pages of cases: the queue, the case page and its forms, a new case, the SLA report,
the service home page. Permissions per team, pinned query counts, and bad input that writes
nothing."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cases.models import Case, CaseEvent, CaseInteraction
from cases.services import (
    case_assign,
    case_note_add,
    case_resolve,
    case_status_change,
    case_update,
)
from cases.views import queue_page, sla_clock, span
from customers.models import Interaction
from customers.services import interaction_log
from tests.cases.factories import open_case, sla_policy, team
from tests.customers.factories import CustomerFactory

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
QUEUE_QUERIES = 11
CASE_PAGE_QUERIES = 11


@pytest.fixture
def agent(staff):
    return staff("service")


@pytest.fixture
def agent_client(client, agent):
    client.force_login(agent)
    return client


@pytest.fixture
def policy():
    return sla_policy(first_response_minutes=60, resolution_minutes=8 * 60)


def ago(**kw):
    return timezone.now() - timedelta(**kw)


def case_ids(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'<tr class="[a-z]*" id="case-(\d+)"', html)]


def edit_data(case: Case, **changes) -> dict:
    data = {
        "version": case.version,
        "subject": case.subject,
        "category": case.category,
        "priority": case.priority,
        "team": case.team.slug,
        "status": case.status,
        "assignee": case.assignee.username if case.assignee else "",
        "customer_deadline": "",
        "customer_deadline_reason": "",
    }
    if case.customer_deadline:
        data["customer_deadline"] = timezone.localtime(case.customer_deadline).strftime(
            "%Y-%m-%dT%H:%M"
        )
        data["customer_deadline_reason"] = case.customer_deadline_reason
    return {**data, **changes}


def local(when) -> str:
    return timezone.localtime(when).strftime("%Y-%m-%dT%H:%M")


def snapshot(case: Case) -> tuple:
    """What a write would change: the row and the number of history events."""
    case = Case.objects.get(pk=case.pk)
    return (
        case.version,
        case.subject,
        case.status,
        case.assignee_id,
        case.priority,
        case.customer_deadline,
        CaseEvent.objects.filter(case=case).count(),
    )


# --- Clocks in words ----------------------------------------------------------------------


def test_span_and_clock_words(policy):
    assert span(timedelta(seconds=20)) == "less than a minute"
    assert span(timedelta(minutes=35)) == "35 min"
    assert span(timedelta(hours=2)) == "2 h"
    assert span(timedelta(hours=2, minutes=10)) == "2 h 10 min"
    assert span(timedelta(days=3, hours=1)) == "3 days"
    now = timezone.now()
    fresh = open_case(now=now - timedelta(minutes=25))
    assert sla_clock(fresh, now).text == "First response due in 35 min"
    assert sla_clock(fresh, now).state == "running"
    late = open_case(now=now - timedelta(hours=3))
    assert sla_clock(late, now).text == "First response overdue by 2 h"
    assert sla_clock(late, now).state == "breached"
    risky = open_case(now=now - timedelta(minutes=50))
    assert sla_clock(risky, now).state == "risk"
    paused = case_status_change(actor=None, case=fresh, version=fresh.version, status="waiting")
    assert sla_clock(paused, now).text == "Paused while waiting on customer"
    assert sla_clock(Case(status="open"), now).text == "No SLA"


# --- Permissions --------------------------------------------------------------------------


def test_anonymous_is_sent_to_login(client, policy):
    case = open_case()
    for url in ["/cases/", f"/cases/{case.pk}/", "/cases/sla/", "/cases/new/?customer=1"]:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_a_user_without_case_permissions_gets_403(client, staff, policy):
    case = open_case()
    client.force_login(staff(None))
    for url in ["/cases/", f"/cases/{case.pk}/", "/cases/sla/", "/cases/new/?customer=1"]:
        assert client.get(url).status_code == 403, url
    assert client.post(f"/cases/{case.pk}/edit/", edit_data(case)).status_code == 403


@pytest.mark.parametrize(
    ("team", "queue", "page", "sla", "new", "edit", "reply", "note"),
    [
        ("service", 200, 200, 200, 200, True, True, True),
        ("supervisor", 200, 200, 200, 200, True, True, True),
        ("sales", 200, 200, 200, 403, False, False, False),
        ("operations", 200, 200, 200, 403, False, False, False),
        ("marketing", 200, 200, 403, 403, False, False, False),
    ],
)
def test_what_each_team_may_open_and_do(
    client, staff, policy, team, queue, page, sla, new, edit, reply, note
):
    customer = CustomerFactory()
    case = open_case(customer=customer)
    case_note_add(actor=None, case=case, body="Customer sounded upset; be gentle")
    client.force_login(staff(team))
    assert client.get("/cases/").status_code == queue
    response = client.get(f"/cases/{case.pk}/")
    assert response.status_code == page
    html = response.content.decode()
    assert ('id="edit"' in html) is edit
    assert ('id="reply"' in html) is reply
    assert ("Customer sounded upset" in html) is note
    assert ('id="note"' in html) is note
    assert client.get("/cases/sla/").status_code == sla
    assert client.get(f"/cases/new/?customer={customer.pk}").status_code == new
    before = snapshot(case)
    posted = client.post(f"/cases/{case.pk}/edit/", edit_data(case, subject="Changed"))
    assert posted.status_code == (302 if edit else 403)
    if not edit:
        assert snapshot(case) == before
        assert client.post(f"/cases/{case.pk}/reply/", {"body": "Hi"}).status_code == 403
        assert client.post(f"/cases/{case.pk}/notes/", {"body": "x"}).status_code == 403
        assert (
            client.post(f"/cases/{case.pk}/resolve/", {"version": case.version}).status_code == 403
        )


def test_marketing_sees_status_only_no_history(client, staff, policy):
    case = open_case(subject="Refund for broken kettle")
    client.force_login(staff("marketing"))
    html = client.get(f"/cases/{case.pk}/").content.decode()
    assert "Refund for broken kettle" in html and "New" in html
    assert 'id="history-h"' not in html


def test_an_unknown_case_is_404(agent_client):
    assert agent_client.get("/cases/999999/").status_code == 404
    assert agent_client.post("/cases/999999/edit/", {"version": 1}).status_code == 404


def test_a_case_outside_what_the_user_may_see_is_404(client, staff, policy, monkeypatch):
    """The permission lets the user open case pages; a case its ``restrict`` hides (as a
    team-private object would be) answers 404, for reads and writes alike."""
    case = open_case()
    client.force_login(staff("service"))
    assert client.get(f"/cases/{case.pk}/").status_code == 200
    queryset = type(Case.objects.all())
    original = queryset.restrict
    monkeypatch.setattr(
        queryset, "restrict", lambda qs, actor, action="view": original(qs, actor, action).none()
    )
    assert client.get(f"/cases/{case.pk}/").status_code == 404
    assert client.post(f"/cases/{case.pk}/edit/", edit_data(case)).status_code == 404
    assert client.post(f"/cases/{case.pk}/reply/", {"body": "Hi"}).status_code == 404


# --- The queue ----------------------------------------------------------------------------


def test_queue_shows_the_teams_active_cases_most_urgent_first_paused_last(
    agent_client, agent, policy
):
    later = open_case(subject="Later one", now=ago(minutes=5))
    breached = open_case(subject="Breached one", now=ago(hours=3))
    risky = open_case(subject="Risky one", now=ago(minutes=50))
    paused = open_case(subject="Paused one", now=ago(hours=5))
    case_status_change(actor=agent, case=paused, version=paused.version, status="waiting")
    done = open_case(subject="Done one")
    case_resolve(actor=agent, case=done, version=done.version)
    sla_policy(team_slug="sales")
    other_team = open_case(subject="Sales lead question", team=team("sales"))

    html = agent_client.get("/cases/").content.decode()
    assert case_ids(html) == [breached.pk, risky.pk, later.pk, paused.pk]
    assert other_team.subject not in html and done.subject not in html
    assert f'<tr class="breached" id="case-{breached.pk}">' in html
    assert f'<tr class="risk" id="case-{risky.pk}">' in html
    assert "First response overdue by 2 h" in html
    assert "Paused while waiting on customer" in html
    # Every team, and resolved ones.
    html = agent_client.get("/cases/?team=").content.decode()
    assert other_team.pk in case_ids(html)
    html = agent_client.get("/cases/?state=done&team=").content.decode()
    assert case_ids(html) == [done.pk]
    assert "Resolved within target" in html


def test_teams_that_only_read_cases_land_on_every_teams_queue(client, staff, policy):
    sla_policy(team_slug="operations")
    ours = open_case(subject="Service case")
    theirs = open_case(subject="Operations case", team=team("operations"))
    client.force_login(staff("marketing"))
    assert set(case_ids(client.get("/cases/").content.decode())) == {ours.pk, theirs.pk}
    client.force_login(staff("supervisor"))
    assert set(case_ids(client.get("/cases/").content.decode())) == {ours.pk, theirs.pk}


def test_queue_filters_mine_unassigned_priority_category(agent_client, agent, staff, policy):
    colleague = staff("service")
    mine = open_case(subject="Mine", assignee=agent, priority="high")
    theirs = open_case(subject="Theirs", assignee=colleague, category="billing")
    nobody = open_case(subject="Nobody's")
    assert case_ids(agent_client.get("/cases/?mine=1").content.decode()) == [mine.pk]
    assert case_ids(agent_client.get("/cases/?unassigned=true").content.decode()) == [nobody.pk]
    assert case_ids(agent_client.get("/cases/?priority=high").content.decode()) == [mine.pk]
    assert case_ids(agent_client.get("/cases/?category=billing").content.decode()) == [theirs.pk]
    html = agent_client.get(f"/cases/?assignee={colleague.username}").content.decode()
    assert case_ids(html) == [theirs.pk]


def test_queue_due_before_and_bad_filters(agent_client, policy):
    soon = open_case(subject="Soon", now=ago(minutes=50))
    open_case(subject="Later", now=ago(minutes=1))
    before = local(timezone.now() + timedelta(minutes=30))
    assert case_ids(agent_client.get(f"/cases/?due_before={before}").content.decode()) == [soon.pk]
    response = agent_client.get("/cases/?priority=sky-high&due_before=yesterday")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'class="form-error"' in html and case_ids(html) == []


def test_queue_customer_deadline_with_its_reason(agent_client, policy):
    open_case(
        subject="Replacement card",
        customer_deadline=timezone.now() + timedelta(hours=5),
        customer_deadline_reason="flies to Lisbon on Saturday",
    )
    html = agent_client.get("/cases/").content.decode()
    assert "flies to Lisbon on Saturday" in html and 'class="deadline soon"' in html


def test_queue_pages_with_a_keyset_across_due_times_and_paused_cases(
    agent_client, agent, settings, policy
):
    # Pages of 3: [same ×3], [same, later, paused] (a page across the NULLs), [paused].
    settings.CXPORTAL_PAGE_SIZE = 3
    now = timezone.now()
    same = now - timedelta(minutes=30)
    cases = [open_case(subject=f"Same due {i}", now=same) for i in range(4)]
    cases.append(open_case(subject="Later", now=now))
    paused = [open_case(subject=f"Paused {i}", now=now) for i in range(2)]
    for case in paused:
        case_status_change(actor=agent, case=case, version=case.version, status="on_hold")
    expected = [c.pk for c in cases] + [c.pk for c in paused]

    seen, url, pages = [], "/cases/", 0
    for _ in range(10):
        html = agent_client.get(url, **(HX if seen else {})).content.decode()
        pages += 1
        if seen:
            assert "<html" not in html
        seen += case_ids(html)
        more = re.search(r'hx-get="(\?[^"]+)"', html)
        if not more:
            break
        url = "/cases/" + more.group(1).replace("&amp;", "&")
    assert seen == expected
    assert pages == 3


def test_editing_other_fields_leaves_a_deadline_with_seconds_alone(agent_client, policy):
    deadline = (timezone.now() + timedelta(days=2)).replace(second=42)
    case = open_case(customer_deadline=deadline, customer_deadline_reason="holiday")
    response = agent_client.post(f"/cases/{case.pk}/edit/", edit_data(case, priority="high"))
    assert response.status_code == 302
    assert not CaseEvent.objects.filter(case=case, kind="deadline").exists()
    case.refresh_from_db()
    assert case.customer_deadline == deadline and case.priority == "high"
    # A reason without a deadline is no deadline: nothing recorded either.
    agent_client.post(
        f"/cases/{case.pk}/edit/",
        edit_data(case, customer_deadline="", customer_deadline_reason="just because"),
    )
    case.refresh_from_db()
    assert case.customer_deadline is None and case.customer_deadline_reason == ""
    assert CaseEvent.objects.filter(case=case, kind="deadline").count() == 1


def test_queue_keyset_helper_ignores_a_malformed_cursor(policy, agent):
    from cases.selectors import case_queue

    open_case(subject="Only")
    for cursor in ["junk", "none_abc", "2025-13-45T00:00:00_1", "0001-01-01T00:00:00+05:00_1"]:
        page = queue_page(case_queue(actor=agent), after=cursor, size=5)
        assert len(page.items) == 1


def test_queue_query_count_does_not_grow(agent_client, agent, staff, django_assert_num_queries):
    sla_policy()

    def count() -> int:
        agent_client.get("/cases/")  # warm what every page caches (the disruption banner)
        with CaptureQueriesContext(connection) as ctx:
            assert agent_client.get("/cases/").status_code == 200
        return len(ctx)

    def make(n: int):
        for i in range(n):
            open_case(
                subject=f"Case {i}",
                assignee=agent if i % 2 else None,
                customer_deadline=timezone.now() + timedelta(days=1 + i),
                customer_deadline_reason="holiday",
            )

    make(3)
    small = count()
    make(27)
    assert count() == small
    with django_assert_num_queries(QUEUE_QUERIES):
        agent_client.get("/cases/")
    html = agent_client.get("/cases/").content.decode()
    more = re.search(r'hx-get="(\?[^"]+)"', html).group(1).replace("&amp;", "&")
    with CaptureQueriesContext(connection) as fragment:
        assert agent_client.get("/cases/" + more, **HX).status_code == 200
    assert len(fragment) < small


# --- The case page ------------------------------------------------------------------------


def test_case_page_shows_details_clocks_deadline_history_and_the_timeline(
    agent_client, agent, policy
):
    customer = CustomerFactory(display_name="Ada Lovelace")
    call = interaction_log(
        actor=agent,
        customer=customer,
        channel="phone",
        direction="inbound",
        summary="Card never arrived",
        occurred_at=ago(hours=1),
    )
    case = open_case(
        actor=agent,
        customer=customer,
        subject="Replacement card",
        interaction=call,
        customer_deadline=timezone.now() + timedelta(days=2),
        customer_deadline_reason="going on holiday",
    )
    case_assign(actor=agent, case=case, version=case.version, assignee=agent)
    html = agent_client.get(f"/cases/{case.pk}/").content.decode()
    assert "Replacement card" in html and "Ada Lovelace" in html
    assert "First response" in html and "Due in 59 min" in html
    assert "Needs it by" in html and "going on holiday" in html
    assert f"Assigned to {agent.username}" in html  # history
    assert f'id="interaction-{call.pk}"' in html  # the customer's timeline beside it
    assert f"/cases/new/?customer={customer.pk}&amp;interaction={call.pk}" in html
    assert f'name="version" value="{case.version + 1}"' in html


def test_case_page_query_count_is_pinned_and_does_not_grow(
    agent_client, agent, django_assert_num_queries, policy
):
    def build(n: int) -> Case:
        customer = CustomerFactory()
        case = open_case(actor=agent, customer=customer)
        for i in range(n):
            entry = interaction_log(
                actor=agent,
                customer=customer,
                channel=["phone", "email", "store"][i % 3],
                direction="inbound",
                summary=f"Entry {i}",
                occurred_at=ago(hours=i + 1),
            )
            from cases.services import case_interaction_link

            case_interaction_link(actor=agent, case=case, interaction=entry)
            case_note_add(actor=agent, case=case, body=f"Note {i}")
        return case

    def count(case) -> int:
        agent_client.get(f"/cases/{case.pk}/")  # warm what every page caches
        with CaptureQueriesContext(connection) as ctx:
            assert agent_client.get(f"/cases/{case.pk}/").status_code == 200
        return len(ctx)

    small, big = build(3), build(30)
    assert count(small) == count(big)
    with django_assert_num_queries(CASE_PAGE_QUERIES):
        agent_client.get(f"/cases/{big.pk}/")


def test_edit_saves_details_assignee_status_and_deadline(agent_client, agent, policy):
    case = open_case()
    deadline = timezone.now() + timedelta(days=3)
    response = agent_client.post(
        f"/cases/{case.pk}/edit/",
        edit_data(
            case,
            subject="Replacement card, urgent",
            priority="urgent",
            status="open",
            assignee=agent.username,
            customer_deadline=local(deadline),
            customer_deadline_reason="going on holiday",
        ),
    )
    assert response.status_code == 302 and response["Location"] == f"/cases/{case.pk}/"
    case.refresh_from_db()
    assert (case.subject, case.priority, case.status, case.assignee) == (
        "Replacement card, urgent",
        "urgent",
        "open",
        agent,
    )
    assert case.customer_deadline_reason == "going on holiday"
    assert case.version == 5
    kinds = list(CaseEvent.objects.filter(case=case).values_list("kind", flat=True))
    assert kinds == ["created", "updated", "assigned", "status", "deadline"]


def test_a_stale_version_shows_the_case_as_it_is_now_and_writes_nothing(
    agent_client, staff, policy
):
    case = open_case(subject="Card not arrived")
    seen = edit_data(case, subject="Card not arrived (my edit)", priority="high")
    colleague = staff("service")
    case_update(actor=colleague, case=case, version=case.version, subject="Card lost in post")
    before = snapshot(case)

    response = agent_client.post(f"/cases/{case.pk}/edit/", seen)
    assert response.status_code == 409
    html = response.content.decode()
    assert "Someone else saved this case while you were editing it" in html
    assert "Nothing you entered was saved" in html
    assert "Card lost in post" in html  # what it is now
    assert "Card not arrived (my edit)" in html  # what they tried, beside it
    assert f'name="version" value="{before[0]}"' in html  # the form is now current
    assert snapshot(case) == before


def test_a_stale_resolve_is_refused_too(agent_client, agent, policy):
    case = open_case()
    old = case.version
    case_assign(actor=agent, case=case, version=case.version, assignee=agent)
    before = snapshot(case)
    response = agent_client.post(f"/cases/{case.pk}/resolve/", {"version": old})
    assert response.status_code == 409
    assert "Someone else saved this case" in response.content.decode()
    assert snapshot(case) == before


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"subject": ""}, "subject", "This field is required."),
        ({"status": "closed"}, "status", "Select a valid choice."),
        ({"priority": "sky-high"}, "priority", "Select a valid choice."),
        ({"customer_deadline": "2020-01-01T10:00"}, "customer_deadline", "in the past"),
        ({"customer_deadline": "tomorrow"}, "customer_deadline", "like 2026-03-14 17:00"),
        ({"customer_deadline": "2999-01-01T10:00"}, "customer_deadline", "between the years"),
        ({"assignee": "nobody-at-all"}, "assignee", "Select a valid choice."),
        ({"subject": "Bad \x00 byte"}, "subject", "Null characters"),
    ],
)
def test_bad_edits_show_form_errors_and_write_nothing(
    agent_client, policy, changes, field, message
):
    case = open_case()
    before = snapshot(case)
    data = edit_data(case, **{"priority": "high", **changes})  # the valid change must not stick
    if field == "customer_deadline":
        data.setdefault("customer_deadline_reason", "holiday")
        data["customer_deadline_reason"] = "holiday"
    response = agent_client.post(f"/cases/{case.pk}/edit/", data)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'class="field-error"' in html and message in html
    assert snapshot(case) == before


def test_a_deadline_without_a_reason_is_refused_after_other_changes_rolled_back(
    agent_client, agent, policy
):
    """The service refuses the last step: the steps before it are undone too."""
    case = open_case()
    before = snapshot(case)
    data = edit_data(
        case,
        subject="New subject",
        assignee=agent.username,
        status="open",
        customer_deadline=local(timezone.now() + timedelta(days=1)),
    )
    response = agent_client.post(f"/cases/{case.pk}/edit/", data)
    assert response.status_code == 200
    assert "Say why the customer needs it by then." in response.content.decode()
    assert snapshot(case) == before


def test_resolve_and_reopen(agent_client, agent, policy):
    case = open_case()
    response = agent_client.post(f"/cases/{case.pk}/resolve/", {"version": case.version})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.status == "resolved"
    html = agent_client.get(f"/cases/{case.pk}/").content.decode()
    assert "Reopen" in html and ">Resolve<" not in html and 'id="reply"' not in html
    agent_client.post(f"/cases/{case.pk}/reopen/", {"version": case.version})
    case.refresh_from_db()
    assert case.status == "open"
    # Reopening an open case is refused with a message, nothing written.
    before = snapshot(case)
    response = agent_client.post(
        f"/cases/{case.pk}/reopen/", {"version": case.version}, follow=True
    )
    assert "Only a resolved case can be reopened" in response.content.decode()
    assert snapshot(case) == before


def test_a_reply_without_a_channel_to_answer_on_is_a_form_error(agent_client, policy):
    case = open_case()
    before = snapshot(case)
    interactions = Interaction.objects.count()
    response = agent_client.post(
        f"/cases/{case.pk}/reply/", {"body": "We are on it", "channel": ""}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "there is nothing to reply to" in html and 'class="field-error"' in html
    assert "We are on it" in html  # what they wrote is kept
    assert snapshot(case) == before and Interaction.objects.count() == interactions
    response = agent_client.post(f"/cases/{case.pk}/reply/", {"body": "", "channel": "fax"})
    assert "Write the reply first." in response.content.decode()
    assert snapshot(case) == before


def test_internal_notes_are_added_and_shown_only_to_who_may_read_them(
    agent_client, client, staff, policy
):
    case = open_case()
    response = agent_client.post(f"/cases/{case.pk}/notes/", {"body": "Called the courier"})
    assert response.status_code == 302
    assert "Called the courier" in agent_client.get(f"/cases/{case.pk}/").content.decode()
    response = agent_client.post(f"/cases/{case.pk}/notes/", {"body": "  "})
    assert "Write the note first." in response.content.decode()
    assert CaseEvent.objects.filter(case=case, kind="note").count() == 1
    client.force_login(staff("sales"))
    html = client.get(f"/cases/{case.pk}/").content.decode()
    assert 'id="history-h"' in html and "Called the courier" not in html


# --- A new case ---------------------------------------------------------------------------


def test_create_a_case_from_an_interaction_links_it(agent_client, agent, policy):
    customer = CustomerFactory(display_name="Ada Lovelace")
    mail = interaction_log(
        actor=agent,
        customer=customer,
        channel="email",
        direction="inbound",
        summary="Where is my replacement card?",
        occurred_at=ago(hours=2),
    )
    url = f"/cases/new/?customer={customer.pk}&interaction={mail.pk}"
    html = agent_client.get(url).content.decode()
    assert "Where is my replacement card?" in html  # shown, and the subject prefilled
    assert 'value="Where is my replacement card?"' in html
    deadline = timezone.now() + timedelta(days=4)
    response = agent_client.post(
        url,
        {
            "subject": "Replacement card",
            "description": "Lost in the post",
            "category": "account",
            "priority": "high",
            "team": "",
            "customer_deadline": local(deadline),
            "customer_deadline_reason": "going on holiday",
        },
    )
    case = Case.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/cases/{case.pk}/"
    assert (case.customer, case.subject, case.team.slug) == (
        customer,
        "Replacement card",
        "service",
    )
    assert case.origin_channel == "email" and case.customer_deadline_reason == "going on holiday"
    assert list(CaseInteraction.objects.values_list("case_id", "interaction_id")) == [
        (case.pk, mail.pk)
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"subject": ""}, "Say in a few words what the case is about."),
        ({"customer_deadline": "2020-02-02T10:00", "customer_deadline_reason": "x"}, "in the past"),
        ({"customer_deadline": "2031-02-02T10:00"}, "Say why the customer needs it by then."),
        ({"category": "astrology"}, "Select a valid choice."),
        ({"team": "pirates"}, "Select a valid choice."),
    ],
)
def test_bad_input_on_a_new_case_shows_form_errors_and_writes_nothing(
    agent_client, policy, data, message
):
    customer = CustomerFactory()
    form = {"subject": "Card", "category": "general", "priority": "normal", **data}
    response = agent_client.post(f"/cases/new/?customer={customer.pk}", form)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert Case.objects.count() == 0


def test_new_case_needs_a_visible_customer_and_their_own_interaction(agent_client, agent):
    one, two = CustomerFactory(), CustomerFactory()
    theirs = interaction_log(
        actor=agent,
        customer=two,
        channel="phone",
        direction="inbound",
        summary="x",
        occurred_at=ago(hours=1),
    )
    assert agent_client.get("/cases/new/")["Location"] == "/customers/"
    assert agent_client.get("/cases/new/?customer=99999999").status_code == 404
    assert agent_client.get("/cases/new/?customer=abc").status_code == 404
    assert agent_client.get("/cases/new/?customer=99999999999999999999").status_code == 404
    assert (
        agent_client.get(f"/cases/new/?customer={one.pk}&interaction={theirs.pk}").status_code
        == 404
    )
    merged = CustomerFactory(merged_into=one)
    assert agent_client.get(f"/cases/new/?customer={merged.pk}")["Location"] == (
        f"/cases/new/?customer={one.pk}"
    )


# --- The SLA report -----------------------------------------------------------------------


def test_sla_report_shows_attainment_per_team_in_a_table_and_a_chart(agent_client, agent, policy):
    met = open_case(subject="Quick")
    case_resolve(actor=agent, case=met, version=met.version)
    late = open_case(subject="Slow", now=ago(hours=10))
    case_resolve(actor=agent, case=late, version=late.version)
    html = agent_client.get("/cases/sla/").content.decode()
    assert "Customer service" in html
    assert "50.0%" in html and "(1/2)" in html  # resolution met for one of two
    assert html.count("<svg viewBox") == 2 and "<circle" in html
    html = agent_client.get("/cases/sla/?period=month").content.decode()
    assert "50.0%" in html and "Month of" in html
    assert agent_client.get("/cases/sla/?period=decade").status_code == 200


def test_sla_report_without_data(agent_client):
    html = agent_client.get("/cases/sla/").content.decode()
    assert "No case with an SLA policy was resolved in this time." in html


# --- Home pages and navigation ------------------------------------------------------------


def test_service_home_shows_my_queue_at_risk_breached_and_deadlines(agent_client, agent, policy):
    open_case(subject="Mine to do", assignee=agent)
    open_case(subject="Getting close", now=ago(minutes=50))
    open_case(subject="Already late", now=ago(hours=3))
    open_case(
        subject="Card before holiday",
        customer_deadline=timezone.now() + timedelta(hours=6),
        customer_deadline_reason="flies Saturday",
    )
    html = agent_client.get("/home/service/").content.decode()
    sections = {
        hid: re.search(rf'id="home-{hid}".*?</section>', html, re.S).group(0)
        for hid in ("mine", "risk", "breached", "deadlines")
    }
    assert "Mine to do" in sections["mine"]
    assert "Getting close" in sections["risk"] and "Already late" not in sections["risk"]
    assert "Already late" in sections["breached"]
    assert (
        "Card before holiday" in sections["deadlines"] and "flies Saturday" in sections["deadlines"]
    )
    assert 'href="/cases/"' in html  # the nav


def test_other_teams_see_a_smaller_summary(client, staff, policy):
    open_case(subject="Already late", now=ago(hours=3))
    client.force_login(staff("marketing"))
    html = client.get("/home/marketing/").content.decode()
    assert "breached SLA" in html and 'id="home-breached"' not in html
    assert "Already late" not in html
    client.force_login(staff(None))
    assert 'href="/cases/"' not in client.get("/login/", follow=True).content.decode()


def test_service_home_query_count_does_not_grow(agent_client, agent, policy):
    def count() -> int:
        agent_client.get("/home/service/")  # warm what every page caches
        with CaptureQueriesContext(connection) as ctx:
            assert agent_client.get("/home/service/").status_code == 200
        return len(ctx)

    def make(n):
        for i in range(n):
            open_case(
                subject=f"C{i}",
                assignee=agent,
                now=ago(minutes=[5, 50, 180][i % 3]),
                customer_deadline=timezone.now() + timedelta(hours=3),
                customer_deadline_reason="soon",
            )

    make(3)
    small = count()
    make(27)
    assert count() == small
