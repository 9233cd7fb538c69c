"""``GET /api/v1/customers/{id}/timeline/``: keyset cursor pages over (-occurred_at, -id)."""

import base64
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from customers.models import Interaction
from tests.customers.factories import CustomerFactory

pytestmark = pytest.mark.django_db
CHANNELS = ["email", "sms", "app", "phone", "social", "store", "web"]


def timeline_url(customer, **params) -> str:
    query = f"?{urlencode(params)}" if params else ""
    return f"/api/v1/customers/{customer.pk}/timeline/{query}"


def add_interactions(customer, n: int, *, at=None, step=timedelta(minutes=1), channel=None):
    """``n`` interactions, ``step`` apart going back from ``at`` (step 0: all at one time)."""
    at = at or timezone.now()
    rows = [
        Interaction(
            customer=customer,
            channel=channel or CHANNELS[i % len(CHANNELS)],
            direction="inbound",
            occurred_at=at - step * i,
            summary=f"#{i}",
        )
        for i in range(n)
    ]
    return Interaction.objects.bulk_create(rows)


def expected_ids(customer, channel=None) -> list[int]:
    qs = Interaction.objects.filter(customer=customer)
    if channel:
        qs = qs.filter(channel=channel)
    return list(qs.order_by("-occurred_at", "-id").values_list("id", flat=True))


def walk(client, url, direction="next"):
    """Every page from ``url`` following ``direction`` links: [[ids of a page], ...]."""
    pages = []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.json()
        body = response.json()
        pages.append([row["id"] for row in body["results"]])
        url = body[direction]
    return pages


def test_newest_first_across_channels_with_every_field(api_as):
    customer = CustomerFactory()
    add_interactions(customer, 7)
    body = api_as("service").get(timeline_url(customer)).json()
    assert [r["id"] for r in body["results"]] == expected_ids(customer)
    assert {r["channel"] for r in body["results"]} == set(CHANNELS)
    assert set(body["results"][0]) == {
        "id",
        "channel",
        "direction",
        "occurred_at",
        "summary",
        "body",
        "external_id",
        "sentiment",
        "recorded_by",
        "created_at",
    }
    assert body["next"] is None and body["previous"] is None


def test_cursor_walks_the_whole_timeline_without_gaps_or_duplicates_on_ties(api_as):
    customer = CustomerFactory()
    now = timezone.now().replace(microsecond=0)
    add_interactions(customer, 4, at=now + timedelta(hours=1))
    add_interactions(customer, 7, at=now, step=timedelta(0))  # seven share one occurred_at
    add_interactions(customer, 4, at=now - timedelta(hours=1))
    add_interactions(customer, 5, at=now - timedelta(hours=2), step=timedelta(0))
    add_interactions(CustomerFactory(), 5, at=now, step=timedelta(0))  # someone else's
    api = api_as("service")
    expected = expected_ids(customer)
    for size in (1, 2, 3, 4, 6):
        pages = walk(api, timeline_url(customer, page_size=size))
        assert [i for page in pages for i in page] == expected, size
        assert all(len(page) == size for page in pages[:-1])


def test_previous_links_walk_back_to_the_first_page(api_as):
    customer = CustomerFactory()
    add_interactions(customer, 9, step=timedelta(0))
    api = api_as("service")
    forward = walk(api, timeline_url(customer, page_size=2))
    last = api.get(timeline_url(customer, page_size=2))
    for _ in range(len(forward) - 1):
        last = api.get(last.json()["next"])
    backward = walk(api, last.json()["previous"], direction="previous")
    assert backward == list(reversed(forward[:-1]))


def test_more_ties_than_drfs_offset_cap_are_still_walked_exactly(api_as):
    # DRF's own CursorPagination steps over ties with an OFFSET capped at 1,000.
    customer = CustomerFactory()
    add_interactions(customer, 1_050, step=timedelta(0), channel="email")
    pages = walk(api_as("service"), timeline_url(customer, page_size=100))
    assert [i for page in pages for i in page] == expected_ids(customer)
    assert len(pages) == 11


def test_channel_filter(api_as):
    customer = CustomerFactory()
    add_interactions(customer, 14)
    api = api_as("sales")
    rows = api.get(timeline_url(customer, channel="sms")).json()["results"]
    assert [r["id"] for r in rows] == expected_ids(customer, "sms") and len(rows) == 2
    pages = walk(api, timeline_url(customer, channel="email", page_size=1))
    assert [i for page in pages for i in page] == expected_ids(customer, "email")
    everything = api.get(timeline_url(customer, channel="")).json()["results"]
    assert len(everything) == 14


@pytest.mark.parametrize("channel", ["fax", "EMAIL", "email,sms", "x" * 5000])
def test_unknown_channel_is_400_with_details(api_as, channel):
    customer = CustomerFactory()
    response = api_as("service").get(timeline_url(customer, channel=channel))
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and list(body["errors"]) == ["channel"]
    assert "not a valid choice" in body["errors"]["channel"][0]


def test_unknown_customer_is_404_before_the_channel_is_looked_at(api_as):
    response = api_as("service").get("/api/v1/customers/999999/timeline/?channel=fax")
    assert response.status_code == 404


def test_page_size_is_capped_and_a_bad_one_falls_back_to_the_default(api_as):
    customer = CustomerFactory()
    add_interactions(customer, 130)
    api = api_as("service")
    assert len(api.get(timeline_url(customer, page_size=100_000)).json()["results"]) == 100
    assert len(api.get(timeline_url(customer, page_size=7)).json()["results"]) == 7
    for bad in ("abc", "-3", "0", ""):
        assert len(api.get(timeline_url(customer, page_size=bad)).json()["results"]) == 25


def _cursor(**fields) -> str:
    return base64.b64encode(urlencode(fields).encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "not-base64!",
        _cursor(p="yesterday|12"),
        _cursor(p="2024-01-01T00:00:00+00:00|x"),
        _cursor(p="2024-13-45T00:00:00+00:00|1"),
        _cursor(p="2024-01-01T00:00:00+00:00|99999999999999999999999"),
        _cursor(p="2024-01-01T00:00:00+00:00"),
    ],
)
def test_malformed_cursor_is_400(api_as, cursor):
    customer = CustomerFactory()
    add_interactions(customer, 3)
    response = api_as("service").get(timeline_url(customer, cursor=cursor))
    assert response.status_code == 400, response.content
    assert list(response.json()["errors"]) == ["cursor"]


def test_a_forged_offset_is_ignored(api_as):
    customer = CustomerFactory()
    add_interactions(customer, 6)
    api = api_as("service")
    first = api.get(timeline_url(customer, page_size=2)).json()
    cursor = parse_qs(urlparse(first["next"]).query)["cursor"][0]
    fields = parse_qs(base64.b64decode(cursor).decode())
    forged = _cursor(o=500, p=fields["p"][0])
    rows = api.get(timeline_url(customer, page_size=2, cursor=forged)).json()["results"]
    assert [r["id"] for r in rows] == expected_ids(customer)[2:4]


# --- Cost ---------------------------------------------------------------------------------


def _fresh_client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(type(user).objects.get(pk=user.pk))  # cold permission cache
    return client


def test_query_count_is_pinned_and_does_not_grow_with_interactions(
    staff, django_assert_num_queries
):
    user = staff("service")
    customer = CustomerFactory()
    add_interactions(customer, 3)
    # user perms, group perms, the customer, the page
    api = _fresh_client(user)
    with django_assert_num_queries(4):
        small = api.get(timeline_url(customer))
    add_interactions(customer, 27, at=timezone.now() - timedelta(days=1))
    api = _fresh_client(user)
    with django_assert_num_queries(4):
        large = api.get(timeline_url(customer, page_size=30))
    assert (len(small.json()["results"]), len(large.json()["results"])) == (3, 30)
    api = _fresh_client(user)
    with django_assert_num_queries(4):
        assert api.get(timeline_url(customer, channel="sms")).status_code == 200


def test_page_100_costs_what_page_1_costs_and_never_uses_offset(staff):
    user = staff("service")
    customer = CustomerFactory()
    add_interactions(customer, 60, step=timedelta(0))
    add_interactions(customer, 60, at=timezone.now() - timedelta(days=1))
    url, page_sql = timeline_url(customer, page_size=1), {}
    for number in range(1, 101):
        api = _fresh_client(user)
        with CaptureQueriesContext(connection) as ctx:
            body = api.get(url).json()
        page_sql[number] = [q["sql"] for q in ctx.captured_queries]
        url = body["next"]
    assert len(page_sql[1]) == len(page_sql[100]) == 4
    assert body["results"][0]["id"] == expected_ids(customer)[99]
    timeline_query = page_sql[100][-1]
    assert "OFFSET" not in timeline_query.upper()
    assert "LIMIT 2" in timeline_query.upper()


def test_staff_notes_are_on_the_staff_timeline_but_never_shown_to_partners(api_as, partner):
    customer = CustomerFactory()
    now = timezone.now()
    for direction in ("inbound", "internal", "outbound"):
        Interaction.objects.create(
            customer=customer,
            channel="phone",
            direction=direction,
            occurred_at=now,
            summary=f"{direction} entry",
        )
    staff_seen = {
        i["direction"] for i in api_as("service").get(timeline_url(customer)).json()["results"]
    }
    partner_seen = {
        i["direction"]
        for i in partner(["customers:read"]).get(timeline_url(customer)).json()["results"]
    }
    assert staff_seen == {"inbound", "internal", "outbound"}
    assert partner_seen == {"inbound", "outbound"}
