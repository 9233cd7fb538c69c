"""What cases adds to the customer 360 page: the "Open cases" panel and "Open a case" on each
timeline entry (through ``customers.panels``; customers never imports cases)."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cases.panels import open_case_action, open_cases_panel
from cases.services import case_resolve
from customers import panels
from customers.panels import TimelineAction
from customers.services import interaction_log
from tests.cases.factories import open_case, sla_policy
from tests.customers.factories import CustomerFactory
from tests.customers.test_views import PAGE_QUERIES as CUSTOMER_PAGE_QUERIES

pytestmark = pytest.mark.django_db

#: The 360 page with the cases panel: the page's own queries and one for the panel.
PAGE_QUERIES = CUSTOMER_PAGE_QUERIES + 1


@pytest.fixture(autouse=True)
def policy():
    return sla_policy(first_response_minutes=60)


@pytest.fixture
def agent(staff):
    return staff("service")


@pytest.fixture
def agent_client(client, agent):
    client.force_login(agent)
    return client


def panel_html(html: str) -> str:
    match = re.search(
        r'<section class="panel slot" aria-label="Open cases">.*?</section>', html, re.S
    )
    return match.group(0) if match else ""


def log_call(customer, agent, summary="Called about the card"):
    return interaction_log(
        actor=agent,
        customer=customer,
        channel="phone",
        direction="inbound",
        summary=summary,
        occurred_at=timezone.now() - timedelta(hours=1),
    )


def test_the_panel_lists_open_cases_with_status_clock_and_deadline(agent_client, agent):
    customer = CustomerFactory()
    late = open_case(
        customer=customer, subject="Card not arrived", now=timezone.now() - timedelta(hours=2)
    )
    open_case(
        customer=customer,
        subject="Replacement before holiday",
        customer_deadline=timezone.now() + timedelta(hours=5),
        customer_deadline_reason="flies to Lisbon",
    )
    done = open_case(customer=customer, subject="Old question")
    case_resolve(actor=agent, case=done, version=done.version)
    open_case(subject="Someone else's case")

    panel = panel_html(agent_client.get(f"/customers/{customer.pk}/").content.decode())
    assert f'href="/cases/{late.pk}/"' in panel
    assert "Card not arrived" in panel and "First response overdue by 1 h" in panel
    assert 'class="late"' in panel  # breached: highlighted like a late order
    assert "Replacement before holiday" in panel and "flies to Lisbon" in panel
    assert "Old question" not in panel and "Someone else" not in panel
    assert f'href="/cases/new/?customer={customer.pk}"' in panel


def test_without_open_cases_the_panel_only_offers_to_open_one(agent_client, client, staff):
    customer = CustomerFactory()
    panel = panel_html(agent_client.get(f"/customers/{customer.pk}/").content.decode())
    assert "No open cases." in panel and "Open a case" in panel
    # Marketing may see cases but not open them: nothing to say, no slot at all.
    client.force_login(staff("marketing"))
    assert panel_html(client.get(f"/customers/{customer.pk}/").content.decode()) == ""


def test_marketing_sees_the_open_cases_but_no_open_a_case_link(client, staff):
    customer = CustomerFactory()
    open_case(customer=customer, subject="Complaint about delivery")
    client.force_login(staff("marketing"))
    html = client.get(f"/customers/{customer.pk}/").content.decode()
    panel = panel_html(html)
    assert "Complaint about delivery" in panel and "/cases/new/" not in html


def test_no_panel_for_a_user_who_may_not_see_cases(client, staff):
    customer = CustomerFactory()
    open_case(customer=customer, subject="Secret case")
    user = staff(None)
    user.user_permissions.add(Permission.objects.get(codename="view_customer"))
    client.force_login(user)
    response = client.get(f"/customers/{customer.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert panel_html(html) == "" and "Secret case" not in html and "/cases/" not in html


def test_the_panel_shows_five_and_links_to_the_rest(agent_client):
    customer = CustomerFactory()
    for i in range(7):
        open_case(customer=customer, subject=f"Case {i}")
    panel = panel_html(agent_client.get(f"/customers/{customer.pk}/").content.decode())
    assert panel.count('href="/cases/') - panel.count("/cases/new/") - panel.count("/cases/?") == 5
    assert f"/cases/?team=&amp;customer={customer.pk}" in panel


def test_the_360_page_costs_the_same_with_1_and_6_open_cases(agent_client, agent, monkeypatch):
    monkeypatch.setattr(panels, "_providers", [])  # this app's panel only
    panels.register_customer_panel(open_cases_panel)

    def count(customer) -> int:
        agent_client.get(f"/customers/{customer.pk}/")  # warm what every page caches
        with CaptureQueriesContext(connection) as ctx:
            assert agent_client.get(f"/customers/{customer.pk}/").status_code == 200
        return len(ctx)

    small, big = CustomerFactory(), CustomerFactory()
    open_case(customer=small, assignee=agent)
    for i in range(6):
        log_call(big, agent, summary=f"Call {i}")
        open_case(customer=big, assignee=agent if i % 2 else None)
    assert count(small) == count(big) == PAGE_QUERIES


def test_the_panel_alone_is_one_query(rf, agent, django_assert_num_queries):
    customer = CustomerFactory()
    for _ in range(4):
        open_case(customer=customer, assignee=agent)
    request = rf.get("/")
    request.user = agent
    agent.has_perm("cases.view_case")  # permissions load once per request, before panels
    with django_assert_num_queries(1):
        title, template, context = open_cases_panel(request, customer)
    assert title == "Open cases" and len(context["cases"]) == 4


def test_each_timeline_entry_offers_to_open_a_case_from_it(agent_client, agent, client, staff):
    customer = CustomerFactory()
    call = log_call(customer, agent)
    html = agent_client.get(f"/customers/{customer.pk}/").content.decode()
    assert f'href="/cases/new/?customer={customer.pk}&amp;interaction={call.pk}"' in html
    # The htmx timeline fragment too.
    fragment = agent_client.get(
        f"/customers/{customer.pk}/timeline/?channel=phone", HTTP_HX_REQUEST="true"
    ).content.decode()
    assert f"interaction={call.pk}" in fragment
    client.force_login(staff("marketing"))
    assert "Open a case" not in client.get(f"/customers/{customer.pk}/").content.decode()


def test_no_action_on_an_erased_or_merged_customer(rf, agent):
    request = rf.get("/")
    request.user = agent
    assert open_case_action(request, CustomerFactory(erased_at=timezone.now())) is None
    assert open_case_action(request, CustomerFactory(merged_into=CustomerFactory())) is None
    live = CustomerFactory()
    assert open_case_action(request, live) == TimelineAction(
        "Open a case", f"/cases/new/?customer={live.pk}"
    )


def test_timeline_action_registry(rf, agent, monkeypatch):
    monkeypatch.setattr(panels, "_action_providers", [])
    customer = CustomerFactory()
    request = rf.get("/")
    request.user = agent

    def follow_up(request, customer):
        return TimelineAction("Follow up", "/follow-up/")

    def silent(request, customer):
        return None

    panels.register_timeline_action(follow_up, order=50)
    panels.register_timeline_action(follow_up)  # twice is once
    panels.register_timeline_action(silent)
    panels.register_timeline_action(open_case_action, order=10)
    actions = panels.timeline_actions(request, customer)
    assert [a.label for a in actions] == ["Open a case", "Follow up"]
    assert actions[0].url_prefix == f"/cases/new/?customer={customer.pk}&interaction="
    assert actions[1].url_prefix == "/follow-up/?interaction="
    panels.unregister_timeline_action(follow_up)
    assert [a.label for a in panels.timeline_actions(request, customer)] == ["Open a case"]
    assert panels.timeline_actions(None, customer) == []
