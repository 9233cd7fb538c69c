"""GDPR: export everything we hold about a customer, and erase their personal data.

Both walk ``customer_relations()`` (every foreign key to ``Customer`` in any app), so records
later apps hang on a customer are exported and erased without this app importing them.
A later app's model says which of its columns are personal with ``PERSONAL_FIELDS = (...)``;
without it, erasure blanks every free-text column of its rows (see ``_personal_fields``).

Raw inbound events (the channel inbox) that never became an interaction (failed, ignored,
still pending) have no link to the customer. They are found by what links them to the
person: their payload (or error) text contains one of the customer's contact values
(``_contact_needles``: the email, the phone's national number, the social handle, an app or
card id). That is a scan of the unlinked inbox rows (``interaction IS NULL``, a small part
of the inbox: processed events are linked), done once per export or erasure. We chose this
over a ``customer`` foreign key on ``InboundEvent`` because a failed event often never got
as far as a customer, and the payload is what holds the personal data either way.
"""

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import phonenumbers
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import CharField, F, Q, TextField, Value
from django.db.models.functions import Cast, Coalesce, Concat
from django.utils import timezone

from customers.models import (
    ContactPoint,
    Customer,
    CustomerMerge,
    ErasedIdentity,
    InboundEvent,
    Interaction,
)
from customers.normalize import identity_digest
from customers.services.merge import CustomerRelation, customer_relations
from cxportal.services import audit_record, audit_redact

EXPORT_FORMAT = "cxportal.customer-export/1"
ERASED_NAME = "Erased customer #"

#: Export section per relation; any other relation lands in ``other["app.model.field"]``.
SECTIONS = {
    ("customers.contactpoint", "customer"): "contact_points",
    ("customers.consent", "customer"): "consents",
    ("customers.consentevent", "customer"): "consent_history",
    ("customers.holding", "customer"): "holdings",
    ("customers.order", "customer"): "orders",
    ("customers.customerplace", "customer"): "places",
    ("customers.interaction", "customer"): "interactions",
    ("customers.customer", "merged_into"): "merged_records",
}
#: Extra columns exported with a section (what the bare foreign key would not say).
SECTION_EXTRA = {"places": ("place__kind", "place__code", "place__name")}
#: Rows one hop further, pointing at the customer's interactions (``interaction_relations``).
INTERACTION_SECTIONS = {("customers.inboundevent", "interaction"): "inbound_events"}

#: The personal columns of the customers app's own rows (contact points are deleted whole,
#: merged-away customer records are erased like the customer). Order numbers, channels,
#: dates, amounts and sentiment stay: they are the anonymous aggregates.
PERSONAL_FIELDS = {
    "customers.consent": ("source",),
    "customers.consentevent": ("source",),
    "customers.holding": ("reference",),
    "customers.interaction": ("summary", "body", "outbound_to", "body_html"),
    "customers.order": (),
    "customers.customerplace": (),
    # The raw message an interaction came in as.
    "customers.inboundevent": ("payload", "error"),
}
CUSTOMER_SCRUB = {"accessibility_needs": False, "accessibility_note": ""}
#: A contact value shorter than this is only matched as a whole JSON string (``"bo"``), not
#: anywhere in the text: a short handle or id would otherwise hit other people's messages.
NEEDLE_MIN_SUBSTRING = 6
ERASED_CONTACT_POINT = "Erased contact point"


def _plain(value: Any) -> Any:
    """A JSON-safe value (what ``model_to_dict`` gives, made serializable)."""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    return value


def interaction_relations() -> list[CustomerRelation]:
    """Foreign keys to ``Interaction`` from other models (the raw ``InboundEvent`` a message
    came in as, later apps' links): data about the customer one hop further. Filter their
    rows with ``<field>__customer``."""
    relations = []
    for rel in Interaction._meta.get_fields(include_hidden=True):
        if not (rel.auto_created and not rel.concrete) or rel.many_to_many:
            continue
        if rel.related_model is Interaction:
            continue  # replies: interactions themselves
        relations.append(CustomerRelation(model=rel.related_model, field=rel.field))
    return sorted(relations, key=lambda r: r.key)


def dependent_relations() -> list[tuple[CustomerRelation, str]]:
    """Later apps' rows one hop behind a row of theirs that belongs to the customer (a
    case's history behind the case): ``(relation, lookup)`` where ``lookup`` finds them by
    customer id (``case__customer__in``). The customers app's own models are handled by
    name; this is what keeps erasure complete without importing the apps above."""
    found = []
    for owner in customer_relations():
        if owner.model._meta.app_label == "customers":
            continue
        for rel in owner.model._meta.get_fields(include_hidden=True):
            if not (rel.auto_created and not rel.concrete) or rel.many_to_many:
                continue
            if rel.related_model in (Customer, owner.model):
                continue
            relation = CustomerRelation(model=rel.related_model, field=rel.field)
            found.append((relation, f"{rel.field.name}__{owner.field.name}__in"))
    return sorted(found, key=lambda pair: pair[0].key)


def _contact_needles(points: list[tuple[str, str, str]]) -> list[str]:
    """The strings that betray the person in a raw payload, from their contact points
    ``(kind, normalized, value as given)``: the email, the phone's national number (found in
    "+44 7700…", "07700…", "447700…" alike, when written without spaces), the social handle,
    an app or card id, and each value as the customer gave it."""
    needles: set[str] = set()
    for kind, normalized, value in points:
        found = {value.strip()}
        if kind == ContactPoint.Kind.PHONE:
            try:
                found.add(phonenumbers.national_significant_number(phonenumbers.parse(normalized)))
            except phonenumbers.NumberParseException:
                found.add(normalized)
        elif kind == ContactPoint.Kind.SOCIAL:
            handle = normalized.partition(":")[2]
            found |= {handle, f"@{handle}"}
        else:
            found.add(normalized)
        for needle in found:
            if len(needle) >= NEEDLE_MIN_SUBSTRING:
                needles.add(needle)
            elif needle:
                needles.add(f'"{needle}"')  # a whole JSON string only
    return sorted(needles)


def _unlinked_events(needles: list[str]):
    """Inbound events not linked to any interaction whose payload or error mentions one of
    the needles (case-insensitive; the JSON payload is searched as text)."""
    if not needles:
        return InboundEvent.objects.none()
    match = Q()
    for needle in needles:
        match |= Q(payload_text__icontains=needle) | Q(error__icontains=needle)
    return (
        InboundEvent.objects.filter(interaction__isnull=True)
        .alias(payload_text=Cast("payload", TextField()))
        .filter(match)
    )


def _contact_points_of(ids: list[int]) -> list[tuple[str, str, str]]:
    return list(
        ContactPoint.objects.filter(customer__in=ids).values_list("kind", "normalized", "value")
    )


def _rows(qs, *extra: str):
    names = [f.attname for f in qs.model._meta.concrete_fields] + list(extra)
    for row in qs.order_by("pk").values(*names).iterator(chunk_size=2_000):
        yield {key: _plain(value) for key, value in row.items()}


@transaction.atomic
def customer_export(*, actor: Any, customer: Customer) -> dict[str, Any]:
    """Everything we hold about the customer, as plain JSON-ready data.

    ``customer`` (every column, restricted ones included: it is the person's own data), then
    one section per relation (``contact_points``, ``consents``, ``consent_history``,
    ``holdings``, ``orders``, ``places``, ``interactions``, ``merged_records``, ``merges``),
    ``inbound_events`` (the raw messages behind the interactions, and those that never became
    one but carry the customer's contact values: see the module docstring) and ``other`` for
    rows of later apps (``{"app.model.field": [rows]}``). Rows are read with
    ``.iterator()``. The export is audited, with section counts only (no personal data).

    The export is complete, restricted fields included, whoever asks (a supervisor, or a
    partner key with ``customers:erase``): it answers the person's own subject-access request.
    """
    export: dict[str, Any] = {
        "format": EXPORT_FORMAT,
        "exported_at": timezone.now().isoformat(),
        "customer": next(_rows(Customer.objects.filter(pk=customer.pk))),
        **{section: [] for section in SECTIONS.values()},
        **{section: [] for section in INTERACTION_SECTIONS.values()},
        "merges": list(
            _rows(CustomerMerge.objects.filter(Q(survivor=customer) | Q(merged=customer)))
        ),
        "other": {},
    }
    for relation in customer_relations():
        section = SECTIONS.get(relation.key)
        rows = list(_rows(relation.rows_of(customer), *SECTION_EXTRA.get(section, ())))
        if section is not None:
            export[section] = rows
        elif rows:
            export["other"][".".join(relation.key)] = rows
    for relation in interaction_relations():
        section = INTERACTION_SECTIONS.get(relation.key)
        qs = relation.model._base_manager.filter(**{f"{relation.field.name}__customer": customer})
        rows = list(_rows(qs))
        if section is not None:
            export[section] = rows
        elif rows:
            export["other"][".".join(relation.key)] = rows
    for relation, lookup in dependent_relations():
        rows = list(_rows(relation.model._base_manager.filter(**{lookup: [customer.pk]})))
        if rows:
            export["other"][".".join(relation.key)] = rows
    needles = _contact_needles(_contact_points_of(_customer_and_merged_ids(customer)))
    export["inbound_events"] += _rows(_unlinked_events(needles))
    counts = {name: len(value) for name, value in export.items() if isinstance(value, list)} | {
        name: len(rows) for name, rows in export["other"].items()
    }
    audit_record(actor=actor, action="customer.export", target=customer, after={"rows": counts})
    return export


def _personal_fields(relation: CustomerRelation) -> list[models.Field]:
    """The columns to blank on a related model's rows.

    The customers app's own models are listed in ``PERSONAL_FIELDS``; a later app's model may
    declare ``PERSONAL_FIELDS``; otherwise every free-text column (CharField/TextField without
    choices, not part of a uniqueness rule) is personal: erring on erasing."""
    meta = relation.model._meta
    names = PERSONAL_FIELDS.get(meta.label_lower, getattr(relation.model, "PERSONAL_FIELDS", None))
    if names is not None:
        return [meta.get_field(name) for name in names]
    unique = {name for fields in meta.unique_together for name in fields} | {
        name
        for c in meta.constraints
        if isinstance(c, models.UniqueConstraint)
        for name in (c.fields or ())
    }
    return [
        f
        for f in meta.concrete_fields
        if isinstance(f, CharField | TextField)
        and not f.choices
        and not f.unique
        and not f.primary_key
        and f.name not in unique
    ]


def _blank(field: models.Field) -> Any:
    if isinstance(field, models.JSONField):
        return {}
    return None if field.null else ""


def _customer_and_merged_ids(customer: Customer) -> list[int]:
    """The customer and every record merged into it (directly or through a chain)."""
    ids, frontier = [customer.pk], [customer.pk]
    while frontier:
        frontier = list(
            Customer.objects.filter(merged_into__in=frontier).values_list("pk", flat=True)
        )
        ids += frontier
    return ids


@transaction.atomic
def customer_erase(*, actor: Any, customer: Customer) -> Customer:
    """Remove the customer's personal data and keep the anonymous rest.

    - The customer record (and any record merged into it: the same person) becomes
      "Erased customer #id", accessibility needs and note cleared, ``erased_at`` set.
    - Contact points are deleted; for each a keyed hash ``ErasedIdentity(kind, digest)`` is
      kept first, so campaigns can refuse to market to that address again
      (``selectors.is_erased_identity``).
    - Related rows stay (orders, interactions, consent, places: counts, channels, dates) with
      their personal columns blanked (interaction summary/body, consent sources, holding
      references, the raw payload of the inbound events behind the interactions; later
      apps' rows per ``_personal_fields``).
    - Raw inbound events that never became an interaction (failed, ignored, pending) but
      carry one of the customer's contact values (module docstring) have their payload and
      error blanked too; a pending one is marked ignored (there is nothing left to process).
    - Audit events about the customer keep who did what when, but their before/after values
      and label (which held the name, addresses, notes) are redacted (``audit_redact``);
      so are the Django admin's log entries about the customer and its contact points
      (their label and change message).

    A new message from the erased person later finds no contact point, so identity resolution
    creates a new prospect; it never re-links to the erased record. Erasing again is harmless
    (it scrubs anything attached since; ``erased_at`` keeps the first time). A customer that
    was merged away is refused: erase its survivor, which erases this record too.
    Permission (``customers.erase_customer``) is the caller's job.
    """
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    if customer.merged_into_id:
        raise ValidationError(
            f"Customer #{customer.pk} was merged into #{customer.merged_into_id}; erase that "
            "customer (which erases this record too)."
        )
    ids = _customer_and_merged_ids(customer)
    now = timezone.now()

    points = ContactPoint.objects.filter(customer__in=ids)
    needles = _contact_needles(_contact_points_of(ids))
    point_ids = [str(pk) for pk in points.values_list("pk", flat=True)]
    identities = [
        ErasedIdentity(kind=kind, digest=identity_digest(kind, normalized))
        for kind, normalized in points.values_list("kind", "normalized").iterator()
    ]
    ErasedIdentity.objects.bulk_create(identities, ignore_conflicts=True, batch_size=500)
    deleted, _ = points.delete()

    blanked: dict[str, int] = {}
    unlinked = _unlinked_events(needles)
    unlinked.filter(status=InboundEvent.Status.PENDING).update(
        status=InboundEvent.Status.IGNORED, processed_at=now
    )
    blanked["customers.inboundevent.unlinked"] = unlinked.update(payload={}, error="")
    # One hop further first: those rows are found through the interactions' customer.
    for relation, lookup in [
        *dependent_relations(),
        *((r, f"{r.field.name}__customer__in") for r in interaction_relations()),
        *((r, f"{r.field.name}__in") for r in customer_relations()),
    ]:
        if relation.model in (Customer, ContactPoint):
            continue
        rows = relation.model._base_manager.filter(**{lookup: ids})
        if relation.model._meta.app_label != "customers":
            # Later apps' audit events name their rows ("#12 Refund for Jane"): redacted.
            audit_redact(
                target_type=relation.model._meta.label_lower,
                target_ids=[str(pk) for pk in rows.values_list("pk", flat=True)],
                reason="personal data erased",
            )
        fields = _personal_fields(relation)
        if fields:
            blanked[".".join(relation.key)] = rows.update(**{f.name: _blank(f) for f in fields})

    Customer.objects.filter(pk__in=ids).update(
        display_name=Concat(Value(ERASED_NAME), Cast("id", CharField())),
        erased_at=Coalesce(F("erased_at"), Value(now)),
        updated_at=now,
        **CUSTOMER_SCRUB,
    )
    audit_redact(
        target_type=Customer._meta.label_lower,
        target_ids=[str(i) for i in ids],
        label_prefix=ERASED_NAME,
        reason="personal data erased",
    )
    _admin_log_redact(customer_ids=[str(i) for i in ids], contact_point_ids=point_ids)
    customer.refresh_from_db()
    audit_record(
        actor=actor,
        action="customer.erase",
        target=customer,
        after={
            "customers": ids,
            "contact_points_deleted": deleted,
            "identities_kept": len(identities),
            "rows_blanked": blanked,
        },
    )
    return customer


def _admin_log_redact(*, customer_ids: list[str], contact_point_ids: list[str]) -> None:
    """Blank the Django admin's log entries about the customers and their (now deleted)
    contact points: their label is the name or the address, and their change message may
    name inline contact points. Who changed what when stays."""
    if not apps.is_installed("django.contrib.admin"):
        return
    from django.contrib.admin.models import LogEntry
    from django.contrib.contenttypes.models import ContentType

    for model, ids, label in (
        (Customer, customer_ids, Concat(Value(ERASED_NAME), F("object_id"))),
        (ContactPoint, contact_point_ids, Value(ERASED_CONTACT_POINT)),
    ):
        content_type = ContentType.objects.get_for_model(model)
        for start in range(0, len(ids), 1000):
            LogEntry.objects.filter(
                content_type=content_type, object_id__in=ids[start : start + 1000]
            ).update(object_repr=label, change_message="")
