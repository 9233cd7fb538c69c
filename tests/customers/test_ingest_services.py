import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from customers.models import ContactPoint, Customer, Interaction, Order
from customers.services import (
    customer_bulk_import,
    interaction_bulk_ingest,
    order_bulk_upsert,
)
from customers.services.ingest import INTERACTION_SHAPE, BulkInputError
from cxportal.models import AuditEvent
from tests.customers.factories import CustomerFactory

pytestmark = pytest.mark.django_db
NOW = timezone.now().replace(microsecond=0)


def interaction(n: int, **fields) -> dict:
    item = {
        "channel": "app",
        "direction": "inbound",
        "occurred_at": (NOW - timedelta(minutes=n)).isoformat(),
        "summary": f"App event {n}",
        "body": "Tapped 'track my order'.",
        "external_id": f"evt-{n}",
    }
    item.update(fields)
    return item


def order(external_id: str, **fields) -> dict:
    item = {
        "external_id": external_id,
        "placed_at": (NOW - timedelta(days=2)).isoformat(),
        "shipping_method": "express",
        "promised_by": (NOW + timedelta(days=1)).isoformat(),
        "status": "placed",
        "total": "19.99",
    }
    item.update(fields)
    return item


def statuses(results) -> list[str]:
    return [r.status for r in results]


def test_new_batch_is_created_and_replay_changes_nothing():
    customer = CustomerFactory()
    items = [interaction(n, customer_id=customer.pk) for n in range(5)]
    first = interaction_bulk_ingest(actor=None, items=items)
    assert statuses(first) == ["created"] * 5
    assert {r.customer_id for r in first} == {customer.pk}
    stored = Interaction.objects.get(pk=first[2].id)
    assert (stored.external_id, stored.summary, stored.recorded_by) == (
        "evt-2",
        "App event 2",
        "system",
    )
    counts = (Interaction.objects.count(), Customer.objects.count(), AuditEvent.objects.count())

    replay = interaction_bulk_ingest(actor=None, items=items)
    assert statuses(replay) == ["unchanged"] * 5
    assert [r.id for r in replay] == [r.id for r in first]
    assert (Interaction.objects.count(), Customer.objects.count(), AuditEvent.objects.count()) == (
        counts
    )


def test_one_audit_event_per_batch_with_counts():
    customer = CustomerFactory()
    items = [interaction(n, customer_id=customer.pk) for n in range(3)]
    items.append(interaction(9, customer_id=customer.pk, channel="fax"))
    interaction_bulk_ingest(actor=None, items=items)
    event = AuditEvent.objects.get()
    assert event.action == "interaction.bulk_ingest"
    assert event.target_type == "contenttypes.contenttype"
    assert (event.after["created"], event.after["rejected"], event.after["items"]) == (3, 1, 4)


def test_mixed_batch_rejects_bad_items_and_keeps_good_ones():
    customer = CustomerFactory()
    items = [
        interaction(0, customer_id=customer.pk),
        interaction(1, customer_id=customer.pk, channel="fax"),
        interaction(2, contact={"kind": "email", "value": "not-an-email"}),
        interaction(3, contact={"kind": "phone", "value": "12"}),
        interaction(4, customer_id=customer.pk, occurred_at="yesterday"),
        interaction(5, customer_id=customer.pk, external_id=""),
        interaction(6, customer_id=customer.pk, body="x" * (Interaction.BODY_MAX + 1)),
        interaction(7, customer_id=customer.pk, summary="s" * 201),
        interaction(8, customer_id=999_999_999),
        interaction(9, customer_id=customer.pk, sentiment=3),
        interaction(10),
        interaction(0, customer_id=customer.pk, summary="same external id as item 0"),
        interaction(11, customer_id=customer.pk),
    ]
    results = interaction_bulk_ingest(actor=None, items=items)
    assert statuses(results) == ["created"] + ["rejected"] * 11 + ["created"]
    errors = {r.index: r.errors for r in results if r.errors}
    assert "Unknown value 'fax'" in errors[1]["channel"][0]
    assert "not a valid email" in errors[2]["contact"]["value"][0]
    assert "phone" in errors[3]["contact"]["value"][0]
    assert "ISO 8601" in errors[4]["occurred_at"][0]
    assert "required" in errors[5]["external_id"][0]
    assert "65536" in errors[6]["body"][0]
    assert "200" in errors[7]["summary"][0]
    assert "No customer with id 999999999" in errors[8]["customer_id"][0]
    assert "sentiment" in errors[9]
    assert "customer" in errors[10]
    assert "Item 0" in errors[11]["external_id"][0]
    assert Interaction.objects.count() == 2
    # A rejected item writes nothing: no prospect for the malformed contact points.
    assert Customer.objects.count() == 1 and not ContactPoint.objects.exists()


def test_contact_point_in_three_items_creates_one_prospect():
    items = [
        interaction(n, contact={"kind": "email", "value": value})
        for n, value in enumerate(["Ada@Example.com", "ada@example.com ", "ADA@example.COM"])
    ]
    results = interaction_bulk_ingest(actor=None, items=items)
    assert statuses(results) == ["created"] * 3
    prospect = Customer.objects.get()
    assert prospect.lifecycle_stage == Customer.Lifecycle.PROSPECT
    assert {r.customer_id for r in results} == {prospect.pk}
    point = ContactPoint.objects.get()
    assert (point.customer_id, point.kind, point.normalized) == (
        prospect.pk,
        "email",
        "ada@example.com",
    )
    assert AuditEvent.objects.get().after["prospects_created"] == [prospect.pk]

    interaction_bulk_ingest(actor=None, items=items)
    assert Customer.objects.count() == 1 and ContactPoint.objects.count() == 1


def test_known_contact_point_and_social_handle_resolve():
    customer = CustomerFactory()
    ContactPoint.objects.create(
        customer=customer, kind="phone", value="07700 900123", normalized="+447700900123"
    )
    items = [
        interaction(0, contact={"kind": "phone", "value": "+44 7700 900123"}),
        interaction(1, contact={"kind": "social", "value": "@Ada_L", "network": "Twitter"}),
    ]
    results = interaction_bulk_ingest(actor=None, items=items)
    assert results[0].customer_id == customer.pk
    assert results[1].customer_id != customer.pk
    handle = ContactPoint.objects.get(kind="social")
    assert (handle.network, handle.normalized) == ("twitter", "twitter:ada_l")


def test_merged_customer_resolves_to_survivor():
    survivor = CustomerFactory()
    middle = CustomerFactory(merged_into=survivor)
    merged = CustomerFactory(merged_into=middle)
    ContactPoint.objects.create(
        customer=merged, kind="email", value="old@example.com", normalized="old@example.com"
    )
    items = [
        interaction(0, customer_id=merged.pk),
        interaction(1, contact={"kind": "email", "value": "old@example.com"}),
    ]
    results = interaction_bulk_ingest(actor=None, items=items)
    assert [r.customer_id for r in results] == [survivor.pk, survivor.pk]
    assert set(Interaction.objects.values_list("customer_id", flat=True)) == {survivor.pk}


def test_erased_customer_is_rejected():
    customer = CustomerFactory(erased_at=NOW)
    [result] = interaction_bulk_ingest(actor=None, items=[interaction(0, customer_id=customer.pk)])
    assert result.status == "rejected" and "erased" in result.errors["customer_id"][0]


GOOD = interaction(50, customer_id=1)


@pytest.mark.parametrize(
    ("items", "errors"),
    [
        ({"channel": "app"}, {"items": ["Expected a list, got an object."]}),
        ([GOOD] * 1001, {"items": ["At most 1000 items per batch; got 1001."]}),
        (
            [GOOD, {**GOOD, "customer_id": "7"}],
            {"1": {"customer_id": ["Expected an integer, got a string."]}},
        ),
        (
            [GOOD, {**GOOD, "channel": 5}],
            {"1": {"channel": ["Expected a string, got an integer."]}},
        ),
        (
            [GOOD, {**GOOD, "sentiment": True}],
            {"1": {"sentiment": ["Expected an integer or a number, got a boolean."]}},
        ),
        (
            [GOOD, {**GOOD, "colour": "red"}],
            {"1": {"colour": [f"Unknown field; known: {', '.join(INTERACTION_SHAPE)}."]}},
        ),
        (
            [GOOD, interaction(1, contact={"kind": "email", "value": ["a@b.c"]})],
            {"1": {"contact": {"value": ["Expected a string, got a list."]}}},
        ),
        (
            [GOOD, "not an object"],
            {"1": {"non_field_errors": ["Expected an object, got a string."]}},
        ),
    ],
)
def test_malformed_batch_raises_and_writes_nothing(items, errors):
    CustomerFactory(pk=1)
    with pytest.raises(BulkInputError) as caught:
        interaction_bulk_ingest(actor=None, items=items)
    assert caught.value.errors == errors
    assert not Interaction.objects.exists()  # not even the good item 0


def test_query_count_does_not_grow_with_items(django_assert_num_queries):
    customers = CustomerFactory.create_batch(3)

    def batch(start: int, size: int) -> list[dict]:
        return [
            interaction(start + n, customer_id=customers[n % 3].pk)
            if n % 2
            else interaction(start + n, contact={"kind": "email", "value": f"c{start + n}@x.org"})
            for n in range(size)
        ]

    interaction_bulk_ingest(actor=None, items=batch(0, 4))  # warms the content-type cache
    # savepoint, stored lookup, customers by id, contact points, new prospects, their contact
    # points, re-read owners, insert interactions, re-read them, audit, release savepoint.
    for start, size in ((100, 10), (1000, 100)):
        with django_assert_num_queries(11):
            results = interaction_bulk_ingest(actor=None, items=batch(start, size))
        assert statuses(results) == ["created"] * size
    # A replay only looks up what is stored.
    for start, size in ((100, 10), (1000, 100)):
        with django_assert_num_queries(3):
            assert set(statuses(interaction_bulk_ingest(actor=None, items=batch(start, size)))) == {
                "unchanged"
            }


@pytest.mark.django_db(transaction=True)
def test_concurrent_replays_never_duplicate():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers; the race needs PostgreSQL")
    customer = CustomerFactory()
    items = [
        interaction(n, customer_id=customer.pk)
        if n % 2
        else interaction(n, contact={"kind": "email", "value": f"race{n % 10}@example.com"})
        for n in range(300)
    ]
    barrier = threading.Barrier(3)
    outcomes: list = []
    failures: list = []

    def send():
        try:
            barrier.wait()
            outcomes.append(interaction_bulk_ingest(actor=None, items=items))
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert Interaction.objects.count() == 300
    # One prospect per distinct contact point, no empty prospect left behind.
    assert Customer.objects.count() == 1 + 5
    assert ContactPoint.objects.count() == 5
    for index in range(300):
        per_item = sorted(outcome[index].status for outcome in outcomes)
        assert per_item == ["created", "unchanged", "unchanged"], (index, per_item)
        assert len({outcome[index].id for outcome in outcomes}) == 1


# --- Orders ----------------------------------------------------------------------------------


def test_orders_upsert_created_unchanged_updated():
    customer = CustomerFactory()
    items = [order("A-1", customer_id=customer.pk), order("A-2", customer_id=customer.pk)]
    assert statuses(order_bulk_upsert(actor=None, items=items)) == ["created", "created"]
    assert statuses(order_bulk_upsert(actor=None, items=items)) == ["unchanged", "unchanged"]
    events = AuditEvent.objects.count()
    items[1] = order(
        "A-2", customer_id=customer.pk, status="delivered", delivered_at=NOW.isoformat()
    )
    results = order_bulk_upsert(actor=None, items=items)
    assert statuses(results) == ["unchanged", "updated"]
    stored = Order.objects.get(external_id="A-2")
    assert (stored.pk, stored.status, stored.delivered_at, stored.total) == (
        results[1].id,
        "delivered",
        NOW,
        Decimal("19.99"),
    )
    assert Order.objects.count() == 2 and AuditEvent.objects.count() == events + 1


def test_orders_reject_bad_values_and_keep_good_ones():
    customer = CustomerFactory()
    items = [
        order("B-1", customer_id=customer.pk),
        order("B-2", customer_id=customer.pk, shipping_method="pigeon"),
        order("B-3", customer_id=customer.pk, status="lost"),
        order("B-4", customer_id=customer.pk, promised_by=(NOW - timedelta(days=5)).isoformat()),
        order("B-5", customer_id=customer.pk, total="12.345"),
        order("B-6", customer_id=customer.pk, placed_at="soon"),
        order("x" * 65, customer_id=customer.pk),
        order("B-1", customer_id=customer.pk),
        order("B-7", contact={"kind": "loyalty", "value": "card 42"}),
    ]
    results = order_bulk_upsert(actor=None, items=items)
    assert statuses(results) == ["created"] + ["rejected"] * 7 + ["created"]
    errors = {r.index: r.errors for r in results if r.errors}
    assert set(errors[1]) == {"shipping_method"} and set(errors[2]) == {"status"}
    assert set(errors[3]) == {"promised_by"} and set(errors[4]) == {"total"}
    assert set(errors[5]) == {"placed_at"} and set(errors[6]) == {"external_id"}
    assert "Item 0" in errors[7]["external_id"][0]
    assert set(Order.objects.values_list("external_id", flat=True)) == {"B-1", "B-7"}
    assert ContactPoint.objects.get().normalized == "CARD42"


def test_orders_query_count_does_not_grow(django_assert_num_queries):
    customer = CustomerFactory()
    order_bulk_upsert(actor=None, items=[order("warm", customer_id=customer.pk)])
    for prefix, size in (("s", 10), ("m", 100)):
        items = [order(f"{prefix}-{n}", customer_id=customer.pk) for n in range(size)]
        # savepoint, stored orders, customers, upsert, audit, release
        with django_assert_num_queries(6):
            assert set(statuses(order_bulk_upsert(actor=None, items=items))) == {"created"}


# --- CSV import service ----------------------------------------------------------------------


def test_customer_import_matches_by_contact_point_and_reruns_unchanged():
    existing = CustomerFactory(display_name="Known")
    ContactPoint.objects.create(
        customer=existing, kind="email", value="known@example.com", normalized="known@example.com"
    )
    rows = [
        {"display_name": "Ann", "email": "ann@example.com", "lifecycle_stage": "active"},
        {"display_name": "Ann again", "email": "ANN@example.com", "phone": "07700 900001"},
        {"display_name": "Known", "email": "known@example.com", "phone": "07700 900002"},
        {"display_name": "No contact"},
        {"display_name": "Clash", "email": "ann@example.com", "phone": "07700 900002"},
    ]
    results = customer_bulk_import(actor=None, rows=rows)
    assert statuses(results) == ["created", "updated", "updated", "rejected", "rejected"]
    ann = Customer.objects.get(display_name="Ann")
    assert ann.lifecycle_stage == "active"
    assert results[1].customer_id == ann.pk and results[2].customer_id == existing.pk
    assert set(ann.contact_points.values_list("normalized", flat=True)) == {
        "ann@example.com",
        "+447700900001",
    }
    counts = (Customer.objects.count(), ContactPoint.objects.count(), AuditEvent.objects.count())
    again = customer_bulk_import(actor=None, rows=rows)
    assert statuses(again) == ["unchanged", "unchanged", "unchanged", "rejected", "rejected"]
    assert (Customer.objects.count(), ContactPoint.objects.count(), AuditEvent.objects.count()) == (
        counts
    )
