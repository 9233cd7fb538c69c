"""Campaigns in a real browser: marketing builds a segment (watching the live count, and a
problem shown next to its row), creates an A/B campaign and submits it; a service agent
reviews the content and the audience and approves; marketing launches; the send batches
run in-process (through a real SMTP channel); the report shows who the contact gate set
aside and why, the funnel and the variants. Sales then sees the pipeline and, on a
complaining customer's page, "Before you call" saying not to pitch. Screenshots of the
segment builder, the review panel, the report, the pipeline and the caution panel."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from campaigns.gate import gate_settings
from campaigns.models import Campaign, Delivery, Segment
from campaigns.services import (
    campaign_send_batch,
    delivery_clicked,
    delivery_opened,
    opportunity_save,
    track_token,
)
from cases.disruptions import disruption_declare
from customers.models import CustomerPlace, Place
from tests.campaigns.factories import marketable
from tests.cases.factories import open_case
from tests.customers.test_outbound import mail_source

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.real_services]

PEOPLE = [
    "Ada Lovelace",
    "Grace Hopper",
    "Alan Turing",
    "Katherine Johnson",
    "Tim Berners-Lee",
    "Hedy Lamarr",
    "Edsger Dijkstra",
    "Barbara Liskov",
    "Donald Knuth",
    "Frances Allen",
    "Claude Shannon",
    "Radia Perlman",
]


def audience(actor, staff):
    """Northern customers: most may be marketed to; three never consented, one has an
    open complaint, one is hit by a lift outage. Two southerners are not in the segment."""
    people = []
    for n, name in enumerate(PEOPLE):
        customer = marketable(actor, n, consent=n not in (3, 6, 9))
        customer.display_name = name
        customer.save(update_fields=["display_name"])
        people.append(customer)
    for n in range(2):
        marketable(actor, 50 + n, region="South")
    open_case(
        actor=staff("service"),
        customer=people[1],
        subject="Charged twice for March",
        category="complaint",
    )
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
    return people


def settled(page) -> None:
    """htmx has swapped and wired up what it fetched (a person is never this quick)."""
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling, "
        ".htmx-added')"
    )


def pipeline(seller, people):
    deals = [
        (0, "Fibre 500 upgrade", "offer", 1200),
        (2, "Family mobile plan", "lead", 640),
        (5, "TV sports add-on", "prospect", 180),
        (7, "Business broadband", "offer", 2400),
        (8, "Smart home bundle", "won", 900),
        (10, "Second line", "lost", 240),
        (1, "Fibre 1000 upgrade", "lead", 1500),
    ]
    for index, title, stage, value in deals:
        opportunity_save(
            actor=seller,
            customer=people[index],
            title=title,
            stage=stage,
            value=value,
            owner=seller,
        )


def test_a_campaign_from_segment_to_report_and_the_sales_caution(page, login, shot, staff, smtp):
    settings = gate_settings()
    settings.quiet_hours_start = settings.quiet_hours_end = (
        timezone.now().time().replace(hour=0, minute=0, second=0, microsecond=0)
    )  # whatever the hour the test runs at
    settings.save()
    mail_source(smtp)
    marketer = staff("marketing")
    reviewer = staff("service")
    seller = staff("sales")
    people = audience(marketer, staff)

    # Marketing builds the segment: the count follows each change.
    login(marketer.username)
    page.wait_for_url("**/home/marketing/")
    page.get_by_role("link", name="Campaigns", exact=True).click()
    page.get_by_role("link", name="Segments", exact=True).click()
    page.get_by_role("link", name="New segment").click()
    page.fill("#id_name", "Northern actives")
    page.fill("#id_description", "Active customers in the North who opted in to email")
    page.fill("#value_0", "North")
    expect(page.locator("#segment-count")).to_contain_text("12 customers match")
    page.get_by_role("button", name="+ Add a condition").click()
    expect(page.locator(".rule-row")).to_have_count(2)
    settled(page)
    page.select_option("#field_1", "lifecycle_stage")
    expect(page.locator("select#value_1")).to_be_visible()  # the row became a choice
    settled(page)
    page.select_option("#value_1", "active")
    expect(page.locator("#segment-count")).to_contain_text("12 customers match")
    page.get_by_role("button", name="+ Add a condition").click()
    expect(page.locator(".rule-row")).to_have_count(3)
    settled(page)
    page.select_option("#field_2", "orders")
    expect(page.locator("input[type=number]#value_2")).to_be_visible()
    settled(page)
    page.locator("input[type=number]#value_2").fill("-3")
    expect(page.locator("#rule-errors-2")).to_contain_text("A whole number from 0 to 36500.")
    expect(page.locator("#segment-count")).to_contain_text("Fix the rules")
    settled(page)
    page.get_by_role("button", name="Remove condition 3").click()
    expect(page.locator(".rule-row")).to_have_count(2)
    settled(page)
    page.get_by_role("button", name="+ Add a condition").click()
    expect(page.locator(".rule-row")).to_have_count(3)
    settled(page)
    page.select_option("#field_2", "consent")
    expect(page.locator("#segment-count")).to_contain_text("Fill in condition 3")
    settled(page)
    page.select_option("select#value_2", "email:marketing")
    expect(page.locator("#segment-count")).to_contain_text("9 customers match")
    page.locator("#segment-count").scroll_into_view_if_needed()
    shot("campaigns-segment-builder")
    page.get_by_role("button", name="Save the segment").click()
    expect(page.locator(".messages")).to_contain_text("Saved “Northern actives”: 9 customers now.")
    segment = Segment.objects.get()
    assert [r["field"] for r in segment.rules["all"]] == ["region", "lifecycle_stage", "consent"]

    # The segment above opted in: a second, looser one for the campaign, so the gate has
    # someone to set aside for want of consent.
    segment.rules = {"all": [{"field": "region", "op": "eq", "value": "North"}]}
    segment.save(update_fields=["rules"])

    # A campaign with two variants, submitted for review.
    page.get_by_role("link", name="New campaign for this segment").click()
    page.fill("#id_name", "Autumn fibre upgrade")
    page.fill("#id_a_subject", "{first_name}, faster broadband is here")
    page.fill("#id_a_body", "Hi {first_name}, fibre reached {region}: https://brand.example/fibre")
    page.fill("#id_b_subject", "Fibre has arrived in your street")
    page.fill("#id_b_body", "Hello {name}, upgrade today: https://brand.example/fibre-b")
    shot("campaigns-new")
    page.get_by_role("button", name="Create the draft").click()
    expect(page.locator(".messages")).to_contain_text("Created “Autumn fibre upgrade” as a draft")
    campaign = Campaign.objects.get()
    page.get_by_role("button", name="Submit for service review").click()
    expect(page.locator(".messages")).to_contain_text("Sent to the service team for review.")
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)
    page.context.clear_cookies()

    # The service team reviews the content and the audience, and approves.
    login(reviewer.username)
    page.wait_for_url("**/home/service/")
    page.goto(f"/campaigns/{campaign.pk}/")
    review = page.locator("#review")
    expect(review).to_contain_text("Audience: 12 customers")
    expect(review.locator("table.sample tbody tr")).to_have_count(10)
    expect(review).to_contain_text("Set aside: No consent for this channel")
    expect(page.locator("#campaign-content")).to_contain_text("https://brand.example/fibre")
    expect(page.locator("#campaign-content .preview").first).to_contain_text("Hi Radia, fibre")
    page.fill("#review_comment", "Clear and kind. Fine to send.")
    review.scroll_into_view_if_needed()
    shot("campaigns-review-panel")
    page.get_by_role("button", name="Approve").click()
    expect(page.locator(".messages")).to_contain_text("Approved")
    page.context.clear_cookies()

    # Marketing launches it; the send batches run here, in-process.
    login(marketer.username)
    page.wait_for_url("**/home/marketing/")
    page.goto(f"/campaigns/{campaign.pk}/")
    page.get_by_role("button", name="Launch now").click()
    expect(page.locator(".messages")).to_contain_text("Launched: 12 customers in the audience")
    while campaign_send_batch(campaign_id=campaign.pk, limit=5):
        pass
    sent = list(Delivery.objects.filter(campaign=campaign, status="sent").order_by("id"))
    assert len(sent) == 7
    for delivery in sent[:5]:
        delivery_opened(token=track_token(delivery.pk))
    for delivery in sent[:2]:
        delivery_clicked(token=track_token(delivery.pk, "https://brand.example/fibre"))
    page.reload()
    expect(page.locator("main header .status")).to_contain_text("Sent")
    expect(page.locator("#reason-no_consent")).to_contain_text("3")
    expect(page.locator("#reason-no_consent a")).to_have_count(3)
    expect(page.locator("#reason-open_case")).to_contain_text("Grace Hopper")
    expect(page.locator("#reason-disruption")).to_contain_text("Tim Berners-Lee")
    expect(page.locator("#funnel svg")).to_have_attribute("aria-labelledby", "funnel-title")
    expect(page.locator("#funnel title").first).to_have_text(
        "Sent 7, opened 5, clicked 2, converted 0"
    )
    expect(page.locator("#variants")).to_contain_text("Not enough data")
    page.locator("#report").scroll_into_view_if_needed()
    shot("campaigns-report")
    page.get_by_role("link", name="← Campaigns").click()
    expect(page.locator(f"#campaign-{campaign.pk}")).to_contain_text("Sent")
    shot("campaigns-list")
    page.context.clear_cookies()

    # Sales: the pipeline, and a caution before calling a customer who complained.
    pipeline(seller, people)
    login(seller.username)
    page.wait_for_url("**/home/sales/")
    expect(page.locator("#home-opportunities")).to_contain_text("Business broadband")
    shot("campaigns-sales-home")
    page.get_by_role("link", name="Sales", exact=True).click()
    expect(page.locator("#stage-offer")).to_contain_text("2")
    expect(page.locator("#stage-offer")).to_contain_text("3,600")
    expect(page.locator("#opportunity-rows")).to_contain_text("Fibre 500 upgrade")
    expect(page.locator("#opportunity-rows")).not_to_contain_text("Smart home bundle")
    shot("campaigns-pipeline")

    page.goto(f"/customers/{people[1].pk}/")
    panel = page.get_by_role("region", name="Before you call")
    expect(panel).to_contain_text("Open complaint: don't pitch")
    expect(panel).to_contain_text("Fibre 1000 upgrade")
    shot("campaigns-before-you-call")
    panel.get_by_role("link", name="Add an opportunity").click()
    page.fill("#id_title", "Loyalty discount, after the refund")
    page.select_option("#id_stage", "prospect")
    page.get_by_role("button", name="Add the opportunity").click()
    page.wait_for_url(f"**/customers/{people[1].pk}/")
    expect(panel).to_contain_text("Loyalty discount, after the refund")

    page.goto(f"/customers/{people[0].pk}/")
    expect(page.get_by_role("region", name="Before you call")).to_contain_text("OK to contact")
