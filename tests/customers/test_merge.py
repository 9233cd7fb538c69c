from datetime import UTC, date, datetime, timedelta

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import connection, models
from django.test.utils import CaptureQueriesContext

from customers.models import (
    Consent,
    ConsentEvent,
    Customer,
    CustomerMerge,
    CustomerPlace,
    Holding,
    Interaction,
    Order,
    Place,
)
from customers.services import (
    consent_set,
    contact_point_add,
    customer_create,
    customer_erase,
    customer_merge,
    customer_unmerge,
    interaction_log,
)
from customers.services import merge as merge_module
from customers.services.core import ContactInput
from customers.services.merge import customer_relations
from cxportal.models import AuditEvent
from tests.customers.factories import CustomerFactory

pytestmark = pytest.mark.django_db
T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def boss(staff):
    return staff("supervisor")


def person(
    actor,
    name: str,
    email: str,
    *,
    interactions: int = 2,
    place: Place | None = None,
    channel: str = "sms",
):
    """A customer with one of everything, made through the services where they exist."""
    customer = customer_create(
        actor=actor,
        display_name=name,
        contact_points=[
            ContactInput("email", email),
            ContactInput("social", email.split("@")[0], "twitter"),
        ],
    )
    consent_set(
        actor=actor,
        customer=customer,
        channel=channel,
        purpose="service",
        granted=True,
        source=f"app signup of {name}",
        at=T0,
    )
    Holding.objects.create(customer=customer, name="Annual pass", reference=f"H-{email}")
    Order.objects.create(
        customer=customer, external_id=f"O-{email}", placed_at=T0, shipping_method="express"
    )
    place = place or Place.objects.create(kind="station", code=f"ST-{email}", name="Central")
    CustomerPlace.objects.create(customer=customer, place=place)
    for i in range(interactions):
        interaction_log(
            actor=actor,
            customer=customer,
            channel="email",
            direction="inbound",
            summary=f"Message {i} from {name}",
            body=f"Hello, this is {name} ({email})",
            occurred_at=T0 + timedelta(hours=i),
        )
    return customer


def rows_by_customer(customer: Customer) -> dict[str, set[int]]:
    """Every row of every relation pointing at the customer: what a merge must move."""
    return {
        ".".join(r.key): set(r.rows_of(customer).values_list("pk", flat=True))
        for r in customer_relations()
    }


def test_discovery_lists_every_foreign_key_to_customer_in_every_app():
    # No app above customers has a customer FK yet (cases/feedback/campaigns are empty), so
    # this proves discovery against an independent scan of all installed models: whatever a
    # later app adds (cases, care flags, responses) is listed, hence moved, exported, erased.
    expected = {
        (model._meta.label_lower, field.name)
        for model in apps.get_models(include_auto_created=True)
        for field in model._meta.get_fields()
        if isinstance(field, models.ForeignKey | models.OneToOneField)
        and field.remote_field.model is Customer
        and model is not CustomerMerge
    }
    assert {r.key for r in customer_relations()} == expected
    assert ("customers.interaction", "customer") in expected
    assert ("customers.customer", "merged_into") in expected


def test_merge_moves_every_kind_of_row_to_the_survivor(boss):
    survivor = person(boss, "Ada Lovelace", "ada@example.com")
    merged = person(boss, "Ada L.", "ada.l@example.com", interactions=3, channel="app")
    before_survivor, before_merged = rows_by_customer(survivor), rows_by_customer(merged)

    merge = customer_merge(actor=boss, survivor=survivor, merged=merged)

    after = rows_by_customer(survivor)
    for label, ids in before_merged.items():
        assert rows_by_customer(merged)[label] == set(), label
        # The merged customer itself now points at the survivor through merged_into.
        itself = {merged.pk} if label == "customers.customer.merged_into" else set()
        assert after[label] == before_survivor[label] | ids | itself, label
    merged.refresh_from_db()
    assert merged.merged_into_id == survivor.pk
    assert (
        set(merge.moved["customers.interaction"]["customer"])
        == before_merged["customers.interaction.customer"]
    )
    assert len(merge.moved["customers.contactpoint"]["customer"]) == 2
    for label in ("consent", "consentevent", "holding", "order", "customerplace"):
        assert merge.moved[f"customers.{label}"]["customer"], label
    assert merge.performed_by == boss.username
    assert Customer.objects.live().filter(pk=merged.pk).count() == 0


def test_conflicting_consent_more_recent_answer_wins_and_unmerge_restores_it(boss):
    survivor, merged = CustomerFactory(), CustomerFactory()
    kw = {"actor": boss, "channel": "email", "source": "web"}
    consent_set(customer=survivor, purpose="marketing", granted=True, at=T0, **kw)
    consent_set(
        customer=merged, purpose="marketing", granted=False, at=T0 + timedelta(days=1), **kw
    )
    # The survivor's own answer is newer here: it stays.
    consent_set(customer=survivor, purpose="feedback", granted=False, at=T0 + timedelta(2), **kw)
    consent_set(customer=merged, purpose="feedback", granted=True, at=T0, **kw)
    merged_marketing = Consent.objects.get(customer=merged, purpose="marketing")

    merge = customer_merge(actor=boss, survivor=survivor, merged=merged)

    current = {c.purpose: c for c in Consent.objects.filter(customer=survivor)}
    assert current["marketing"].status == "withdrawn"  # the later withdrawal counts
    assert current["marketing"].updated_at == T0 + timedelta(days=1)
    assert current["feedback"].status == "withdrawn"
    # Conflicting rows stay with the merged customer; the history moves whole.
    assert set(Consent.objects.filter(customer=merged).values_list("purpose", flat=True)) == {
        "marketing",
        "feedback",
    }
    assert ConsentEvent.objects.filter(customer=survivor).count() == 4
    assert [o["id"] for o in merge.moved["consent_overrides"]] == [current["marketing"].pk]

    customer_unmerge(actor=boss, merge=merge)
    marketing = Consent.objects.get(customer=survivor, purpose="marketing")
    assert (marketing.status, marketing.updated_at) == ("granted", T0)
    assert Consent.objects.get(pk=merged_marketing.pk).customer_id == merged.pk
    assert ConsentEvent.objects.filter(customer=survivor).count() == 2


def test_conflicting_customer_place_stays_with_the_merged_customer(boss):
    station = Place.objects.create(kind="station", code="KX", name="King's Cross")
    survivor, merged = CustomerFactory(), CustomerFactory()
    kept = CustomerPlace.objects.create(customer=survivor, place=station, relation="home")
    twin = CustomerPlace.objects.create(customer=merged, place=station, relation="follows")
    other = CustomerPlace.objects.create(
        customer=merged, place=Place.objects.create(kind="line", code="L1", name="Line 1")
    )
    merge = customer_merge(actor=boss, survivor=survivor, merged=merged)
    assert CustomerPlace.objects.get(pk=kept.pk).relation == "home"
    assert CustomerPlace.objects.get(pk=twin.pk).customer_id == merged.pk
    assert CustomerPlace.objects.get(pk=other.pk).customer_id == survivor.pk
    assert merge.moved["customers.customerplace"] == {"customer": [other.pk]}


def test_unmerge_restores_exactly_and_rows_added_since_stay_with_the_survivor(boss):
    shared = Place.objects.create(kind="store", code="S1", name="High Street")
    survivor = person(boss, "Grace Hopper", "grace@example.com", place=shared)
    merged = person(boss, "G. Hopper", "g.hopper@example.com", place=shared)
    before_survivor, before_merged = rows_by_customer(survivor), rows_by_customer(merged)

    merge = customer_merge(actor=boss, survivor=survivor, merged=merged)
    late = interaction_log(
        actor=boss, customer=survivor, channel="phone", direction="inbound", summary="Call"
    )
    point = contact_point_add(actor=boss, customer=survivor, kind="phone", value="+447700900123")
    customer_unmerge(actor=boss, merge=merge)

    assert rows_by_customer(merged) == before_merged
    after = rows_by_customer(survivor)
    assert after["customers.interaction.customer"] == (
        before_survivor["customers.interaction.customer"] | {late.pk}
    )
    assert after["customers.contactpoint.customer"] == (
        before_survivor["customers.contactpoint.customer"] | {point.pk}
    )
    merged.refresh_from_db()
    merge.refresh_from_db()
    assert merged.merged_into_id is None and merge.undone_at is not None
    with pytest.raises(ValidationError, match="already undone"):
        customer_unmerge(actor=boss, merge=merge)


def test_merge_and_unmerge_are_audited_with_before_and_after(boss):
    survivor, merged = CustomerFactory(), CustomerFactory()
    Interaction.objects.create(customer=merged, channel="sms", direction="inbound", occurred_at=T0)
    merge = customer_merge(actor=boss, survivor=survivor, merged=merged)
    customer_unmerge(actor=boss, merge=merge)

    def event(action, customer):
        return AuditEvent.objects.get(
            action=action, target_type="customers.customer", target_id=str(customer.pk)
        )

    merged_event = event("customer.merge", survivor)
    assert merged_event.actor_user == boss
    assert merged_event.after["merged_id"] == merged.pk
    assert merged_event.after["moved"] == {"customers.interaction.customer": 1}
    assert event("customer.merged_into", merged).before == {"merged_into": None}
    assert event("customer.merged_into", merged).after["merged_into"] == survivor.pk
    assert event("customer.unmerge", survivor).after == {
        "moved_back": {"customers.interaction.customer": 1}
    }
    assert event("customer.unmerged", merged).after == {"merged_into": None}


def test_merge_refuses_self_merged_and_erased_customers(boss):
    a, b, c = CustomerFactory(), CustomerFactory(), CustomerFactory()
    with pytest.raises(ValidationError, match="into itself"):
        customer_merge(actor=boss, survivor=a, merged=a)
    customer_merge(actor=boss, survivor=a, merged=b)
    with pytest.raises(ValidationError, match=f"merge into #{a.pk} instead"):
        customer_merge(actor=boss, survivor=b, merged=c)
    with pytest.raises(ValidationError, match="already merged"):
        customer_merge(actor=boss, survivor=c, merged=b)
    erased = customer_erase(actor=boss, customer=CustomerFactory())
    with pytest.raises(ValidationError, match="erased"):
        customer_merge(actor=boss, survivor=c, merged=erased)
    with pytest.raises(ValidationError, match="erased"):
        customer_merge(actor=boss, survivor=erased, merged=c)
    assert CustomerMerge.objects.count() == 1


def test_merge_chain_stays_one_hop_and_unwinds_in_order(boss):
    a, b, c = CustomerFactory(), CustomerFactory(), CustomerFactory()
    first = customer_merge(actor=boss, survivor=b, merged=a)
    second = customer_merge(actor=boss, survivor=c, merged=b)
    a.refresh_from_db()
    assert a.merged_into_id == c.pk  # re-pointed: the chain never grows
    with pytest.raises(ValidationError, match="undo that merge first"):
        customer_unmerge(actor=boss, merge=first)
    customer_unmerge(actor=boss, merge=second)
    a.refresh_from_db()
    assert a.merged_into_id == b.pk
    customer_unmerge(actor=boss, merge=first)
    a.refresh_from_db()
    assert a.merged_into_id is None


def test_merge_query_count_does_not_grow_with_rows(boss, monkeypatch):
    def count(n: int) -> int:
        survivor, merged = CustomerFactory(), CustomerFactory()
        Interaction.objects.bulk_create(
            Interaction(customer=merged, channel="web", direction="inbound", occurred_at=T0)
            for _ in range(n)
        )
        Holding.objects.bulk_create(Holding(customer=merged, name="x") for _ in range(n))
        with CaptureQueriesContext(connection) as ctx:
            customer_merge(actor=boss, survivor=survivor, merged=merged)
        assert Interaction.objects.filter(customer=survivor).count() == n
        return len(ctx)

    assert count(3) == count(30)
    monkeypatch.setattr(merge_module, "MOVE_BATCH", 7)  # batches still move every row
    survivor, merged = CustomerFactory(), CustomerFactory()
    Holding.objects.bulk_create(Holding(customer=merged, name="x") for _ in range(20))
    merge = customer_merge(actor=boss, survivor=survivor, merged=merged)
    assert len(merge.moved["customers.holding"]["customer"]) == 20
    assert Holding.objects.filter(customer=survivor).count() == 20


# --- API ----------------------------------------------------------------------------------


URL = "/api/v1/customers/"


def test_api_merge_and_unmerge(api_as):
    survivor, merged = CustomerFactory(), CustomerFactory()
    Order.objects.create(
        customer=merged, external_id="A1", placed_at=T0, shipping_method="standard"
    )
    api = api_as("supervisor")
    response = api.post(f"{URL}{survivor.pk}/merge/", {"merged_id": merged.pk}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["survivor_id"] == survivor.pk and body["merged_id"] == merged.pk
    assert body["moved"] == {"customers.order.customer": 1}
    assert api.get(f"{URL}{merged.pk}/").status_code == 404  # merged away: not listed

    again = api.post(f"{URL}{survivor.pk}/merge/", {"merged_id": merged.pk}, format="json")
    assert again.status_code == 400 and "already merged" in again.json()["message"]

    undo = api.post(f"{URL}{survivor.pk}/unmerge/", {"merge_id": body["id"]}, format="json")
    assert undo.status_code == 200 and undo.json()["undone_at"]
    assert Order.objects.get(external_id="A1").customer_id == merged.pk
    twice = api.post(f"{URL}{survivor.pk}/unmerge/", {"merge_id": body["id"]}, format="json")
    assert twice.status_code == 400 and "already undone" in twice.json()["message"]


def test_api_merge_bad_input_is_400_with_details(api_as):
    survivor = CustomerFactory()
    api = api_as("supervisor")
    for payload, field in (
        ({}, "merged_id"),
        ({"merged_id": "abc"}, "merged_id"),
        ({"merged_id": 999999}, "merged_id"),
    ):
        response = api.post(f"{URL}{survivor.pk}/merge/", payload, format="json")
        assert response.status_code == 400
        assert field in response.json()["errors"]
    response = api.post(f"{URL}{survivor.pk}/merge/", {"merged_id": survivor.pk}, format="json")
    assert response.status_code == 400 and "itself" in response.json()["message"]
    response = api.post(f"{URL}{survivor.pk}/unmerge/", {"merge_id": 424242}, format="json")
    assert response.status_code == 400 and "merge_id" in response.json()["errors"]
    assert api.post(f"{URL}999999/merge/", {"merged_id": survivor.pk}).status_code == 404


@pytest.mark.parametrize("team", ["service", "marketing", "sales", "operations"])
def test_api_merge_is_for_supervisors_only(api_as, team):
    survivor, merged = CustomerFactory(), CustomerFactory()
    api = api_as(team)
    response = api.post(f"{URL}{survivor.pk}/merge/", {"merged_id": merged.pk}, format="json")
    assert response.status_code == 403
    assert api.post(f"{URL}{survivor.pk}/unmerge/", {"merge_id": 1}).status_code == 403
    assert Customer.objects.get(pk=merged.pk).merged_into_id is None


def test_api_partners_can_never_merge(partner, api):
    survivor, merged = CustomerFactory(), CustomerFactory()
    client = partner(["customers:read", "customers:write", "customers:erase"])
    response = client.post(f"{URL}{survivor.pk}/merge/", {"merged_id": merged.pk}, format="json")
    assert response.status_code == 403
    assert api.post(f"{URL}{survivor.pk}/merge/", {"merged_id": merged.pk}).status_code in (
        401,
        403,
    )
    assert not CustomerMerge.objects.exists()


def test_started_on_is_kept_through_merge(boss):
    # Values other than the customer column are untouched by a merge.
    survivor, merged = CustomerFactory(), CustomerFactory()
    holding = Holding.objects.create(customer=merged, name="TV", started_on=date(2023, 1, 2))
    customer_merge(actor=boss, survivor=survivor, merged=merged)
    holding.refresh_from_db()
    assert (holding.customer_id, holding.started_on, holding.name) == (
        survivor.pk,
        date(2023, 1, 2),
        "TV",
    )


# --- Accessibility needs survive a merge ---------------------------------------------------


def test_merge_carries_accessibility_needs_to_the_survivor_and_unmerge_restores(boss):
    survivor = CustomerFactory(accessibility_needs=False, accessibility_note="")
    merged = CustomerFactory(accessibility_needs=True, accessibility_note="Uses a wheelchair")

    merge = customer_merge(actor=boss, survivor=survivor, merged=merged)

    survivor.refresh_from_db()
    assert survivor.accessibility_needs is True
    assert survivor.accessibility_note == f"From customer #{merged.pk}: Uses a wheelchair"
    assert merge.moved["accessibility"]["before"] == {"needs": False, "note": ""}
    event = AuditEvent.objects.get(action="customer.merge", target_id=str(survivor.pk))
    assert event.after["accessibility_carried_over"] is True
    assert "wheelchair" not in str(event.after)  # the note itself is not copied into audit

    customer_unmerge(actor=boss, merge=merge)
    survivor.refresh_from_db()
    merged.refresh_from_db()
    assert (survivor.accessibility_needs, survivor.accessibility_note) == (False, "")
    assert (merged.accessibility_needs, merged.accessibility_note) == (True, "Uses a wheelchair")


def test_merge_appends_the_note_to_the_survivors_own(boss):
    survivor = CustomerFactory(accessibility_needs=True, accessibility_note="Guide dog")
    merged = CustomerFactory(accessibility_needs=False, accessibility_note="Hard of hearing")
    merge = customer_merge(actor=boss, survivor=survivor, merged=merged)
    survivor.refresh_from_db()
    assert survivor.accessibility_needs is True
    assert survivor.accessibility_note == (
        f"Guide dog\n\nFrom customer #{merged.pk}: Hard of hearing"
    )
    customer_unmerge(actor=boss, merge=merge)
    survivor.refresh_from_db()
    assert (survivor.accessibility_needs, survivor.accessibility_note) == (True, "Guide dog")


def test_unmerge_keeps_accessibility_changed_since_the_merge(boss):
    from customers.services import customer_update

    survivor = CustomerFactory(accessibility_needs=False, accessibility_note="")
    merged = CustomerFactory(accessibility_needs=True, accessibility_note="Step-free only")
    merge = customer_merge(actor=boss, survivor=survivor, merged=merged)
    survivor.refresh_from_db()
    customer_update(actor=boss, customer=survivor, accessibility_note="Step-free; confirmed")
    customer_unmerge(actor=boss, merge=merge)
    survivor.refresh_from_db()
    assert (survivor.accessibility_needs, survivor.accessibility_note) == (
        True,
        "Step-free; confirmed",
    )


def test_merge_without_accessibility_records_nothing_and_api_counts_only_rows(api_as, boss):
    survivor, merged = CustomerFactory(), CustomerFactory(accessibility_note="Needs large print")
    merged_plain = CustomerFactory()
    plain = customer_merge(actor=boss, survivor=survivor, merged=merged_plain)
    assert "accessibility" not in plain.moved
    response = api_as("supervisor").post(
        f"/api/v1/customers/{survivor.pk}/merge/", {"merged_id": merged.pk}, format="json"
    )
    assert response.status_code == 201
    assert CustomerMerge.objects.get(pk=response.json()["id"]).moved["accessibility"]
    assert all("." in key for key in response.json()["moved"])  # "app.model.field" only
