"""Staff pages of disruptions: the list, declaring one (operations), the disruption page
(affected customers, updates and how many each reached, linked cases, post an update,
resolve, update every linked case), the banner on every staff page and the 360 panel.
Permissions per team, pinned query counts, bad input and stale versions that write nothing."""

import re
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cases.care import care_flag_open_case, care_scan
from cases.disruptions import disruption_declare, disruption_notify_batch, disruption_update
from cases.models import CareFlag, Case, CaseEvent, Disruption, DisruptionUpdate
from cases.panels_care import customer_disruptions_panel
from cases.views_disruptions import AFFECTED_PAGE
from customers import panels
from customers.models import CustomerPlace, Place
from customers.services import customer_create
from customers.services.core import ContactInput
from cxportal.models import AuditEvent
from tests.cases.factories import open_case, place_network
from tests.customers.factories import CustomerFactory
from tests.customers.test_outbound import mail_source

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
# session, user, user perms, group perms, the user's teams, the disruption, its places, its
# updates, notices per update, a page of affected customers, affected per place, linked cases.
DETAIL_QUERIES = 12


@pytest.fixture
def ops(staff):
    return staff("operations")


@pytest.fixture
def network():
    return place_network()


def riders(n: int, place: Place, *, start: int = 0, email: bool = True) -> list:
    customers = []
    for i in range(start, start + n):
        customer = customer_create(
            actor=None,
            display_name=f"Rider {i:03d}",
            preferred_channel="email",
            contact_points=[ContactInput("email", f"rider{i}@example.com")] if email else [],
        )
        CustomerPlace.objects.create(customer=customer, place=place)
        customers.append(customer)
    return customers


def declare(actor, places, **fields) -> Disruption:
    fields.setdefault("title", "Lift out of service at Bank")
    fields.setdefault("kind", "incident")
    fields.setdefault("starts_at", timezone.now() - timedelta(minutes=5))
    fields.setdefault("public_message", "The lift at Bank is out of service.")
    fields.setdefault("notify", False)
    return disruption_declare(actor=actor, places=places, **fields)


def as_user(client, user):
    client.force_login(user)
    return client


def queries(client, url: str, **extra) -> int:
    client.get(url, **extra)  # the banner's cache is warm
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url, **extra).status_code == 200
    return len(ctx)


def local(when) -> str:
    return timezone.localtime(when).strftime("%Y-%m-%dT%H:%M")


def affected_ids(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'<tr id="affected-(\d+)">', html)]


# --- Permissions ------------------------------------------------------------------------------
def test_marketing_reads_disruptions_only(client, staff, ops, network):
    riders(2, network["bank"])
    disruption = declare(ops, [network["bank"]], staff_guidance="Offer the step-free route.")
    as_user(client, staff("marketing"))
    html = client.get("/disruptions/").content.decode()
    assert "Lift out of service at Bank" in html and "Declare a disruption" not in html
    html = client.get(f"/disruptions/{disruption.pk}/").content.decode()
    assert "Offer the step-free route." in html  # staff know at least what customers know
    assert "Rider 000" not in html and "Affected customers" not in html  # no customer list
    assert "Post an update" not in html and "Resolve" not in html
    assert client.get("/disruptions/new/").status_code == 403
    assert client.get(f"/disruptions/{disruption.pk}/affected/").status_code == 403
    for action in ("update", "resolve", "cases-update"):
        data = {"version": 1, "public_message": "x", "body": "x"}
        assert client.post(f"/disruptions/{disruption.pk}/{action}/", data).status_code == 403
    assert DisruptionUpdate.objects.count() == 1


def test_service_sees_who_is_affected_but_cannot_declare(client, staff, ops, network):
    riders(2, network["bank"])
    disruption = declare(ops, [network["bank"]])
    as_user(client, staff("service"))
    assert client.get("/disruptions/new/").status_code == 403
    html = client.get(f"/disruptions/{disruption.pk}/").content.decode()
    assert "Rider 000" in html and "Rider 001" in html and "Post an update" not in html
    assert client.post(f"/disruptions/{disruption.pk}/resolve/", {}).status_code == 403


def test_nobody_signed_out_and_unknown_ids(client, ops, network):
    assert client.get("/disruptions/").status_code == 302
    as_user(client, ops)
    assert client.get("/disruptions/999999/").status_code == 404
    assert client.post("/disruptions/999999/update/", {"version": 1}).status_code == 404


# --- Declaring --------------------------------------------------------------------------------
def test_operations_declares_a_disruption(client, ops, network):
    riders(3, network["bank"])
    riders(1, network["else"], start=10)
    as_user(client, ops)
    html = client.get("/disruptions/new/").content.decode()
    assert "<legend>Station</legend>" in html and "<legend>Line</legend>" in html
    start = timezone.now() - timedelta(minutes=1)
    response = client.post(
        "/disruptions/new/",
        {
            "title": "Step-free access lost at Bank",
            "kind": "incident",
            "severity": "severe",
            "starts_at": local(start),
            "ends_at": "",
            "places": [network["bank"].pk],
            "accessibility_impact": "step_free_lost",
            "accessibility_note": "Use Monument for step-free access.",
            "public_message": "The lift at Bank is out of service.",
            "staff_guidance": "Offer a taxi to customers who need step-free access.",
        },
    )
    disruption = Disruption.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/disruptions/{disruption.pk}/"
    assert (disruption.status, disruption.affected_count, disruption.severity) == (
        "active",
        3,
        "severe",
    )
    assert list(disruption.places.all()) == [network["bank"]]
    update = disruption.updates.get()
    assert update.notify_customers is False  # the box was not ticked
    html = client.get(response["Location"]).content.decode()
    assert "3 customers affected" in html
    assert "Step-free access lost at Bank" in html and "Use Monument" in html
    assert AuditEvent.objects.filter(action="disruption.declare").count() == 1


def test_declare_errors_write_nothing(client, ops, network):
    as_user(client, ops)
    start = timezone.now()
    bad = [
        ({"title": "", "places": []}, ["Give it a title", "Name at least one affected place."]),
        ({"starts_at": "tomorrow"}, ["Give the date and time like"]),
        ({"places": ["999999"]}, ["Select a valid choice."]),
        (
            {"ends_at": local(start - timedelta(hours=1))},
            ["The end must come after the start."],  # from the service
        ),
    ]
    for changes, errors in bad:
        data = {
            "title": "Works",
            "kind": "planned",
            "severity": "minor",
            "starts_at": local(start),
            "places": [network["line"].pk],
            "public_message": "Works on the line.",
            "notify": "on",
            **changes,
        }
        response = client.post("/disruptions/new/", data)
        assert response.status_code == 200
        html = response.content.decode()
        for error in errors:
            assert error in html, (changes, error)
        assert 'value="Works on the line."' in html or "Works on the line." in html
    assert not Disruption.objects.exists() and not AuditEvent.objects.exists()


# --- The disruption page ------------------------------------------------------------------------
def test_the_page_shows_facts_updates_progress_and_affected_customers(
    client, ops, network, smtp, django_capture_on_commit_callbacks
):
    mail_source(smtp)
    bank = riders(3, network["bank"])
    riders(1, network["oval"], start=10, email=False)
    with django_capture_on_commit_callbacks(execute=False):
        disruption = declare(
            ops,
            [network["line"]],
            title="Central line closed",
            notify=True,
            staff_guidance="Buses replace trains.",
        )
    update = disruption.updates.get()
    disruption_notify_batch(update_id=update.pk, limit=2)
    html = as_user(client, ops).get(f"/disruptions/{disruption.pk}/").content.decode()
    assert "notified 2 / skipped 0" in html and "sending…" in html
    disruption_notify_batch(update_id=update.pk)
    html = client.get(f"/disruptions/{disruption.pk}/").content.decode()
    assert "notified 3 / skipped 1" in html and "done" in html
    assert "Buses replace trains." in html
    affected = sorted(CustomerPlace.objects.values_list("customer", flat=True))
    assert affected_ids(html) == affected
    assert f'href="/customers/{bank[0].pk}/"' in html
    assert 'Bank <span class="muted">station</span>' in html
    assert 'Oval <span class="muted">station</span>' in html
    assert 'aria-label="Affected customers per place"' in html  # the chart


def test_affected_customers_come_in_pages_of_50(client, ops, network):
    riders(AFFECTED_PAGE + 7, network["bank"])
    disruption = declare(ops, [network["bank"]])
    html = as_user(client, ops).get(f"/disruptions/{disruption.pk}/").content.decode()
    first = affected_ids(html)
    assert len(first) == AFFECTED_PAGE and first == sorted(first)
    more = re.search(r'hx-get="(/disruptions/\d+/affected/\?after=\d+)"', html).group(1)
    rest = affected_ids(client.get(more, **HX).content.decode())
    assert len(rest) == 7 and min(rest) > max(first)
    # Without htmx the link shows the page.
    assert client.get(more).status_code == 200


def test_page_query_count_is_pinned_with_3_and_30_affected(client, ops, network, staff):
    as_user(client, ops)
    riders(3, network["bank"])
    small = declare(ops, [network["bank"]])
    case = open_case()
    Case.objects.filter(pk=case.pk).update(disruption=small)
    riders(30, network["oval"], start=100)
    big = declare(ops, [network["oval"]], title="Oval closed")
    for _ in range(5):
        case = open_case()
        Case.objects.filter(pk=case.pk).update(disruption=big)
    a = queries(client, f"/disruptions/{small.pk}/")
    b = queries(client, f"/disruptions/{big.pk}/")
    assert a == b == DETAIL_QUERIES
    more_pages = queries(client, f"/disruptions/{big.pk}/affected/?after=0", **HX)
    assert more_pages <= DETAIL_QUERIES - 4


def test_post_an_update_and_a_stale_version_writes_nothing(client, ops, staff, network):
    riders(2, network["bank"])
    disruption = declare(ops, [network["bank"]])
    as_user(client, ops)
    html = client.get(f"/disruptions/{disruption.pk}/").content.decode()
    assert 'name="version" value="1"' in html
    # Someone else posts first.
    colleague = staff("operations")
    disruption_update(
        actor=colleague,
        disruption=disruption,
        version=1,
        public_message="Engineers on site.",
        notify=False,
    )
    response = client.post(
        f"/disruptions/{disruption.pk}/update/",
        {
            "version": 1,
            "public_message": "Lift back at 18:00.",
            "severity": "major",
            "staff_guidance": "",
            "ends_at": "",
            "accessibility_impact": "",
        },
    )
    assert response.status_code == 409
    html = response.content.decode()
    assert "was changed by someone else meanwhile" in html and "Nothing was posted" in html
    assert "Engineers on site." in html  # the page as it is now
    assert "Lift back at 18:00." in html  # what they wrote is kept
    assert 'name="version" value="2"' in html
    assert DisruptionUpdate.objects.count() == 2
    # Posting again (now on version 2) goes through.
    response = client.post(
        f"/disruptions/{disruption.pk}/update/",
        {
            "version": 2,
            "public_message": "Lift back at 18:00.",
            "severity": "minor",
            "staff_guidance": "Lift back soon.",
            "ends_at": local(timezone.now() + timedelta(hours=3)),
            "accessibility_impact": "lift_out",
            "accessibility_note": "Lift 2 only",
        },
    )
    assert response.status_code == 302
    disruption.refresh_from_db()
    assert (disruption.version, disruption.severity, disruption.public_message) == (
        3,
        "minor",
        "Lift back at 18:00.",
    )
    assert disruption.accessibility_impact == "lift_out"
    last = disruption.updates.order_by("-id").first()
    assert last.notify_customers is False  # box not ticked
    audit = AuditEvent.objects.filter(action="disruption.update").order_by("-id").first()
    assert "title" not in audit.after["fields"]  # only what changed


def test_update_and_resolve_errors_write_nothing(client, ops, network):
    disruption = declare(ops, [network["bank"]])
    as_user(client, ops)
    response = client.post(
        f"/disruptions/{disruption.pk}/update/",
        {"version": "", "public_message": "", "severity": "major"},
    )
    html = response.content.decode()
    assert "Say what changed, for customers." in html and "out of date" in html
    response = client.post(
        f"/disruptions/{disruption.pk}/resolve/", {"version": 1, "public_message": " "}
    )
    assert "Tell customers it is over." in response.content.decode()
    disruption.refresh_from_db()
    assert (disruption.version, disruption.status) == (1, "active")
    assert DisruptionUpdate.objects.count() == 1


def test_resolve(client, ops, network):
    disruption = declare(ops, [network["bank"]])
    as_user(client, ops)
    assert "Lift out of service at Bank" in client.get("/customers/").content.decode()
    response = client.post(
        f"/disruptions/{disruption.pk}/resolve/",
        {"version": 1, "public_message": "The lift works again."},
    )
    assert response.status_code == 302
    disruption.refresh_from_db()
    assert disruption.status == "resolved"
    html = client.get(f"/disruptions/{disruption.pk}/").content.decode()
    assert "The lift works again." in html and "Post an update" not in html
    # The banner forgets it at once; the list shows it under "Recently resolved".
    assert 'id="banner-disruption-' not in client.get("/customers/").content.decode()
    listing = client.get("/disruptions/").content.decode()
    assert listing.index("Recently resolved") < listing.index("Lift out of service at Bank")
    response = client.post(
        f"/disruptions/{disruption.pk}/resolve/", {"version": 2, "public_message": "Again"}
    )
    assert response.status_code == 302  # nothing left to resolve: no form, back to the page


def test_update_every_linked_case(client, ops, staff, network, smtp):
    mail_source(smtp)
    riders(1, network["bank"])
    care = staff("supervisor")
    disruption = declare(
        ops, [network["bank"]], accessibility_impact="step_free_lost", notify=False
    )
    customer = CustomerPlace.objects.get().customer
    open_case(customer=customer, subject="Can't get to work")  # an active case: flagged
    care_scan(full=True)
    flag = CareFlag.objects.get(kind="disruption_impact")
    flag = care_flag_open_case(actor=care, flag=flag, subject="Affected by the lift at Bank")
    linked = flag.action_case
    assert linked.disruption_id == disruption.pk  # a case opened from the flag is linked
    as_user(client, ops)
    html = client.get(f"/disruptions/{disruption.pk}/").content.decode()
    assert f'href="/cases/{linked.pk}/"' in html and "Send to 1 active case" in html
    response = client.post(f"/disruptions/{disruption.pk}/cases-update/", {"body": " "})
    assert "Write the update first." in response.content.decode()
    response = client.post(
        f"/disruptions/{disruption.pk}/cases-update/", {"body": "Buses replace trains."}
    )
    assert response.status_code == 302
    assert CaseEvent.objects.filter(case=linked, kind__in=["reply", "note"]).count() == 1


# --- The banner -----------------------------------------------------------------------------
def banner(html: str) -> str:
    match = re.search(r'<section class="disruption-banner.*?</section>', html, re.S)
    return match.group(0) if match else ""


def test_the_banner_is_on_every_staff_page_and_accessibility_stands_out(
    client, staff, ops, network
):
    declare(
        ops,
        [network["line"]],
        title="Planned works on the Central line",
        kind="planned",
        severity="minor",
        starts_at=timezone.now() + timedelta(hours=3),
    )
    declare(
        ops,
        [network["bank"], network["oval"]],
        title="Lift out of service at Bank",
        accessibility_impact="step_free_lost",
    )
    declare(
        ops, [network["else"]], title="Next month", starts_at=timezone.now() + timedelta(days=30)
    )
    cache.clear()
    for team, url in (
        ("service", "/cases/"),
        ("marketing", "/customers/"),
        ("operations", "/care/"),
    ):
        html = banner(as_user(client, staff(team)).get(url).content.decode())
        assert "Step-free access lost at Bank and 1 more" in html, team
        assert "Planned works on the Central line" in html and "Next month" not in html
        assert html.index("Step-free access lost") < html.index("Planned works")
        assert 'class="disruption-banner has-access"' in html
    # Not on the login page, nor for someone signed out.
    client.logout()
    assert banner(client.get("/login/").content.decode()) == ""


def test_the_banner_costs_one_query_and_none_when_cached(client, ops, network):
    def count(**extra) -> tuple[int, str]:
        # The count is read at once: the next request resets the connection's query log.
        with CaptureQueriesContext(connection) as ctx:
            html = client.get("/customers/", **extra).content.decode()
        return len(ctx), html

    as_user(client, ops)
    declare(ops, [network["bank"]])
    count()
    warm, _ = count()
    cache.clear()
    cold, html = count()
    assert cold == warm + 1
    assert "Lift out of service at Bank" in banner(html)
    assert count()[0] == warm
    # htmx fragments show no banner and pay nothing for it, cached or not.
    cache.clear()
    fragment_cold, html = count(**HX)
    fragment_warm, _ = count(**HX)
    assert fragment_cold == fragment_warm and banner(html) == ""


# --- The 360 page ---------------------------------------------------------------------------
def panel_html(html: str) -> str:
    title = "Disruptions affecting this customer"
    match = re.search(
        rf'<section class="panel slot" aria-label="{title}">.*?</section>', html, re.S
    )
    return match.group(0) if match else ""


def test_the_360_page_shows_disruptions_affecting_the_customer(client, staff, ops, network):
    (rider,) = riders(1, network["bank"])
    bystander = CustomerFactory()
    disruption = declare(
        ops,
        [network["line"]],
        title="Central line closed",
        accessibility_impact="lift_out",
        staff_guidance="Offer buses.",
    )
    as_user(client, staff("marketing"))
    panel = panel_html(client.get(f"/customers/{rider.pk}/").content.decode())
    assert f'href="/disruptions/{disruption.pk}/"' in panel and "Lift out of service" in panel
    assert "Offer buses." in panel
    assert panel_html(client.get(f"/customers/{bystander.pk}/").content.decode()) == ""


def test_the_disruption_panel_is_one_query(rf, ops, network, django_assert_num_queries):
    few, many = riders(2, network["bank"])
    for i in range(5):
        declare(ops, [network["bank"]], title=f"Works {i}")
    declare(ops, [network["line"]], title="One")
    CustomerPlace.objects.filter(customer=few).delete()
    for d in Disruption.objects.all():
        from cases.disruptions import disruption_affected_compute

        disruption_affected_compute(disruption=d)
    request = rf.get("/")
    request.user = ops
    ops.has_perm("cases.view_disruption")
    with django_assert_num_queries(1):
        assert customer_disruptions_panel(request, few) is None
    with django_assert_num_queries(1):
        title, _, context = customer_disruptions_panel(request, many)
    assert title == "Disruptions affecting this customer" and len(context["disruptions"]) == 5


def test_the_360_page_costs_the_same_with_1_and_5_disruptions(client, ops, network, monkeypatch):
    monkeypatch.setattr(panels, "_providers", [])
    panels.register_customer_panel(customer_disruptions_panel)
    (one,) = riders(1, network["else"])
    (five,) = riders(1, network["bank"], start=1)
    declare(ops, [network["else"]], title="Elsewhere")
    for i in range(5):
        declare(ops, [network["bank"]], title=f"Works {i}")
    as_user(client, ops)
    assert queries(client, f"/customers/{one.pk}/") == queries(client, f"/customers/{five.pk}/")
