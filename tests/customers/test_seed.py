import io
import re
from collections import Counter
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count, F, Max, Min
from django.utils import timezone

from customers.models import (
    Consent,
    ConsentEvent,
    ContactPoint,
    Customer,
    CustomerPlace,
    Holding,
    Interaction,
    Order,
    Place,
)
from customers.normalize import normalize_contact
from customers.seed import seed_customers

pytestmark = pytest.mark.django_db

E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def seed(n: int, *more: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("seed", "--customers", str(n), *more, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_seed_makes_customers_with_everything_around_them(capsys):
    out, _ = seed(30, "--batch", "12")
    now = timezone.now()

    assert Customer.objects.count() == 30
    assert "customers_interaction" in out and "Seeded 30 customers" in out
    assert "30/30" in capsys.readouterr().err  # the progress bar, on stderr

    # Contact points are stored normalized, phones in E.164.
    points = list(ContactPoint.objects.all())
    assert {p.kind for p in points} >= {"email", "phone", "app", "loyalty"}
    for point in points:
        assert normalize_contact(point.kind, point.value, point.network) == point.normalized
    phones = [p.normalized for p in points if p.kind == "phone"]
    assert phones and all(E164.match(p) for p in phones)
    assert ContactPoint.objects.filter(kind="email").values("customer").distinct().count() >= 20

    # Consent rows per channel × purpose, each with its history ending in its status.
    assert set(Consent.objects.values_list("purpose", flat=True)) == {
        "service",
        "marketing",
        "feedback",
    }
    for consent in Consent.objects.all():
        last = (
            ConsentEvent.objects.filter(
                customer=consent.customer_id, channel=consent.channel, purpose=consent.purpose
            )
            .order_by("-occurred_at", "-id")
            .first()
        )
        assert (last.status, last.occurred_at) == (consent.status, consent.updated_at)

    # About ten interactions each, on several channels, in the last two years, none ahead.
    per_customer = Customer.objects.annotate(
        n=Count("interactions"), channels=Count("interactions__channel", distinct=True)
    )
    assert all(5 <= c.n <= 15 and c.channels >= 3 for c in per_customer)
    assert set(Interaction.objects.values_list("channel", flat=True)) >= {
        "email",
        "sms",
        "app",
        "phone",
        "store",
        "web",
    }
    span = Interaction.objects.aggregate(first=Min("occurred_at"), last=Max("occurred_at"))
    assert now - timedelta(days=731) <= span["first"] and span["last"] <= now
    assert not Interaction.objects.filter(summary="").exists()
    assert not Interaction.objects.filter(body="").exists()

    # Late express orders and warranties ending soon, for the care-flag scans.
    late = [
        o
        for o in Order.objects.filter(shipping_method="express", delivered_at=None)
        if o.is_late(now)
    ]
    assert late
    assert all(o.promised_by < now for o in late)
    assert Holding.objects.filter(
        warranty_ends_on__gte=now.date(), warranty_ends_on__lte=now.date() + timedelta(days=30)
    ).exists()
    assert not Order.objects.filter(delivered_at__lt=F("placed_at")).exists()

    # The network, and 2 to 4 places per customer.
    kinds = Counter(Place.objects.values_list("kind", flat=True))
    assert kinds["line"] == 10 and kinds["station"] == 200 and kinds["store"] == 50
    assert kinds["region"] >= 5 and kinds["service"] >= 5
    assert not Place.objects.filter(kind="station", parent__isnull=True).exists()
    assert set(Place.objects.filter(kind="station").values_list("parent__kind", flat=True)) == {
        "line"
    }
    links = CustomerPlace.objects.values("customer").annotate(n=Count("id"))
    assert len(links) == 30 and all(2 <= row["n"] <= 5 for row in links)

    # Every row points at a real customer and place (PostgreSQL may skip the FK triggers).
    customers = Customer.objects.values("id")
    for model in (ContactPoint, Consent, ConsentEvent, Holding, Order, CustomerPlace, Interaction):
        assert not model.objects.exclude(customer__in=customers).exists()
    assert not CustomerPlace.objects.exclude(place__in=Place.objects.values("id")).exists()


def test_seeding_again_adds_more_and_collides_with_nothing():
    seed(30)
    first = {t: m.objects.count() for t, m in [("cp", ContactPoint), ("int", Interaction)]}
    seed(30)

    assert Customer.objects.count() == 60
    assert ContactPoint.objects.count() > first["cp"]
    assert Interaction.objects.count() > first["int"]
    assert Place.objects.filter(kind="station").count() == 200  # the network is not doubled
    names = Counter(Customer.objects.values_list("display_name", flat=True))
    assert len(names) > 30  # the second run made other people, not the same ones again


def test_a_larger_sample_has_realistic_proportions():
    result = seed_customers(customers=1_000, interactions_per_customer=2, batch=400)

    assert result.counts["customers_customer"] == 1_000
    assert result.counts["customers_interaction"] == Interaction.objects.count()
    assert 1_000 <= Interaction.objects.count() <= 3_000
    needs = Customer.objects.filter(accessibility_needs=True)
    assert 20 <= needs.count() <= 90  # about 5%
    assert not needs.filter(accessibility_note="").exists()
    assert not Customer.objects.filter(accessibility_needs=False).exclude(accessibility_note="")
    with_email = ContactPoint.objects.filter(kind="email").values("customer").distinct().count()
    with_phone = ContactPoint.objects.filter(kind="phone").values("customer").distinct().count()
    with_social = ContactPoint.objects.filter(kind="social").values("customer").distinct().count()
    assert with_email > 850 and 550 < with_phone < 850 and 150 < with_social < 400
    stages = Counter(Customer.objects.values_list("lifecycle_stage", flat=True))
    assert set(stages) == {s for s, _ in Customer.Lifecycle.choices}
    assert stages["active"] > stages["prospect"]
    assert set(Customer.objects.values_list("region", flat=True)) == {
        "North",
        "South",
        "East",
        "West",
        "Central",
    }
    assert Order.objects.filter(shipping_method="express").exists()
    assert Order.objects.filter(shipping_method="standard").exists()
    assert Consent.objects.filter(status="withdrawn", purpose="marketing").exists()
    assert ConsentEvent.objects.count() > Consent.objects.count()  # some changed their mind


def test_bad_arguments_are_refused():
    with pytest.raises(CommandError):
        seed(0)
    with pytest.raises(CommandError):
        seed(5, "--batch", "0")
    assert not Customer.objects.exists()
