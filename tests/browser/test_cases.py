"""Cases in a real browser: a service agent opens a case from a customer's call on the 360
page, finds it in the queue, replies (first with no channel to answer on, then by email
through a real SMTP server), meets a concurrent edit, and resolves it. Screenshots of the
queue, the case page, the 360 panel, the service home page and the SLA report."""

import contextlib
import random
from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from cases.models import Case
from cases.services import case_resolve, case_status_change, case_update
from customers.channels.email_imap import read_message
from customers.models import Channel, Interaction
from customers.services import (
    contact_point_add,
    inbound_event_process,
    inbound_events_store,
    interaction_log,
)
from customers.services.outbound import interaction_send
from tests.cases.factories import open_case, sla_policy, team
from tests.customers.channel_support import ChannelSourceFactory, readable_broker
from tests.customers.factories import CustomerFactory
from tests.support.mail_servers import make_mail, smtp_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.real_services]


@contextlib.contextmanager
def clock(when):
    """The services' clock at ``when`` (for history that happened in past weeks)."""
    with mock.patch("django.utils.timezone.now", return_value=when):
        yield


def resolved_history(weeks: int = 8) -> None:
    """Cases resolved over the past weeks by two teams, some within target, some late."""
    rng = random.Random(5)
    now = timezone.now()
    for week in range(weeks, 0, -1):
        for slug, late_share in (("service", 0.1 + week * 0.03), ("operations", 0.3)):
            for _ in range(4):
                start = now - timedelta(weeks=week, hours=rng.randint(0, 100))
                case = open_case(subject="Earlier case", team=team(slug), now=start)
                hours = rng.uniform(9, 20) if rng.random() < late_share else rng.uniform(0.2, 7)
                with clock(start + timedelta(hours=hours)):
                    case_resolve(actor=None, case=case, version=case.version)


def queue_around(agent):
    now = timezone.now()
    others = CustomerFactory.create_batch(5)
    open_case(customer=others[0], subject="Refund not received", now=now - timedelta(hours=3))
    open_case(
        customer=others[1],
        subject="App keeps logging me out",
        now=now - timedelta(minutes=52),
        category="technical",
        priority="high",
    )
    open_case(
        customer=others[2],
        subject="Wrong size delivered",
        assignee=agent,
        category="delivery",
        customer_deadline=now + timedelta(hours=20),
        customer_deadline_reason="wedding on Saturday",
    )
    waiting = open_case(customer=others[3], subject="Photo of the damage requested")
    case_status_change(actor=agent, case=waiting, version=waiting.version, status="waiting")
    open_case(customer=others[4], subject="Change of address", priority="low", now=now)


def test_service_agent_works_a_case_from_the_360_page_to_resolved(
    page, login, shot, staff, tmp_path
):
    for slug in ("service", "operations"):
        sla_policy(team_slug=slug, first_response_minutes=60, resolution_minutes=8 * 60)
    resolved_history()
    agent = staff("service")
    colleague = staff("service")
    queue_around(agent)
    ada = CustomerFactory(
        display_name="Ada Lovelace", lifecycle_stage="at_risk", preferred_channel="email"
    )
    contact_point_add(
        actor=None, customer=ada, kind="email", value="ada@example.com", is_primary=True
    )
    call = interaction_log(
        actor=agent,
        customer=ada,
        channel="phone",
        direction="inbound",
        summary="Replacement card never arrived",
        body="Needs it before she flies to Lisbon on Saturday.",
        occurred_at=timezone.now() - timedelta(hours=2),
    )

    login(agent.username)
    page.wait_for_url("**/home/service/")
    expect(page.locator("#home-breached")).to_contain_text("Refund not received")
    expect(page.locator("#home-risk")).to_contain_text("App keeps logging me out")
    expect(page.locator("#home-mine")).to_contain_text("Wrong size delivered")
    expect(page.locator("#home-deadlines")).to_contain_text("wedding on Saturday")
    shot("cases-home-service")

    # From the call on Ada's timeline to a new case.
    page.goto(f"/customers/{ada.pk}/")
    expect(page.get_by_role("region", name="Open cases")).to_contain_text("No open cases.")
    page.locator(f"#interaction-{call.pk}").get_by_role("link", name="Open a case").click()
    page.wait_for_url(f"**/cases/new/?customer={ada.pk}&interaction={call.pk}")
    expect(page.locator("#id_subject")).to_have_value("Replacement card never arrived")
    page.fill("#id_description", "Card posted 10 days ago, never arrived. Block the old one.")
    page.select_option("#id_category", "account")
    page.select_option("#id_priority", "high")
    deadline = timezone.localtime() + timedelta(days=2)
    page.fill("#id_customer_deadline", deadline.strftime("%Y-%m-%dT17:00"))
    page.fill("#id_customer_deadline_reason", "flies to Lisbon on Saturday")
    page.get_by_role("button", name="Open the case").click()
    case = Case.objects.get(customer=ada)
    page.wait_for_url(f"**/cases/{case.pk}/")
    expect(page.locator("h1")).to_contain_text("Replacement card never arrived")
    expect(page.locator(".messages")).to_contain_text(f"Opened case #{case.pk}")
    assert list(case.interactions.all()) == [call] and case.origin_channel == "phone"

    # A reply needs a channel the customer wrote on: only a phone call so far.
    page.fill("#reply_body", "We are sending a new card today by express post.")
    page.get_by_role("button", name="Send reply").click()
    expect(page.locator("#reply .field-error")).to_contain_text("nothing to reply to")
    expect(page.locator("#reply_body")).to_have_value(
        "We are sending a new card today by express post."
    )
    assert not Interaction.objects.filter(customer=ada, direction="outbound").exists()

    # Ada emails; the reply goes out by email, through a real SMTP server.
    with smtp_server() as smtp, readable_broker(tmp_path) as queued:
        source = ChannelSourceFactory(
            kind="email_imap",
            channel=Channel.EMAIL,
            settings={"host": "imap.brand.example", **smtp.settings()},
        )
        raw = make_mail(1, sender="Ada Lovelace <ada@example.com>", subject="My replacement card")
        (event_id,) = inbound_events_store(
            source=source, events=[read_message(raw, uid=1, uidvalidity=1)]
        )
        assert inbound_event_process(event_id=event_id).status == "processed"
        page.select_option("#reply_channel", "email")
        page.get_by_role("button", name="Send reply").click()
        expect(page.locator(".messages")).to_contain_text("Reply queued to send by email")
        reply = Interaction.objects.get(customer=ada, direction="outbound")
        assert ("outbound.interaction_send", [reply.pk]) in queued()
        assert interaction_send(interaction_id=reply.pk) == "sent"  # what the worker does
        assert smtp.messages[0]["To"] == "ada@example.com"
    page.reload()
    history = page.locator("ol.history")
    expect(history).to_contain_text("Replied by email")
    expect(history).to_contain_text("Sent")
    expect(page.locator(".case-head")).to_contain_text("Open")
    expect(page.locator(".clocks")).to_contain_text("Met")  # first response
    shot("case-page")

    # A colleague saves first: the agent's edit is refused, nothing overwritten.
    page.get_by_text("Edit the case").click()
    page.fill("#id_subject", "Replacement card (blocked old one)")
    fresh = Case.objects.get(pk=case.pk)
    case_update(
        actor=colleague, case=fresh, version=fresh.version, subject="Replacement card, urgent"
    )
    page.get_by_role("button", name="Save changes").click()
    stale = page.get_by_role("alert").filter(has_text="Someone else saved this case")
    expect(stale).to_be_visible()
    expect(stale).to_contain_text("Replacement card (blocked old one)")
    expect(page.locator("h1")).to_contain_text("Replacement card, urgent")
    shot("case-stale-version")
    assert Case.objects.get(pk=case.pk).subject == "Replacement card, urgent"

    # The queue: the new case among the others, most urgent first.
    page.get_by_role("link", name="Cases", exact=True).click()
    page.wait_for_url("**/cases/")
    row = page.locator(f"#case-{case.pk}")
    expect(row).to_contain_text("Replacement card, urgent")
    expect(row).to_contain_text("Resolution due in")
    expect(row).to_contain_text("flies to Lisbon on Saturday")
    expect(page.locator("#case-rows tr").first).to_contain_text("Refund not received")
    expect(page.locator("#case-rows tr").last).to_contain_text("Paused")
    shot("cases-queue")

    # The 360 page shows it in the panel, with the customer's deadline.
    page.goto(f"/customers/{ada.pk}/")
    panel = page.get_by_role("region", name="Open cases")
    expect(panel).to_contain_text("Replacement card, urgent")
    expect(panel).to_contain_text("flies to Lisbon on Saturday")
    shot("customer-360-open-cases")

    # Resolve it.
    panel.get_by_role("link", name=f"#{case.pk} Replacement card, urgent").click()
    page.get_by_role("button", name="Resolve").click()
    expect(page.locator(".messages")).to_contain_text(f"Case #{case.pk} resolved")
    expect(page.get_by_role("button", name="Reopen")).to_be_visible()
    expect(page.locator("#reply")).to_have_count(0)
    assert Case.objects.get(pk=case.pk).status == "resolved"
    page.goto(f"/customers/{ada.pk}/")
    expect(page.get_by_role("region", name="Open cases")).to_contain_text("No open cases.")

    # The SLA report.
    page.goto("/cases/")
    page.get_by_role("link", name="SLA report").click()
    expect(page.locator("h1")).to_have_text("SLA report")
    expect(page.locator(".sla-charts svg")).to_have_count(2)
    expect(page.locator(".legend-teams").first).to_contain_text("Operations")
    shot("cases-sla-report")
