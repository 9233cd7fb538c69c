"""Staff pages of proactive care: the care queue, working a flag (acknowledge, message from a
template, open a case, call back, dismiss), the 360 page panels and the team home counts.
Flags are raised the way production raises them: real orders and cases, then a care scan.
Permissions per team, pinned query counts, and bad input that writes nothing."""

import re
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cases.care import care_scan
from cases.models import CareFlag, Case, MessageTemplate, SlaPolicy
from cases.panels_care import care_flags_panel
from customers import panels
from customers.models import Interaction, Order
from customers.services import customer_create
from customers.services.core import ContactInput
from cxportal.models import AuditEvent
from cxportal.selectors import team_list_for_user
from tests.cases.factories import open_case, sla_policy
from tests.customers.test_outbound import mail_source

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
# session, user, user perms, group perms, the user's teams, teams for the filter, the page
# of flags (with customer, team, order, case, disruption), the counts per kind.
QUEUE_QUERIES = 8
# The same without the teams' filter and the counts; the navigation still runs.
QUEUE_FRAGMENT_QUERIES = 7


@pytest.fixture
def ops(staff):
    return staff("operations")


@pytest.fixture
def agent(staff):
    return staff("service")


def as_user(client, user):
    client.force_login(user)
    return client


def late_orders(n: int, *, actor=None, start: int = 0) -> list:
    """``n`` customers, each with an express order that missed its promise; scanned."""
    customers = []
    for i in range(start, start + n):
        customer = customer_create(
            actor=actor,
            display_name=f"Customer {i:03d}",
            preferred_channel="email",
            contact_points=[ContactInput("email", f"customer{i}@example.com")],
        )
        Order.objects.create(
            customer=customer,
            external_id=f"EXP-{i:03d}",
            placed_at=timezone.now() - timedelta(days=1),
            shipping_method="express",
            promised_by=timezone.now() - timedelta(hours=2),
        )
        customers.append(customer)
    care_scan(full=True)
    return customers


def breached_case(**kw) -> Case:
    """A service case whose first response is overdue; scanned into the service queue."""
    if not SlaPolicy.objects.exists():
        sla_policy(first_response_minutes=30)
    case = open_case(now=timezone.now() - timedelta(hours=3), **kw)
    care_scan(full=True)
    return case


def flag_ids(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'<tr class="[a-z]+" id="flag-(\d+)"', html)]


def queries(client, url: str, **extra) -> int:
    client.get(url, **extra)  # the banner's cache is warm, as it is nearly always
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url, **extra).status_code == 200
    return len(ctx)


# --- The queue ----------------------------------------------------------------------------------
def test_operations_land_on_their_queue_newest_first(client, ops):
    late_orders(3)
    breached_case(subject="Card never arrived")
    html = as_user(client, ops).get("/care/").content.decode()
    flags = list(CareFlag.objects.filter(kind="late_order").order_by("-id"))
    assert flag_ids(html) == [f.pk for f in flags]
    assert "Care queue · Operations" in html
    assert "Late express order" in html and "High" in html
    assert "Order <strong>EXP-002</strong>, promised" in html
    assert f'href="/customers/{flags[0].customer_id}/"' in html
    assert "just now" in html  # raised by the scan a moment ago
    assert "Card never arrived" not in html  # the service team's flag
    assert html.count(">Work on it</a>") == 3


def test_service_sees_its_flags_with_the_case_and_its_sla_clock(client, agent):
    late_orders(1)
    case = breached_case(subject="Card never arrived")
    html = as_user(client, agent).get("/care/").content.decode()
    (flag,) = CareFlag.objects.filter(kind="sla_breached")
    assert flag_ids(html) == [flag.pk]
    assert f'href="/cases/{case.pk}/"' in html and "Card never arrived" in html
    assert "First response overdue by" in html
    # Every team, or one kind.
    html = client.get("/care/", {"team": ""}).content.decode()
    assert len(flag_ids(html)) == 2
    html = client.get("/care/", {"team": "", "kind": "late_order"}).content.decode()
    assert flag_ids(html) == [CareFlag.objects.get(kind="late_order").pk]


def test_who_sees_the_queue(client, staff):
    late_orders(1)
    (flag,) = CareFlag.objects.all()
    # Marketing has no care queue, not even in the navigation.
    marketing = as_user(client, staff("marketing"))
    assert marketing.get("/care/").status_code == 403
    assert 'href="/care/"' not in marketing.get("/customers/").content.decode()
    # Sales may look, not act.
    sales = as_user(client, staff("sales"))
    html = sales.get("/care/").content.decode()
    assert flag_ids(html) == [flag.pk] and "Work on it" not in html
    assert sales.get(f"/care/{flag.pk}/").status_code == 404
    assert sales.post(f"/care/{flag.pk}/acknowledge/").status_code == 404
    assert client.get("/care/").status_code == 200
    client.logout()
    assert client.get("/care/").status_code == 302  # to the login page


def test_another_teams_flag_answers_404_and_nothing_is_written(client, agent, ops, staff):
    late_orders(1)  # an operations flag
    (flag,) = CareFlag.objects.all()
    as_user(client, agent)
    assert client.get(f"/care/{flag.pk}/").status_code == 404
    posts = {
        "acknowledge": {},
        "message": {"body": "Sorry"},
        "case": {"subject": "Late", "category": "delivery", "priority": "normal"},
        "call-back": {"summary": "Called"},
        "dismiss": {"reason": "Fine"},
    }
    for action, data in posts.items():
        assert client.post(f"/care/{flag.pk}/{action}/", data).status_code == 404, action
    flag.refresh_from_db()
    assert flag.status == "open" and not AuditEvent.objects.filter(action__startswith="careflag")
    # A supervisor may work any team's flag; operations their own.
    assert as_user(client, staff("supervisor")).get(f"/care/{flag.pk}/").status_code == 200
    assert as_user(client, ops).get(f"/care/{flag.pk}/").status_code == 200


def test_queue_query_count_is_pinned_with_3_and_30_flags(client, ops):
    as_user(client, ops)
    late_orders(3)
    small = queries(client, "/care/")
    late_orders(27, start=3)
    assert queries(client, "/care/") == small == QUEUE_QUERIES
    html = client.get("/care/").content.decode()
    assert len(flag_ids(html)) == 25
    more = re.search(r'hx-get="(\?[^"]*before=\d+[^"]*)"', html).group(1).replace("&amp;", "&")
    assert queries(client, f"/care/{more}", **HX) == QUEUE_FRAGMENT_QUERIES
    rest = client.get(f"/care/{more}", **HX).content.decode()
    assert len(flag_ids(rest)) == 5 and "Show more" not in rest
    assert set(flag_ids(html)).isdisjoint(flag_ids(rest))


def test_acknowledge_from_the_queue_with_htmx(client, ops):
    late_orders(1)
    (flag,) = CareFlag.objects.all()
    response = as_user(client, ops).post(f"/care/{flag.pk}/acknowledge/", **HX)
    html = response.content.decode()
    assert flag_ids(html) == [flag.pk]
    assert "Acknowledged" in html and f"by {ops.username}" in html
    assert ">Acknowledge</button>" not in html  # done; "Work on it" stays
    flag.refresh_from_db()
    assert (flag.status, flag.acknowledged_by) == ("acknowledged", ops.username)
    assert AuditEvent.objects.filter(action="careflag.acknowledge").count() == 1
    # Without htmx: back where the user was.
    response = client.post(f"/care/{flag.pk}/acknowledge/", {"next": "/care/?team=operations"})
    assert response.status_code == 302 and response["Location"] == "/care/?team=operations"
    # Never to another site.
    response = client.post(f"/care/{flag.pk}/acknowledge/", {"next": "https://evil.example/"})
    assert response["Location"] == f"/care/{flag.pk}/"


# --- Working a flag -------------------------------------------------------------------------------
@pytest.fixture
def late_template():
    return MessageTemplate.objects.create(
        name="Late order apology",
        kind="late_order",
        subject="Your order {order} is running late",
        body="Hello {first_name}, order {order} missed its {promised_by} slot. Sorry.",
    )


def test_the_message_form_is_filled_in_from_the_kinds_templates(client, ops, late_template):
    MessageTemplate.objects.create(name="Any kind", subject="Hello {name}", body="Hi {name}")
    MessageTemplate.objects.create(
        name="For SLA", kind="sla_breached", subject="Sorry", body="Sorry"
    )
    (customer,) = late_orders(1)
    (flag,) = CareFlag.objects.all()
    html = as_user(client, ops).get(f"/care/{flag.pk}/").content.decode()
    assert "Late order apology" in html and "Any kind" in html and "For SLA" not in html
    assert 'value="Your order EXP-000 is running late"' in html
    assert "Hello Customer, order EXP-000 missed its" in html
    # Choosing another template (htmx): just the form, filled from it.
    other = MessageTemplate.objects.get(name="Any kind")
    fragment = client.get(f"/care/{flag.pk}/", {"template": other.pk}, **HX).content.decode()
    assert fragment.startswith('<form class="case-form" id="message-form"')
    assert 'value="Hello Customer 000"' in fragment and "Hi Customer 000" in fragment
    # Or none: an empty form to write in.
    fragment = client.get(f"/care/{flag.pk}/", {"template": ""}, **HX).content.decode()
    assert "Hello Customer" not in fragment


def test_send_a_templated_message(client, ops, late_template, smtp):
    mail_source(smtp)
    (customer,) = late_orders(1)
    (flag,) = CareFlag.objects.all()
    response = as_user(client, ops).post(
        f"/care/{flag.pk}/message/",
        {
            "template": late_template.pk,
            "subject": "Your order EXP-000 is running late",
            "body": "Hello, your order is a day late; it arrives tomorrow. Sorry.",
            "channel": "",
            "next": "/care/",
        },
    )
    assert response.status_code == 302 and response["Location"] == "/care/"
    flag.refresh_from_db()
    assert (flag.status, flag.action, flag.handled_by) == ("actioned", "message", ops.username)
    message = flag.action_interaction
    assert (message.channel, message.direction, message.customer) == (
        "email",
        "outbound",
        customer,
    )
    assert message.body == "Hello, your order is a day late; it arrives tomorrow. Sorry."
    assert message.summary == "Your order EXP-000 is running late"
    assert "queued to send by email" in client.get("/care/").content.decode()
    assert AuditEvent.objects.filter(action="careflag.actioned").count() == 1


def test_no_channel_to_send_shows_on_the_form_and_writes_nothing(client, ops, late_template):
    late_orders(1)
    (flag,) = CareFlag.objects.all()
    audits = AuditEvent.objects.count()
    response = as_user(client, ops).post(
        f"/care/{flag.pk}/message/",
        {"template": late_template.pk, "subject": "Late", "body": "It is late.", "channel": ""},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "no channel is set up to send" in html
    assert '<details class="panel log" id="message" open>' in html
    assert "It is late." in html  # what they wrote is kept
    flag.refresh_from_db()
    assert flag.status == "open"
    assert not Interaction.objects.filter(direction="outbound").exists()
    assert AuditEvent.objects.count() == audits


def test_form_errors_write_nothing(client, ops):
    late_orders(1)
    (flag,) = CareFlag.objects.all()
    as_user(client, ops)
    audits = AuditEvent.objects.count()
    cases = [
        ("message", {"body": " "}, "Write the message, or choose a template."),
        ("case", {"subject": "", "category": "delivery", "priority": "normal"}, "Say in a few"),
        ("call-back", {"summary": ""}, "Say in a line what the call was about."),
        ("dismiss", {"reason": ""}, "Say why this needs no action."),
        ("dismiss", {"reason": "   "}, "Say why this needs no action."),
        ("case", {"subject": "x", "category": "nonsense", "priority": "normal"}, "valid choice"),
    ]
    for action, data, error in cases:
        response = client.post(f"/care/{flag.pk}/{action}/", data)
        assert response.status_code == 200, action
        assert error in response.content.decode(), action
    flag.refresh_from_db()
    assert flag.status == "open"
    assert AuditEvent.objects.count() == audits
    assert not Case.objects.exists() and not Interaction.objects.filter(channel="phone").exists()


def test_open_a_case_from_a_flag(client, ops):
    late_orders(1)
    (flag,) = CareFlag.objects.all()
    html = as_user(client, ops).get(f"/care/{flag.pk}/").content.decode()
    assert 'value="Late express order EXP-000"' in html
    assert '<option value="delivery" selected>' in html
    response = client.post(
        f"/care/{flag.pk}/case/",
        {"subject": "Late express order EXP-000", "category": "delivery", "priority": "high"},
    )
    case = Case.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/cases/{case.pk}/"
    assert (case.customer_id, case.category, case.priority) == (
        flag.customer_id,
        "delivery",
        "high",
    )
    flag.refresh_from_db()
    assert (flag.status, flag.action, flag.action_case) == ("actioned", "case", case)
    # Done is done: the page says so and offers nothing more.
    html = client.get(f"/care/{flag.pk}/").content.decode()
    assert "Opened a case" in html and f"Case #{case.pk}" in html and "Send the message" not in html
    response = client.post(f"/care/{flag.pk}/dismiss/", {"reason": "Late click"})
    assert "This flag was actioned already." in response.content.decode()


def test_call_back_and_dismiss(client, ops):
    late_orders(2)
    first, second = CareFlag.objects.order_by("id")
    as_user(client, ops)
    response = client.post(
        f"/care/{first.pk}/call-back/",
        {"summary": "Called about EXP-000", "note": "Courier comes tomorrow", "next": "/care/"},
    )
    assert response.status_code == 302
    first.refresh_from_db()
    call = first.action_interaction
    assert (first.action, call.channel, call.summary) == (
        "call_back",
        "phone",
        "Called about EXP-000",
    )
    response = client.post(f"/care/{second.pk}/dismiss/", {"reason": "Collected in store"})
    assert response.status_code == 302
    second.refresh_from_db()
    assert (second.status, second.dismissed_reason) == ("dismissed", "Collected in store")
    assert flag_ids(client.get("/care/").content.decode()) == []


def test_a_flag_whose_cause_is_gone_cannot_be_worked(client, ops):
    late_orders(1)
    (flag,) = CareFlag.objects.all()
    Order.objects.update(delivered_at=timezone.now(), status="delivered")
    care_scan()
    as_user(client, ops)
    html = client.get(f"/care/{flag.pk}/").content.decode()
    assert "Its cause is gone" in html
    response = client.post(f"/care/{flag.pk}/acknowledge/", **HX)
    assert "cause is gone" in response.content.decode()


# --- The 360 page and the team home ---------------------------------------------------------------
def panel_html(html: str, title: str) -> str:
    match = re.search(
        rf'<section class="panel slot" aria-label="{title}">.*?</section>', html, re.S
    )
    return match.group(0) if match else ""


def test_the_360_page_shows_open_care_flags(client, ops, agent, staff):
    (customer,) = late_orders(1)
    (flag,) = CareFlag.objects.all()
    html = as_user(client, ops).get(f"/customers/{customer.pk}/").content.decode()
    panel = panel_html(html, "Care flags")
    assert "Late express order" in panel and "Order <strong>EXP-000</strong>, promised" in panel
    assert f'href="/care/{flag.pk}/"' in panel
    # Service sees the flag but it is operations' to work.
    panel = panel_html(
        as_user(client, agent).get(f"/customers/{customer.pk}/").content.decode(), "Care flags"
    )
    assert "Operations queue" in panel and f"/care/{flag.pk}/" not in panel
    # Marketing: no panel at all.
    html = as_user(client, staff("marketing")).get(f"/customers/{customer.pk}/").content.decode()
    assert panel_html(html, "Care flags") == "" and "Late express order" not in html
    # Once it is dealt with, the panel goes.
    as_user(client, ops).post(f"/care/{flag.pk}/dismiss/", {"reason": "Delivered by hand"})
    assert panel_html(client.get(f"/customers/{customer.pk}/").content.decode(), "Care flags") == ""


def test_the_care_panel_costs_one_query_with_1_or_6_flags(rf, agent, django_assert_num_queries):
    small = breached_case().customer
    big = late_orders(1)[0]
    for i in range(5):
        open_case(customer=big, now=timezone.now() - timedelta(hours=3 + i))
    care_scan(full=True)
    assert CareFlag.objects.filter(customer=big).count() == 6
    request = rf.get("/")
    request.user = agent
    # Permissions and the user's teams load once per request, before the panels.
    agent.has_perm("cases.view_careflag")
    team_list_for_user(user=agent)
    for customer in (small, big):
        with django_assert_num_queries(1):
            title, _, context = care_flags_panel(request, customer)
    assert title == "Care flags" and len(context["flags"]) == 5 and context["more"]


def test_the_360_page_costs_the_same_with_1_and_6_flags(client, agent, monkeypatch):
    monkeypatch.setattr(panels, "_providers", [])
    panels.register_customer_panel(care_flags_panel)
    as_user(client, agent)
    small = breached_case().customer
    big = breached_case().customer
    for i in range(5):
        open_case(customer=big, now=timezone.now() - timedelta(hours=3 + i))
    care_scan(full=True)
    assert queries(client, f"/customers/{small.pk}/") == queries(client, f"/customers/{big.pk}/")


def test_team_homes_show_open_flags_per_kind(client, ops, agent, staff):
    late_orders(2)
    breached_case()
    html = as_user(client, ops).get("/home/operations/").content.decode()
    section = re.search(r'<section class="panel"[^>]*id="home-care">.*?</section>', html, re.S)
    assert section, html
    section = section.group(0)
    assert "Open care flags · Operations" in section and "(2)" in section
    assert 'href="/care/?team=operations&amp;kind=late_order"' in section
    assert "SLA breached" not in section
    section = as_user(client, agent).get("/home/service/").content.decode()
    assert (
        "SLA breached" in section and 'href="/care/?team=service&amp;kind=sla_breached"' in section
    )
    supervisor = as_user(client, staff("supervisor")).get("/home/supervisor/").content.decode()
    assert "Open care flags <span" in supervisor and "(3)" in supervisor
    assert (
        'id="home-care"'
        not in as_user(client, staff("marketing")).get("/home/marketing/").content.decode()
    )
    cache.clear()
