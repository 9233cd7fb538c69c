import json
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from customers.models import Customer, Interaction, Order
from tests.customers.factories import CustomerFactory

pytestmark = pytest.mark.django_db
INTERACTIONS = "/api/v1/interactions/bulk/"
ORDERS = "/api/v1/orders/bulk/"
NOW = timezone.now().replace(microsecond=0)


def interaction(n: int, **fields) -> dict:
    item = {
        "channel": "sms",
        "direction": "inbound",
        "occurred_at": (NOW - timedelta(minutes=n)).isoformat(),
        "summary": f"Text {n}",
        "body": "Where is my parcel?",
        "external_id": f"sms-{n}",
    }
    item.update(fields)
    return item


def post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


def test_partner_sends_a_mixed_batch(partner):
    customer = CustomerFactory()
    items = [
        interaction(0, customer_id=customer.pk),
        interaction(1, channel="fax", customer_id=customer.pk),
        interaction(2, contact={"kind": "email", "value": "new.person@example.com"}),
        interaction(3, contact={"kind": "phone", "value": "not a phone"}),
    ]
    response = post(partner(["interactions:write"]), INTERACTIONS, {"items": items})
    assert response.status_code == 200, response.json()
    body = response.json()
    prospect = Customer.objects.get(contact_points__normalized="new.person@example.com")
    first, fax, created, bad_phone = body["results"]
    assert first == {
        "index": 0,
        "status": "created",
        "id": Interaction.objects.get(external_id="sms-0").pk,
        "customer_id": customer.pk,
    }
    assert fax["status"] == "rejected" and "channel" in fax["errors"] and "id" not in fax
    assert (created["status"], created["customer_id"]) == ("created", prospect.pk)
    assert "phone" in bad_phone["errors"]["contact"]["value"][0]
    assert body["counts"] == {"created": 2, "updated": 0, "unchanged": 0, "rejected": 2}

    replay = post(partner(["interactions:write"]), INTERACTIONS, {"items": items}).json()
    assert replay["counts"] == {"created": 0, "updated": 0, "unchanged": 2, "rejected": 2}
    assert Interaction.objects.count() == 2 and Customer.objects.count() == 2


def test_staff_with_add_interaction_may_post(api_as):
    customer = CustomerFactory()
    response = post(
        api_as("service"), INTERACTIONS, {"items": [interaction(0, customer_id=customer.pk)]}
    )
    assert response.status_code == 200
    assert Interaction.objects.get().recorded_by.startswith("user")


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("anonymous", 401),
        ("key without scope", 403),
        ("orders key", 403),
        ("marketing", 403),
        ("no team", 403),
    ],
)
def test_who_may_not_post_interactions(who, status, api, partner, api_as):
    client = {
        "anonymous": lambda: api,
        "key without scope": lambda: partner(["customers:write"]),
        "orders key": lambda: partner(["orders:write"]),
        "marketing": lambda: api_as("marketing"),
        "no team": lambda: api_as(None),
    }[who]()
    customer = CustomerFactory()
    response = post(client, INTERACTIONS, {"items": [interaction(0, customer_id=customer.pk)]})
    assert response.status_code == status
    assert set(response.json()) == {"message", "code", "errors"}
    assert not Interaction.objects.exists()


def test_orders_need_orders_scope_or_add_order(partner, api_as):
    customer = CustomerFactory()
    item = {
        "customer_id": customer.pk,
        "external_id": "ORD-1",
        "placed_at": NOW.isoformat(),
        "shipping_method": "express",
    }
    assert post(partner(["interactions:write"]), ORDERS, {"items": [item]}).status_code == 403
    assert post(api_as("marketing"), ORDERS, {"items": [item]}).status_code == 403
    assert not Order.objects.exists()
    response = post(partner(["orders:write"]), ORDERS, {"items": [item]})
    assert response.status_code == 200
    assert response.json()["results"][0]["status"] == "created"
    item["status"] = "shipped"
    response = post(api_as("sales"), ORDERS, {"items": [item]})
    assert response.json()["counts"] == {"created": 0, "updated": 1, "unchanged": 0, "rejected": 0}
    assert Order.objects.get().status == "shipped"


def test_1001_items_is_400_and_nothing_written(partner):
    customer = CustomerFactory()
    items = [interaction(n, customer_id=customer.pk) for n in range(1001)]
    response = post(partner(["interactions:write"]), INTERACTIONS, {"items": items})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and "At most 1000 items" in body["message"]
    assert "items" in body["errors"]
    assert not Interaction.objects.exists()


@pytest.mark.parametrize(
    ("payload", "errors"),
    [
        ([1, 2], {"items": ['This field is required: send {"items": [...]}.']}),
        ({"items": "all of them"}, {"items": ["Expected a list, got a string."]}),
        ({"items": [], "extra": 1}, {"extra": ["Unknown field."]}),
    ],
)
def test_body_that_is_not_a_batch_is_400(partner, payload, errors):
    response = post(partner(["interactions:write"]), INTERACTIONS, payload)
    assert response.status_code == 400
    assert response.json()["errors"] == errors


def test_wrong_types_are_400_with_per_item_details_and_nothing_written(partner):
    customer = CustomerFactory()
    items = [
        interaction(0, customer_id=customer.pk),
        interaction(1, customer_id=customer.pk),
        interaction(2, customer_id=customer.pk),
        interaction(3, customer_id=customer.pk, channel=["sms"]),
        interaction(4, customer_id=str(customer.pk), occurred_at=12),
    ]
    response = post(partner(["interactions:write"]), INTERACTIONS, {"items": items})
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "3": {"channel": ["Expected a string, got a list."]},
        "4": {
            "customer_id": ["Expected an integer, got a string."],
            "occurred_at": ["Expected a string or a date-time, got an integer."],
        },
    }
    assert not Interaction.objects.exists()


def test_invalid_json_is_400(partner):
    client = partner(["interactions:write"])
    response = client.post(INTERACTIONS, '{"items": [', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"
    response = client.post(INTERACTIONS, '{"items": [NaN]}', content_type="application/json")
    assert response.status_code == 400


@override_settings(CXPORTAL_BULK_MAX_BODY_BYTES=10_000)
def test_oversized_body_is_400_json(partner):
    customer = CustomerFactory()
    items = [interaction(0, customer_id=customer.pk, body="x" * 20_000)]
    response = post(partner(["interactions:write"]), INTERACTIONS, {"items": items})
    assert response.status_code == 400
    assert response.json()["code"] == "too_large"
    assert not Interaction.objects.exists()


def test_a_full_batch_of_64kb_bodies_is_accepted(partner):
    customer = CustomerFactory()
    body = "é" + "x" * (Interaction.BODY_MAX - 1)
    items = [interaction(n, customer_id=customer.pk, body=body) for n in range(1000)]
    response = post(partner(["interactions:write"]), INTERACTIONS, {"items": items})
    assert response.status_code == 200
    assert response.json()["counts"]["created"] == 1000
    assert Interaction.objects.filter(body=body).count() == 1000


def test_get_is_405(partner):
    assert partner(["interactions:write"]).get(INTERACTIONS).status_code == 405


def test_query_count_is_the_same_for_10_and_100_items(partner, django_assert_num_queries):
    customers = CustomerFactory.create_batch(3)
    client = partner(["interactions:write"])
    post(client, INTERACTIONS, {"items": [interaction(999, customer_id=customers[0].pk)]})

    def batch(start: int, size: int) -> dict:
        return {
            "items": [
                interaction(start + n, customer_id=customers[n % 3].pk)
                if n % 2
                else interaction(
                    start + n, contact={"kind": "email", "value": f"p{start + n}@x.org"}
                )
                for n in range(size)
            ]
        }

    # savepoint, stored lookup, customers, contact points, prospects, their contact points,
    # owners, insert, re-read, audit, release (the key was cached by the first post).
    for start, size in ((0, 10), (100, 100)):
        with django_assert_num_queries(11):
            response = post(client, INTERACTIONS, batch(start, size))
        assert response.json()["counts"]["created"] == size


def test_schema_documents_the_bulk_endpoints(api_as):
    schema = api_as("supervisor").get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/interactions/bulk/"]["post"]
    request = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert request.endswith("/InteractionBulkInput")
    item = schema["components"]["schemas"]["InteractionBulkItem"]
    assert {"channel", "external_id", "contact", "customer_id"} <= set(item["properties"])
    assert set(operation["responses"]) == {"200", "400"}
    assert "/api/v1/orders/bulk/" in schema["paths"]
