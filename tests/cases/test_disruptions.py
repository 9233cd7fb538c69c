"""Disruptions: affected customers computed from places, told once per update in batches,
partners told through signed webhooks, linked cases updated at once."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from cases.disruptions import (
    disruption_cases_update,
    disruption_declare,
    disruption_notify_batch,
    disruption_notify_sweep,
    disruption_resolve,
    disruption_update,
    disruptions_activate_due,
)
from cases.models import CaseEvent, Disruption, DisruptionCustomer, DisruptionNotice
from customers.models import CustomerPlace, Holding, Interaction, Place
from customers.services import consent_set, customer_create
from customers.services.core import ContactInput
from customers.services.outbound import interaction_send
from cxportal.errors import StaleVersion
from cxportal.models import WebhookDelivery, WebhookSubscription
from tests.cases.factories import open_case, place_network
from tests.customers.factories import CustomerFactory
from tests.customers.test_outbound import mail_source

pytestmark = pytest.mark.django_db


@pytest.fixture
def ops(staff):
    return staff("operations")


@pytest.fixture
def network():
    """A line with two stations, a region with a store, and an unrelated station."""
    return place_network(with_region=True)


def rider(ops, n: int, place: Place, *, relation="uses", email=True):
    customer = customer_create(
        actor=ops,
        display_name=f"Rider {n}",
        preferred_channel="email",
        contact_points=[ContactInput("email", f"rider{n}@example.com")] if email else [],
    )
    CustomerPlace.objects.create(customer=customer, place=place, relation=relation)
    return customer


def declare(ops, places, **fields):
    return disruption_declare(
        actor=ops,
        title=fields.pop("title", "Lift out of service at Bank"),
        kind=fields.pop("kind", "incident"),
        starts_at=fields.pop("starts_at", timezone.now() - timedelta(minutes=5)),
        places=places,
        public_message=fields.pop("public_message", "The lift at Bank is out of service."),
        **fields,
    )


def test_affected_customers_come_from_places_under_the_named_ones(ops, network):
    at_bank = rider(ops, 1, network["bank"])
    follows_line = rider(ops, 2, network["line"], relation="follows")
    at_oval = rider(ops, 3, network["oval"])
    rider(ops, 4, network["else"])
    season = CustomerFactory()
    Holding.objects.create(customer=season, name="Central line season", place=network["line"])
    Holding.objects.create(
        customer=CustomerFactory(), name="Old ticket", place=network["line"], is_active=False
    )
    line_closure = declare(ops, [network["line"]], notify=False)
    assert line_closure.affected_count == 4
    assert set(DisruptionCustomer.objects.values_list("customer", flat=True)) == {
        at_bank.pk,
        follows_line.pk,
        at_oval.pk,
        season.pk,
    }
    lift = declare(ops, [network["bank"]], notify=False)
    assert lift.affected_count == 1
    assert lift.status == "active" and line_closure.status == "active"


def test_merged_and_erased_customers_are_not_affected(ops, network):
    live, merged, erased = (rider(ops, n, network["bank"]) for n in range(3))
    merged.merged_into = live
    merged.save(update_fields=["merged_into"])
    erased.erased_at = timezone.now()
    erased.save(update_fields=["erased_at"])
    disruption = declare(ops, [network["line"]], notify=False)
    assert disruption.affected_count == 1
    assert list(DisruptionCustomer.objects.values_list("customer", flat=True)) == [live.pk]


def test_customers_are_told_once_per_update_in_batches(
    ops, network, smtp, django_capture_on_commit_callbacks
):
    mail_source(smtp)
    riders = [rider(ops, n, network["bank"]) for n in range(5)]
    consent_set(
        actor=ops, customer=riders[0], channel="email", purpose="service", granted=False, source="t"
    )
    no_email = rider(ops, 99, network["bank"], email=False)
    with django_capture_on_commit_callbacks(execute=False):
        disruption = declare(ops, [network["bank"]], accessibility_impact="lift_out")
    update = disruption.updates.get()
    first = disruption_notify_batch(update_id=update.pk, limit=4)
    assert (first.sent, first.skipped, first.more) == (3, 1, True)
    rest = disruption_notify_batch(update_id=update.pk, limit=4)
    assert (rest.sent, rest.skipped, rest.more) == (1, 1, False)
    # Replayed (a redelivered task): nobody hears twice.
    again = disruption_notify_batch(update_id=update.pk, limit=4)
    assert (again.sent, again.skipped) == (0, 0)
    assert DisruptionNotice.objects.count() == 6
    skipped = dict(
        DisruptionNotice.objects.exclude(skipped_reason="").values_list(
            "customer", "skipped_reason"
        )
    )
    assert "withdrew consent" in skipped[riders[0].pk]
    assert "no address on file" in skipped[no_email.pk]
    update.refresh_from_db()
    assert update.notified_count == 4 and update.notify_done_at is not None
    messages = Interaction.objects.filter(direction="outbound", channel="email")
    assert messages.count() == 4
    for message in messages:
        assert interaction_send(interaction_id=message.pk) == "sent"
    assert {m["Subject"] for m in smtp.messages} == {"Lift out of service at Bank: published"}
    assert len(smtp.messages) == 4

    # An update notifies again, once more each.
    disruption = disruption_update(
        actor=ops,
        disruption=disruption,
        version=disruption.version,
        public_message="Lift repaired by 18:00; use Monument meanwhile.",
    )
    latest = disruption.updates.order_by("-id").first()
    assert disruption_notify_batch(update_id=latest.pk).sent == 4
    assert disruption_notify_sweep() == 0  # nothing left unfinished


def test_partners_hear_published_updated_and_resolved(ops, network):
    WebhookSubscription.objects.create(
        name="Journey planner",
        url="https://planner.example/hooks",
        secret="s",
        events=["disruption.published", "disruption.updated", "disruption.resolved"],
    )
    disruption = declare(ops, [network["bank"]], notify=False)
    disruption = disruption_update(
        actor=ops,
        disruption=disruption,
        version=disruption.version,
        public_message="Now also Oval.",
        places=[network["bank"], network["oval"]],
        notify=False,
    )
    disruption_resolve(
        actor=ops, disruption=disruption, version=disruption.version, public_message="Fixed."
    )
    events = list(WebhookDelivery.objects.order_by("id").values_list("event", "payload"))
    assert [e for e, _ in events] == [
        "disruption.published",
        "disruption.updated",
        "disruption.resolved",
    ]
    payload = events[1][1]
    assert [p["code"] for p in payload["places"]] == ["S-BANK", "S-OVAL"]
    assert payload["public_message"] == "Now also Oval." and "staff_guidance" not in payload
    assert events[2][1]["status"] == "resolved"


def test_scheduled_works_start_by_themselves(ops, network):
    works = declare(
        ops,
        [network["line"]],
        kind="planned",
        starts_at=timezone.now() + timedelta(hours=1),
        notify=False,
    )
    assert works.status == "scheduled"
    assert disruptions_activate_due() == 0
    assert disruptions_activate_due(now=timezone.now() + timedelta(hours=2)) == 1
    works.refresh_from_db()
    assert works.status == "active"


def test_bad_input_and_stale_versions_write_nothing(ops, network):
    with pytest.raises(ValidationError) as error:
        disruption_declare(
            actor=ops,
            title="",
            kind="meteor",
            starts_at="tomorrow",
            ends_at=None,
            places=[],
            public_message="",
            accessibility_impact="wobbly",
        )
    assert set(error.value.message_dict) == {
        "title",
        "kind",
        "starts_at",
        "places",
        "public_message",
        "accessibility_impact",
    }
    start = timezone.now()
    with pytest.raises(ValidationError, match="after the start"):
        declare(ops, [network["bank"]], starts_at=start, ends_at=start - timedelta(hours=1))
    assert Disruption.objects.count() == 0
    disruption = declare(ops, [network["bank"]], notify=False)
    disruption_update(
        actor=ops, disruption=disruption, version=1, public_message="Update one", notify=False
    )
    with pytest.raises(StaleVersion):
        disruption_update(actor=ops, disruption=disruption, version=1, public_message="Update two")
    assert disruption.updates.count() == 2


def test_every_linked_case_gets_one_update(ops, network, staff, smtp):
    from cases.models import Case

    mail_source(smtp)
    agent = staff("service")
    disruption = declare(ops, [network["bank"]], notify=False)
    reachable = open_case(actor=agent, customer=rider(ops, 1, network["bank"]))
    unreachable = open_case(actor=agent)
    done = open_case(actor=agent, customer=rider(ops, 2, network["bank"]))
    Case.objects.filter(pk__in=[reachable.pk, unreachable.pk, done.pk]).update(
        disruption=disruption
    )
    Case.objects.filter(pk=done.pk).update(status="resolved")
    written = disruption_cases_update(
        actor=ops, disruption=disruption, body="Buses replace trains until 18:00."
    )
    assert written == 1
    (event,) = CaseEvent.objects.filter(case=reachable, kind="reply")
    assert event.interaction.body == "Buses replace trains until 18:00."
    assert event.interaction.outbound_to == "rider1@example.com"
    # The case was opened by phone: the update is a new message, and it is the case's first
    # response like any reply (clock stopped, New → Open, linked to the case).
    reachable.refresh_from_db()
    assert reachable.first_responded_at is not None and reachable.status == "open"
    assert reachable.interactions.filter(pk=event.interaction_id).exists()
    (note,) = CaseEvent.objects.filter(case=unreachable, kind="note")
    assert note.body.startswith("Disruption update not sent")
    assert not CaseEvent.objects.filter(case=done, kind__in=["reply", "note"]).exists()
    with pytest.raises(ValidationError):
        disruption_cases_update(actor=ops, disruption=disruption, body=" ")
