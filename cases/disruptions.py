"""Disruptions: declare, update, resolve; who is affected; telling them first.

Declaring, updating and resolving each post a ``DisruptionUpdate``, announce the event to
subscribed partners (``disruption.published`` / ``.updated`` / ``.resolved``, signed webhooks
with retries: ``cxportal.outbound_webhooks``) and, when the update asks for it, notify the
affected customers.

Affected customers are computed, never typed in: ``disruption_affected_compute`` replaces
the ``DisruptionCustomer`` rows with one ``INSERT … SELECT`` over the places customers use,
follow or hold (``CustomerPlace``, ``Holding.place``), counting the named places and every
place under them (a line's stations, a region's stores).

Notifying is batched and kill-safe: ``disruption_notify_batch`` picks up to ``NOTIFY_BATCH``
affected customers that have no ``DisruptionNotice`` for the update yet, and in one
transaction writes their message (``customer_message_send``: preferred channel, service
purpose, consent respected; sent after the commit) and their notice. ``(update, customer)``
is unique, so a redelivered or repeated batch tells nobody twice; a killed batch rolls
back and is done again. The task re-enqueues itself while there is more, and beat's
``disruption_notify_sweep`` restarts any update left unfinished.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from cases.models import (
    ACTIVE_STATUSES,
    Case,
    CaseEvent,
    Disruption,
    DisruptionCustomer,
    DisruptionNotice,
    DisruptionUpdate,
)
from cases.selectors import BANNER_CACHE_KEY
from cases.services import case_message_send, case_reply
from customers.models import Customer, CustomerPlace, Holding, Place
from customers.services.outbound import customer_message_send
from cxportal.broker import publish
from cxportal.errors import StaleVersion
from cxportal.outbound_webhooks import webhook_event_publish
from cxportal.services import actor_label, audit_record
from cxportal.validation import datetime_problem, text_field

NOTIFY_BATCH = 200
NOTIFY_TASK = "outbound.disruption_notify"
PLACE_DEPTH = 4  # region → line → station → entrance: deeper trees are not expected

EDITABLE = (
    "title",
    "severity",
    "starts_at",
    "ends_at",
    "accessibility_impact",
    "accessibility_note",
    "staff_guidance",
)


# --- validation ----------------------------------------------------------------------------
def _when(errors: dict, field: str, value: Any, *, required: bool) -> datetime | None:
    if value is None:
        if required:
            errors[field] = ["A date and time is needed."]
        return None
    if not isinstance(value, datetime):
        errors[field] = ["A date and time is needed."]
        return None
    if problem := datetime_problem(value):
        errors[field] = [problem]
        return None
    return timezone.make_aware(value) if timezone.is_naive(value) else value


def _check(fields: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    if creating or "title" in fields:
        clean["title"] = text_field(errors, "title", fields.get("title"), required=True, limit=200)
    if creating:
        kind = fields.get("kind")
        if kind not in Disruption.Kind.values:
            errors["kind"] = [f"One of: {', '.join(Disruption.Kind.values)}."]
        clean["kind"] = kind
    if creating or "severity" in fields:
        severity = fields.get("severity", Disruption.Severity.MAJOR)
        if severity not in Disruption.Severity.values:
            errors["severity"] = [f"One of: {', '.join(Disruption.Severity.values)}."]
        clean["severity"] = severity
    if creating or "starts_at" in fields:
        clean["starts_at"] = _when(errors, "starts_at", fields.get("starts_at"), required=True)
    if creating or "ends_at" in fields:
        clean["ends_at"] = _when(errors, "ends_at", fields.get("ends_at"), required=False)
    starts, ends = clean.get("starts_at"), clean.get("ends_at")
    if starts and ends and ends <= starts:
        errors["ends_at"] = ["The end must come after the start."]
    if creating or "accessibility_impact" in fields:
        impact = fields.get("accessibility_impact", "") or ""
        if impact not in Disruption.Accessibility.values:
            allowed = ", ".join(v for v in Disruption.Accessibility.values if v)
            errors["accessibility_impact"] = [f"One of: {allowed} (or empty for none)."]
        clean["accessibility_impact"] = impact
    if creating or "accessibility_note" in fields:
        clean["accessibility_note"] = text_field(
            errors,
            "accessibility_note",
            fields.get("accessibility_note", ""),
            required=False,
            limit=300,
        )
    if creating or "staff_guidance" in fields:
        clean["staff_guidance"] = text_field(
            errors,
            "staff_guidance",
            fields.get("staff_guidance", ""),
            required=False,
            limit=5000,
        )
    if creating or "public_message" in fields:
        clean["public_message"] = text_field(
            errors, "public_message", fields.get("public_message"), required=True, limit=1000
        )
    if creating or "places" in fields:
        places = fields.get("places")
        if not places:
            errors["places"] = ["Name at least one affected place."]
        elif not all(isinstance(p, Place) for p in places):
            errors["places"] = ["Unknown place."]
        clean["places"] = list(places or [])
    if errors:
        raise ValidationError(errors)
    return clean


def _status_for(starts_at: datetime, now: datetime) -> str:
    return Disruption.Status.ACTIVE if starts_at <= now else Disruption.Status.SCHEDULED


def disruption_payload(disruption: Disruption) -> dict[str, Any]:
    """What partners get, in the API and in webhooks: public facts only."""
    return {
        "id": disruption.pk,
        "title": disruption.title,
        "kind": disruption.kind,
        "severity": disruption.severity,
        "status": disruption.status,
        "starts_at": disruption.starts_at,
        "ends_at": disruption.ends_at,
        "resolved_at": disruption.resolved_at,
        "accessibility_impact": disruption.accessibility_impact,
        "accessibility_note": disruption.accessibility_note,
        "public_message": disruption.public_message,
        "places": [
            {"code": p.code, "name": p.name, "kind": p.kind}
            for p in disruption.places.order_by("code")
        ],
        "updated_at": disruption.updated_at,
    }


def disruptions_banner_forget() -> None:
    """Every staff page's banner is cached briefly (``BANNER_CACHE_KEY``); a change to a
    disruption drops it now and again after the commit (a page rendered in between may
    have cached the old state), so staff see the change on their next page."""
    cache.delete(BANNER_CACHE_KEY)
    if connection.in_atomic_block:
        transaction.on_commit(lambda: cache.delete(BANNER_CACHE_KEY))


def _post(
    disruption: Disruption, *, actor: Any, kind: str, notify: bool, now: datetime
) -> DisruptionUpdate:
    update = DisruptionUpdate.objects.create(
        disruption=disruption,
        kind=kind,
        public_message=disruption.public_message,
        staff_guidance=disruption.staff_guidance,
        notify_customers=notify,
        posted_at=now,
        posted_by=actor_label(actor),
    )
    webhook_event_publish(event=f"disruption.{kind}", payload=disruption_payload(disruption))
    disruptions_banner_forget()
    if notify:
        update_id = update.pk
        transaction.on_commit(lambda: publish(NOTIFY_TASK, [update_id]))
    return update


# --- services ------------------------------------------------------------------------------
@transaction.atomic
def disruption_declare(*, actor: Any, notify: bool = True, **fields: Any) -> Disruption:
    """Declare planned works or an incident. Affected customers are computed at once; with
    ``notify`` they are told the public message."""
    clean = _check(fields, creating=True)
    now = timezone.now()
    places = clean.pop("places")
    disruption = Disruption.objects.create(
        **clean,
        status=_status_for(clean["starts_at"], now),
        created_by=actor_label(actor),
        created_at=now,
        updated_at=now,
    )
    disruption.places.set(places)
    disruption_affected_compute(disruption=disruption)
    _post(disruption, actor=actor, kind=DisruptionUpdate.Kind.PUBLISHED, notify=notify, now=now)
    audit_record(
        actor=actor,
        action="disruption.declare",
        target=disruption,
        after={
            "kind": disruption.kind,
            "status": disruption.status,
            "places": [p.code for p in places],
            "affected": disruption.affected_count,
        },
    )
    return disruption


def _locked(disruption: Disruption, version: int | None) -> Disruption:
    current = Disruption.objects.select_for_update().get(pk=disruption.pk)
    if version is not None and current.version != version:
        raise StaleVersion(
            f"“{current.title}” was changed by someone else meanwhile (you had version "
            f"{version}, it is now {current.version}). Reload it and post again.",
            current_version=current.version,
        )
    return current


@transaction.atomic
def disruption_update(
    *, actor: Any, disruption: Disruption, version: int, notify: bool = True, **fields: Any
) -> Disruption:
    """Post an update: a new public message (required) and any changed facts. A change of
    places recomputes who is affected; with ``notify`` they hear the new message."""
    unknown = set(fields) - {*EDITABLE, "public_message", "places"}
    if unknown:
        raise ValidationError({name: ["This field cannot be changed."] for name in unknown})
    if "public_message" not in fields:
        raise ValidationError({"public_message": ["Say what changed, for customers."]})
    clean = _check(fields, creating=False)
    disruption = _locked(disruption, version)
    if disruption.status == Disruption.Status.RESOLVED:
        raise ValidationError({"status": ["This disruption is resolved: declare a new one."]})
    now = timezone.now()
    places = clean.pop("places", None)
    if "starts_at" in clean:
        clean["status"] = _status_for(clean["starts_at"], now)
    for name, value in clean.items():
        setattr(disruption, name, value)
    disruption.version += 1
    disruption.updated_at = now
    disruption.save()
    if places is not None:
        disruption.places.set(places)
        disruption_affected_compute(disruption=disruption)
    _post(disruption, actor=actor, kind=DisruptionUpdate.Kind.UPDATED, notify=notify, now=now)
    audit_record(
        actor=actor,
        action="disruption.update",
        target=disruption,
        after={"fields": sorted(fields), "version": disruption.version},
    )
    return disruption


@transaction.atomic
def disruption_resolve(
    *, actor: Any, disruption: Disruption, version: int, public_message: str, notify: bool = True
) -> Disruption:
    errors: dict[str, list[str]] = {}
    message = text_field(errors, "public_message", public_message, required=True, limit=1000)
    if errors:
        raise ValidationError(errors)
    disruption = _locked(disruption, version)
    if disruption.status == Disruption.Status.RESOLVED:
        raise ValidationError({"status": ["This disruption is resolved already."]})
    now = timezone.now()
    disruption.status = Disruption.Status.RESOLVED
    disruption.resolved_at = now
    disruption.public_message = message
    disruption.version += 1
    disruption.updated_at = now
    disruption.save()
    _post(disruption, actor=actor, kind=DisruptionUpdate.Kind.RESOLVED, notify=notify, now=now)
    audit_record(actor=actor, action="disruption.resolve", target=disruption, after={})
    return disruption


def disruptions_activate_due(*, now: datetime | None = None) -> int:
    """Scheduled disruptions whose start has come become active (beat, every minute);
    partners hear ``disruption.updated``."""
    now = now or timezone.now()
    count = 0
    for disruption_id in Disruption.objects.filter(
        status=Disruption.Status.SCHEDULED, starts_at__lte=now
    ).values_list("pk", flat=True):
        with transaction.atomic():
            disruption = Disruption.objects.select_for_update().get(pk=disruption_id)
            if disruption.status != Disruption.Status.SCHEDULED:
                continue
            disruption.status = Disruption.Status.ACTIVE
            disruption.updated_at = now
            disruption.save(update_fields=["status", "updated_at"])
            webhook_event_publish(
                event="disruption.updated", payload=disruption_payload(disruption)
            )
            disruptions_banner_forget()
            count += 1
    return count


def _place_ids_under(place_ids: set[int]) -> set[int]:
    found, frontier = set(place_ids), set(place_ids)
    for _ in range(PLACE_DEPTH):
        frontier = (
            set(Place.objects.filter(parent_id__in=frontier).values_list("pk", flat=True)) - found
        )
        if not frontier:
            break
        found |= frontier
    return found


def disruption_affected_compute(*, disruption: Disruption) -> int:
    """Who the disruption affects, recomputed set-based; returns the count."""
    places = _place_ids_under(set(disruption.places.values_list("pk", flat=True)))
    DisruptionCustomer.objects.filter(disruption=disruption).delete()
    count = 0
    if places:
        quote = connection.ops.quote_name
        marks = ", ".join(["%s"] * len(places))
        ids = sorted(places)
        customers = Customer._meta.db_table
        sql = (
            f"INSERT INTO {quote(DisruptionCustomer._meta.db_table)} "  # noqa: S608
            "(disruption_id, customer_id, place_id) "
            "SELECT %s, u.customer_id, MIN(u.place_id) FROM ("
            f"  SELECT customer_id, place_id FROM {quote(CustomerPlace._meta.db_table)}"
            f"  WHERE place_id IN ({marks})"
            "  UNION ALL"
            f"  SELECT customer_id, place_id FROM {quote(Holding._meta.db_table)}"
            f"  WHERE place_id IN ({marks}) AND is_active"
            # Merged and erased customers are left out. Asked as "not one of the few gone"
            # rather than joined with every customer: a join hashed all 1M customers first.
            f") u WHERE NOT EXISTS (SELECT 1 FROM {quote(customers)} c"
            "  WHERE c.id = u.customer_id"
            "  AND (c.merged_into_id IS NOT NULL OR c.erased_at IS NOT NULL))"
            " GROUP BY u.customer_id"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [disruption.pk, *ids, *ids])
            count = max(cursor.rowcount, 0)
    Disruption.objects.filter(pk=disruption.pk).update(
        affected_count=count, affected_computed_at=timezone.now()
    )
    disruption.affected_count = count
    return count


@dataclass(frozen=True)
class NotifyBatch:
    sent: int
    skipped: int
    more: bool


def disruption_notify_batch(*, update_id: int, limit: int = NOTIFY_BATCH) -> NotifyBatch:
    """Tell up to ``limit`` affected customers not told about this update yet. Idempotent."""
    update = DisruptionUpdate.objects.select_related("disruption").filter(pk=update_id).first()
    if update is None or not update.notify_customers or update.notify_done_at:
        return NotifyBatch(0, 0, False)
    disruption = update.disruption
    with transaction.atomic():
        # One batch at a time per update: a second worker waits here, then finds them done.
        DisruptionUpdate.objects.select_for_update().filter(pk=update_id).first()
        pending = list(
            DisruptionCustomer.objects.filter(disruption=disruption)
            .exclude(customer__in=DisruptionNotice.objects.filter(update=update).values("customer"))
            .select_related("customer")
            .order_by("customer_id")[:limit]
        )
        notices, sent = [], 0
        subject = f"{disruption.title}: {update.get_kind_display().lower()}"
        for link in pending:
            try:
                with transaction.atomic():
                    message = customer_message_send(
                        actor=None,
                        customer=link.customer,
                        purpose="service",
                        subject=subject,
                        body=update.public_message,
                    )
                notices.append(
                    DisruptionNotice(update=update, customer=link.customer, interaction=message)
                )
                sent += 1
            except ValidationError as exc:
                reason = " ".join(exc.messages)[:300]
                notices.append(
                    DisruptionNotice(update=update, customer=link.customer, skipped_reason=reason)
                )
        DisruptionNotice.objects.bulk_create(notices, ignore_conflicts=True)
        more = len(pending) == limit
        if not more:
            update.notified_count = DisruptionNotice.objects.filter(
                update=update, interaction__isnull=False
            ).count()
            update.notify_done_at = timezone.now()
            update.save(update_fields=["notified_count", "notify_done_at"])
    if more:
        transaction.on_commit(lambda: publish(NOTIFY_TASK, [update_id]))
    return NotifyBatch(sent, len(pending) - sent, more)


def disruption_notify_sweep() -> int:
    """Restart notifying for updates left unfinished (a batch that died, a broker outage)."""
    ids = list(
        DisruptionUpdate.objects.filter(notify_customers=True, notify_done_at__isnull=True)
        .order_by("id")
        .values_list("pk", flat=True)[:100]
    )
    return len(publish(NOTIFY_TASK, ids)) if ids else 0


@transaction.atomic
def disruption_cases_update(*, actor: Any, disruption: Disruption, body: str) -> int:
    """Send one update to the customer of every active case linked to the disruption
    (a reply on the case's channel, else a message on their preferred one); each case
    records it. Returns how many cases were written to."""
    errors: dict[str, list[str]] = {}
    body = text_field(errors, "body", body, required=True, limit=5000)
    if errors:
        raise ValidationError(errors)
    written = 0
    cases = Case.objects.filter(disruption=disruption, status__in=ACTIVE_STATUSES).select_related(
        "customer"
    )
    for case in cases.order_by("id"):
        try:
            with transaction.atomic():
                case_reply(actor=actor, case=case, body=body)
            written += 1
        except ValidationError:
            try:
                case_message_send(actor=actor, case=case, subject=disruption.title, body=body)
                written += 1
            except ValidationError:
                CaseEvent.objects.create(
                    case=case,
                    kind=CaseEvent.Kind.NOTE,
                    occurred_at=timezone.now(),
                    actor_label=actor_label(actor),
                    body=f"Disruption update not sent (no channel to reach the customer): {body}",
                )
    audit_record(
        actor=actor,
        action="disruption.cases_update",
        target=disruption,
        after={"cases_written": written},
    )
    return written
