"""The customer 360 page in a real browser: search, timeline filters, Show more, logging."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from customers.models import CustomerPlace, Holding, Interaction, Order, Place
from customers.services import consent_set, contact_point_add
from tests.customers.factories import CustomerFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.real_services]

SUMMARIES = {
    "email": (
        "Asked for an invoice copy",
        "Hello,\nCould you send me the invoice for my last order?\nThanks, Ada",
    ),
    "phone": ("Called about a late express order", "Customer was calm; promised an update by 5pm."),
    "sms": ("Delivery slot confirmed", ""),
    "store": ("Returned a kettle at King's Road", "Refunded to card. Receipt 4471."),
    "app": ("Changed notification settings", ""),
    "social": ("Thanked us on Twitter", "@brand thanks for sorting my order so fast!"),
    "web": ("Started a return online", ""),
}


def customer_with_history():
    now = timezone.now()
    ada = CustomerFactory(
        display_name="Ada Lovelace",
        lifecycle_stage="at_risk",
        preferred_channel="phone",
        accessibility_needs=True,
        accessibility_note="Wheelchair user: needs step-free routes",
    )
    contact_point_add(
        actor=None, customer=ada, kind="email", value="ada@example.com", is_primary=True
    )
    contact_point_add(actor=None, customer=ada, kind="phone", value="+447700900123")
    contact_point_add(actor=None, customer=ada, kind="social", value="@ada_l", network="twitter")
    consent_set(
        actor=None, customer=ada, channel="email", purpose="service", granted=True, source="web"
    )
    consent_set(
        actor=None, customer=ada, channel="email", purpose="marketing", granted=True, source="web"
    )
    consent_set(
        actor=None, customer=ada, channel="sms", purpose="marketing", granted=False, source="app"
    )
    Order.objects.create(
        customer=ada,
        external_id="EX-1001",
        placed_at=now - timedelta(days=2),
        shipping_method="express",
        promised_by=now - timedelta(hours=5),
        total=Decimal("49.00"),
    )
    Order.objects.create(
        customer=ada,
        external_id="ST-0999",
        placed_at=now - timedelta(days=20),
        shipping_method="standard",
        status="delivered",
        promised_by=now - timedelta(days=15),
        delivered_at=now - timedelta(days=16),
    )
    today = timezone.localdate()
    Holding.objects.create(
        customer=ada, name="Kettle Pro 2", warranty_ends_on=today + timedelta(days=12)
    )
    Holding.objects.create(
        customer=ada, name="Home broadband", kind="plan", renews_on=today + timedelta(days=200)
    )
    station = Place.objects.create(kind="station", code="KGX", name="King's Cross", step_free=False)
    CustomerPlace.objects.create(customer=ada, place=station, relation="home")
    channels = ["phone", "email", "phone", "sms", "store", "phone", "app", "social", "web"]
    Interaction.objects.bulk_create(
        Interaction(
            customer=ada,
            channel=channels[i % len(channels)],
            direction=["inbound", "outbound"][i % 2],
            occurred_at=now - timedelta(hours=5 * i + 1),
            summary=f"{SUMMARIES[channels[i % len(channels)]][0]} (#{i})",
            body=SUMMARIES[channels[i % len(channels)]][1],
        )
        for i in range(70)
    )
    return ada


def test_agent_searches_opens_360_filters_pages_and_logs_a_call(page, login, shot, staff):
    ada = customer_with_history()
    CustomerFactory.create_batch(6)
    phone_total = Interaction.objects.filter(customer=ada, channel="phone").count()
    assert phone_total > 20
    agent = staff("service")
    login(agent.username)
    page.wait_for_url("**/home/service/")

    page.goto("/customers/")
    shot("customers-list-before-search")
    search = page.get_by_role("searchbox", name="Find a customer").first
    search.fill("ADA@example.com")
    search.press("Enter")
    page.wait_for_url(f"**/customers/{ada.pk}/")
    expect(page.locator("h1")).to_have_text("Ada Lovelace")
    expect(page.get_by_text("Wheelchair user: needs step-free routes")).to_be_visible()
    expect(page.locator("ul.rows li.late")).to_contain_text("EX-1001")
    expect(page.locator("ul.rows li.soon")).to_contain_text("Kettle Pro 2")
    entries = page.locator("#timeline-entries li.entry")
    expect(entries).to_have_count(20)
    shot("customer-360-service")

    # Filter by channel, from the keyboard: only the timeline is swapped, the URL follows.
    page.locator("#chip-phone").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/customers/{ada.pk}/?channel=phone")
    expect(page.locator("#chip-phone")).to_have_attribute("aria-current", "true")
    expect(entries).to_have_count(20)
    expect(page.locator("#timeline-entries li.entry:not(.ch-phone)")).to_have_count(0)
    expect(page.locator("#chip-phone")).to_be_focused()  # focus survives the swap

    page.get_by_role("link", name="Show more").click()
    expect(entries).to_have_count(phone_total)
    expect(page.get_by_role("link", name="Show more")).to_have_count(0)
    assert page.url.endswith(f"/customers/{ada.pk}/?channel=phone")  # in place

    # Expand a body.
    first = entries.first
    first.locator("summary").click()
    expect(first.locator(".body-text")).to_be_visible()

    # Log a phone call: it appears at the top, the form is ready for the next one.
    page.get_by_text("Log an interaction").click()
    page.select_option("#id_channel", "phone")
    page.fill("#id_summary", "Chased the late express order EX-1001")
    page.fill("#id_body", "Courier says tomorrow before noon. Called her back.")
    page.get_by_role("button", name="Add to timeline").click()
    expect(entries.first).to_contain_text("Chased the late express order EX-1001")
    expect(entries.first).to_contain_text(agent.username)
    expect(page.locator("#id_summary")).to_have_value("")
    expect(page.get_by_role("status")).to_contain_text("Logged")
    assert Interaction.objects.filter(customer=ada, summary__startswith="Chased").count() == 1

    # A mistake is explained in plain words, nothing is written.
    page.get_by_role("button", name="Add to timeline").click()  # summary left empty
    expect(page.locator("#id_summary:invalid")).to_have_count(1)  # the browser stops it first
    page.locator("#id_summary").evaluate("el => el.removeAttribute('required')")
    page.get_by_role("button", name="Add to timeline").click()
    expect(page.get_by_text("Write a short summary of what happened.")).to_be_visible()
    shot("customer-360-logged")

    # Back to all channels.
    page.locator("#chip-all").click()
    page.wait_for_url(f"**/customers/{ada.pk}/")
    expect(entries).to_have_count(20)
    expect(entries.first).to_contain_text("Chased the late express order")


def test_marketing_sees_the_360_page_without_restricted_fields_or_the_log_form(
    page, login, shot, staff
):
    ada = customer_with_history()
    login(staff("marketing").username)
    page.wait_for_url("**/home/marketing/")
    page.goto(f"/customers/{ada.pk}/")
    expect(page.locator("h1")).to_have_text("Ada Lovelace")
    expect(page.locator("#timeline-entries li.entry")).to_have_count(20)
    expect(page.get_by_text("step-free routes")).to_have_count(0)
    expect(page.get_by_text("Accessibility")).to_have_count(0)
    expect(page.get_by_text("Log an interaction")).to_have_count(0)
    shot("customer-360-marketing")
