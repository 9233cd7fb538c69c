"""The Content Security Policy in a real browser: the pages keep working under it and Chromium
reports no violation (an inline script or a foreign asset would show up here)."""

import pytest

from customers.models import Place

pytestmark = pytest.mark.django_db(transaction=True)


def csp_violations(page) -> list[str]:
    """What Chromium reports on the console as refused by the policy, page by page."""
    refused: list[str] = []

    def seen(message) -> None:
        if "Content Security Policy" in message.text:
            refused.append(f"{page.url}: {message.text[:120]}")

    page.on("console", seen)
    return refused


def test_pages_work_under_the_policy_with_no_violation(page, login, staff):
    refused = csp_violations(page)
    Place.objects.create(kind="store", code="LDS", name="Leeds depot")
    Place.objects.create(kind="store", code="YRK", name="York depot")
    staff("operations", username="ops")
    login("ops")
    page.wait_for_url("**/home/operations/")
    for url in ("/", "/cases/", "/care/", "/disruptions/", "/customers/", "/api/docs/"):
        page.goto(url)
        page.wait_for_load_state("networkidle")
    # The disruption form's place picker (a static script now) still filters as you type.
    page.goto("/disruptions/new/")
    page.fill("#place-filter", "leeds")
    assert page.locator("label.opt:has-text('Leeds depot')").is_visible()
    assert page.locator("label.opt:has-text('York depot')").is_hidden()
    page.check("label.opt:has-text('Leeds depot') input")
    assert "Picked: Leeds depot" in page.inner_text("#places-help")
    # Swagger UI draws the API's operations from its script file.
    page.goto("/api/docs/")
    page.wait_for_selector(".opblock", timeout=15_000)
    assert refused == []


def test_admin_works_under_the_policy(page, login, staff):
    refused = csp_violations(page)
    staff("supervisor", username="boss")
    login("boss")
    page.wait_for_url("**/home/supervisor/")
    for url in (
        "/admin/",
        "/admin/customers/customer/",
        "/admin/customers/customer/add/",
        "/admin/cases/slapolicy/",
        "/admin/axes/accessattempt/",
    ):
        answer = page.goto(url)
        assert answer.status == 200, url
        page.wait_for_load_state("networkidle")
    assert refused == []
