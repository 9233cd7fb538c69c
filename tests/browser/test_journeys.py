"""Whole journeys through the portal in a real browser (Debian's Chromium driven by
Playwright), one test per person's path, with a real Celery worker doing the background
work and a real SMTP server receiving what goes out:

- a service agent: search a customer → 360 page → timeline → open a case from an email →
  reply → resolve → the satisfaction survey goes out;
- operations: declare a disruption → the banner shows on every team's pages → the affected
  customers are told → a linked case is opened from the care queue and updated;
- marketing and service: segment → campaign → service review → approve → launch → the
  report with who the contact gate set aside and why;
- a supervisor: merge two duplicate customers in the admin and undo it; change an SLA
  policy and recompute the clocks, seen on the case page and in the audit log.

Only the starting data is made through factories and services; every step after that is a
click or a keystroke. The worker runs on a filesystem broker of the test's own (what beat
would enqueue is enqueued by the test). Screenshots: journey-<who>-<nn>-<step>.png in
$CXPORTAL_SCREENSHOTS (or var/screenshots)."""

import contextlib
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from campaigns.gate import gate_settings
from campaigns.models import Campaign, Delivery
from cases.disruptions import disruption_declare
from cases.models import CareFlag, Case, CaseEvent, Disruption, DisruptionNotice
from cases.tasks import care_scan_task
from customers.channels.email_imap import read_message
from customers.models import CustomerPlace, Interaction, Order, Place
from customers.services import (
    consent_set,
    customer_create,
    inbound_event_process,
    inbound_events_store,
    interaction_log,
)
from customers.services.core import ContactInput
from cxportal.models import Team
from feedback.models import Survey, SurveyInvitation
from feedback.tasks import invitations_send_due_task
from tests.browser.test_care_and_disruptions import network
from tests.campaigns.factories import marketable
from tests.cases.factories import open_case, sla_policy
from tests.customers.test_outbound import mail_source
from tests.support.mail_servers import make_mail
from tests.support.services import filesystem_broker_worker, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.real_services]


# --- helpers ---------------------------------------------------------------------------------
def no_quiet_hours() -> None:
    """Sends and surveys must not wait for the morning, whatever the hour the test runs at
    (the worker reads the gate settings from the database)."""
    gate = gate_settings()
    gate.quiet_hours_start = gate.quiet_hours_end = gate.quiet_hours_start.replace(hour=0)
    gate.save()


class Worker:
    """A real Celery worker (all queues) on a filesystem broker of this test's own."""

    def __init__(self, proc, log: Path) -> None:
        self.proc, self.log = proc, log

    def wait(self, predicate, *, what: str, timeout: float = 60):
        """``wait_for`` that gives up at once, with the worker's log, if the worker died."""

        def done():
            if self.proc.poll() is not None:
                raise AssertionError(f"the worker died: {self.log.read_text()[-3000:]}")
            return predicate()

        try:
            return wait_for(done, timeout=timeout, what=what)
        except AssertionError:
            print(self.log.read_text()[-6000:])  # noqa: T201 (shown with the failure)
            raise


@contextlib.contextmanager
def worker(tmp_path: Path):
    with filesystem_broker_worker(tmp_path) as proc:
        yield Worker(proc, tmp_path / "worker.log")


def person(name: str, email: str, *, feedback: bool = False, **fields):
    customer = customer_create(
        actor=None,
        display_name=name,
        preferred_channel="email",
        contact_points=[ContactInput("email", email)],
        **fields,
    )
    if feedback:
        consent_set(
            actor=None,
            customer=customer,
            channel="email",
            purpose="feedback",
            granted=True,
            source="signup form",
        )
    return customer


def find_customer(page, query: str, name: str) -> None:
    """Type in the search box of the top bar and open the customer from the results (an
    exact email, phone or order number goes straight to the customer)."""
    page.locator("form.top-search input").fill(query)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    if "?q=" in page.url:
        page.locator("main").get_by_role("link", name=name, exact=True).click()
        page.wait_for_url(re.compile(r"/customers/\d+/"))
    expect(page.locator("h1")).to_contain_text(name)


def mails_to(smtp, address: str) -> list:
    return [m for m in smtp.messages if m["To"] == address]


# --- a service agent -------------------------------------------------------------------------
def test_journey_service_agent_from_search_to_survey(page, login, shot, staff, smtp, tmp_path):
    """Search → 360 → timeline → open a case from the customer's email → reply → resolve →
    the NPS survey goes out by email."""
    no_quiet_hours()
    source = mail_source(smtp)
    survey = Survey.objects.create(
        name="After your case",
        kind="nps",
        question="How likely are you to recommend us to a friend?",
        trigger="case_resolved",
        delay_hours=0,
        team=Team.objects.get(slug="service"),
    )
    sla_policy(first_response_minutes=60, resolution_minutes=8 * 60)
    ada = person("Ada Lovelace", "ada@example.com", feedback=True, region="North")
    person("Byron Lovelace", "byron@example.com", region="South")
    person("Grace Hopper", "grace@example.com")
    raw = make_mail(
        1,
        sender="Ada Lovelace <ada@example.com>",
        subject="My replacement card never arrived",
        body="I ordered a replacement card ten days ago. I fly to Lisbon on Saturday.\n",
        date=timezone.now().strftime("%a, %d %b %Y %H:%M:%S +0000"),
    )
    (event_id,) = inbound_events_store(
        source=source, events=[read_message(raw, uid=1, uidvalidity=1)]
    )
    email = inbound_event_process(event_id=event_id).interaction
    agent = staff("service")

    with worker(tmp_path) as work:
        login(agent.username)
        page.wait_for_url("**/home/service/")
        shot("journey-service-01-home")

        # Find her with the search box on the home page.
        page.locator("main").get_by_role("searchbox", name="Find a customer").fill("Lovelace")
        page.keyboard.press("Enter")
        page.wait_for_url("**/customers/?q=Lovelace*")
        expect(page.locator("main")).to_contain_text("Byron Lovelace")
        expect(page.locator("main")).not_to_contain_text("Grace Hopper")
        shot("journey-service-02-search")
        page.get_by_role("link", name="Ada Lovelace").click()
        page.wait_for_url(f"**/customers/{ada.pk}/")

        # The 360 page: who she is, no open case, her email on the timeline.
        expect(page.locator("h1")).to_contain_text("Ada Lovelace")
        expect(page.get_by_role("region", name="Open cases")).to_contain_text("No open cases.")
        entry = page.locator(f"#interaction-{email.pk}")
        expect(entry).to_contain_text("My replacement card never arrived")
        entry.get_by_text("Full message").click()
        expect(entry).to_contain_text("I fly to Lisbon on Saturday")
        shot("journey-service-03-customer-360")

        # Open a case from the email.
        entry.get_by_role("link", name="Open a case").click()
        expect(page.locator("#id_subject")).to_have_value("My replacement card never arrived")
        page.fill("#id_description", "Replacement card lost in the post; she flies Saturday.")
        page.select_option("#id_category", "account")
        page.select_option("#id_priority", "high")
        shot("journey-service-04-new-case")
        page.get_by_role("button", name="Open the case").click()
        case = wait_for(lambda: Case.objects.filter(customer=ada).first(), what="the case")
        page.wait_for_url(f"**/cases/{case.pk}/")
        expect(page.locator(".messages")).to_contain_text(f"Opened case #{case.pk}")
        assert case.origin_channel == "email" and list(case.interactions.all()) == [email]

        # Reply: it goes out by email (the worker sends it through the SMTP server).
        page.fill("#reply_body", "We have blocked the old card and a new one leaves today.")
        page.get_by_role("button", name="Send reply").click()
        expect(page.locator(".messages")).to_contain_text("Reply queued to send by email")
        work.wait(lambda: mails_to(smtp, "ada@example.com"), timeout=60, what="the reply mail")
        reply = Interaction.objects.get(customer=ada, direction="outbound")
        work.wait(
            lambda: Interaction.objects.get(pk=reply.pk).delivery_status == "sent",
            what="the reply to be marked sent",
        )
        (mail,) = mails_to(smtp, "ada@example.com")
        assert "new one leaves today" in mail.get_body().get_content()
        assert mail["In-Reply-To"] == "<msg-1@example.com>"  # threaded under her email
        page.reload()
        history = page.locator("ol.history")
        expect(history).to_contain_text("Replied by email")
        expect(history.locator(".badge.ok")).to_contain_text("Sent")
        expect(page.locator(".clocks")).to_contain_text("Met")  # first response
        shot("journey-service-05-replied")

        # Resolve: the survey is invited by the worker, then sent when it is due (beat's
        # job, enqueued here).
        page.get_by_role("button", name="Resolve").click()
        expect(page.locator(".messages")).to_contain_text(f"Case #{case.pk} resolved")
        expect(page.get_by_role("button", name="Reopen")).to_be_visible()
        shot("journey-service-06-resolved")
        invitation = work.wait(
            lambda: SurveyInvitation.objects.filter(survey=survey, customer=ada).first(),
            timeout=60,
            what="the survey invitation",
        )
        assert invitation.case_id == case.pk and invitation.trigger_key == f"case:{case.pk}"
        invitations_send_due_task.delay()
        work.wait(
            lambda: len(mails_to(smtp, "ada@example.com")) == 2, timeout=60, what="the survey"
        )
        survey_mail = mails_to(smtp, "ada@example.com")[1]
        assert survey_mail["Subject"] == "After your case: how did we do?"
        link = re.search(r"https?://\S+/s/\S+/", survey_mail.get_body().get_content())
        assert link, "the survey mail carries its answer link"
        invitation.refresh_from_db()
        assert invitation.status == "sent" and invitation.channel == "email"

    # What the agent sees: the case gone from her open cases, the survey on her timeline
    # and counted on the surveys page.
    page.get_by_role("link", name="Open the customer page →").click()
    page.wait_for_url(f"**/customers/{ada.pk}/")
    expect(page.get_by_role("region", name="Open cases")).to_contain_text("No open cases.")
    timeline = page.locator("#timeline-entries")
    expect(timeline).to_contain_text("After your case: how did we do?")
    expect(timeline).to_contain_text("Re: My replacement card never arrived")
    shot("journey-service-07-timeline-after")
    page.get_by_role("link", name="Feedback", exact=True).click()
    page.get_by_role("link", name="Surveys", exact=True).click()
    row = page.locator("table.surveys tbody tr").filter(has_text="After your case")
    expect(row.locator("td.num").nth(0)).to_have_text("1")  # invited
    expect(row.locator("td.num").nth(2)).to_have_text("1")  # sent
    shot("journey-service-08-surveys")


# --- operations ------------------------------------------------------------------------------
def test_journey_operations_declare_a_disruption_and_tell_everyone(
    page, login, shot, staff, smtp, tmp_path
):
    """Declare a disruption → the banner on every team's pages → the affected customers are
    told by email → a linked case is opened from the care queue and updated."""
    no_quiet_hours()
    mail_source(smtp)
    sla_policy(first_response_minutes=60, resolution_minutes=8 * 60)
    places = network()
    ops, agent, marketer = staff("operations"), staff("service"), staff("marketing")
    ada = person(
        "Ada Lovelace",
        "ada@example.com",
        accessibility_needs=True,
        accessibility_note="Wheelchair user: needs step-free routes",
    )
    grace = person("Grace Hopper", "grace@example.com")
    alan = person("Alan Turing", "alan@example.com")
    edsger = person("Edsger Dijkstra", "edsger@example.com")
    kay = customer_create(
        actor=None,
        display_name="Alan Kay",
        preferred_channel="sms",
        contact_points=[ContactInput("phone", "+447700900123")],  # no SMS channel set up
    )
    for customer, place in (
        (ada, "Bank"),
        (grace, "line"),
        (alan, "Oval"),
        (kay, "Angel"),
        (edsger, "store"),
    ):
        CustomerPlace.objects.create(customer=customer, place=places[place])
    open_case(actor=agent, customer=ada, subject="Which stations are step-free this week?")

    with worker(tmp_path) as work:
        login(ops.username)
        page.wait_for_url("**/home/operations/")
        page.get_by_role("link", name="Disruptions", exact=True).click()
        page.get_by_role("link", name="Declare a disruption").click()
        page.fill("#id_title", "Lift out of service at Bank")
        page.select_option("#id_kind", "incident")
        page.select_option("#id_severity", "major")
        page.get_by_label("Bank").check()
        page.get_by_label("Central line").check()
        page.select_option("#id_accessibility_impact", "step_free_lost")
        page.fill("#id_accessibility_note", "Use Monument or Angel for step-free access.")
        page.fill("#id_public_message", "The lift at Bank is out of service until 18:00.")
        page.fill("#id_staff_guidance", "Offer a taxi to anyone who needs step-free access.")
        expect(page.get_by_label("Tell the affected customers now")).to_be_checked()
        shot("journey-operations-01-declare")
        page.get_by_role("button", name="Declare").click()
        disruption = wait_for(lambda: Disruption.objects.first(), what="the disruption")
        page.wait_for_url(f"**/disruptions/{disruption.pk}/")
        expect(page.locator(".messages")).to_contain_text("4 customers affected.")
        affected = page.locator("#affected-rows")
        for name in ("Ada Lovelace", "Grace Hopper", "Alan Turing", "Alan Kay"):
            expect(affected).to_contain_text(name)
        expect(affected).not_to_contain_text("Edsger Dijkstra")

        # The worker tells them: three by email, one it cannot reach (no SMS channel).
        update = disruption.updates.get()
        work.wait(
            lambda: DisruptionNotice.objects.filter(update=update).count() == 4,
            timeout=60,
            what="a notice for every affected customer",
        )
        work.wait(lambda: len(smtp.messages) == 3, timeout=60, what="three emails")
        notices = {n.customer_id: n for n in DisruptionNotice.objects.filter(update=update)}
        assert all(notices[c.pk].interaction_id for c in (ada, grace, alan))
        assert notices[kay.pk].interaction_id is None and notices[kay.pk].skipped_reason
        assert sorted(m["To"] for m in smtp.messages) == [
            "ada@example.com",
            "alan@example.com",
            "grace@example.com",
        ]
        assert all(
            "out of service until 18:00" in m.get_body().get_content() for m in smtp.messages
        )
        page.reload()
        expect(page.locator(f"#update-{update.pk}")).to_contain_text("notified 3 / skipped 1")
        expect(page.locator(".callout-access")).to_contain_text("Use Monument or Angel")
        shot("journey-operations-02-disruption")

        # The banner on every page: operations' own ...
        banner = page.locator(".disruption-banner")
        expect(banner).to_contain_text("Lift out of service at Bank")
        page.get_by_role("link", name="Customers", exact=True).click()
        expect(banner).to_contain_text("Step-free access lost at Bank")
        shot("journey-operations-03-banner-customers")

        # The care scan (beat's job, every minute) flags Ada: step-free access lost, and a
        # case open. Operations opens a case about it from the care queue.
        care_scan_task.delay()
        flag = work.wait(
            lambda: CareFlag.objects.filter(kind="disruption_impact", customer=ada).first(),
            timeout=60,
            what="the disruption care flag",
        )
        page.get_by_role("link", name="Care", exact=True).click()
        row = page.locator(f"#flag-{flag.pk}")
        expect(row).to_contain_text("Affected by a disruption")
        expect(row).to_contain_text("Ada Lovelace")
        expect(banner).to_be_visible()
        shot("journey-operations-04-care-queue")
        row.get_by_role("link", name="Work on it").click()
        page.wait_for_url(f"**/care/{flag.pk}/**")
        page.get_by_text("Open a case").click()
        expect(page.locator("#case_subject")).to_have_value(
            "Affected by: Lift out of service at Bank"
        )
        page.fill("#case_description", "Needs a step-free route to work until the lift is fixed.")
        page.get_by_role("button", name="Open the case").click()
        linked = wait_for(
            lambda: Case.objects.filter(disruption=disruption).first(), what="the linked case"
        )
        page.wait_for_url(f"**/cases/{linked.pk}/")
        shot("journey-operations-05-linked-case")

        # Back on the disruption: one linked case; an update goes to it.
        banner.get_by_role("link", name="Lift out of service at Bank").click()
        page.wait_for_url(f"**/disruptions/{disruption.pk}/")
        cases_panel = page.locator("#linked-cases")
        expect(cases_panel).to_contain_text(f"#{linked.pk} Affected by: Lift out of service")
        cases_panel.get_by_text("Update every linked case").click()
        page.fill("#cases_body", "Engineers are on site; the lift should work again by 18:00.")
        page.get_by_role("button", name="Send to 1 active case").click()
        expect(page.locator(".messages")).to_contain_text("Update sent on 1 linked case")
        shot("journey-operations-06-cases-updated")
        work.wait(lambda: len(mails_to(smtp, "ada@example.com")) == 2, timeout=60, what="mail")
        assert "should work again by 18:00" in (
            mails_to(smtp, "ada@example.com")[1].get_body().get_content()
        )
        event = CaseEvent.objects.get(case=linked, kind="reply")
        assert "should work again by 18:00" in event.interaction.body
        page.get_by_role(
            "link", name=f"#{linked.pk} Affected by: Lift out of service at Bank"
        ).click()
        page.wait_for_url(f"**/cases/{linked.pk}/")
        expect(page.locator("ol.history")).to_contain_text("should work again by 18:00")

    # Other teams see it too: service's and marketing's home pages, and a case page.
    page.get_by_role("button", name="Log out").click()
    login(agent.username)
    page.wait_for_url("**/home/service/")
    expect(banner).to_contain_text("Lift out of service at Bank")
    expect(banner).to_contain_text("Step-free access lost")
    shot("journey-operations-07-banner-service-home")
    find_customer(page, "ada@example.com", "Ada Lovelace")
    expect(banner).to_contain_text("Lift out of service at Bank")
    panel = page.get_by_role("region", name="Disruptions affecting this customer")
    expect(panel).to_contain_text("Offer a taxi")
    expect(page.locator("#timeline-entries")).to_contain_text("Lift out of service at Bank")
    shot("journey-operations-08-customer-360")
    page.get_by_role("button", name="Log out").click()
    login(marketer.username)
    page.wait_for_url("**/home/marketing/")
    expect(banner).to_contain_text("Lift out of service at Bank")
    shot("journey-operations-09-banner-marketing-home")


# --- marketing and service -------------------------------------------------------------------
NORTH = [
    "Ada Lovelace",
    "Grace Hopper",
    "Alan Turing",
    "Katherine Johnson",
    "Tim Berners-Lee",
    "Hedy Lamarr",
    "Barbara Liskov",
    "Donald Knuth",
]


def test_journey_marketing_and_service_campaign_to_report(page, login, shot, staff, smtp, tmp_path):
    """Segment → campaign → service review → approve → launch (sent by the worker) → the
    report, with who the contact gate set aside and why."""
    no_quiet_hours()
    mail_source(smtp)
    marketer, reviewer = staff("marketing"), staff("service")
    people = []
    for n, name in enumerate(NORTH):
        customer = marketable(marketer, n, consent=n not in (2, 5))  # two never opted in
        customer.display_name = name
        customer.save(update_fields=["display_name"])
        people.append(customer)
    for n in range(2):
        marketable(marketer, 50 + n, region="South")
    open_case(actor=reviewer, customer=people[1], subject="Charged twice", category="complaint")
    station = Place.objects.create(kind="station", code="BNK", name="Bank")
    CustomerPlace.objects.create(customer=people[4], place=station)
    disruption_declare(
        actor=staff("operations"),
        title="Lift out of service at Bank",
        kind="incident",
        starts_at=timezone.now() - timedelta(hours=1),
        places=[station],
        public_message="The lift at Bank is out of service.",
        notify=False,
    )

    # Marketing builds the segment and a two-variant campaign, and submits it.
    login(marketer.username)
    page.wait_for_url("**/home/marketing/")
    page.get_by_role("link", name="Campaigns", exact=True).click()
    page.get_by_role("link", name="Segments", exact=True).click()
    page.get_by_role("link", name="New segment").click()
    page.fill("#id_name", "Northern customers")
    page.fill("#id_description", "Everyone we serve in the North")
    page.fill("#value_0", "North")
    expect(page.locator("#segment-count")).to_contain_text("8 customers match")
    shot("journey-marketing-01-segment")
    page.get_by_role("button", name="Save the segment").click()
    expect(page.locator(".messages")).to_contain_text("Saved “Northern customers”: 8 customers")
    page.get_by_role("link", name="New campaign for this segment").click()
    page.fill("#id_name", "Winter fibre upgrade")
    page.fill("#id_a_subject", "{first_name}, faster broadband for winter")
    page.fill("#id_a_body", "Hi {first_name}, fibre reached {region}: https://brand.example/fibre")
    page.fill("#id_b_subject", "Fibre has arrived in your street")
    page.fill("#id_b_body", "Hello {name}, upgrade today: https://brand.example/fibre-b")
    page.get_by_role("button", name="Create the draft").click()
    expect(page.locator(".messages")).to_contain_text("Created “Winter fibre upgrade” as a draft")
    campaign = Campaign.objects.get()
    page.get_by_role("button", name="Submit for service review").click()
    expect(page.locator(".messages")).to_contain_text("Sent to the service team for review.")
    expect(page.get_by_role("button", name="Launch now")).to_have_count(0)
    shot("journey-marketing-02-submitted")
    page.get_by_role("button", name="Log out").click()

    # The service team finds it among the campaigns in review, checks it and approves.
    login(reviewer.username)
    page.wait_for_url("**/home/service/")
    page.get_by_role("link", name="Campaigns", exact=True).click()
    page.get_by_role("link", name=re.compile(r"^In review")).click()
    page.locator(f"#campaign-{campaign.pk}").get_by_role(
        "link", name="Winter fibre upgrade"
    ).click()
    page.wait_for_url(f"**/campaigns/{campaign.pk}/")
    review = page.locator("#review")
    expect(review).to_contain_text("Audience: 8 customers")
    expect(review).to_contain_text("Set aside: No consent for this channel")
    expect(page.locator("#campaign-content")).to_contain_text("https://brand.example/fibre")
    page.fill("#review_comment", "Kind and clear. Fine to send.")
    shot("journey-marketing-03-service-review")
    page.get_by_role("button", name="Approve").click()
    expect(page.locator(".messages")).to_contain_text("Approved")
    page.get_by_role("button", name="Log out").click()

    # Marketing launches it; the worker sends the batches through the SMTP server.
    login(marketer.username)
    page.wait_for_url("**/home/marketing/")
    page.get_by_role("link", name="Campaigns", exact=True).click()
    page.locator(f"#campaign-{campaign.pk}").get_by_role(
        "link", name="Winter fibre upgrade"
    ).click()
    expect(page.locator("#reviews")).to_contain_text("Kind and clear. Fine to send.")
    with worker(tmp_path) as work:
        page.get_by_role("button", name="Launch now").click()
        expect(page.locator(".messages")).to_contain_text("Launched: 8 customers in the audience")
        work.wait(
            lambda: Campaign.objects.get(pk=campaign.pk).status == "sent",
            timeout=90,
            what="the campaign to be sent",
        )
        work.wait(lambda: len(smtp.messages) == 4, timeout=60, what="four emails")

    # The report: four sent, four set aside, each with the reason and who.
    page.reload()
    expect(page.locator("main header .status")).to_contain_text("Sent")
    stats = page.locator("#report .stats")
    expect(stats.locator(".stat").nth(0).locator(".n")).to_have_text("8")  # audience
    expect(stats.locator(".stat").nth(1).locator(".n")).to_have_text("4")  # set aside
    expect(stats.locator(".stat").nth(2).locator(".n")).to_have_text("4")  # sent
    expect(page.locator("#reason-no_consent .n")).to_have_text("2")
    expect(page.locator("#reason-no_consent")).to_contain_text("Alan Turing")
    expect(page.locator("#reason-no_consent")).to_contain_text("Hedy Lamarr")
    expect(page.locator("#reason-open_case")).to_contain_text("Grace Hopper")
    expect(page.locator("#reason-disruption")).to_contain_text("Tim Berners-Lee")
    expect(page.locator("#funnel title").first).to_have_text(
        "Sent 4, opened 0, clicked 0, converted 0"
    )
    page.locator("#report").scroll_into_view_if_needed()
    shot("journey-marketing-04-report")

    deliveries = {d.customer_id: d for d in Delivery.objects.filter(campaign=campaign)}
    assert len(deliveries) == 8
    sent = {c.display_name for c in people if deliveries[c.pk].status == "sent"}
    assert sent == {"Ada Lovelace", "Katherine Johnson", "Barbara Liskov", "Donald Knuth"}
    reasons = {
        c.display_name: deliveries[c.pk].reason
        for c in people
        if deliveries[c.pk].status == "suppressed"
    }
    assert reasons == {
        "Grace Hopper": "open_case",
        "Alan Turing": "no_consent",
        "Tim Berners-Lee": "disruption",
        "Hedy Lamarr": "no_consent",
    }
    addresses = {f"mia{n}@example.com" for n in (0, 3, 6, 7)}
    assert {m["To"] for m in smtp.messages} == addresses
    first_names = {"Ada", "Katherine", "Barbara", "Donald"}
    for mail in smtp.messages:  # one of the two variants, personalised
        subject = mail["Subject"]
        assert subject == "Fibre has arrived in your street" or (
            subject.removesuffix(", faster broadband for winter") in first_names
        ), subject


# --- a supervisor ----------------------------------------------------------------------------
def admin_action(page, action: str, *rows: str) -> None:
    """Tick the rows (their text) on an admin change list and run an action on them."""
    for text in rows:
        page.locator("#result_list tbody tr").filter(has_text=text).locator(
            "input.action-select"
        ).check()
    page.select_option("select[name=action]", label=action)
    page.get_by_role("button", name="Run").click()


def test_journey_supervisor_merges_unmerges_and_changes_an_sla_policy(
    page, login, shot, staff, tmp_path
):
    """Merge two duplicate customers in the admin and undo it; change an SLA policy, apply it
    to the open cases, and see the new due time on the case page and the change audited."""
    boss = staff("supervisor")
    ada = person("Ada Lovelace", "ada@example.com", region="North")
    Order.objects.create(
        customer=ada,
        external_id="ORD-1001",
        placed_at=timezone.now() - timedelta(days=3),
        shipping_method="standard",
    )
    duplicate = customer_create(
        actor=None,
        display_name="A. Lovelace",
        contact_points=[ContactInput("phone", "+447700900555")],
    )
    call = interaction_log(
        actor=None,
        customer=duplicate,
        channel="phone",
        direction="inbound",
        summary="Asked about her broadband bill",
    )
    person("Grace Hopper", "grace@example.com")
    policy = sla_policy(
        name="Customer service standard", first_response_minutes=60, resolution_minutes=8 * 60
    )
    case = open_case(
        customer=ada, subject="Router keeps dropping", now=timezone.now() - timedelta(hours=2)
    )

    login(boss.username)
    page.wait_for_url("**/home/supervisor/")
    page.get_by_role("link", name="Admin", exact=True).click()
    shot("journey-supervisor-01-admin")

    # Merge the duplicate into the older record from the customers list.
    page.locator("tr.model-customer th a").click()
    page.fill("#searchbar", "Lovelace")
    page.keyboard.press("Enter")
    expect(page.locator("#result_list tbody tr")).to_have_count(2)
    shot("journey-supervisor-02-duplicates")
    admin_action(
        page,
        "Merge selected customers into the oldest of them",
        "Ada Lovelace",
        "A. Lovelace",
    )
    expect(page.locator(".messagelist")).to_contain_text(
        f"Merged #{duplicate.pk} into #{ada.pk} (Ada Lovelace)."
    )
    shot("journey-supervisor-03-merged")
    duplicate.refresh_from_db()
    assert duplicate.merged_into_id == ada.pk
    assert ada.contact_points.filter(value="+447700900555").exists()
    assert Interaction.objects.get(pk=call.pk).customer_id == ada.pk

    # The staff page: one customer with everything; the old number leads there.
    page.goto(f"/customers/{duplicate.pk}/")
    page.wait_for_url(f"**/customers/{ada.pk}/")
    expect(page.locator(".messages")).to_contain_text(f"Customer #{duplicate.pk}")
    expect(page.get_by_role("region", name="How to reach them")).to_contain_text("+447700900555")
    expect(page.locator("#timeline-entries")).to_contain_text("Asked about her broadband bill")
    shot("journey-supervisor-04-merged-customer")

    # It was the wrong person after all: undo the merge from the merges list.
    page.get_by_role("link", name="Admin", exact=True).click()
    page.locator("tr.model-customermerge th a").click()
    admin_action(page, "Undo merge", "A. Lovelace")
    expect(page.locator(".messagelist")).to_contain_text(f"#{duplicate.pk} is separate again.")
    shot("journey-supervisor-05-unmerged")
    duplicate.refresh_from_db()
    assert duplicate.merged_into_id is None
    assert duplicate.contact_points.filter(value="+447700900555").exists()
    assert not ada.contact_points.filter(value="+447700900555").exists()
    assert Interaction.objects.get(pk=call.pk).customer_id == duplicate.pk
    page.get_by_role("link", name="View site").click()
    find_customer(page, "Lovelace", "A. Lovelace")  # both are found again
    expect(page.locator("h1")).to_contain_text("A. Lovelace")
    expect(page.locator("#timeline-entries")).to_contain_text("Asked about her broadband bill")
    find_customer(page, "Lovelace", "Ada Lovelace")
    expect(page.get_by_role("region", name="How to reach them")).not_to_contain_text("+4477009")

    # The SLA policy: the case is two hours old, its resolution due in about six.
    page.get_by_role("region", name="Open cases").get_by_role(
        "link", name=f"#{case.pk} Router keeps dropping"
    ).click()
    page.wait_for_url(f"**/cases/{case.pk}/")
    resolution = page.locator(".clocks .tile").filter(has_text="Resolution")
    expect(resolution).to_contain_text("Due in 5 h")
    expect(page.locator("#sla-h + .clocks + p")).to_contain_text("resolution within 480 min")
    shot("journey-supervisor-06-case-before")

    # Supervisors tighten it to 90 minutes in the admin...
    page.get_by_role("link", name="Admin", exact=True).click()
    page.locator("tr.model-slapolicy th a").click()
    page.get_by_role("link", name="Customer service standard").click()
    page.fill("#id_first_response_minutes", "30")
    page.fill("#id_resolution_minutes", "90")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text('use the action "Recompute SLA clocks"')
    policy.refresh_from_db()
    assert (policy.first_response_minutes, policy.resolution_minutes) == (30, 90)
    # ... and apply it to the open cases now (the worker recomputes them).
    with worker(tmp_path) as work:
        admin_action(
            page,
            "Recompute SLA clocks of the active cases of these teams",
            "Customer service standard",
        )
        expect(page.locator(".messagelist")).to_contain_text("Recomputing the SLA clocks")
        shot("journey-supervisor-07-policy-recompute")
        work.wait(
            lambda: (
                Case.objects.get(pk=case.pk).resolution_due_at
                == case.created_at + timedelta(minutes=90)
            ),
            what="the case's clocks to be recomputed",
        )

    # The queue and the case page show it overdue now.
    page.get_by_role("link", name="View site").click()
    page.get_by_role("link", name="Cases", exact=True).click()
    row = page.locator(f"#case-{case.pk}")
    expect(row).to_contain_text(
        re.compile(r"First response overdue by 1 h 3\d min")  # it was by 1 h 0 min
    )
    row.get_by_role("link", name="Router keeps dropping").click()
    expect(resolution).to_contain_text(re.compile(r"Overdue by 3\d min"))
    expect(page.locator("#sla-h + .clocks + p")).to_contain_text("resolution within 90 min")
    shot("journey-supervisor-08-case-after")

    # The change is in the audit log, with the values before and after.
    page.get_by_role("link", name="Admin", exact=True).click()
    page.locator("tr.model-auditevent th a").click()
    page.get_by_role("link", name="sla_policy.update").click()
    page.locator("#result_list tbody tr").first.locator("a").first.click()
    expect(page.locator("#content")).to_contain_text("Customer service standard")
    expect(page.locator("#content")).to_contain_text('"resolution_minutes": 480')
    expect(page.locator("#content")).to_contain_text('"resolution_minutes": 90')
    shot("journey-supervisor-09-audit")
