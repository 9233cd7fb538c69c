import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers import panels
from customers.models import Customer, CustomerPlace, Holding, Interaction, Order, Place
from customers.services import consent_set, contact_point_add, interaction_log
from cxportal.models import AuditEvent
from tests.customers.factories import CustomerFactory

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def agent(staff):
    return staff("service")


@pytest.fixture
def agent_client(client, agent):
    client.force_login(agent)
    return client


@pytest.fixture
def no_panels(monkeypatch):
    """Only this app's page: later apps' panels pin their own queries in their own tests."""
    monkeypatch.setattr(panels, "_providers", [])


def add_interactions(customer, n: int, *, start=None, channels=("email", "phone", "sms", "store")):
    """n interactions, one hour apart, newest first in the returned list."""
    start = start or timezone.now() - timedelta(days=1)
    rows = Interaction.objects.bulk_create(
        Interaction(
            customer=customer,
            channel=channels[i % len(channels)],
            direction="inbound",
            occurred_at=start - timedelta(hours=i),
            summary=f"Entry {i:03d}",
            body=f"Body of entry {i:03d}",
        )
        for i in range(n)
    )
    return rows


def rich_customer(*, entries: int = 3, orders: int = 3, holdings: int = 3, **fields) -> Customer:
    now = timezone.now()
    customer = CustomerFactory(**fields)
    contact_point_add(
        actor=None, customer=customer, kind="email", value=f"Ada{customer.pk}@Example.com"
    )
    contact_point_add(
        actor=None, customer=customer, kind="phone", value=f"+44 7700 900{customer.pk % 1000:03d}"
    )
    consent_set(
        actor=None,
        customer=customer,
        channel="email",
        purpose="marketing",
        granted=True,
        source="web",
    )
    consent_set(
        actor=None, customer=customer, channel="sms", purpose="service", granted=False, source="app"
    )
    for i in range(orders):
        Order.objects.create(
            customer=customer,
            external_id=f"ORD-{customer.pk}-{i}",
            placed_at=now - timedelta(days=i + 1),
            shipping_method="standard",
            status="delivered",
            delivered_at=now - timedelta(days=i),
            total=Decimal("10.00"),
        )
    for i in range(holdings):
        Holding.objects.create(
            customer=customer, name=f"Plan {i}", warranty_ends_on=now.date() + timedelta(days=400)
        )
    place = Place.objects.create(kind="station", code=f"ST-{customer.pk}", name="Kings Cross")
    CustomerPlace.objects.create(customer=customer, place=place)
    add_interactions(customer, entries)
    return customer


def entry_ids(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'id="interaction-(\d+)"', html)]


# --- Search ---------------------------------------------------------------------------


def test_list_page_filters_and_links_to_detail(agent_client):
    ada = CustomerFactory(display_name="Ada Lovelace", lifecycle_stage="at_risk")
    CustomerFactory(display_name="Alan Turing", lifecycle_stage="active")
    page = agent_client.get("/customers/?lifecycle_stage=at_risk").content.decode()
    assert "Ada Lovelace" in page and "Alan Turing" not in page
    assert f'href="/customers/{ada.pk}/"' in page


@pytest.mark.parametrize(
    "query", ["ada@example.com", " ADA@example.COM ", "07700 900123", "+447700900123", "ORD-1"]
)
def test_an_exact_identifier_jumps_straight_to_the_customer(agent_client, query):
    ada = CustomerFactory(display_name="Ada Lovelace")
    CustomerFactory(display_name="Someone Else")
    contact_point_add(actor=None, customer=ada, kind="email", value="ada@example.com")
    contact_point_add(actor=None, customer=ada, kind="phone", value="+447700900123")
    Order.objects.create(
        customer=ada, external_id="ORD-1", placed_at=timezone.now(), shipping_method="express"
    )
    response = agent_client.get("/customers/", {"q": query})
    assert response.status_code == 302
    assert response["Location"] == f"/customers/{ada.pk}/"


def test_a_handle_on_two_networks_lists_both_instead_of_jumping(agent_client):
    one, two = CustomerFactory(display_name="One Ada"), CustomerFactory(display_name="Two Ada")
    contact_point_add(actor=None, customer=one, kind="social", value="@ada", network="twitter")
    contact_point_add(actor=None, customer=two, kind="social", value="ada", network="instagram")
    CustomerFactory(display_name="Not Her")
    response = agent_client.get("/customers/", {"q": "@ada"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "One Ada" in html and "Two Ada" in html and "Not Her" not in html


def test_a_single_social_handle_jumps(agent_client):
    ada = CustomerFactory()
    contact_point_add(actor=None, customer=ada, kind="social", value="@AdaL", network="twitter")
    assert agent_client.get("/customers/", {"q": "@adal"})["Location"] == f"/customers/{ada.pk}/"


def test_a_name_search_lists_even_a_single_hit(agent_client):
    CustomerFactory(display_name="Ada Lovelace")
    response = agent_client.get("/customers/", {"q": "lovelace"})
    assert response.status_code == 200
    assert "Ada Lovelace" in response.content.decode()


def test_a_merged_customers_email_does_not_jump_to_the_merged_record(agent_client):
    survivor = CustomerFactory()
    gone = CustomerFactory(merged_into=survivor)
    contact_point_add(actor=None, customer=gone, kind="email", value="old@example.com")
    response = agent_client.get("/customers/", {"q": "old@example.com"})
    assert response.status_code == 200
    assert "No customers match." in response.content.decode()


def test_top_bar_search_box_only_for_who_may_see_customers(client, staff):
    client.force_login(staff("marketing"))
    home = client.get("/customers/").content.decode()
    assert 'class="top-search"' in home and 'action="/customers/"' in home
    client.force_login(staff(None))
    page = client.get("/home/service/")
    assert 'class="top-search"' not in page.content.decode()


def test_list_page_loads_the_next_page_in_place_with_htmx(agent_client, settings):
    settings.CXPORTAL_PAGE_SIZE = 2
    customers = CustomerFactory.create_batch(5)
    page = agent_client.get("/customers/").content.decode()
    assert f"before={customers[3].pk}" in page and 'hx-get="?before=' in page
    rows = agent_client.get(f"/customers/?before={customers[3].pk}", **HX)
    html = rows.content.decode()
    assert "<html" not in html  # a fragment, swapped into the table
    assert customers[2].display_name in html and customers[1].display_name in html
    assert customers[4].display_name not in html


def test_list_page_query_count_does_not_grow(agent_client):
    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert agent_client.get("/customers/").status_code == 200
        return len(ctx)

    CustomerFactory.create_batch(3)
    small = count()
    CustomerFactory.create_batch(27)
    assert count() == small


# --- The 360 page --------------------------------------------------------------------


def test_360_page_shows_who_they_are_contact_consent_orders_holdings_places(agent_client):
    customer = rich_customer(
        display_name="Ada Lovelace",
        lifecycle_stage="at_risk",
        preferred_channel="sms",
        language="fr",
    )
    html = agent_client.get(f"/customers/{customer.pk}/").content.decode()
    assert "<h1>Ada Lovelace</h1>" in html
    assert "At risk" in html and "Prefers <strong>SMS</strong>" in html and "Speaks French" in html
    assert (
        f"Ada{customer.pk}@Example.com" in html and f"+44 7700 900{customer.pk % 1000:03d}" in html
    )
    consent = html[
        html.index('class="consent"') : html.index("</table>", html.index('class="consent"'))
    ]
    email_row = consent[consent.index(">Email<") : consent.index("</tr>", consent.index(">Email<"))]
    # Email: service not asked, marketing granted, feedback not asked
    assert re.findall(r"visually-hidden\">(\w[\w ]*)<", email_row) == [
        "Not asked",
        "Granted",
        "Not asked",
    ]
    sms_row = consent[consent.index(">SMS<") : consent.index("</tr>", consent.index(">SMS<"))]
    assert re.findall(r"visually-hidden\">(\w[\w ]*)<", sms_row)[0] == "Withdrawn"
    assert "ORD-" in html and "Plan 0" in html and "Kings Cross" in html


def test_only_the_five_newest_orders_and_late_ones_are_highlighted(agent_client):
    now = timezone.now()
    customer = rich_customer(orders=6)
    late = Order.objects.create(
        customer=customer,
        external_id="LATE-EXPRESS",
        placed_at=now - timedelta(hours=3),
        shipping_method="express",
        promised_by=now - timedelta(hours=1),
    )
    html = agent_client.get(f"/customers/{customer.pk}/").content.decode()
    orders = html[html.index('id="orders-h"') : html.index('id="holdings-h"')]
    assert orders.count("<li") == 5
    assert late.external_id in orders and f"ORD-{customer.pk}-0" in orders
    assert f"ORD-{customer.pk}-4" not in orders  # the 6th and 7th newest are left off
    assert orders.count('class="late"') == 1
    late_row = orders[orders.index('class="late"') :]
    assert late_row.index("LATE-EXPRESS") < late_row.index("</li>")


def test_warranty_ending_soon_is_highlighted(agent_client, settings):
    settings.CXPORTAL_WARRANTY_SOON_DAYS = 30
    today = timezone.localdate()
    customer = rich_customer(holdings=0)
    Holding.objects.create(
        customer=customer, name="Soon kettle", warranty_ends_on=today + timedelta(days=10)
    )
    Holding.objects.create(
        customer=customer, name="Later fridge", warranty_ends_on=today + timedelta(days=90)
    )
    Holding.objects.create(
        customer=customer, name="Old radio", warranty_ends_on=today - timedelta(days=3)
    )
    html = agent_client.get(f"/customers/{customer.pk}/").content.decode()
    holdings = html[html.index('id="holdings-h"') :]
    holdings = holdings[: holdings.index("</section>")]
    assert holdings.count('class="soon"') == 1
    soon = holdings[holdings.index('class="soon"') :]
    assert soon.index("Soon kettle") < soon.index("</li>")
    assert "Warranty ends soon" in soon[: soon.index("</li>")]
    assert "Warranty ended" in holdings


def test_accessibility_needs_only_for_roles_allowed(client, staff):
    customer = CustomerFactory(accessibility_needs=True, accessibility_note="Uses a wheelchair")
    for team in ("service", "supervisor"):
        client.force_login(staff(team))
        assert "Uses a wheelchair" in client.get(f"/customers/{customer.pk}/").content.decode()
    for team in ("marketing", "sales", "operations"):
        client.force_login(staff(team))
        page = client.get(f"/customers/{customer.pk}/")
        html = page.content.decode()
        assert page.status_code == 200 and customer.display_name in html
        assert "wheelchair" not in html and "Accessibility" not in html


def test_a_merged_customer_redirects_to_the_survivor_with_a_message(agent_client):
    survivor = CustomerFactory(display_name="Survivor")
    gone = CustomerFactory(display_name="Gone", merged_into=survivor)
    response = agent_client.get(f"/customers/{gone.pk}/", follow=True)
    assert response.redirect_chain == [(f"/customers/{survivor.pk}/", 302)]
    html = response.content.decode()
    assert (
        "<h1>Survivor</h1>" in html
        and f"Customer #{gone.pk} (Gone) was merged into this one" in html
    )


def test_unknown_customer_page_is_404(agent_client):
    assert agent_client.get("/customers/424242/").status_code == 404
    assert agent_client.get("/customers/424242/timeline/", **HX).status_code == 404
    assert agent_client.post("/customers/424242/interactions/", {}).status_code == 404


def test_user_without_customer_permission_is_403(client, staff):
    customer = CustomerFactory()
    client.force_login(staff(None))
    assert client.get("/customers/").status_code == 403
    assert client.get(f"/customers/{customer.pk}/").status_code == 403
    assert client.get(f"/customers/{customer.pk}/timeline/", **HX).status_code == 403


def test_anonymous_is_sent_to_login(client):
    customer = CustomerFactory()
    response = client.get(f"/customers/{customer.pk}/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


# --- Timeline --------------------------------------------------------------------------


def test_timeline_interleaves_every_channel_newest_first(agent_client):
    customer = CustomerFactory()
    now = timezone.now()
    made = [
        interaction_log(
            actor=None,
            customer=customer,
            channel=ch,
            direction="inbound",
            summary=f"via {ch}",
            occurred_at=now - timedelta(minutes=m),
        )
        for ch, m in [("email", 30), ("phone", 10), ("social", 20), ("store", 40), ("app", 5)]
    ]
    html = agent_client.get(f"/customers/{customer.pk}/").content.decode()
    expected = [i.pk for i in sorted(made, key=lambda i: i.occurred_at, reverse=True)]
    assert entry_ids(html) == expected


def test_timeline_filter_by_channel_swaps_only_the_timeline_and_pushes_the_url(agent_client):
    customer = CustomerFactory()
    add_interactions(customer, 8, channels=("email", "phone"))
    page = agent_client.get(f"/customers/{customer.pk}/").content.decode()
    assert f'hx-get="/customers/{customer.pk}/timeline/?channel=phone"' in page
    assert f'hx-push-url="/customers/{customer.pk}/?channel=phone"' in page

    fragment = agent_client.get(f"/customers/{customer.pk}/timeline/?channel=phone", **HX)
    html = fragment.content.decode()
    assert "<html" not in html and html.lstrip().startswith('<section class="timeline')
    phone = Interaction.objects.filter(customer=customer, channel="phone").order_by("-occurred_at")
    assert entry_ids(html) == [i.pk for i in phone]
    assert 'id="chip-phone" href' in html and 'aria-current="true"' in html
    # The pushed URL renders the same filtered timeline as a full page (reload, no JS).
    full = agent_client.get(f"/customers/{customer.pk}/?channel=phone").content.decode()
    assert entry_ids(full) == [i.pk for i in phone]


def test_an_unknown_channel_filter_shows_everything(agent_client):
    customer = CustomerFactory()
    add_interactions(customer, 4)
    html = agent_client.get(f"/customers/{customer.pk}/?channel=fax").content.decode()
    assert len(entry_ids(html)) == 4


def test_show_more_pages_through_the_timeline_in_place(agent_client):
    customer = CustomerFactory()
    rows = add_interactions(customer, 45)
    # Same time as entry 0, higher id: the tie is broken by id, newest id first.
    twin = Interaction.objects.create(
        customer=customer,
        channel="web",
        direction="inbound",
        occurred_at=rows[0].occurred_at,
        summary="Twin",
    )
    expected = [twin.pk] + [r.pk for r in rows]
    html = agent_client.get(f"/customers/{customer.pk}/").content.decode()
    seen = entry_ids(html)
    assert len(seen) == 20
    for _ in range(5):
        match = re.search(r'hx-get="(/customers/\d+/timeline/\?cursor=[^"]+)"', html)
        if not match:
            break
        html = agent_client.get(match.group(1).replace("&amp;", "&"), **HX).content.decode()
        assert "<section" not in html  # only the entries and the next "Show more"
        seen += entry_ids(html)
    assert seen == expected
    assert 'id="timeline-more"' not in html


def test_show_more_keeps_the_channel_filter(agent_client):
    customer = CustomerFactory()
    add_interactions(customer, 60, channels=("email", "phone"))
    html = agent_client.get(
        f"/customers/{customer.pk}/timeline/?channel=email", **HX
    ).content.decode()
    url = re.search(r'hx-get="(/customers/\d+/timeline/\?channel=email&amp;cursor=[^"]+)"', html)
    more = agent_client.get(url.group(1).replace("&amp;", "&"), **HX).content.decode()
    channels = set(
        Interaction.objects.filter(pk__in=entry_ids(more)).values_list("channel", flat=True)
    )
    assert channels == {"email"} and len(entry_ids(more)) == 10


def test_timeline_fragment_without_htmx_goes_to_the_page(agent_client):
    customer = CustomerFactory()
    response = agent_client.get(f"/customers/{customer.pk}/timeline/?channel=sms")
    assert response.status_code == 302
    assert response["Location"] == f"/customers/{customer.pk}/?channel=sms"


def test_entries_show_channel_direction_time_summary_and_expandable_body(agent_client):
    customer = CustomerFactory()
    when = timezone.now() - timedelta(hours=2)
    interaction_log(
        actor=None,
        customer=customer,
        channel="store",
        direction="outbound",
        summary="Swapped the kettle",
        body="Receipt 123\nNo charge",
        occurred_at=when,
    )
    html = agent_client.get(f"/customers/{customer.pk}/").content.decode()
    entry = html[html.index('class="entry ch-store"') :]
    entry = entry[: entry.index("</li>")]
    assert 'href="#i-store"' in entry and "<strong>Store</strong>" in entry
    assert "To the customer" in entry and "Swapped the kettle" in entry
    assert f'datetime="{timezone.localtime(when).isoformat()}"' in entry
    assert "<details" in entry and "Receipt 123<br>No charge" in entry


# --- Logging an interaction -------------------------------------------------------------


def log_data(**overrides) -> dict:
    return {
        "channel": "phone",
        "direction": "inbound",
        "summary": "Asked where the order is",
        "body": "Promised a call back",
        "occurred_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
        **overrides,
    }


def test_logging_with_htmx_puts_the_entry_on_top_and_returns_a_fresh_form(agent_client, agent):
    customer = CustomerFactory()
    add_interactions(customer, 3)
    url = f"/customers/{customer.pk}/interactions/"
    response = agent_client.post(url, log_data(), **HX)
    assert response.status_code == 200
    entry = Interaction.objects.get(customer=customer, summary="Asked where the order is")
    assert (entry.channel, entry.direction, entry.recorded_by) == (
        "phone",
        "inbound",
        agent.username,
    )
    assert entry.body == "Promised a call back"
    html = response.content.decode()
    assert '<ol hx-swap-oob="afterbegin:#timeline-entries">' in html
    assert entry_ids(html) == [entry.pk]
    assert 'id="log-form"' in html and 'value="Asked where' not in html  # emptied for the next one
    assert AuditEvent.objects.filter(action="interaction.log", target_id=str(customer.pk)).exists()
    page = agent_client.get(f"/customers/{customer.pk}/").content.decode()
    assert entry_ids(page)[0] == entry.pk


def test_logging_without_javascript_redirects_back_with_a_message(agent_client):
    customer = CustomerFactory()
    response = agent_client.post(f"/customers/{customer.pk}/interactions/", log_data(), follow=True)
    assert response.redirect_chain == [(f"/customers/{customer.pk}/", 302)]
    assert "Logged: Asked where the order is" in response.content.decode()
    assert entry_ids(response.content.decode()) == [Interaction.objects.get().pk]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"summary": ""}, "Write a short summary of what happened."),
        ({"summary": "x" * 201}, "Keep the summary under 200 characters"),
        ({"channel": "fax"}, "Select a valid choice."),
        ({"occurred_at": "yesterday-ish"}, "Give the date and time like 2026-03-14 09:30."),
        ({"occurred_at": "2999-01-01T10:00"}, "That time is in the future."),
    ],
)
def test_logging_bad_input_says_why_in_plain_words_and_writes_nothing(
    agent_client, overrides, message
):
    customer = CustomerFactory()
    url = f"/customers/{customer.pk}/interactions/"
    for extra in (HX, {}):
        response = agent_client.post(url, log_data(**overrides), **extra)
        assert response.status_code == 200
        assert message in response.content.decode()
    assert not Interaction.objects.exists()
    assert not AuditEvent.objects.filter(action="interaction.log").exists()


def test_only_teams_that_may_add_interactions_see_and_use_the_form(client, staff):
    customer = CustomerFactory()
    for team in ("service", "sales", "supervisor"):
        client.force_login(staff(team))
        assert 'id="log-form"' in client.get(f"/customers/{customer.pk}/").content.decode()
    for team in ("marketing", "operations"):
        client.force_login(staff(team))
        assert 'id="log-form"' not in client.get(f"/customers/{customer.pk}/").content.decode()
        response = client.post(f"/customers/{customer.pk}/interactions/", log_data(), **HX)
        assert response.status_code == 403
    assert not Interaction.objects.exists()


def test_htmx_post_passes_csrf_with_the_header_base_html_sets(agent):
    client = Client(enforce_csrf_checks=True)
    client.force_login(agent)
    customer = CustomerFactory()
    url = f"/customers/{customer.pk}/interactions/"
    assert client.post(url, log_data(), **HX).status_code == 403  # no token
    page = client.get(f"/customers/{customer.pk}/").content.decode()
    token = re.search(r"hx-headers='\{\"X-CSRFToken\": \"([^\"]+)\"\}'", page).group(1)
    response = client.post(url, log_data(), HTTP_X_CSRFTOKEN=token, **HX)
    assert response.status_code == 200
    assert Interaction.objects.filter(customer=customer).count() == 1


def test_logging_on_a_merged_customer_sends_the_agent_to_the_survivor(agent_client):
    survivor = CustomerFactory()
    gone = CustomerFactory(merged_into=survivor)
    response = agent_client.post(f"/customers/{gone.pk}/interactions/", log_data(), **HX)
    assert response["HX-Redirect"] == f"/customers/{survivor.pk}/"
    assert not Interaction.objects.exists()


# --- Panels from later apps -------------------------------------------------------------


def test_panels_render_only_when_they_have_content(agent_client, no_panels, tmp_path, settings):
    customer = CustomerFactory(display_name="Ada")
    template_dir = tmp_path / "templates"
    (template_dir / "probe").mkdir(parents=True)
    (template_dir / "probe" / "panel.html").write_text(
        "<p>{{ note }} for {{ customer.display_name }}</p>"
    )
    settings.TEMPLATES = [
        {**settings.TEMPLATES[0], "DIRS": [*settings.TEMPLATES[0]["DIRS"], template_dir]}
    ]

    def silent(request, customer):
        return None

    def open_cases(request, customer):
        return (
            "Open cases",
            "probe/panel.html",
            {"note": f"2 open cases seen by {request.user.username}"},
        )

    panels.register_customer_panel(silent)
    html = agent_client.get(f"/customers/{customer.pk}/").content.decode()
    assert 'class="panel slot"' not in html
    panels.register_customer_panel(open_cases, order=5)
    panels.register_customer_panel(open_cases)  # twice is once
    html = agent_client.get(f"/customers/{customer.pk}/").content.decode()
    assert html.count('class="panel slot"') == 1
    assert (
        "<h2>Open cases</h2>" in html and "2 open cases seen by" in html and "for Ada</p>" in html
    )
    panels.unregister_customer_panel(open_cases)
    assert (
        'class="panel slot"' not in agent_client.get(f"/customers/{customer.pk}/").content.decode()
    )


# --- Query counts ------------------------------------------------------------------------

# session, user, user perms, group perms, customer, contact points, consents, holdings,
# orders, places, timeline page, the user's teams (navigation).
PAGE_QUERIES = 12
# session, user, user perms, group perms, customer, timeline page, the user's teams (the
# navigation context processor runs for fragments too).
FRAGMENT_QUERIES = 7


def test_360_page_and_timeline_query_counts_are_pinned(
    agent_client, no_panels, django_assert_num_queries
):
    customer = rich_customer(entries=30, orders=8, holdings=6)
    with django_assert_num_queries(PAGE_QUERIES):
        assert agent_client.get(f"/customers/{customer.pk}/").status_code == 200
    with django_assert_num_queries(FRAGMENT_QUERIES):
        assert (
            agent_client.get(f"/customers/{customer.pk}/timeline/?channel=email", **HX).status_code
            == 200
        )
    html = agent_client.get(f"/customers/{customer.pk}/").content.decode()
    more = re.search(r'hx-get="(/customers/\d+/timeline/\?cursor=[^"]+)"', html).group(1)
    with django_assert_num_queries(FRAGMENT_QUERIES):
        assert agent_client.get(more.replace("&amp;", "&"), **HX).status_code == 200


def test_360_page_and_timeline_cost_the_same_with_3_and_30_entries(agent_client):
    """With whatever panels are registered: no N+1 in this page or in any panel."""

    def counts(customer) -> tuple[int, int]:
        with CaptureQueriesContext(connection) as page:
            assert agent_client.get(f"/customers/{customer.pk}/").status_code == 200
        with CaptureQueriesContext(connection) as fragment:
            assert (
                agent_client.get(
                    f"/customers/{customer.pk}/timeline/?channel=phone", **HX
                ).status_code
                == 200
            )
        return len(page), len(fragment)

    small = rich_customer(entries=3, orders=1, holdings=1)
    big = rich_customer(entries=30, orders=12, holdings=9)
    Order.objects.filter(customer=big).update(
        delivered_at=None, status="placed", promised_by=timezone.now()
    )
    assert counts(small) == counts(big)


def test_supervisor_page_query_count_does_not_grow(client, staff):
    client.force_login(staff("supervisor"))

    def count(customer) -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(f"/customers/{customer.pk}/").status_code == 200
        return len(ctx)

    assert count(rich_customer(entries=3)) == count(rich_customer(entries=30, orders=9, holdings=7))


def test_supervisor_admin_lists_and_searches_customers(client, staff):
    CustomerFactory(display_name="Ada Lovelace")
    client.force_login(staff("supervisor"))
    page = client.get("/admin/customers/customer/?q=ada")
    assert page.status_code == 200
    assert "Ada Lovelace" in page.content.decode()
    assert client.get("/admin/cxportal/auditevent/").status_code == 200


def test_demo_customers_have_a_story_and_reseeding_adds_nothing(client):
    from cxportal.demo import demo_seed

    demo_seed(customers=3)
    counts = [m.objects.count() for m in (Interaction, Order, Holding, CustomerPlace)]
    demo_seed(customers=3)
    assert [m.objects.count() for m in (Interaction, Order, Holding, CustomerPlace)] == counts
    first = Customer.objects.order_by("id").first()
    assert 13 <= first.interactions.count() <= 17
    assert len(set(first.interactions.values_list("channel", flat=True))) >= 4
    assert (
        client.post("/login/", {"username": "service", "password": "cx-demo-pass"}).status_code
        == 302
    )
    html = client.get(f"/customers/{first.pk}/").content.decode()
    # One late order and one warranty ending soon (the open-cases panel beside them marks
    # cases late or soon by their SLA clocks, which depend on the hour the test runs).
    assert html.count('<span class="badge bad">Late</span>') == 1
    assert html.count("Warranty ends soon") == 1
    assert len(entry_ids(html)) == first.interactions.count()
