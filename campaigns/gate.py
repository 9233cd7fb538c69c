"""The contact gate: may we send this customer this kind of message (purpose, channel) now,
and if not, why. One definition, two uses:

- ``contact_gate(customer_id=…)`` answers for one customer (the API, the sales caution,
  surveys, service follow-ups);
- ``gate_reason(purpose, channel, now)`` is the same rules as one SQL expression over
  customers, so a campaign's audience is built with the gate applied in the database
  (``INSERT … SELECT``) and every suppressed customer gets the first reason that applies.

Reasons, in the order they are reported:

| code | purposes | meaning |
|---|---|---|
| erased | all | the customer was erased (or merged away) |
| no_consent | all | marketing/feedback: no consent granted; service: consent withdrawn |
| no_address | all | no email / phone / app id for the channel |
| open_case | marketing, feedback | a case is open: we are still helping them |
| complaint | marketing | a complaint case in the last N days |
| detractor | marketing | a detractor survey answer in the last N days |
| disruption | marketing | an active disruption affects them |
| pressure | marketing, feedback | N marketing messages and surveys in the last 7 days |
| quiet_hours | marketing, feedback | it is the middle of the night |
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import (
    BooleanField,
    Case,
    CharField,
    Count,
    Exists,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from campaigns.models import Delivery, GateSettings
from cases.models import ACTIVE_STATUSES, Category, Disruption, DisruptionCustomer
from cases.models import Case as SupportCase
from customers.models import Consent, ContactPoint, Customer, Purpose
from feedback.models import Response, SurveyInvitation

REASONS: dict[str, str] = {
    "erased": "The customer's data was erased: never contacted again.",
    "no_consent": "No consent for this channel and purpose.",
    "no_address": "No address on file for this channel.",
    "open_case": "Has an open case: we are still helping them.",
    "complaint": "Made a complaint recently.",
    "detractor": "Gave a detractor score recently.",
    "disruption": "Affected by an active disruption.",
    "pressure": "Contact-pressure budget spent: enough messages this week.",
    "quiet_hours": "Quiet hours: not at night.",
}
APPLIES: dict[str, tuple[str, ...]] = {
    Purpose.MARKETING: tuple(REASONS),
    Purpose.FEEDBACK: (
        "erased",
        "no_consent",
        "no_address",
        "open_case",
        "pressure",
        "quiet_hours",
    ),
    Purpose.SERVICE: ("erased", "no_consent", "no_address"),
}
ADDRESS_KIND = {"email": ["email"], "sms": ["phone"], "app": ["app"], "phone": ["phone"]}
PRESSURE_WINDOW = timedelta(days=7)


def gate_settings() -> GateSettings:
    """The supervisors' settings, or the defaults (unsaved: reading never writes)."""
    return GateSettings.objects.order_by("id").first() or GateSettings()


def _in_quiet_hours(settings: GateSettings, now: datetime) -> bool:
    local = timezone.localtime(now).time()
    start, end = settings.quiet_hours_start, settings.quiet_hours_end
    return (start <= local or local < end) if start > end else (start <= local < end)


def gate_conditions(
    qs, *, purpose: str, channel: str, now: datetime, settings: GateSettings | None = None
) -> tuple[Any, dict[str, Q | Exists | Value]]:
    """Each applicable reason as a condition over the customers of ``qs`` (True:
    suppressed), and ``qs`` with what the conditions compare (the messages sent lately)."""
    settings = settings or gate_settings()
    customer = OuterRef("pk")
    if purpose == Purpose.SERVICE:
        consent = Exists(
            Consent.objects.filter(
                customer=customer, channel=channel, purpose=purpose, status=Consent.Status.WITHDRAWN
            )
        )
    else:
        consent = ~Exists(
            Consent.objects.filter(
                customer=customer, channel=channel, purpose=purpose, status=Consent.Status.GRANTED
            )
        )
    sent_lately = now - PRESSURE_WINDOW
    deliveries = (
        Delivery.objects.filter(
            customer=customer, status=Delivery.Status.SENT, sent_at__gte=sent_lately
        )
        .order_by()
        .values("customer")
        .annotate(n=Count("id"))
        .values("n")
    )
    surveys = (
        SurveyInvitation.objects.filter(customer=customer, sent_at__gte=sent_lately)
        .order_by()
        .values("customer")
        .annotate(n=Count("id"))
        .values("n")
    )
    pressure = Q(_gate_pressure__gte=settings.pressure_budget)
    conditions: dict[str, Q | Exists | Value] = {
        "erased": Q(erased_at__isnull=False) | Q(merged_into__isnull=False),
        "no_consent": consent,
        "no_address": ~Exists(
            ContactPoint.objects.filter(customer=customer, kind__in=ADDRESS_KIND.get(channel, []))
        ),
        "open_case": Exists(
            SupportCase.objects.filter(customer=customer, status__in=ACTIVE_STATUSES)
        ),
        "complaint": Exists(
            SupportCase.objects.filter(
                customer=customer,
                category=Category.COMPLAINT,
                created_at__gte=now - timedelta(days=settings.complaint_days),
            )
        ),
        "detractor": Exists(
            Response.objects.filter(
                customer=customer,
                category=Response.Category.DETRACTOR,
                answered_at__gte=now - timedelta(days=settings.detractor_days),
            )
        ),
        "disruption": Exists(
            DisruptionCustomer.objects.filter(
                customer=customer, disruption__status=Disruption.Status.ACTIVE
            )
        ),
        "pressure": pressure,
        "quiet_hours": Value(_in_quiet_hours(settings, now), output_field=BooleanField()),
    }
    applied = {code: conditions[code] for code in APPLIES.get(purpose, REASONS)}
    if "pressure" in applied:
        qs = qs.annotate(
            _gate_pressure=Coalesce(Subquery(deliveries, output_field=IntegerField()), 0)
            + Coalesce(Subquery(surveys, output_field=IntegerField()), 0)
        )
    return qs, applied


def gated(qs, *, purpose: str, channel: str, now: datetime | None = None, settings=None):
    """``qs`` (customers) annotated with ``gate_reason``: the first reason code that
    suppresses the customer, or "" when the gate allows the message."""
    now = now or timezone.now()
    qs, conditions = gate_conditions(
        qs, purpose=purpose, channel=channel, now=now, settings=settings
    )
    whens = [When(condition, then=Value(code)) for code, condition in conditions.items()]
    return qs.annotate(gate_reason=Case(*whens, default=Value(""), output_field=CharField()))


@dataclass(frozen=True)
class GateAnswer:
    allowed: bool
    reasons: list[tuple[str, str]]  # (code, words)


def contact_gate(
    *, customer_id: int, purpose: str, channel: str, now: datetime | None = None
) -> GateAnswer:
    """Every reason that applies to this customer now (not just the first)."""
    now = now or timezone.now()
    qs, conditions = gate_conditions(
        Customer.objects.filter(pk=customer_id), purpose=purpose, channel=channel, now=now
    )
    flags = qs.annotate(
        **{
            f"gate_{code}": Case(
                When(condition, then=Value(True)), default=Value(False), output_field=BooleanField()
            )
            for code, condition in conditions.items()
        }
    ).values(*(f"gate_{code}" for code in conditions))
    row = flags.first()
    if row is None:
        return GateAnswer(False, [("erased", "No such customer.")])
    reasons = [(code, REASONS[code]) for code in conditions if row[f"gate_{code}"]]
    return GateAnswer(not reasons, reasons)
