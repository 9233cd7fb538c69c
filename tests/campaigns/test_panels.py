"""What campaigns adds to the customer 360 page: "Before you call" — the contact gate's
answer for marketing on the customer's preferred channel as a caution, and their open
opportunities — for sales and anyone who may read opportunities. Constant queries."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns.panels import before_you_call_panel, cautions
from campaigns.services import opportunity_save
from cases.disruptions import disruption_declare
from customers import panels
from customers.models import CustomerPlace, Place
from tests.campaigns.factories import marketable
from tests.cases.factories import open_case

pytestmark = pytest.mark.django_db

#: The panel alone: the gate's settings, the gate (one query for every reason), the
#: customer's open opportunities.
PANEL_QUERIES = 3


@pytest.fixture
def seller(staff):
    return staff("sales")


@pytest.fixture
def seller_client(client, seller):
    client.force_login(seller)
    return client


def panel_html(html: str) -> str:
    match = re.search(
        r'<section class="panel slot" aria-label="Before you call">.*?</section>', html, re.S
    )
    return match.group(0) if match else ""


def test_ok_to_contact_with_the_open_opportunities(seller_client, seller):
    ada = marketable(seller, 1)
    opportunity_save(actor=seller, customer=ada, title="Fibre 500", stage="offer", value="1200")
    opportunity_save(actor=seller, customer=ada, title="Closed deal", stage="won")
    panel = panel_html(seller_client.get(f"/customers/{ada.pk}/").content.decode())
    assert "OK to contact" in panel and "for marketing by email" in panel
    assert "Fibre 500" in panel and "Closed deal" not in panel
    assert f"/campaigns/pipeline/new/?customer={ada.pk}" in panel


def test_an_open_complaint_says_dont_pitch(seller_client, seller, staff):
    ada = marketable(seller, 1)
    open_case(actor=staff("service"), customer=ada, category="complaint")
    panel = panel_html(seller_client.get(f"/customers/{ada.pk}/").content.decode())
    assert "OK to contact" not in panel
    assert "Open complaint: don&#x27;t pitch" in panel
    assert panel.count('<li class="caution') == 1  # open case and complaint read as one


def test_a_disruption_and_no_consent_are_cautions(seller_client, seller, staff):
    ada = marketable(seller, 1, consent=False)
    station = Place.objects.create(kind="station", code="S-1", name="Bank")
    CustomerPlace.objects.create(customer=ada, place=station)
    disruption_declare(
        actor=staff("operations"),
        title="Lift out",
        kind="incident",
        starts_at=timezone.now() - timedelta(hours=1),
        places=[station],
        public_message="Lift out at Bank",
        notify=False,
    )
    panel = panel_html(seller_client.get(f"/customers/{ada.pk}/").content.decode())
    assert "Affected by a disruption" in panel
    assert "No marketing consent by email" in panel
    # The most serious first.
    assert panel.index("Affected by a disruption") < panel.index("No marketing consent")


def test_a_customer_who_prefers_the_phone_is_asked_about_by_phone(seller):
    ada = marketable(seller, 1, consent=False)
    ada.preferred_channel = "phone"
    ada.save(update_fields=["preferred_channel"])
    request = type("R", (), {"user": seller})()
    _title, _template, context = before_you_call_panel(request, ada)
    assert context["channel"] == "phone"
    codes = [c["code"] for c in context["cautions"]]
    assert codes == ["no_consent", "no_address"]  # no phone number on file


def test_cautions_in_words():
    words = {"open_case": "Has an open case.", "complaint": "Complained."}
    [one] = cautions(list(words.items()), "email")
    assert one["text"] == "Open complaint: don't pitch" and one["severity"] == "bad"
    assert cautions([("pressure", "Enough.")], "sms")[0]["text"] == "Contacted enough this week"


def test_who_sees_the_panel(client, staff):
    ada = marketable(staff("sales"), 1)
    for team, shown in (("sales", True), ("supervisor", True), ("service", False)):
        client.force_login(staff(team))
        html = client.get(f"/customers/{ada.pk}/").content.decode()
        assert bool(panel_html(html)) is shown, team
    marketing = staff("marketing")
    client.force_login(marketing)
    html = client.get(f"/customers/{ada.pk}/").content.decode()
    assert panel_html(html) == "" and "Add an opportunity" not in html


def test_the_panel_alone_costs_the_same_with_1_and_6_opportunities(
    rf, seller, django_assert_num_queries
):
    small, big = marketable(seller, 1), marketable(seller, 2)
    opportunity_save(actor=seller, customer=small, title="One")
    for i in range(6):
        opportunity_save(actor=seller, customer=big, title=f"Deal {i}", value=i * 100)
    open_case(actor=seller, customer=big, category="complaint")
    request = rf.get("/")
    request.user = seller
    seller.has_perm("campaigns.view_opportunity")  # permissions cached, as on a page
    for customer in (small, big):
        with django_assert_num_queries(PANEL_QUERIES):
            result = before_you_call_panel(request, customer)
        assert result[0] == "Before you call"


def test_the_360_page_costs_the_same_with_1_and_6_opportunities(seller_client, seller, monkeypatch):
    monkeypatch.setattr(panels, "_providers", [])  # this app's panel only
    panels.register_customer_panel(before_you_call_panel)

    def count(customer) -> int:
        seller_client.get(f"/customers/{customer.pk}/")  # warm what every page caches
        with CaptureQueriesContext(connection) as ctx:
            assert seller_client.get(f"/customers/{customer.pk}/").status_code == 200
        return len(ctx)

    small, big = marketable(seller, 1), marketable(seller, 2)
    opportunity_save(actor=seller, customer=small, title="One")
    for i in range(6):
        opportunity_save(actor=seller, customer=big, title=f"Deal {i}")
    assert count(small) == count(big)
