import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers.models import (
    ChannelSource,
    Consent,
    ContactPoint,
    Customer,
    CustomerPlace,
    ErasedIdentity,
    Holding,
    InboundEvent,
    Interaction,
    Order,
    Place,
)
from customers.normalize import identity_digest
from customers.selectors import is_erased_identity
from customers.services import (
    consent_set,
    customer_create,
    customer_erase,
    customer_export,
    customer_merge,
    customer_resolve,
    interaction_log,
)
from customers.services.core import ContactInput
from customers.services.merge import customer_relations
from customers.services.privacy import interaction_relations
from cxportal.models import AuditEvent
from tests.customers.factories import CustomerFactory

pytestmark = pytest.mark.django_db
T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
URL = "/api/v1/customers/"
SECTIONS = (
    "contact_points",
    "consents",
    "consent_history",
    "holdings",
    "orders",
    "places",
    "interactions",
    "merged_records",
    "merges",
    "inbound_events",
)


def zelda(actor, *, name="Zelda Quux", email="zelda.quux@example.com", interactions=3):
    """A customer whose name and email are written into every free-text column we have."""
    customer = customer_create(
        actor=actor,
        display_name=name,
        accessibility_needs=True,
        accessibility_note=f"{name} uses a wheelchair",
        contact_points=[
            ContactInput("email", email),
            ContactInput("phone", "+44 7700 900456" if "zelda" in email else "+447700900999"),
            ContactInput("social", email.split("@")[0].replace(".", "_"), "twitter"),
        ],
    )
    consent_set(
        actor=actor,
        customer=customer,
        channel="email",
        purpose="marketing",
        granted=True,
        source=f"newsletter form, {email}",
        at=T0,
    )
    Holding.objects.create(customer=customer, name="Phone plan", reference=f"{name} / {email}")
    Order.objects.create(
        customer=customer,
        external_id=f"ORD-{customer.pk}",
        placed_at=T0,
        shipping_method="express",
        total=Decimal("12.50"),
    )
    place = Place.objects.create(kind="station", code=f"ST{customer.pk}", name="Central")
    CustomerPlace.objects.create(customer=customer, place=place, relation="home")
    source, _ = ChannelSource.objects.get_or_create(
        slug="mail", defaults={"name": "Mail", "kind": "email_imap", "channel": "email"}
    )
    for i in range(interactions):
        entry = interaction_log(
            actor=actor,
            customer=customer,
            channel="email",
            direction="inbound",
            summary=f"{name} asks about order {i}",
            body=f"Hi, {name} here, write to {email}",
            occurred_at=T0 + timedelta(minutes=i),
            external_id=f"msg-{customer.pk}-{i}",
        )
        InboundEvent.objects.create(
            source=source,
            provider_event_id=entry.external_id,
            received_at=T0,
            payload={"from": email, "name": name, "text": entry.body},
            interaction=entry,
        )
    return customer


def text_values(customer_ids: list[int]):
    """Every value of every column of every row we hold about these customers, and of the
    audit events about them, as text."""
    for row in Customer.objects.filter(pk__in=customer_ids).values():
        yield from map(str, row.values())
    for relation in customer_relations():
        for row in relation.model._base_manager.filter(
            **{f"{relation.field.name}__in": customer_ids}
        ).values():
            yield from map(str, row.values())
    for relation in interaction_relations():
        for row in relation.model._base_manager.filter(
            **{f"{relation.field.name}__customer__in": customer_ids}
        ).values():
            yield from map(str, row.values())
    for event in AuditEvent.objects.filter(
        target_type="customers.customer", target_id__in=[str(i) for i in customer_ids]
    ).values():
        yield from map(str, event.values())


# --- Export -------------------------------------------------------------------------------


def test_export_contains_every_section_and_is_plain_json(boss):
    customer = zelda(boss)
    other = CustomerFactory()
    customer_merge(actor=boss, survivor=customer, merged=other)
    data = customer_export(actor=boss, customer=customer)
    json.dumps(data)  # plain JSON: no datetimes, decimals or model instances left
    assert data["format"] == "cxportal.customer-export/1"
    assert data["customer"]["display_name"] == "Zelda Quux"
    assert data["customer"]["accessibility_note"] == "Zelda Quux uses a wheelchair"
    for section in SECTIONS:
        assert data[section], section
    assert {p["normalized"] for p in data["contact_points"]} >= {"zelda.quux@example.com"}
    assert data["consents"][0]["source"] == "newsletter form, zelda.quux@example.com"
    assert data["consent_history"][0]["status"] == "granted"
    assert data["holdings"][0]["reference"] == "Zelda Quux / zelda.quux@example.com"
    assert data["orders"][0]["total"] == "12.50"
    assert data["places"][0]["place__code"] == f"ST{customer.pk}"
    assert len(data["interactions"]) == 3 and "write to zelda" in data["interactions"][0]["body"]
    assert [r["id"] for r in data["merged_records"]] == [other.pk]
    assert data["merges"][0]["merged_id"] == other.pk
    assert data["inbound_events"][0]["payload"]["from"] == "zelda.quux@example.com"
    assert data["other"] == {}  # no later app hangs rows on customers yet


def test_export_is_audited_without_the_data(boss):
    customer = zelda(boss)
    customer_export(actor=boss, customer=customer)
    event = AuditEvent.objects.get(action="customer.export", target_id=str(customer.pk))
    assert event.actor_user == boss
    assert event.after["rows"]["interactions"] == 3
    assert "zelda" not in json.dumps(event.after).lower()


def test_export_query_count_does_not_grow_with_rows(boss):
    def count(n: int) -> int:
        customer = CustomerFactory()
        Interaction.objects.bulk_create(
            Interaction(customer=customer, channel="app", direction="inbound", occurred_at=T0)
            for _ in range(n)
        )
        with CaptureQueriesContext(connection) as ctx:
            data = customer_export(actor=boss, customer=customer)
        assert len(data["interactions"]) == n
        return len(ctx)

    assert count(3) == count(30)


# --- Erase --------------------------------------------------------------------------------


def test_erase_leaves_no_personal_string_anywhere(boss):
    customer = zelda(boss)
    twin = zelda(boss, name="Zed Quux", email="zed.quux@example.com")
    customer_merge(actor=boss, survivor=customer, merged=twin)
    ids = [customer.pk, twin.pk]
    personal = ("zelda", "quux", "zed", "wheelchair", "7700900456", "7700900999")
    assert any(p in v.lower() for v in text_values(ids) for p in personal)  # the probe works

    erased = customer_erase(actor=boss, customer=customer)

    leaks = [v for v in text_values(ids) if any(p in v.lower() for p in personal)]
    assert leaks == []
    assert erased.display_name == f"Erased customer #{customer.pk}"
    assert erased.erased_at is not None and not erased.accessibility_needs
    assert Customer.objects.get(pk=twin.pk).display_name == f"Erased customer #{twin.pk}"
    assert not ContactPoint.objects.filter(customer__in=ids).exists()


def test_erase_keeps_suppression_hashes_and_anonymous_aggregates(boss):
    customer = zelda(boss)
    erased = customer_erase(actor=boss, customer=customer)
    assert ErasedIdentity.objects.filter(
        kind="email", digest=identity_digest("email", "zelda.quux@example.com")
    ).exists()
    assert ErasedIdentity.objects.count() == 3
    assert is_erased_identity(kind="email", normalized="zelda.quux@example.com")
    assert is_erased_identity(kind="phone", normalized="+447700900456")
    assert not is_erased_identity(kind="email", normalized="someone@example.com")
    # Rows stay, without personal text: counts, channels, dates, amounts.
    assert Interaction.objects.filter(customer=erased, summary="", body="").count() == 3
    order = Order.objects.get(customer=erased)
    assert (order.external_id, order.total) == (f"ORD-{customer.pk}", Decimal("12.50"))
    consent = Consent.objects.get(customer=erased)
    assert (consent.status, consent.source) == ("granted", "")
    assert CustomerPlace.objects.filter(customer=erased).count() == 1
    assert list(
        InboundEvent.objects.filter(interaction__customer=erased).values_list("payload", flat=True)
    ) == [{}, {}, {}]
    event = AuditEvent.objects.get(action="customer.erase", target_id=str(customer.pk))
    assert event.after["contact_points_deleted"] == 3 and event.actor_user == boss
    assert event.target_label == f"Erased customer #{customer.pk}"


def test_erase_twice_is_harmless_and_merged_away_customers_are_refused(boss):
    customer = customer_erase(actor=boss, customer=zelda(boss))
    first = customer.erased_at
    again = customer_erase(actor=boss, customer=customer)
    assert again.erased_at == first
    survivor, merged = CustomerFactory(), CustomerFactory()
    customer_merge(actor=boss, survivor=survivor, merged=merged)
    with pytest.raises(ValidationError, match="erase that customer"):
        customer_erase(actor=boss, customer=merged)


def test_new_message_from_an_erased_person_makes_a_new_prospect(boss):
    erased = customer_erase(actor=boss, customer=zelda(boss))
    found, created = customer_resolve(
        actor=boss, contact_points=[ContactInput("email", "Zelda.Quux@example.com")]
    )
    assert created and found.pk != erased.pk
    assert found.lifecycle_stage == "prospect"
    # Replaying an interaction already held changes nothing on the erased record.
    interaction_log(
        actor=boss,
        customer=found,
        channel="email",
        direction="inbound",
        summary="replayed",
        external_id=f"msg-{erased.pk}-0",
    )
    assert Interaction.objects.get(external_id=f"msg-{erased.pk}-0").customer_id == erased.pk
    assert is_erased_identity(kind="email", normalized="zelda.quux@example.com")


def test_erase_query_count_does_not_grow_with_rows(boss):
    def count(n: int) -> int:
        customer = zelda(boss, interactions=0, email=f"p{n}@example.com", name="Pat")
        Interaction.objects.bulk_create(
            Interaction(customer=customer, channel="app", direction="inbound", occurred_at=T0)
            for _ in range(n)
        )
        with CaptureQueriesContext(connection) as ctx:
            customer_erase(actor=boss, customer=customer)
        return len(ctx)

    assert count(3) == count(30)


# --- API ----------------------------------------------------------------------------------


def test_api_export_and_erase_as_supervisor(api_as):
    api = api_as("supervisor")
    customer = CustomerFactory(display_name="Olive Export", accessibility_note="hard of hearing")
    Interaction.objects.create(
        customer=customer, channel="sms", direction="inbound", occurred_at=T0, body="Olive here"
    )
    data = api.get(f"{URL}{customer.pk}/export/").json()
    assert data["customer"]["accessibility_note"] == "hard of hearing"
    assert data["interactions"][0]["body"] == "Olive here"
    response = api.post(f"{URL}{customer.pk}/erase/")
    assert response.status_code == 200
    assert response.json()["display_name"] == f"Erased customer #{customer.pk}"
    assert Interaction.objects.get(customer=customer).body == ""
    assert AuditEvent.objects.filter(action="customer.erase").count() == 1


@pytest.mark.parametrize("team", ["service", "marketing", "sales", "operations"])
def test_api_export_and_erase_are_403_for_other_teams(api_as, team):
    customer = CustomerFactory(display_name="Stays Put")
    api = api_as(team)
    assert api.get(f"{URL}{customer.pk}/export/").status_code == 403
    assert api.post(f"{URL}{customer.pk}/erase/").status_code == 403
    assert Customer.objects.get(pk=customer.pk).display_name == "Stays Put"
    assert not AuditEvent.objects.filter(action__in=["customer.export", "customer.erase"])


def test_api_unknown_customer_is_404(api_as, partner):
    for client in (api_as("supervisor"), partner(["customers:erase"])):
        assert client.get(f"{URL}999999/export/").status_code == 404
        response = client.post(f"{URL}999999/erase/")
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"


def test_api_partner_needs_the_erase_scope(partner, api):
    customer = CustomerFactory(display_name="Pam Partner")
    without = partner(["customers:read", "customers:write"])
    assert without.get(f"{URL}{customer.pk}/export/").status_code == 403
    assert without.post(f"{URL}{customer.pk}/erase/").status_code == 403
    assert api.get(f"{URL}{customer.pk}/export/").status_code in (401, 403)
    assert Customer.objects.get(pk=customer.pk).erased_at is None

    allowed = partner(["customers:erase"])
    export = allowed.get(f"{URL}{customer.pk}/export/")
    assert export.status_code == 200 and export.json()["customer"]["display_name"] == "Pam Partner"
    assert allowed.post(f"{URL}{customer.pk}/erase/").status_code == 200
    assert Customer.objects.get(pk=customer.pk).erased_at is not None
    event = AuditEvent.objects.get(action="customer.erase")
    assert event.actor_label.startswith("api:") and event.actor_api_client is not None


def test_schema_documents_the_privacy_actions(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    for action in ("export", "erase", "merge", "unmerge"):
        assert f"/api/v1/customers/{{id}}/{action}/" in schema["paths"], action
    merge = schema["paths"]["/api/v1/customers/{id}/merge/"]["post"]
    assert "201" in merge["responses"]


# --- Erase: the whole database, raw inbox events, admin log, refusals afterwards ------------

ZED = {
    "name": "Zed Secretname",
    "email": "zed.secret@example.com",
    "phone": "+447700900123",
    "handle": "zedsecret_x",
    "note": "SECRETNOTE ramp",
    "card": "ZEDCARD777",
}
#: What must not survive an erasure anywhere (lower case; the phone's national number).
ZED_MARKERS = ("secretname", "zed.secret@example.com", "7700900123", "zedsecret_x", "secretnote")


def database_hits(markers) -> list[tuple[str, str, str]]:
    """Every (table, column, marker) where a text, char or JSON column of ANY table holds one
    of the markers (case-insensitive)."""
    from django.apps import apps
    from django.db import models
    from django.db.models import TextField
    from django.db.models.functions import Cast

    hits = []
    for model in apps.get_models():
        if not model._meta.managed or model._meta.proxy:
            continue
        for field in model._meta.concrete_fields:
            if not isinstance(field, models.CharField | models.TextField | models.JSONField):
                continue
            qs = model._base_manager.alias(_text=Cast(field.name, TextField()))
            for marker in markers:
                if qs.filter(_text__icontains=marker).exists():
                    hits.append((model._meta.db_table, field.column, marker))
    return hits


def _social_entry(n: int, **fields) -> dict:
    return {
        "id": str(1000 + n),
        "network": "twitter",
        "author": "@someone",
        "author_name": "Some One",
        "text": "hello",
        "created_at": "2026-05-01T09:30:00Z",
        **fields,
    }


def zed_with_inbox(boss, client):
    """Zed, edited in the admin (admin log entries), with raw inbox events: one processed
    (linked to an interaction), failed ones (SMS and social, never linked), a pending one,
    and someone else's failed event that erasure must leave alone."""
    from customers.channels.base import RawEvent
    from customers.services import inbound_event_process, inbound_events_store
    from tests.customers.channel_support import sms_message, sms_source, social_source

    customer = customer_create(
        actor=boss,
        display_name=ZED["name"],
        accessibility_needs=True,
        accessibility_note=ZED["note"],
        contact_points=[
            ContactInput("email", ZED["email"]),
            ContactInput("phone", ZED["phone"]),
            ContactInput("social", ZED["handle"], "twitter"),
        ],
    )
    client.force_login(boss)
    added = client.post(
        "/admin/customers/contactpoint/add/",
        {"customer": customer.pk, "kind": "loyalty", "network": "", "value": ZED["card"]},
    )
    assert added.status_code == 302
    edit = {
        "display_name": ZED["name"],
        "lifecycle_stage": "active",
        "region": "",
        "preferred_channel": "",
        "language": "en",
        "accessibility_needs": "on",
        "accessibility_note": f"{ZED['note']} and a guide dog",
    }
    for prefix in ("contact_points", "consents", "holdings", "orders"):
        edit[f"{prefix}-TOTAL_FORMS"] = edit[f"{prefix}-INITIAL_FORMS"] = "0"
    changed = client.post(f"/admin/customers/customer/{customer.pk}/change/", edit)
    assert changed.status_code == 302, changed.content.decode()[:2000]

    sms, social = sms_source(), social_source()
    messages = [
        sms_message(1, **{"from": ZED["phone"], "text": "Zed Secretname here, where is it?"}),
        sms_message(2, **{"from": ZED["phone"], "sent_at": "garbage", "text": "zed again"}),
        sms_message(3, **{"from": "07700900123", "text": "still waiting"}),  # stays pending
        sms_message(4, **{"from": "+447700900555", "sent_at": "garbage", "text": "not zed"}),
    ]
    sms_ids = sorted(
        inbound_events_store(
            source=sms, events=[RawEvent(provider_event_id=m["id"], payload=m) for m in messages]
        )
    )
    entry = _social_entry(
        1, author=f"@{ZED['handle']}", author_name=ZED["name"], created_at="not a time"
    )
    (social_id,) = inbound_events_store(
        source=social, events=[RawEvent(provider_event_id=entry["id"], payload=entry)]
    )
    for event_id in (sms_ids[0], sms_ids[1], sms_ids[3], social_id):
        inbound_event_process(event_id=event_id)
    events = {
        "processed": InboundEvent.objects.get(pk=sms_ids[0]),
        "failed": InboundEvent.objects.get(pk=sms_ids[1]),
        "pending": InboundEvent.objects.get(pk=sms_ids[2]),
        "other": InboundEvent.objects.get(pk=sms_ids[3]),
        "social": InboundEvent.objects.get(pk=social_id),
    }
    assert events["processed"].interaction.customer_id == customer.pk
    assert events["failed"].status == events["social"].status == InboundEvent.Status.FAILED
    assert events["pending"].status == InboundEvent.Status.PENDING
    return customer, events


def test_erase_leaves_no_personal_data_in_any_table(boss, client):
    from django.contrib.admin.models import LogEntry

    customer, events = zed_with_inbox(boss, client)
    before = database_hits(ZED_MARKERS)
    # The probe sees every kind of leak this test is about.
    tables = {table for table, _, _ in before}
    assert {
        "customers_inboundevent",
        "django_admin_log",
        "cxportal_auditevent",
        "customers_customer",
    } <= tables
    other_payload = events["other"].payload

    customer_erase(actor=boss, customer=customer)

    assert database_hits(ZED_MARKERS) == []
    for event in events.values():
        event.refresh_from_db()
    assert events["failed"].payload == {} and events["failed"].error == ""
    assert events["social"].payload == {} and events["social"].error == ""
    assert events["pending"].payload == {}
    assert events["pending"].status == InboundEvent.Status.IGNORED  # nothing left to process
    # Someone else's failed event is not touched.
    assert events["other"].payload == other_payload and events["other"].error
    assert events["other"].status == InboundEvent.Status.FAILED
    # The admin log keeps who changed what when, not the name or the address.
    entries = LogEntry.objects.filter(object_id=str(customer.pk), content_type__model="customer")
    assert entries.exists()
    assert {e.object_repr for e in entries} == {f"Erased customer #{customer.pk}"}


def test_export_includes_raw_events_that_never_became_an_interaction(boss, client):
    customer, events = zed_with_inbox(boss, client)
    data = customer_export(actor=boss, customer=customer)
    exported = {row["id"] for row in data["inbound_events"]}
    assert exported == {events[name].pk for name in ("processed", "failed", "pending", "social")}, (
        "someone else's event is not exported, Zed's unlinked ones are"
    )


def test_a_short_handle_only_matches_a_whole_json_string(boss):
    """A 2-letter handle must not blank every failed event containing those letters."""
    from customers.channels.base import RawEvent
    from customers.services import inbound_event_process, inbound_events_store
    from tests.customers.channel_support import social_source

    customer = customer_create(
        actor=boss, display_name="Bo", contact_points=[ContactInput("social", "bo", "twitter")]
    )
    social = social_source()
    entries = [
        _social_entry(1, author="@bo", created_at="bad"),
        _social_entry(2, author="@bob_builder", text="about boats", created_at="bad"),
    ]
    ids = sorted(
        inbound_events_store(
            source=social, events=[RawEvent(provider_event_id=e["id"], payload=e) for e in entries]
        )
    )
    for event_id in ids:
        inbound_event_process(event_id=event_id)
    customer_erase(actor=boss, customer=customer)
    mine, theirs = (InboundEvent.objects.get(pk=i) for i in ids)
    assert mine.payload == {}
    assert theirs.payload["author"] == "@bob_builder"


def test_services_refuse_to_write_personal_data_to_an_erased_customer(boss):
    from customers.services import contact_point_add, customer_update

    customer = customer_erase(actor=boss, customer=zelda(boss, interactions=0))
    audits = AuditEvent.objects.count()
    attempts = [
        lambda: customer_update(actor=boss, customer=customer, display_name="Zelda Again"),
        lambda: contact_point_add(
            actor=boss, customer=customer, kind="email", value="back@example.com"
        ),
        lambda: consent_set(
            actor=boss,
            customer=customer,
            channel="sms",
            purpose="marketing",
            granted=True,
            source="form",
        ),
        lambda: interaction_log(
            actor=boss, customer=customer, channel="phone", direction="inbound", summary="hi"
        ),
    ]
    for attempt in attempts:
        with pytest.raises(ValidationError, match=f"Customer #{customer.pk} was erased"):
            attempt()
    customer.refresh_from_db()
    assert customer.display_name == f"Erased customer #{customer.pk}"
    assert not ContactPoint.objects.filter(customer=customer).exists()
    assert not Consent.objects.filter(customer=customer, channel="sms").exists()
    assert not Interaction.objects.filter(customer=customer).exists()
    assert AuditEvent.objects.count() == audits


def test_api_writes_to_an_erased_customer_are_400_and_write_nothing(api_as, boss):
    customer = customer_erase(actor=boss, customer=zelda(boss, interactions=0))
    api = api_as("service")
    url = f"{URL}{customer.pk}/"
    audits = AuditEvent.objects.count()

    patch = api.patch(url, {"display_name": "Real Name Again"}, format="json")
    point = api.post(
        f"{url}contact-points/", {"kind": "email", "value": "b@example.com"}, format="json"
    )
    consent = api.post(
        f"{url}consent/",
        {"channel": "sms", "purpose": "marketing", "granted": True, "source": "form"},
        format="json",
    )

    for response in (patch, point, consent):
        assert response.status_code == 400, response.content
        assert response.json()["message"].startswith(f"Customer #{customer.pk} was erased")
    customer.refresh_from_db()
    assert customer.display_name == f"Erased customer #{customer.pk}"
    assert not ContactPoint.objects.filter(customer=customer).exists()
    assert not Consent.objects.filter(customer=customer, channel="sms").exists()
    assert AuditEvent.objects.count() == audits
    # Still found by its id; no longer in lists and searches.
    assert api.get(url).status_code == 200
    listed = api.get(URL).json()["results"]
    assert customer.pk not in {row["id"] for row in listed}
    found = api.get(URL, {"q": f"Erased customer #{customer.pk}"}).json()["results"]
    assert found == []


def test_erased_customer_is_out_of_search_and_its_page_offers_no_writes(client, boss):
    from customers.selectors import customer_exact_match, customer_list

    customer = zelda(boss, interactions=1)
    customer_erase(actor=boss, customer=customer)
    assert customer.pk not in customer_list(actor=boss).values_list("pk", flat=True)
    assert customer_exact_match(actor=boss, query=f"ORD-{customer.pk}") is None

    client.force_login(boss)
    page = client.get(f"/customers/{customer.pk}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "Personal data erased on" in html
    assert 'id="log-form"' not in html and "Erase personal data" not in html
    logged = client.post(
        f"/customers/{customer.pk}/interactions/",
        {"channel": "phone", "direction": "inbound", "summary": "call"},
    )
    assert logged.status_code == 302
    assert Interaction.objects.filter(customer=customer).count() == 1  # the erased one only


def test_schema_says_the_export_is_complete(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    export = schema["paths"]["/api/v1/customers/{id}/export/"]["get"]
    assert "restricted fields" in export["description"]
    listing = schema["paths"]["/api/v1/customers/"]["get"]["description"]
    assert "GDPR export" in listing
