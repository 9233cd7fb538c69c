"""Case services: routing, SLA clocks from history, transitions, optimistic locking,
replies through the customer's channel, the customer's deadline, the resolved event."""

from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from cases.models import BusinessCalendar, Case, CaseEvent, CaseInteraction, Holiday, RoutingRule
from cases.selectors import case_events, case_queue_counts, sla_report
from cases.services import (
    case_assign,
    case_deadline_set,
    case_interaction_link,
    case_note_add,
    case_reopen,
    case_reply,
    case_resolve,
    case_status_change,
    case_update,
    sla_policy_for,
)
from cases.signals import case_resolved
from customers.channels.base import RawEvent
from customers.models import Interaction
from customers.services.core import interaction_log
from customers.services.outbound import interaction_send
from cxportal.errors import StaleVersion
from cxportal.models import AuditEvent
from tests.cases.factories import open_case, sla_policy, team
from tests.customers.channel_support import sms_message, sms_source
from tests.customers.factories import CustomerFactory
from tests.customers.test_outbound import arrive

pytestmark = pytest.mark.django_db
MONDAY_9 = datetime(2026, 1, 5, 9, tzinfo=UTC)


class Clock:
    """The one thing we mock: what time it is."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock():
    c = Clock(MONDAY_9)
    with mock.patch("django.utils.timezone.now", c):
        yield c


@pytest.fixture
def agent(staff):
    return staff("service")


def written() -> tuple[int, int, int, int]:
    return (
        Case.objects.count(),
        CaseEvent.objects.count(),
        Interaction.objects.count(),
        AuditEvent.objects.count(),
    )


# --- routing and policies ------------------------------------------------------------------
def test_routing_rules_pick_the_queue_in_order_and_fall_back_to_service(agent):
    RoutingRule.objects.create(position=20, category="delivery", team=team("operations"))
    RoutingRule.objects.create(
        position=10, category="delivery", channel="social", team=team("sales")
    )
    RoutingRule.objects.create(position=5, category="billing", team=team("sales"), is_active=False)
    assert open_case(actor=agent, category="delivery").team.slug == "operations"
    assert open_case(actor=agent, category="delivery", origin_channel="social").team.slug == "sales"
    assert open_case(actor=agent, category="billing").team.slug == "service"
    # An agent may put it in a queue themselves.
    assert open_case(actor=agent, category="delivery", team=team("service")).team.slug == "service"


def test_the_most_specific_policy_wins():
    general = sla_policy()
    urgent = sla_policy(priority="urgent", first_response_minutes=15)
    complaint = sla_policy(category="complaint")
    both = sla_policy(priority="urgent", category="complaint", first_response_minutes=5)
    service = team().pk
    assert sla_policy_for(team_id=service, priority="normal", category="general") == general
    assert sla_policy_for(team_id=service, priority="urgent", category="general") == urgent
    assert sla_policy_for(team_id=service, priority="low", category="complaint") == complaint
    assert sla_policy_for(team_id=service, priority="urgent", category="complaint") == both
    assert sla_policy_for(team_id=team("sales").pk, priority="urgent", category="x") is None


# --- SLA clocks recomputed from the case's history -----------------------------------------
def test_due_times_follow_business_hours_and_pauses(agent, clock):
    sla_policy(first_response_minutes=60, resolution_minutes=8 * 60)
    calendar = BusinessCalendar.objects.create(
        team=team(), time_zone="UTC", hours=[["09:00", "17:00"]] * 5 + [None, None]
    )
    Holiday.objects.create(calendar=calendar, date=datetime(2026, 1, 6).date(), name="Holiday")
    clock.now = datetime(2026, 1, 5, 16, 30, tzinfo=UTC)  # Monday, half an hour before closing
    case = open_case(actor=agent)
    # First response: 30 min Monday, then Tuesday is a holiday: Wednesday 09:30.
    assert case.first_response_due_at == datetime(2026, 1, 7, 9, 30, tzinfo=UTC)
    assert case.first_response_risk_at == datetime(2026, 1, 7, 9, 18, tzinfo=UTC)
    assert case.resolution_due_at == datetime(2026, 1, 7, 16, 30, tzinfo=UTC)
    assert case.next_due_at == case.first_response_due_at

    clock.now = datetime(2026, 1, 7, 9, 15, tzinfo=UTC)
    case = case_status_change(actor=agent, case=case, version=case.version, status="open")
    case = case_status_change(actor=agent, case=case, version=case.version, status="waiting")
    assert case.sla_paused and case.next_due_at is None and case.resolution_due_at is None
    assert case_queue_counts(actor=agent).breached == 0

    clock.now = datetime(2026, 1, 8, 9, tzinfo=UTC)  # the customer answered a day later
    case = case_status_change(actor=agent, case=case, version=case.version, status="open")
    # 45 min used (30 Monday, 15 Wednesday): first response due 15 minutes from now.
    assert not case.sla_paused
    assert case.first_response_due_at == datetime(2026, 1, 8, 9, 15, tzinfo=UTC)
    assert case.resolution_due_at == datetime(2026, 1, 8, 16, 15, tzinfo=UTC)

    clock.now = datetime(2026, 1, 8, 9, 20, tzinfo=UTC)
    counts = case_queue_counts(actor=agent)
    assert (counts.breached, counts.at_risk) == (1, 0)
    case = case_resolve(actor=agent, case=case, version=case.version)
    assert (case.first_response_met, case.resolution_met) == (False, True)
    assert case.next_due_at is None


def test_changing_priority_picks_the_policy_again(agent, clock):
    sla_policy(first_response_minutes=60)
    sla_policy(priority="urgent", first_response_minutes=10)
    case = open_case(actor=agent)
    assert case.first_response_due_at == MONDAY_9 + timedelta(minutes=60)
    clock.advance(minutes=5)
    case = case_update(actor=agent, case=case, version=case.version, priority="urgent")
    # Counted from creation: the urgent target is 10 minutes from when the case was opened.
    assert case.first_response_due_at == MONDAY_9 + timedelta(minutes=10)
    assert case.sla_policy.priority == "urgent"


def test_no_policy_no_clocks(agent):
    case = open_case(actor=agent)
    assert case.sla_policy is None
    assert (case.next_due_at, case.first_response_due_at, case.resolution_due_at) == (None,) * 3


def test_the_sla_report_counts_attainment_per_team(agent, clock):
    sla_policy(first_response_minutes=60, resolution_minutes=120)
    quick, slow = open_case(actor=agent), open_case(actor=agent)
    clock.advance(minutes=30)
    case_resolve(actor=agent, case=quick, version=quick.version)
    clock.advance(hours=3)
    case_resolve(actor=agent, case=slow, version=slow.version)
    (row,) = sla_report(actor=agent, since=MONDAY_9, until=MONDAY_9 + timedelta(days=1))
    assert (row.team, row.resolved, row.resolution_met, row.resolution_pct) == (
        "Customer service",
        2,
        1,
        50.0,
    )
    assert row.first_response_pct == 50.0


# --- transitions and locking ---------------------------------------------------------------
def test_unknown_transitions_are_refused_and_nothing_is_written(agent):
    case = open_case(actor=agent)
    case = case_resolve(actor=agent, case=case, version=case.version)
    case = case_status_change(actor=agent, case=case, version=case.version, status="closed")
    before = written()
    with pytest.raises(ValidationError) as error:
        case_status_change(actor=agent, case=case, version=case.version, status="open")
    assert "cannot become Open" in error.value.message_dict["status"][0]
    with pytest.raises(ValidationError):
        case_status_change(actor=agent, case=case, version=case.version, status="escalated")
    with pytest.raises(ValidationError, match="Only a resolved case"):
        case_reopen(actor=agent, case=case, version=case.version)
    assert written() == before


def test_a_stale_version_is_refused_and_nothing_is_overwritten(agent, staff):
    other = staff("service")
    case = open_case(actor=agent)
    seen_by_both = case.version
    case_update(actor=other, case=case, version=seen_by_both, subject="Card stolen, not lost")
    before = written()
    with pytest.raises(StaleVersion) as error:
        case_update(actor=agent, case=case, version=seen_by_both, priority="high")
    assert error.value.current_version == seen_by_both + 1
    assert "changed by someone else" in str(error.value)
    with pytest.raises(StaleVersion):
        case_assign(actor=agent, case=case, version=seen_by_both, assignee=agent)
    with pytest.raises(StaleVersion):
        case_resolve(actor=agent, case=case, version=seen_by_both)
    assert written() == before
    case.refresh_from_db()
    assert (case.subject, case.priority, case.assignee, case.status) == (
        "Card stolen, not lost",
        "normal",
        None,
        "new",
    )


def test_notes_and_links_never_conflict_with_an_edit(agent):
    case = open_case(actor=agent)
    version = case.version
    case_note_add(actor=agent, case=case, body="Called the depot.")
    call = interaction_log(
        actor=agent, customer=case.customer, channel="phone", direction="inbound", summary="Call"
    )
    assert case_interaction_link(actor=agent, case=case, interaction=call) is True
    assert case_interaction_link(actor=agent, case=case, interaction=call) is False
    case_update(actor=agent, case=case, version=version, priority="high")


def test_bad_input_when_opening_writes_nothing(agent):
    customer = CustomerFactory()
    stranger_call = interaction_log(
        actor=agent, customer=CustomerFactory(), channel="phone", direction="inbound", summary="x"
    )
    before = written()
    with pytest.raises(ValidationError) as error:
        open_case(
            actor=agent,
            customer=customer,
            subject="  ",
            category="nonsense",
            priority="whenever",
            interaction=stranger_call,
            customer_deadline=timezone.now() - timedelta(hours=1),
        )
    assert set(error.value.message_dict) == {
        "subject",
        "category",
        "priority",
        "interaction",
        "customer_deadline",
    }
    assert "in the past" in error.value.message_dict["customer_deadline"][0]
    with pytest.raises(ValidationError, match="Say why"):
        open_case(actor=agent, customer_deadline=timezone.now() + timedelta(days=1))
    with pytest.raises(ValidationError):
        open_case(actor=agent, subject="ok\x00")
    assert written()[:2] == before[:2]


def test_a_customer_stated_deadline_is_kept_apart_from_the_sla(agent):
    sla_policy()
    case = open_case(actor=agent)
    due = case.resolution_due_at
    friday = timezone.now() + timedelta(days=4)
    case = case_deadline_set(
        actor=agent, case=case, version=case.version, deadline=friday, reason="Flying on holiday"
    )
    assert (case.customer_deadline, case.customer_deadline_reason) == (friday, "Flying on holiday")
    assert case.resolution_due_at == due
    with pytest.raises(ValidationError, match="in the past"):
        case_deadline_set(
            actor=agent, case=case, version=case.version, deadline=timezone.now(), reason="x"
        )
    case = case_deadline_set(actor=agent, case=case, version=case.version, deadline=None)
    assert (case.customer_deadline, case.customer_deadline_reason) == (None, "")
    kinds = [e.kind for e in case_events(actor=agent, case=case)]
    assert kinds.count("deadline") == 2


def test_only_staff_who_work_cases_can_be_assigned(agent, staff):
    case = open_case(actor=agent)
    with pytest.raises(ValidationError, match="cannot work on cases"):
        case_assign(actor=agent, case=case, version=case.version, assignee=staff("marketing"))
    case = case_assign(actor=agent, case=case, version=case.version, assignee=agent)
    assert case.assignee == agent
    assert AuditEvent.objects.filter(action="case.assign", target_id=str(case.pk)).exists()


def test_internal_notes_are_only_shown_to_roles_that_may_read_them(agent, staff):
    case = open_case(actor=agent)
    case_note_add(actor=agent, case=case, body="Customer was rude on the phone.")
    assert "note" in [e.kind for e in case_events(actor=agent, case=case)]
    assert "note" not in [e.kind for e in case_events(actor=staff("marketing"), case=case)]
    assert "note" not in [e.kind for e in case_events(actor=staff("sales"), case=case)]


# --- the resolved event ----------------------------------------------------------------------
def test_resolving_announces_the_case_after_the_commit(agent, django_capture_on_commit_callbacks):
    heard = []

    def listener(sender, case_id, actor_label, **kwargs):
        heard.append((case_id, actor_label))

    case_resolved.connect(listener)
    try:
        case = open_case(actor=agent)
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            case = case_resolve(actor=agent, case=case, version=case.version, note="Card sent")
        assert heard == []  # nothing before the commit
        for callback in callbacks:
            callback()
        assert heard == [(case.pk, agent.get_username())]
        # Reopening and resolving again announces again.
        with django_capture_on_commit_callbacks(execute=True):
            case = case_reopen(actor=agent, case=case, version=case.version)
            case_resolve(actor=agent, case=case, version=case.version)
        assert len(heard) == 2
    finally:
        case_resolved.disconnect(listener)


# --- replies through the customer's channel ------------------------------------------------
def test_a_reply_goes_out_on_the_customers_channel_and_starts_the_work(agent, provider):
    sla_policy()
    source = sms_source(settings={"api_url": provider.url, "from_number": "+447700900999"})
    message = arrive(source, RawEvent("SM000001", sms_message(1, text="Where is my card?")))
    case = open_case(actor=agent, customer=message.customer, interaction=message)
    assert case.origin_channel == "sms"
    reply = case_reply(actor=agent, case=case, body="A new card is on its way.")
    case.refresh_from_db()
    assert (reply.direction, reply.channel, reply.in_reply_to) == ("outbound", "sms", message)
    assert set(CaseInteraction.objects.filter(case=case).values_list("interaction", flat=True)) == {
        message.pk,
        reply.pk,
    }
    assert case.first_responded_at is not None and case.first_response_met is True
    assert case.status == "open"
    assert interaction_send(interaction_id=reply.pk) == "sent"
    assert [r["body"]["text"] for r in provider.received] == ["A new card is on its way."]
    assert [e.kind for e in case_events(actor=agent, case=case)] == [
        "created",
        "reply",
        "status",
    ]


def test_a_reply_without_a_channel_to_answer_on_is_a_clear_error(agent):
    case = open_case(actor=agent, origin_channel="email")
    interaction_log(
        actor=agent, customer=case.customer, channel="phone", direction="inbound", summary="Call"
    )
    before = written()
    with pytest.raises(ValidationError) as error:
        case_reply(actor=agent, case=case, body="Hello")
    assert "has not written to us by email" in error.value.message_dict["channel"][0]
    with pytest.raises(ValidationError) as error:
        case_reply(actor=agent, case=case, body="Hello", channel="sms")
    assert "by sms" in error.value.message_dict["channel"][0].lower()
    with pytest.raises(ValidationError):
        case_reply(actor=agent, case=case, body="Hello", channel="pigeon")
    assert written() == before


def test_a_resolved_case_must_be_reopened_before_replying(agent):
    case = open_case(actor=agent)
    case = case_resolve(actor=agent, case=case, version=case.version)
    with pytest.raises(ValidationError, match="reopen it"):
        case_reply(actor=agent, case=case, body="One more thing")
