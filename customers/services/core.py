"""Customers, contact points, consent, logged interactions and identity resolution."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.forms.models import model_to_dict
from django.utils import timezone

from customers.models import Consent, ConsentEvent, ContactPoint, Customer, Interaction
from customers.normalize import normalize_contact
from cxportal.services import actor_label, audit_record

EDITABLE_FIELDS = (
    "display_name",
    "lifecycle_stage",
    "region",
    "preferred_channel",
    "language",
    "accessibility_needs",
    "accessibility_note",
)


def _snapshot(customer: Customer, fields) -> dict[str, Any]:
    return model_to_dict(customer, fields=list(fields))


def _refuse_erased(customer: Customer) -> None:
    """An erased customer is an anonymous aggregate: nothing personal is written to it again
    (a new message from that person makes a new prospect instead)."""
    if customer.erased_at is not None:
        raise ValidationError(
            f"Customer #{customer.pk} was erased; its personal data cannot be added or changed."
        )


@dataclass(frozen=True)
class ContactInput:
    kind: str
    value: str
    network: str = ""


@transaction.atomic
def customer_create(
    *, actor: Any, display_name: str, contact_points: list[ContactInput] = (), **fields: Any
) -> Customer:
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"customer_create() got unknown fields: {sorted(unknown)}")
    customer = Customer(display_name=display_name, **fields)
    customer.full_clean()
    customer.save()
    for point in contact_points:
        contact_point_add(
            actor=actor,
            customer=customer,
            kind=point.kind,
            value=point.value,
            network=point.network,
            audit=False,
        )
    audit_record(
        actor=actor,
        action="customer.create",
        target=customer,
        after={
            **_snapshot(customer, EDITABLE_FIELDS),
            "contact_points": [f"{p.kind}:{p.value}" for p in contact_points],
        },
    )
    return customer


@transaction.atomic
def customer_update(*, actor: Any, customer: Customer, **changes: Any) -> Customer:
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"customer_update() got unknown fields: {sorted(unknown)}")
    _refuse_erased(customer)
    changed = [f for f, v in changes.items() if getattr(customer, f) != v]
    if not changed:
        return customer
    before = _snapshot(customer, changed)
    for field in changed:
        setattr(customer, field, changes[field])
    customer.full_clean()
    customer.save(update_fields=[*changed, "updated_at"])
    audit_record(
        actor=actor,
        action="customer.update",
        target=customer,
        before=before,
        after=_snapshot(customer, changed),
    )
    return customer


@transaction.atomic
def contact_point_add(
    *,
    actor: Any,
    customer: Customer,
    kind: str,
    value: str,
    network: str = "",
    is_primary: bool = False,
    audit: bool = True,
) -> ContactPoint:
    """Attach a contact point. ValidationError when malformed, already someone else's, or
    the customer was erased."""
    _refuse_erased(customer)
    normalized = normalize_contact(kind, value, network)
    existing = ContactPoint.objects.filter(kind=kind, normalized=normalized).first()
    if existing is not None:
        if existing.customer_id == customer.pk:
            return existing
        raise ValidationError({"value": [f"{value} already belongs to another customer."]})
    try:
        with transaction.atomic():
            point = ContactPoint.objects.create(
                customer=customer,
                kind=kind,
                network=network.strip().lower() if kind == "social" else "",
                value=value.strip(),
                normalized=normalized,
                is_primary=is_primary,
            )
    except IntegrityError:  # a concurrent request took it first
        raise ValidationError(
            {"value": [f"{value} already belongs to another customer."]}
        ) from None
    if audit:
        audit_record(
            actor=actor,
            action="contact_point.add",
            target=customer,
            after={"kind": kind, "value": point.value},
        )
    return point


@transaction.atomic
def consent_set(
    *,
    actor: Any,
    customer: Customer,
    channel: str,
    purpose: str,
    granted: bool,
    source: str,
    at: datetime | None = None,
) -> Consent:
    """Grant or withdraw consent for one channel and purpose; the history keeps every change."""
    _refuse_erased(customer)
    at = at or timezone.now()
    status = Consent.Status.GRANTED if granted else Consent.Status.WITHDRAWN
    consent, created = Consent.objects.select_for_update().get_or_create(
        customer=customer,
        channel=channel,
        purpose=purpose,
        defaults={"status": status, "source": source, "updated_at": at},
    )
    before = None if created else consent.status
    if not created and consent.status != status:
        consent.status, consent.source, consent.updated_at = status, source, at
        consent.full_clean()
        consent.save(update_fields=["status", "source", "updated_at"])
    if created:
        consent.full_clean()
    if created or before != status:
        ConsentEvent.objects.create(
            customer=customer,
            channel=channel,
            purpose=purpose,
            status=status,
            source=source,
            actor_label=actor_label(actor),
            occurred_at=at,
        )
        audit_record(
            actor=actor,
            action="consent.set",
            target=customer,
            before={f"{channel}/{purpose}": before} if before else {},
            after={f"{channel}/{purpose}": status, "source": source},
        )
    return consent


@transaction.atomic
def interaction_log(
    *,
    actor: Any,
    customer: Customer,
    channel: str,
    direction: str,
    summary: str,
    body: str = "",
    occurred_at: datetime | None = None,
    external_id: str | None = None,
) -> Interaction:
    """Log one interaction (a phone call, a store visit) on the customer's timeline."""
    _refuse_erased(customer)
    interaction = Interaction(
        customer=customer,
        channel=channel,
        direction=direction,
        summary=summary,
        body=body,
        occurred_at=occurred_at or timezone.now(),
        external_id=external_id or None,
        recorded_by=actor_label(actor),
    )
    interaction.full_clean(validate_constraints=False)
    if external_id:
        existing = Interaction.objects.filter(channel=channel, external_id=external_id).first()
        if existing is not None:
            return existing
    interaction.save()
    audit_record(
        actor=actor,
        action="interaction.log",
        target=customer,
        after={"channel": channel, "direction": direction, "summary": summary},
    )
    return interaction


@transaction.atomic
def customer_resolve(
    *, actor: Any, contact_points: list[ContactInput], display_name: str = ""
) -> tuple[Customer, bool]:
    """Find the customer these contact points belong to, or create a new prospect.

    Returns (customer, created). Points not known yet are attached to the customer found.
    A merged customer resolves to its survivor. Malformed points raise ValidationError.
    An erased customer has no contact points left, so a new message from that person makes a
    new prospect and never re-links the erased record; the hashed suppression entry
    (``selectors.is_erased_identity``) still keeps them out of marketing.
    """
    if not contact_points:
        raise ValidationError("At least one contact point is needed to find a customer.")
    normalized = [(p, normalize_contact(p.kind, p.value, p.network)) for p in contact_points]
    known = {
        (cp.kind, cp.normalized): cp
        for cp in ContactPoint.objects.select_related("customer").filter(
            kind__in={p.kind for p, _ in normalized},
            normalized__in=[n for _, n in normalized],
        )
    }
    found = next((known[(p.kind, n)].customer for p, n in normalized if (p.kind, n) in known), None)
    created = found is None
    if created:
        name = display_name.strip() or contact_points[0].value.strip()
        found = customer_create(
            actor=actor, display_name=name[:200], lifecycle_stage=Customer.Lifecycle.PROSPECT
        )
    while found.merged_into_id:
        found = found.merged_into
    for point, norm in normalized:
        if (point.kind, norm) not in known:
            contact_point_add(
                actor=actor,
                customer=found,
                kind=point.kind,
                value=point.value,
                network=point.network,
                audit=not created,
            )
    return found, created
