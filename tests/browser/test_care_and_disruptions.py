"""Proactive care and disruptions in a real browser. Operations declares a lift outage at Bank
with its accessibility impact; the banner shows on every staff page (theirs and a service
agent's); the affected customer's 360 page shows the disruption and her care flags.
Operations works a late express order from the care queue: a templated message, first with
no channel to send it on (a clear error, nothing sent), then by email through a real SMTP
server. Screenshots of the care queue, the flag page, the disruption page, the banner and
the 360 panels."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from cases.care import care_scan
from cases.disruptions import disruption_notify_batch
from cases.models import CareFlag, Disruption, MessageTemplate
from customers.models import CustomerPlace, Interaction, Order, Place
from customers.services import contact_point_add
from customers.services.outbound import interaction_send
from tests.cases.factories import open_case, sla_policy
from tests.customers.channel_support import readable_broker
from tests.customers.factories import CustomerFactory
from tests.customers.test_outbound import mail_source

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.real_services]


def network() -> dict[str, Place]:
    line = Place.objects.create(kind="line", code="LN-CENTRAL", name="Central line")
    places = {"line": line}
    for code, name, step_free in (
        ("ST-BANK", "Bank", True),
        ("ST-OVAL", "Oval", False),
        ("ST-ANGEL", "Angel", True),
    ):
        places[name] = Place.objects.create(
            kind="station", code=code, name=name, parent=line, step_free=step_free
        )
    places["store"] = Place.objects.create(kind="store", code="SH-001", name="Leeds Centre")
    return places


def customer(name: str, email: str, place: Place | None = None, **fields):
    person = CustomerFactory(display_name=name, preferred_channel="email", **fields)
    contact_point_add(actor=None, customer=person, kind="email", value=email, is_primary=True)
    if place is not None:
        CustomerPlace.objects.create(customer=person, place=place)
    return person


def late_order(person, external_id: str, hours_late: int) -> Order:
    return Order.objects.create(
        customer=person,
        external_id=external_id,
        placed_at=timezone.now() - timedelta(days=2),
        shipping_method="express",
        promised_by=timezone.now() - timedelta(hours=hours_late),
    )


def test_declare_a_disruption_and_work_the_care_queue(page, login, shot, staff, smtp, tmp_path):
    places = network()
    ops = staff("operations")
    agent = staff("service")
    ada = customer(
        "Ada Lovelace",
        "ada@example.com",
        places["Bank"],
        accessibility_needs=True,
        accessibility_note="Wheelchair user: needs step-free routes",
    )
    customer("Grace Hopper", "grace@example.com", places["line"])
    customer("Alan Turing", "alan@example.com", places["Oval"])
    customer("Edsger Dijkstra", "edsger@example.com", places["store"])
    late_order(ada, "EXP-1042", hours_late=3)
    for n, name in enumerate(("Katherine Johnson", "Tim Berners-Lee", "Margaret Hamilton")):
        late_order(customer(name, f"c{n}@example.com"), f"EXP-20{n}", hours_late=n + 1)
    sla_policy(first_response_minutes=30)
    open_case(
        customer=ada,
        subject="Can't reach the platform at Bank",
        now=timezone.now() - timedelta(hours=2),
    )
    MessageTemplate.objects.create(
        name="Late express order",
        kind="late_order",
        subject="Your order {order} is running late",
        body=(
            "Hello {first_name},\n\nYour express order {order} should have arrived by "
            "{promised_by}. We are sorry: it is on its way and we will tell you the new time "
            "today.\n\nThe customer care team"
        ),
    )
    care_scan(full=True)

    # Operations declares the outage, with its accessibility impact.
    login(ops.username)
    page.wait_for_url("**/home/operations/")
    page.get_by_role("link", name="Disruptions", exact=True).click()
    page.get_by_role("link", name="Declare a disruption").click()
    page.fill("#id_title", "Lift out of service at Bank")
    page.select_option("#id_kind", "incident")
    page.select_option("#id_severity", "major")
    page.fill("#place-filter", "bank")
    expect(page.get_by_label("Oval")).to_be_hidden()
    page.get_by_label("Bank").check()
    page.fill("#place-filter", "")
    page.get_by_label("Central line").check()
    expect(page.locator("#places-help")).to_contain_text("Picked: Bank, Central line")
    page.select_option("#id_accessibility_impact", "step_free_lost")
    page.fill("#id_accessibility_note", "Use Monument or Angel for step-free access.")
    page.fill("#id_public_message", "The lift at Bank is out of service until further notice.")
    page.fill(
        "#id_staff_guidance",
        "Offer a taxi to anyone who needs step-free access. Check their journey first.",
    )
    page.get_by_label("Tell the affected customers now").uncheck()  # no channel to tell them yet
    shot("disruption-declare")
    page.get_by_role("button", name="Declare").click()
    disruption = Disruption.objects.get()
    page.wait_for_url(f"**/disruptions/{disruption.pk}/")
    expect(page.locator(".messages")).to_contain_text("3 customers affected.")
    callout = page.locator(".callout-access")
    expect(callout).to_contain_text("Step-free access lost at Bank, Central line")
    expect(callout).to_contain_text("Use Monument or Angel")
    affected = page.locator("#affected-rows")
    expect(affected).to_contain_text("Ada Lovelace")
    expect(affected).to_contain_text("Alan Turing")
    expect(affected).not_to_contain_text("Edsger Dijkstra")

    # Every staff page shows it, and what it takes away from whom.
    page.get_by_role("link", name="Customers", exact=True).click()
    banner = page.locator(".disruption-banner")
    expect(banner).to_contain_text("Step-free access lost at Bank and 1 more")
    expect(banner.get_by_role("link", name="Lift out of service at Bank")).to_be_visible()
    shot("disruption-banner-customers")

    # The care queue: a new flag for Ada (accessibility needs, step-free access lost).
    care_scan()
    page.get_by_role("link", name="Care", exact=True).click()
    expect(page.locator("h1")).to_contain_text("Care queue · Operations")
    rows = page.locator("#flag-rows tr")
    expect(rows).to_have_count(5)
    expect(rows.first).to_contain_text("Affected by a disruption")
    expect(rows.first).to_contain_text("Step-free access lost")
    flag = CareFlag.objects.get(kind="late_order", order__external_id="EXP-1042")
    row = page.locator(f"#flag-{flag.pk}")
    expect(row).to_contain_text("Order EXP-1042, promised")
    row.get_by_role("button", name="Acknowledge").click()
    expect(row).to_contain_text(re.compile(rf"Acknowledged\s+by {ops.username}"))
    shot("care-queue")

    # Work the late order: the message comes filled in from the template.
    row.get_by_role("link", name="Work on it").click()
    page.wait_for_url(f"**/care/{flag.pk}/**")
    expect(page.locator("#message_subject")).to_have_value("Your order EXP-1042 is running late")
    expect(page.locator("#message_body")).to_have_value(re.compile(r"^Hello Ada,"))
    page.fill(
        "#message_body",
        "Hello Ada,\n\nYour order EXP-1042 is a few hours late; it arrives tomorrow morning.",
    )
    # No channel is set up to send email yet: a clear error, nothing sent, the text kept.
    page.get_by_role("button", name="Send the message").click()
    expect(page.locator("#message .field-error")).to_contain_text("no channel is set up to send")
    expect(page.locator("#message_body")).to_have_value(re.compile("arrives tomorrow morning"))
    shot("care-flag-no-channel")
    assert CareFlag.objects.get(pk=flag.pk).status == "acknowledged"
    assert not Interaction.objects.filter(customer=ada, direction="outbound").exists()
    mail_source(smtp)  # a supervisor sets up the email channel
    with readable_broker(tmp_path / "message") as queued:
        page.get_by_role("button", name="Send the message").click()
        expect(page.locator(".messages")).to_contain_text("queued to send by email")
        sent = Interaction.objects.get(customer=ada, summary="Your order EXP-1042 is running late")
        assert queued() == [("outbound.interaction_send", [sent.pk])]
    assert interaction_send(interaction_id=sent.pk) == "sent"  # what the worker does
    assert [m["To"] for m in smtp.messages] == ["ada@example.com"]
    expect(page.locator(f"#flag-{flag.pk}")).to_have_count(0)
    assert CareFlag.objects.get(pk=flag.pk).action == "message"

    # An update on the disruption, told to the affected customers this time.
    page.goto(f"/disruptions/{disruption.pk}/")
    page.get_by_text("Post an update").click()
    page.fill("#update_public_message", "Engineers are on site; the lift should work by 18:00.")
    page.select_option("#update_severity", "minor")
    with readable_broker(tmp_path / "update") as queued:
        page.get_by_role("button", name="Post the update").click()
        expect(page.locator(".messages")).to_contain_text("Telling the affected customers.")
        update = disruption.updates.order_by("-id").first()
        assert queued() == [("outbound.disruption_notify", [update.pk])]
    disruption_notify_batch(update_id=update.pk, limit=2)  # what the worker does, in batches
    page.reload()
    expect(page.locator(f"#update-{update.pk}")).to_contain_text("notified 2 / skipped 0")
    expect(page.locator(f"#update-{update.pk}")).to_contain_text("sending")
    disruption_notify_batch(update_id=update.pk, limit=2)
    page.reload()
    expect(page.locator(f"#update-{update.pk}")).to_contain_text("notified 3 / skipped 0")
    expect(page.locator(".place-chart svg")).to_be_visible()
    shot("disruption-page")
    page.get_by_role("link", name="Disruptions", exact=True).click()
    expect(page.locator(f"#disruption-{disruption.pk}")).to_contain_text("Step-free access lost")
    shot("disruptions-list")

    # A service agent sees the banner too, and everything on Ada's 360 page.
    page.get_by_role("button", name="Log out").click()
    login(agent.username)
    page.wait_for_url("**/home/service/")
    expect(page.locator(".disruption-banner")).to_contain_text("Step-free access lost")
    expect(page.locator("#home-care")).to_contain_text("SLA breached")
    shot("service-home-banner")
    page.goto(f"/customers/{ada.pk}/")
    disruptions = page.get_by_role("region", name="Disruptions affecting this customer")
    expect(disruptions).to_contain_text("Lift out of service at Bank")
    expect(disruptions).to_contain_text("Step-free access lost")
    expect(disruptions).to_contain_text("Offer a taxi")
    flags = page.get_by_role("region", name="Care flags")
    expect(flags).to_contain_text("Affected by a disruption")
    expect(flags).to_contain_text("SLA breached")
    expect(flags).not_to_contain_text("Late express order")  # actioned
    shot("customer-360-care-panels")
