import pytest
from playwright.sync_api import expect

from tests.customers.factories import CustomerFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.real_services]


def test_agent_logs_in_finds_a_customer_and_loads_more_in_place(page, login, shot, staff, settings):
    settings.CXPORTAL_PAGE_SIZE = 10
    agent = staff("service")
    CustomerFactory.create_batch(14, lifecycle_stage="active")
    CustomerFactory(
        display_name="Ada Lovelace",
        lifecycle_stage="at_risk",
        accessibility_needs=True,
        accessibility_note="Needs step-free access",
    )
    login(agent.username)
    page.wait_for_url("**/home/service/")
    expect(page.locator("h1")).to_have_text("Customer service")
    expect(page.get_by_text("Customers at risk")).to_be_visible()
    shot("home-service")

    page.get_by_role("link", name="Customers", exact=True).click()
    rows = page.locator("#customer-rows tr:not(.more-row)")
    expect(rows).to_have_count(10)
    page.get_by_role("link", name="Show more").click()  # htmx swaps the next page in
    expect(rows).to_have_count(15)
    assert page.url.endswith("/customers/")  # swapped in place, no navigation
    shot("customers-list")

    page.fill("input[name=q]", "ada")
    page.click("form.filters button:has-text('Search')")
    page.get_by_role("link", name="Ada Lovelace").click()
    expect(page.locator("h1")).to_have_text("Ada Lovelace")
    expect(page.get_by_text("Needs step-free access")).to_be_visible()
    shot("customer-detail")


def test_marketing_never_sees_restricted_fields(page, login, staff):
    customer = CustomerFactory(accessibility_needs=True, accessibility_note="Needs step-free")
    login(staff("marketing").username)
    page.goto(f"/customers/{customer.pk}/")
    expect(page.locator("h1")).to_have_text(customer.display_name)
    expect(page.get_by_text("Needs step-free")).to_have_count(0)
