"""Bad input that parses but that the database would refuse is a 400 or a rejected item, never
a 500: ids over 2**63 - 1, numbers too big for a float, date-times far outside our years, NUL
characters and lone surrogates. Also numeric order-number search and who sees consent history.
Run on SQLite and PostgreSQL (PostgreSQL rejects NUL in text, SQLite overflows on big ints)."""

import base64
import json
import urllib.parse
from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.utils import timezone as dj_timezone

from customers.models import ContactPoint, Customer, Interaction, Order
from customers.selectors import customer_exact_match, customer_list
from customers.services import consent_set, customer_bulk_import, interaction_log
from cxportal.pagination import _cursor_decode
from cxportal.validation import (
    DATETIME_MESSAGE,
    ID_MESSAGE,
    NUL_MESSAGE,
    SURROGATE_MESSAGE,
    datetime_problem,
    json_sanitized,
    text_problem,
)
from tests.customers.factories import CustomerFactory

pytestmark = pytest.mark.django_db
NOW = dj_timezone.now().replace(microsecond=0)
YEAR_1_EAST = "0001-01-01T00:00:00+05:00"  # overflows when converted to UTC
YEAR_9999_WEST = "9999-12-31T23:59:59-05:00"


def post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


# --- The shared checks ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, problem",
    [
        (datetime(1900, 1, 1, tzinfo=UTC), None),
        (datetime(2200, 12, 31, 23, 59, tzinfo=UTC), None),
        (datetime(1900, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1))), DATETIME_MESSAGE),
        (datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))), DATETIME_MESSAGE),
        (datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5))), DATETIME_MESSAGE),
        (datetime(1899, 12, 31), DATETIME_MESSAGE),
        (datetime(2026, 5, 1), None),
    ],
)
def test_datetime_problem(value, problem):
    assert datetime_problem(value) == problem


def test_text_problem_and_json_sanitized():
    assert text_problem("ok ✓") is None
    assert text_problem("a\x00b") == NUL_MESSAGE
    assert text_problem("\ud800") == SURROGATE_MESSAGE
    clean = {"a": ["b", 1, None, {"c": 2.5}]}
    assert json_sanitized(clean) is clean
    dirty = {"k\x00": ["x\x00y", {"t": "\ud83dz"}], "n": 1}
    assert json_sanitized(dirty) == {"k": ["xy", {"t": "\ufffdz"}], "n": 1}
    assert json.dumps(json_sanitized(dirty), ensure_ascii=False).encode("utf-8")


# --- Bulk interactions and orders ---------------------------------------------------------------


def interaction(n: int, **fields) -> dict:
    return {
        "channel": "sms",
        "direction": "inbound",
        "occurred_at": (NOW - timedelta(minutes=n)).isoformat(),
        "summary": f"Text {n}",
        "external_id": f"sms-{n}",
        **fields,
    }


def test_interactions_the_database_would_refuse_are_rejected_and_the_good_ones_created(partner):
    customer = CustomerFactory()
    cid = customer.pk
    items = [
        interaction(0, customer_id=cid),
        interaction(1, customer_id=2**63),
        interaction(2, customer_id=2**70),
        interaction(3, customer_id=cid, sentiment=10**400),
        interaction(4, customer_id=cid, occurred_at=YEAR_1_EAST),
        interaction(5, customer_id=cid, occurred_at=YEAR_9999_WEST),
        interaction(6, customer_id=cid, body="a\x00b"),
        interaction(7, customer_id=cid, external_id="sms-7\x00"),
        interaction(8, contact={"kind": "app", "value": "ab\x00c"}),
        interaction(9, customer_id=cid, summary="\ud800"),
        interaction(10, contact={"kind": "email", "value": "x\ud800@example.com"}),
        interaction(11, customer_id=cid, external_id="\udfff"),
        interaction(12, contact={"kind": "app", "value": "app-user-12"}),
    ]
    response = post(partner(["interactions:write"]), "/api/v1/interactions/bulk/", {"items": items})
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["created"] + ["rejected"] * 11 + ["created"]
    errors = {r["index"]: r["errors"] for r in results if r["status"] == "rejected"}
    assert errors == {
        1: {"customer_id": [ID_MESSAGE]},
        2: {"customer_id": [ID_MESSAGE]},
        3: {"sentiment": ["A number from -1 (negative) to 1 (positive)."]},
        4: {"occurred_at": [DATETIME_MESSAGE]},
        5: {"occurred_at": [DATETIME_MESSAGE]},
        6: {"body": [NUL_MESSAGE]},
        7: {"external_id": [NUL_MESSAGE]},
        8: {"contact": {"value": [NUL_MESSAGE]}},
        9: {"summary": [SURROGATE_MESSAGE]},
        10: {"contact": {"value": [SURROGATE_MESSAGE]}},
        11: {"external_id": [SURROGATE_MESSAGE]},
    }
    assert sorted(Interaction.objects.values_list("external_id", flat=True)) == [
        "sms-0",
        "sms-12",
    ]
    # Only the good contact item made a prospect.
    assert list(ContactPoint.objects.values_list("normalized", flat=True)) == ["APP-USER-12"]
    assert Customer.objects.count() == 2


def test_the_largest_id_is_a_clean_unknown_customer(partner):
    items = [interaction(0, customer_id=2**63 - 1)]
    body = post(partner(["interactions:write"]), "/api/v1/interactions/bulk/", {"items": items})
    assert body.json()["results"][0]["errors"] == {
        "customer_id": [f"No customer with id {2**63 - 1}."]
    }


def test_an_unknown_field_named_with_a_lone_surrogate_is_a_400(partner):
    client = partner(["interactions:write"])
    response = post(client, "/api/v1/interactions/bulk/", {"items": [{"\ud800": 1}]})
    assert response.status_code == 400
    assert list(response.json()["errors"]["0"]) == ["'\\ud800'"]
    response = post(client, "/api/v1/interactions/bulk/", {"items": [], "\ud800": 1})
    assert response.status_code == 400
    assert response.json()["errors"] == {"'\\ud800'": ["Unknown field."]}


def order(n: int, customer_id: int, **fields) -> dict:
    return {
        "external_id": f"ORD-{n}",
        "customer_id": customer_id,
        "placed_at": (NOW - timedelta(days=2)).isoformat(),
        "shipping_method": "express",
        **fields,
    }


def test_orders_the_database_would_refuse_are_rejected_and_the_good_ones_created(partner):
    cid = CustomerFactory().pk
    items = [
        order(0, cid),
        order(1, cid, placed_at=YEAR_1_EAST),
        order(2, cid, promised_by=YEAR_1_EAST),
        order(3, cid, delivered_at=YEAR_9999_WEST, status="delivered"),
        order(4, 2**63),
        order(5, cid, external_id="ORD-5\x00"),
        order(6, cid, external_id="ORD-\ud800"),
        order(7, cid),
    ]
    response = post(partner(["orders:write"]), "/api/v1/orders/bulk/", {"items": items})
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["created"] + ["rejected"] * 6 + ["created"]
    assert {r["index"]: r["errors"] for r in results if r["status"] == "rejected"} == {
        1: {"placed_at": [DATETIME_MESSAGE]},
        2: {"promised_by": [DATETIME_MESSAGE]},
        3: {"delivered_at": [DATETIME_MESSAGE]},
        4: {"customer_id": [ID_MESSAGE]},
        5: {"external_id": [NUL_MESSAGE]},
        6: {"external_id": [SURROGATE_MESSAGE]},
    }
    assert sorted(Order.objects.values_list("external_id", flat=True)) == ["ORD-0", "ORD-7"]


def test_import_rejects_rows_with_text_the_database_would_refuse():
    rows = [
        {"display_name": "Ann", "email": "ann@example.com"},
        {"display_name": "B\x00b", "email": "bob@example.com"},
        {"display_name": "Cy", "email": "cy@example.com", "region": "\ud800"},
    ]
    results = customer_bulk_import(actor=None, rows=rows)
    assert [r.status for r in results] == ["created", "rejected", "rejected"]
    assert results[1].errors["display_name"] == [NUL_MESSAGE]
    assert results[2].errors["region"] == [SURROGATE_MESSAGE]
    assert list(Customer.objects.values_list("display_name", flat=True)) == ["Ann"]


# --- Filters --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query, field",
    [
        ({"created_after": YEAR_1_EAST}, "created_after"),
        ({"created_before": YEAR_9999_WEST}, "created_before"),
        ({"created_after": "1899-12-31T00:00:00Z"}, "created_after"),
    ],
)
def test_a_date_filter_out_of_range_is_a_400_with_the_field(api_as, query, field):
    CustomerFactory()
    response = api_as("service").get("/api/v1/customers/", query)
    assert response.status_code == 400, response.content
    assert response.json()["errors"] == {field: [DATETIME_MESSAGE]}


def test_a_date_filter_in_range_still_filters(api_as):
    CustomerFactory()
    api = api_as("service")
    assert (
        len(
            api.get("/api/v1/customers/", {"created_after": "1900-01-01T00:00:00Z"}).json()[
                "results"
            ]
        )
        == 1
    )
    assert (
        api.get("/api/v1/customers/", {"created_after": "2199-01-01T00:00:00Z"}).json()["results"]
        == []
    )


def test_a_date_filter_out_of_range_is_a_form_error_on_the_staff_list(client, staff):
    CustomerFactory(display_name="Somebody Listed")
    client.force_login(staff("service"))
    response = client.get("/customers/", {"created_after": YEAR_1_EAST})
    assert response.status_code == 200
    page = response.content.decode()
    assert 'role="alert"' in page and "between the years 1900 and 2200" in page
    assert "Somebody Listed" not in page


# --- Cursors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cursor",
    [
        "2025-13-45T00:00:00_1",
        "2025-02-30T00:00:00_1",
        f"{YEAR_1_EAST}_1",
        f"{YEAR_9999_WEST}_1",
        f"2025-01-01T00:00:00+00:00_{2**63}",
    ],
)
def test_a_malformed_staff_timeline_cursor_starts_from_the_top(client, staff, cursor):
    assert _cursor_decode(cursor) is None
    customer = CustomerFactory()
    interaction_log(
        actor=None,
        customer=customer,
        channel="phone",
        direction="inbound",
        summary="Called about a refund",
    )
    client.force_login(staff("service"))
    page = client.get(f"/customers/{customer.pk}/", {"cursor": cursor})
    assert page.status_code == 200
    assert "Called about a refund" in page.content.decode()
    fragment = client.get(
        f"/customers/{customer.pk}/timeline/", {"cursor": cursor}, HTTP_HX_REQUEST="true"
    )
    assert fragment.status_code == 200
    assert "Called about a refund" in fragment.content.decode()


def test_a_good_staff_timeline_cursor_still_decodes():
    when, pk = _cursor_decode("2025-01-01T10:00:00+00:00_42")
    assert (when, pk) == (datetime(2025, 1, 1, 10, tzinfo=UTC), 42)


@pytest.mark.parametrize(
    "position",
    [
        YEAR_1_EAST + "|1",
        YEAR_9999_WEST + "|1",
        "2025-02-30T00:00:00|1",
        f"2025-01-01T00:00:00Z|{2**63}",
    ],
)
def test_an_api_timeline_cursor_out_of_range_is_a_400(partner, position):
    customer = CustomerFactory()
    cursor = base64.b64encode(urllib.parse.urlencode({"p": position}).encode()).decode()
    response = partner(["customers:read"]).get(
        f"/api/v1/customers/{customer.pk}/timeline/", {"cursor": cursor}
    )
    assert response.status_code == 400, response.content
    assert list(response.json()["errors"]) == ["cursor"]


# --- Numeric order numbers --------------------------------------------------------------------


def test_a_number_finds_an_order_number_and_a_phone(staff, django_assert_num_queries):
    actor = staff("service")
    buyer = CustomerFactory(display_name="Numeric Buyer")
    Order.objects.create(
        customer=buyer, external_id="4500012345", placed_at=NOW, shipping_method="express"
    )
    caller = CustomerFactory(display_name="Phone Caller")
    ContactPoint.objects.create(
        customer=caller, kind="phone", value="07700 900123", normalized="+447700900123"
    )
    both = CustomerFactory(display_name="Order Like A Phone")
    Order.objects.create(
        customer=both, external_id="07700900123", placed_at=NOW, shipping_method="standard"
    )

    assert set(customer_list(actor=actor, filters={"q": "07700900123"})) == {caller, both}
    # Written like a phone (with a + or spaces) it is only a phone.
    assert list(customer_list(actor=actor, filters={"q": "+44 7700 900123"})) == [caller]
    assert list(customer_list(actor=actor, filters={"q": "07700 900123"})) == [caller]
    assert list(customer_list(actor=actor, filters={"q": "4500099999"})) == []

    with django_assert_num_queries(2):  # contact point ∪ order number, then the customers
        assert list(customer_list(actor=actor, filters={"q": "4500012345"})) == [buyer]
    assert customer_exact_match(actor=actor, query="4500012345") == buyer
    assert customer_exact_match(actor=actor, query="07700900123") is None  # two people


def test_a_numeric_order_number_redirects_the_staff_search_and_works_in_the_api(
    client, staff, api_as
):
    buyer = CustomerFactory(display_name="Numeric Buyer")
    Order.objects.create(
        customer=buyer, external_id="4500012345", placed_at=NOW, shipping_method="express"
    )
    CustomerFactory(display_name="Somebody Else")
    client.force_login(staff("service"))
    response = client.get("/customers/", {"q": "4500012345"})
    assert response.status_code == 302 and response["Location"] == f"/customers/{buyer.pk}/"
    found = api_as("service").get("/api/v1/customers/", {"q": "4500012345"}).json()["results"]
    assert [c["id"] for c in found] == [buyer.pk]


# --- Consent history is for those who may see it ---------------------------------------------


def test_operations_sees_current_consent_but_not_its_history(api_as, partner):
    customer = CustomerFactory()
    consent_set(
        actor=None,
        customer=customer,
        channel="email",
        purpose="marketing",
        granted=True,
        source="form",
    )
    url = f"/api/v1/customers/{customer.pk}/consent/"
    ops = api_as("operations").get(url)
    assert ops.status_code == 200
    assert [c["status"] for c in ops.json()["current"]] == ["granted"]
    assert "history" not in ops.json()
    for client in (api_as("service"), partner(["customers:read"])):
        history = client.get(url).json()["history"]
        assert [(e["status"], e["source"]) for e in history] == [("granted", "form")]


def test_the_schema_says_consent_history_may_be_omitted(api_as):
    schema = api_as("service").get("/api/schema/", {"format": "json"}).json()
    overview = schema["components"]["schemas"]["ConsentOverview"]
    assert "history" in overview["properties"]
    assert "history" not in overview.get("required", [])
    assert "customers.view_consentevent" in overview["properties"]["history"]["description"]
