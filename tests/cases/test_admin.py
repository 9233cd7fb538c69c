from datetime import timedelta

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cases.models import (
    BusinessCalendar,
    Case,
    CaseEvent,
    CaseInteraction,
    Holiday,
    RoutingRule,
    SlaPolicy,
)
from cases.services import case_note_add, case_resolve, case_sla_recompute_team, case_status_change
from cases.tasks import case_sla_recompute_team_task
from cxportal.models import AuditEvent
from tests.cases.factories import open_case, sla_policy, team
from tests.customers.factories import CustomerFactory

pytestmark = pytest.mark.django_db
CASE_MODELS = (BusinessCalendar, Holiday, SlaPolicy, RoutingRule, Case, CaseEvent, CaseInteraction)
WEEKDAYS = '["08:00", "18:00"]'
HOURS = f"[{', '.join([WEEKDAYS] * 5)}, null, null]"


@pytest.fixture
def boss(staff):
    return staff("supervisor")


@pytest.fixture
def boss_client(client, boss):
    client.force_login(boss)
    return client


def inline_management(prefix: str, total: int = 0, initial: int = 0) -> dict:
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def case_form(case: Case, **changes) -> dict:
    data = {
        "subject": case.subject,
        "description": case.description,
        "category": case.category,
        "priority": case.priority,
        "team": case.team_id,
        "assignee": case.assignee_id or "",
        "status": case.status,
        "version": case.version,
        **inline_management("events"),
    }
    data.update(changes)
    return data


# --- Registration and lists ------------------------------------------------------------------


def test_every_cases_model_is_registered_and_its_changelist_loads(client, staff):
    client.force_login(staff(None, is_staff=True, is_superuser=True))
    case = open_case()
    case_note_add(actor=None, case=case, body="Checked with the courier")
    for model in CASE_MODELS:
        assert admin.site.is_registered(model), model
        meta = model._meta
        response = client.get(f"/admin/{meta.app_label}/{meta.model_name}/")
        assert response.status_code == 200, meta.model_name
    for model in (Case, CaseEvent):
        assert admin.site._registry[model].show_full_result_count is False
    assert client.get(f"/admin/cases/case/{case.pk}/change/").status_code == 200


def test_case_changelist_query_count_does_not_grow_with_rows(boss_client, boss):
    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            response = boss_client.get("/admin/cases/case/", {"team__id__exact": team().pk})
            assert response.status_code == 200
        return len(ctx)

    for _ in range(3):
        open_case(assignee=boss)
    small = count()
    for _ in range(27):
        open_case(assignee=boss)
    assert count() == small


def test_case_search_by_number_subject_and_customer_name(boss_client):
    ada = CustomerFactory(display_name="Ada Lovelace")
    mine = open_case(customer=ada, subject="Broken kettle")
    other = open_case(customer=CustomerFactory(display_name="Someone Else"), subject="Late train")
    for term in (str(mine.pk), f"#{mine.pk}", "kettle", "lovelace", str(ada.pk)):
        html = boss_client.get("/admin/cases/case/", {"q": term}).content.decode()
        assert "Broken kettle" in html and "Late train" not in html, term
    assert other.pk != mine.pk


# --- SLA policies ----------------------------------------------------------------------------


def policy_form(**changes) -> dict:
    return {
        "name": "Service urgent",
        "team": team().pk,
        "priority": "urgent",
        "category": "",
        "first_response_minutes": "30",
        "resolution_minutes": "240",
        "pause_statuses": ["waiting", "on_hold"],
        "is_active": "on",
        **changes,
    }


def test_sla_policy_pause_statuses_must_be_statuses_that_can_pause(boss_client):
    url = "/admin/cases/slapolicy/add/"
    for bad in (["resolved"], ["bogus"], ["waiting", "closed"]):
        response = boss_client.post(url, policy_form(pause_statuses=bad))
        assert response.status_code == 200, bad
        assert "is not one of the available choices" in response.content.decode(), bad
    response = boss_client.post(url, policy_form(first_response_minutes="300"))
    assert "cannot be due after the resolution" in response.content.decode()
    assert not SlaPolicy.objects.exists()

    assert (
        boss_client.post(url, policy_form(pause_statuses=["on_hold", "waiting"])).status_code == 302
    )
    policy = SlaPolicy.objects.get()
    assert policy.pause_statuses == ["waiting", "on_hold"]


def test_sla_policy_edits_and_deletes_are_audited(boss_client, boss):
    boss_client.post("/admin/cases/slapolicy/add/", policy_form())
    policy = SlaPolicy.objects.get()
    created = AuditEvent.objects.get(action="sla_policy.create")
    assert created.actor_user == boss and created.after["first_response_minutes"] == 30

    response = boss_client.post(
        f"/admin/cases/slapolicy/{policy.pk}/change/",
        policy_form(first_response_minutes="45"),
        follow=True,
    )
    assert "Recompute SLA clocks" in response.content.decode()  # the hint after a change
    updated = AuditEvent.objects.get(action="sla_policy.update")
    assert updated.before["first_response_minutes"] == 30
    assert updated.after["first_response_minutes"] == 45
    assert updated.after["team"] == "service"

    boss_client.post(f"/admin/cases/slapolicy/{policy.pk}/delete/", {"post": "yes"})
    assert not SlaPolicy.objects.exists()
    deleted = AuditEvent.objects.get(action="sla_policy.delete")
    assert deleted.before["name"] == "Service urgent" and deleted.target_id == str(policy.pk)


def test_recompute_action_applies_a_changed_policy_to_the_team_s_active_cases(boss_client, broker):
    policy = sla_policy(first_response_minutes=60, resolution_minutes=600)
    opened = timezone.now() - timedelta(minutes=10)
    active = [open_case(now=opened) for _ in range(3)]
    done = open_case(now=opened)
    case_resolve(actor=None, case=done, version=done.version)
    done.refresh_from_db()
    other_team = open_case(now=opened, team=team("sales"))
    SlaPolicy.objects.filter(pk=policy.pk).update(first_response_minutes=30)
    # Until recomputed, open cases keep their due times.
    assert Case.objects.get(pk=active[0].pk).next_due_at == opened + timedelta(minutes=60)

    response = boss_client.post(
        "/admin/cases/slapolicy/",
        {"action": "recompute_sla_clocks", "_selected_action": [policy.pk]},
        follow=True,
    )
    assert "Recomputing the SLA clocks of the active cases of Customer service" in (
        response.content.decode()
    )
    # The work is the worker's: the request only handed the task to the broker.
    assert broker() == [("scans.case_sla_recompute_team", [team().pk])]
    assert Case.objects.get(pk=active[0].pk).next_due_at == opened + timedelta(minutes=60)
    assert case_sla_recompute_team_task(team().pk) == 3
    for case in active:
        case.refresh_from_db()
        assert case.next_due_at == opened + timedelta(minutes=30)
        assert case.version == 1  # not an edit: nobody's open form goes stale
    assert Case.objects.get(pk=done.pk).first_response_due_at == done.first_response_due_at
    assert Case.objects.get(pk=other_team.pk).next_due_at is None  # no sales policy
    event = AuditEvent.objects.get(action="case.sla_recompute")
    assert event.after == {"cases": 3} and event.target_label == str(team())


def test_recompute_service_works_in_batches_and_picks_a_new_policy(boss):
    opened = timezone.now() - timedelta(minutes=5)
    cases = [open_case(now=opened, priority="high") for _ in range(5)]
    assert all(c.sla_policy is None for c in cases)
    policy = sla_policy(priority="high", first_response_minutes=20)
    with CaptureQueriesContext(connection) as ctx:
        assert case_sla_recompute_team(actor=boss, team=team(), batch_size=2) == 5
    updates = [q for q in ctx.captured_queries if q["sql"].startswith("UPDATE")]
    assert len(updates) == 3  # one bulk_update per batch of two
    # Per batch: the cases, their histories, the update; policy, calendar and risk share
    # are looked up once for the whole run.
    for _ in range(5):
        open_case(now=opened, priority="high")
    with CaptureQueriesContext(connection) as again:
        assert case_sla_recompute_team(actor=boss, team=team(), batch_size=10) == 10
    assert len(again.captured_queries) <= len(ctx.captured_queries)
    for case in cases:
        case.refresh_from_db()
        assert case.sla_policy == policy
        assert case.next_due_at == opened + timedelta(minutes=20)


# --- Routing rules ---------------------------------------------------------------------------


def test_routing_rules_are_edited_in_the_list_and_audited(boss_client, boss):
    rule = RoutingRule.objects.create(position=10, category="disruption", team=team("operations"))
    changelist = boss_client.get("/admin/cases/routingrule/").content.decode()
    assert 'name="form-0-position"' in changelist and 'name="form-0-is_active"' in changelist
    response = boss_client.post(
        "/admin/cases/routingrule/",
        {
            **inline_management("form", total=1, initial=1),
            "form-0-id": rule.pk,
            "form-0-position": "5",
            "_save": "Save",
        },
    )
    assert response.status_code == 302
    rule.refresh_from_db()
    assert (rule.position, rule.is_active) == (5, False)
    event = AuditEvent.objects.get(action="routing_rule.update")
    assert event.before == {
        "position": 10,
        "category": "disruption",
        "channel": "",
        "team": "operations",
        "is_active": True,
    }
    assert event.after["position"] == 5 and event.after["is_active"] is False
    assert event.actor_user == boss


# --- Business calendars ----------------------------------------------------------------------


def calendar_form(**changes) -> dict:
    return {
        "team": team().pk,
        "time_zone": "Europe/London",
        "hours": HOURS,
        **inline_management("holidays"),
        **changes,
    }


def test_calendar_problems_show_as_form_errors(boss_client):
    url = "/admin/cases/businesscalendar/add/"
    response = boss_client.post(url, calendar_form(time_zone="Mars/Olympus"))
    assert "Unknown time zone" in response.content.decode()
    response = boss_client.post(url, calendar_form(hours='[["18:00", "08:00"]]'))
    assert "Hours need seven entries" in response.content.decode()
    backwards = f'[["18:00", "08:00"], {", ".join([WEEKDAYS] * 4)}, null, null]'
    response = boss_client.post(url, calendar_form(hours=backwards))
    assert (
        "Monday: the opening time must come before the closing time." in response.content.decode()
    )
    assert (
        "At least one day must be open"
        in boss_client.post(
            url, calendar_form(hours="[null, null, null, null, null, null, null]")
        ).content.decode()
    )
    assert not BusinessCalendar.objects.exists()


def test_calendar_with_holidays_is_saved_and_audited(boss_client):
    data = calendar_form(
        **inline_management("holidays", total=2),
        **{
            "holidays-0-date": "2026-12-25",
            "holidays-0-name": "Christmas Day",
            "holidays-1-date": "2026-12-26",
            "holidays-1-name": "Boxing Day",
        },
    )
    response = boss_client.post("/admin/cases/businesscalendar/add/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    calendar = BusinessCalendar.objects.get()
    assert [h.name for h in calendar.holidays.all()] == ["Christmas Day", "Boxing Day"]
    event = AuditEvent.objects.get(action="business_calendar.create")
    assert event.after["holidays"] == ["2026-12-25 Christmas Day", "2026-12-26 Boxing Day"]
    assert event.after["time_zone"] == "Europe/London"
    assert Holiday.objects.count() == 2


# --- Cases: changes through the services -----------------------------------------------------


def test_case_edit_goes_through_the_services(boss_client, boss):
    sla_policy(priority="urgent", first_response_minutes=30)
    case = open_case(now=timezone.now() - timedelta(minutes=5))
    url = f"/admin/cases/case/{case.pk}/change/"
    page = boss_client.get(url).content.decode()
    # Only the allowed next statuses are offered; SLA fields are shown, not editable.
    assert 'value="closed"' not in page and 'value="resolved"' in page
    assert 'name="next_due_at"' not in page and 'name="first_response_due_at"' not in page

    data = case_form(case, priority="urgent", assignee=boss.pk, status="open")
    response = boss_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    case.refresh_from_db()
    assert (case.priority, case.assignee, case.status) == ("urgent", boss, "open")
    assert case.sla_policy is not None and case.version == 4  # three services, three versions
    kinds = list(case.events.values_list("kind", flat=True))
    assert kinds == ["created", "updated", "assigned", "status"]
    actions = set(
        AuditEvent.objects.filter(target_id=str(case.pk)).values_list("action", flat=True)
    )
    assert {"case.update", "case.assign", "case.status"} <= actions


def test_case_edit_on_a_stale_version_is_refused(boss_client):
    case = open_case()
    url = f"/admin/cases/case/{case.pk}/change/"
    data = case_form(case, subject="My edit")
    case_status_change(actor=None, case=case, version=case.version, status="open")
    response = boss_client.post(url, data)
    assert response.status_code == 200
    assert "changed by someone else" in response.content.decode()
    assert Case.objects.get(pk=case.pk).subject == "Card not arrived"


def test_case_edit_refuses_an_assignee_who_cannot_work_cases(boss_client, staff):
    case = open_case()
    marketer = staff("marketing")
    response = boss_client.post(
        f"/admin/cases/case/{case.pk}/change/", case_form(case, assignee=marketer.pk)
    )
    assert "cannot work on cases" in response.content.decode()
    assert Case.objects.get(pk=case.pk).assignee is None


def test_case_added_in_admin_is_opened_and_routed_by_the_service(boss_client):
    RoutingRule.objects.create(position=1, category="disruption", team=team("operations"))
    customer = CustomerFactory()
    data = {
        "customer": customer.pk,
        "subject": "Train cancelled",
        "description": "",
        "category": "disruption",
        "priority": "normal",
        "origin_channel": "app",
        "team": "",
        "assignee": "",
        "customer_deadline_0": "",
        "customer_deadline_1": "",
        "customer_deadline_reason": "",
    }
    response = boss_client.post("/admin/cases/case/add/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    case = Case.objects.get()
    assert case.team.slug == "operations" and case.events.get().kind == "created"
    assert AuditEvent.objects.filter(action="case.open", target_id=str(case.pk)).exists()


def test_cases_are_never_deleted_in_admin(boss_client):
    case = open_case()
    changelist = boss_client.get("/admin/cases/case/").content.decode()
    assert "delete_selected" not in changelist
    assert boss_client.get(f"/admin/cases/case/{case.pk}/delete/").status_code == 403
    boss_client.post(
        "/admin/cases/case/",
        {"action": "delete_selected", "_selected_action": [case.pk], "post": "yes"},
    )
    assert Case.objects.filter(pk=case.pk).exists()


def test_reassign_action_asks_whom_then_assigns_through_the_service(boss_client, boss, staff):
    agent = staff("service")
    cases = [open_case(assignee=boss), open_case()]
    ids = [c.pk for c in cases]
    page = boss_client.post(
        "/admin/cases/case/", {"action": "reassign", "_selected_action": ids}
    ).content.decode()
    assert "Reassign cases" in page and f'value="{agent.pk}"' in page
    assert not Case.objects.filter(assignee=agent).exists()  # nothing yet

    response = boss_client.post(
        "/admin/cases/case/",
        {"action": "reassign", "_selected_action": ids, "post": "yes", "assignee": agent.pk},
        follow=True,
    )
    assert "Reassigned" in response.content.decode()
    assert set(Case.objects.filter(assignee=agent).values_list("pk", flat=True)) == set(ids)
    assert CaseEvent.objects.filter(kind="assigned", case_id__in=ids).count() == 2

    boss_client.post(
        "/admin/cases/case/",
        {"action": "reassign", "_selected_action": ids[:1], "post": "yes", "assignee": ""},
    )
    assert Case.objects.get(pk=ids[0]).assignee is None  # back to the team queue


def test_resolve_action_resolves_through_the_service_and_reports_refusals(boss_client):
    case, closed = open_case(), open_case()
    case_resolve(actor=None, case=closed, version=closed.version)
    closed.refresh_from_db()
    case_status_change(actor=None, case=closed, version=closed.version, status="closed")
    response = boss_client.post(
        "/admin/cases/case/",
        {"action": "resolve", "_selected_action": [case.pk, closed.pk]},
        follow=True,
    )
    html = response.content.decode()
    assert f"Resolved #{case.pk}." in html and f"#{closed.pk}: A case that is Closed" in html
    assert Case.objects.get(pk=case.pk).status == "resolved"
    assert Case.objects.get(pk=closed.pk).status == "closed"


def test_internal_notes_are_hidden_from_staff_who_may_not_read_them(client, staff, boss_client):
    case = open_case()
    case_note_add(actor=None, case=case, body="Customer is a journalist")
    assert (
        "Customer is a journalist"
        in boss_client.get(f"/admin/cases/case/{case.pk}/change/").content.decode()
    )

    viewer = staff("operations")  # reads cases and their history, not internal notes
    viewer.is_staff = True
    viewer.save()
    client.force_login(viewer)
    for url in (f"/admin/cases/case/{case.pk}/change/", "/admin/cases/caseevent/"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert "Customer is a journalist" not in response.content.decode(), url
    note = case.events.get(kind="note")
    assert client.get(f"/admin/cases/caseevent/{note.pk}/change/").status_code == 302


def test_customer_and_assignee_use_autocomplete(boss_client):
    page = boss_client.get("/admin/cases/case/add/").content.decode()
    assert page.count("admin-autocomplete") >= 2
