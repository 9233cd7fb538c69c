"""The channel inbox: store raw events first, process them into the timeline later.

Flow: a webhook request or a channel sync calls ``inbound_events_store`` (one INSERT; a
replayed provider event id is ignored) and answers at once. After the commit each new event
is handed to the broker (``ingest.inbound_event_process``); if the broker is down the
request still succeeds and ``inbox_sweep`` hands the events over later. Processing
(``inbound_event_process``) resolves the customer, writes the interaction idempotently on
``(channel, external_id)`` and threads replies; it is safe to run any number of times.

Polled channels run ``channel_sync``: one sync per channel at a time, and the cursor is saved
in the same transaction as the events it covers, so a crash repeats a page but never skips
one (the repeat is deduplicated by the provider event id).
"""

import json
import logging
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from customers.channels.base import (
    EventIgnored,
    EventUnusable,
    InteractionDraft,
    RawEvent,
    adapter_for,
    polled_kinds,
)
from customers.models import ChannelSource, ContactPoint, Customer, InboundEvent, Interaction
from customers.normalize import normalize_contact
from customers.services.core import customer_resolve
from cxportal.broker import publish, queue_idle
from cxportal.errors import TRANSIENT_ERRORS
from cxportal.services import audit_record
from cxportal.validation import datetime_problem, json_sanitized

logger = logging.getLogger(__name__)

#: Rows per INSERT / per ``IN (...)`` list.
BATCH = 500
#: Events one sync stores at most; a full page means "there may be more": sync again at once.
SYNC_PAGE = 500
#: Deliveries of one event before it is failed for good ("gave up after N attempts"): a
#: transient error retries, but not forever.
MAX_ATTEMPTS = 10
#: Where an overlong body is cut (the rest stays in the inbox payload).
TRUNCATED = "\n[…truncated; the full message is kept in the channel inbox]"


INGEST_QUEUE = "ingest"
#: Handed over this long ago, still pending, and the broker holds nothing for the queue:
#: the message was lost (longer than any event takes to process).
LOST_AFTER = timedelta(minutes=2)


def _requeue_after() -> timedelta:
    """When a pending event handed to the broker is presumed lost. Longer than the broker's
    visibility timeout, after which the broker itself redelivers an unacknowledged task."""
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}) or {}
    return timedelta(seconds=int(options.get("visibility_timeout", 3600)) + 300)


# Storing -------------------------------------------------------------------------------


@transaction.atomic
def inbound_events_store(*, source: ChannelSource, events: Iterable[RawEvent]) -> list[int]:
    """Store raw events; returns the ids of those not stored before (replays are ignored).

    One INSERT ... ON CONFLICT DO NOTHING per ``BATCH``, then one read of the rows this call
    wrote (they carry this call's ``received_at``). The new events are enqueued after the
    commit; a broker outage is logged, never raised (the sweeper catches up).

    Text PostgreSQL cannot store is cleaned, not refused: NUL characters are removed and
    lone surrogates become U+FFFD (``json_sanitized``), in the payload and the event id. A
    refusal would lose the message (a provider drops an event answered 4xx and retries a
    5xx forever; a polled channel would stall on the page), and neither character carries
    meaning in a message. The signature was checked on the raw bytes before this."""
    unique: dict[str, RawEvent] = {}
    for event in events:
        unique.setdefault(json_sanitized(event.provider_event_id), event)
    if not unique:
        return []
    now = timezone.now()
    InboundEvent.objects.bulk_create(
        [
            InboundEvent(
                source=source,
                provider_event_id=provider_event_id,
                payload=json_sanitized(event.payload),
                received_at=now,
            )
            for provider_event_id, event in unique.items()
        ],
        ignore_conflicts=True,
        batch_size=BATCH,
    )
    keys = list(unique)
    new_ids: list[int] = []
    for start in range(0, len(keys), BATCH):
        new_ids += InboundEvent.objects.filter(
            source=source, provider_event_id__in=keys[start : start + BATCH], received_at=now
        ).values_list("id", flat=True)
    if new_ids:
        transaction.on_commit(lambda: inbound_events_enqueue(event_ids=new_ids))
    return new_ids


def inbound_events_enqueue(*, event_ids: Sequence[int]) -> int:
    """Hand events to the broker (one connection for all); returns how many were sent.

    Never raises: with the broker away the events stay pending with ``enqueued_at`` NULL and
    the sweeper sends them later. Records ``enqueued_at`` for the ones sent."""
    sent = publish("ingest.inbound_event_process", event_ids)
    if len(sent) < len(event_ids):
        logger.warning(
            "Broker unavailable: %d inbound event(s) left for the inbox sweeper",
            len(event_ids) - len(sent),
        )
    try:
        now = timezone.now()
        for start in range(0, len(sent), BATCH):
            InboundEvent.objects.filter(pk__in=sent[start : start + BATCH]).update(enqueued_at=now)
    except Exception:  # only bookkeeping: a NULL just means an early sweep
        logger.warning("Could not record enqueued_at of inbound events", exc_info=True)
    return len(sent)


# Processing ----------------------------------------------------------------------------


def inbound_event_process(*, event_id: int) -> InboundEvent | None:
    """Turn one pending event into a timeline interaction. Idempotent.

    The attempt is counted first in its own committed UPDATE (so a delivery that dies
    half-way is still visible as an attempt); then, in one transaction with the event row
    locked: resolve the customer, write the interaction (or find it: ``(channel,
    external_id)`` is unique), link the reply thread, mark the event processed. A payload
    that can never become an interaction marks the event failed with the reason, and so
    does any other non-transient error (a bug or a value the database refuses: retrying
    would only repeat it); a transient error (``TRANSIENT_ERRORS``: database or broker
    away, a timeout) propagates so the task retries, up to ``MAX_ATTEMPTS`` deliveries.
    Returns the event, or None when it was no longer pending."""
    counted = InboundEvent.objects.filter(pk=event_id, status=InboundEvent.Status.PENDING).update(
        attempts=F("attempts") + 1
    )
    if not counted:
        return None
    try:
        return _process_locked(event_id)
    except TRANSIENT_ERRORS:
        raise
    except Exception as exc:  # the locked transaction rolled back: record why in a new one
        logger.exception("Inbound event %s failed", event_id)
        return _event_fail(event_id, error=f"{type(exc).__name__}: {exc}")


@transaction.atomic
def _event_fail(event_id: int, *, error: str) -> InboundEvent | None:
    event = InboundEvent.objects.select_for_update(of=("self",)).filter(pk=event_id).first()
    if event is None or event.status != InboundEvent.Status.PENDING:
        return event
    return _event_finish(event, status=InboundEvent.Status.FAILED, error=error)


@transaction.atomic
def _process_locked(event_id: int) -> InboundEvent | None:
    event = (
        InboundEvent.objects.select_for_update(of=("self",))
        .select_related("source")
        .filter(pk=event_id)
        .first()
    )
    if event is None or event.status != InboundEvent.Status.PENDING:
        return event
    if event.attempts > MAX_ATTEMPTS:
        # Each earlier delivery ended in a transient error or was cut off (a killed worker).
        error = f"Gave up after {event.attempts - 1} attempts."
        return _event_finish(event, status=InboundEvent.Status.FAILED, error=error)
    adapter = adapter_for(event.source)
    try:
        draft = adapter.to_interaction(event.payload)
        if problem := datetime_problem(draft.occurred_at):
            raise EventUnusable(f"The message's time {draft.occurred_at.isoformat()}: {problem}")
        contact = draft.contact
        normalize_contact(contact.kind, contact.value, contact.network)
        interaction = _interaction_write(draft, recorded_by=f"channel:{event.source.slug}")
    except EventIgnored as exc:
        return _event_finish(event, status=InboundEvent.Status.IGNORED, error=str(exc))
    except (EventUnusable, ValidationError) as exc:
        reason = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
        return _event_finish(event, status=InboundEvent.Status.FAILED, error=reason)
    return _event_finish(event, status=InboundEvent.Status.PROCESSED, interaction=interaction)


def _event_finish(
    event: InboundEvent, *, status: str, error: str = "", interaction: Interaction | None = None
) -> InboundEvent:
    event.status, event.error, event.interaction = status, error[:2000], interaction
    event.processed_at = timezone.now()
    event.save(update_fields=["status", "error", "interaction", "processed_at"])
    return event


def _resolve(draft: InteractionDraft) -> Customer:
    """The customer of the draft's contact point. Two events from one new address processed
    at once can race to create the prospect: the loser's ValidationError ("already belongs to
    another customer") is answered by resolving again, which now finds the winner's."""
    for attempt in (1, 2):
        try:  # customer_resolve is atomic: a failed attempt leaves nothing behind
            customer, _ = customer_resolve(
                actor=None, contact_points=[draft.contact], display_name=draft.display_name
            )
            return customer
        except ValidationError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _interaction_write(draft: InteractionDraft, *, recorded_by: str) -> Interaction:
    """Create the interaction, or return the one already on the timeline — when it is on the
    timeline of the draft's sender. EventUnusable when ``(channel, external_id)`` already
    names another customer's message: two sources hand out the same ids, and linking the
    event to that message would lose this one silently."""
    existing = Interaction.objects.filter(
        channel=draft.channel, external_id=draft.external_id
    ).first()
    if existing is not None:
        return _same_sender(existing, draft)
    body = draft.body
    if len(body) > Interaction.BODY_MAX:
        body = body[: Interaction.BODY_MAX - len(TRUNCATED)] + TRUNCATED
    try:
        with transaction.atomic():  # a lost race rolls back the prospect too
            customer = _resolve(draft)
            interaction = Interaction(
                customer=customer,
                channel=draft.channel,
                direction=draft.direction,
                occurred_at=draft.occurred_at,
                summary=draft.summary,
                body=body,
                external_id=draft.external_id,
                in_reply_to_external_id=draft.in_reply_to or None,
                recorded_by=recorded_by,
            )
            interaction.full_clean(exclude=["customer", "in_reply_to"], validate_constraints=False)
            if draft.in_reply_to:
                interaction.in_reply_to = Interaction.objects.filter(
                    channel=draft.channel, external_id=draft.in_reply_to
                ).first()
            interaction.save()
    except IntegrityError:  # another source wrote the same (channel, external_id) first
        return _same_sender(
            Interaction.objects.get(channel=draft.channel, external_id=draft.external_id), draft
        )
    # Replies that arrived before this message now find what they answer.
    Interaction.objects.filter(
        channel=draft.channel,
        in_reply_to_external_id=draft.external_id,
        in_reply_to__isnull=True,
    ).update(in_reply_to=interaction)
    return interaction


def _same_sender(existing: Interaction, draft: InteractionDraft) -> Interaction:
    """``existing`` when the draft's contact point is one of its customer's (a replay, or the
    same post arriving through a second source); EventUnusable when it is not."""
    contact = draft.contact
    normalized = normalize_contact(contact.kind, contact.value, contact.network)
    if ContactPoint.objects.filter(
        customer_id=existing.customer_id, kind=contact.kind, normalized=normalized
    ).exists():
        return existing
    raise EventUnusable(
        f"The {draft.channel} message id {draft.external_id!r} is already on another "
        f"customer's timeline (interaction {existing.pk}), and this event's sender "
        f"{contact.kind} {contact.value!r} is not that customer's: two sources use the same "
        "ids. Not linked."
    )


def inbox_sweep(*, older_than_seconds: int = 30, limit: int = 5000) -> int:
    """Hand the broker pending events that never reached it (``enqueued_at`` NULL, e.g. the
    broker was down) once older than ``older_than_seconds``, and those handed over so long
    ago that the broker must have lost them (past its visibility timeout, or two minutes
    when the broker holds nothing for the ingest queue: ``cxportal.broker.queue_idle``).
    One read (the pending partial index), one connection; returns how many were sent
    (``limit`` means: run again)."""
    now = timezone.now()
    # Handed over but still pending while the broker holds nothing for the ingest queue:
    # lost with the broker (a Redis restarted empty). Otherwise wait out the horizon.
    requeue_after = LOST_AFTER if queue_idle(INGEST_QUEUE) else _requeue_after()
    ids = list(
        InboundEvent.objects.filter(
            status=InboundEvent.Status.PENDING,
            received_at__lte=now - timedelta(seconds=older_than_seconds),
        )
        .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=now - requeue_after))
        .order_by("received_at")
        .values_list("id", flat=True)[:limit]
    )
    if not ids:
        return 0
    sent = inbound_events_enqueue(event_ids=ids)
    logger.info("Inbox sweep: %d of %d pending event(s) enqueued", sent, len(ids))
    return sent


# Polled channels -----------------------------------------------------------------------

SYNCED, BUSY, FAILED, INACTIVE = "synced", "busy", "failed", "inactive"


def channel_sync(*, source_id: int, limit: int = SYNC_PAGE) -> str:
    """Read the next page of a polled channel into the inbox.

    The source row is locked with SKIP LOCKED: a second sync of the same channel returns
    ``"busy"`` at once. The events and the new cursor are committed together. An adapter
    error is recorded on the source (``last_error``) in its own transaction and re-raised
    when transient (the task retries); a full page enqueues the next sync, unless it left the
    cursor where it was: that is recorded as the channel's error (``"failed"``), and beat
    tries again at the channel's interval instead of a loop re-reading the same page."""
    started = timezone.now()
    error: BaseException | None = None
    stuck = False
    with transaction.atomic():
        source = (
            ChannelSource.objects.select_for_update(skip_locked=True).filter(pk=source_id).first()
        )
        if source is None:
            return BUSY if ChannelSource.objects.filter(pk=source_id).exists() else INACTIVE
        if not source.is_active:
            return INACTIVE
        adapter = adapter_for(source)
        old_cursor = dict(source.cursor or {})
        try:
            events, cursor = adapter.poll(dict(old_cursor), limit)
        except Exception as exc:
            error = exc
        else:
            inbound_events_store(source=source, events=events)
            # A full page that did not move the cursor (a page of records without readable
            # ids): syncing again would read the same page forever. Say so, and wait for beat.
            stuck = len(events) >= limit and cursor == old_cursor
            source.cursor = cursor
            source.last_sync_started_at = started
            if stuck:
                source.last_error_at = timezone.now()
                source.last_error = (
                    f"{len(events)} unreadable records at {json.dumps(cursor, default=str)}; "
                    "the feed cannot move past them."
                )[:2000]
                fields = ["last_error_at", "last_error"]
            else:
                source.last_success_at = timezone.now()
                fields = ["last_success_at"]
            source.save(update_fields=["cursor", "last_sync_started_at", *fields])
    if error is not None:
        ChannelSource.objects.filter(pk=source_id).update(
            last_sync_started_at=started,
            last_error_at=timezone.now(),
            last_error=f"{type(error).__name__}: {error}"[:2000],
        )
        logger.warning("Channel %s sync failed: %s", source_id, error)
        if isinstance(error, (*TRANSIENT_ERRORS, OSError)):
            raise error
        return FAILED
    if stuck:
        logger.warning("Channel %s is stuck: %s", source_id, source.last_error)
        return FAILED
    if len(events) >= limit:
        _enqueue_sync(source_id)
    return SYNCED


def _enqueue_sync(source_id: int) -> None:
    if not publish("ingest.channel_sync", [source_id]):
        logger.warning("Broker unavailable: channel %s waits for beat", source_id)


def channels_sync_due(*, now=None) -> list[int]:
    """Enqueue a sync of every active polled channel whose interval has passed. Channel
    sources are a handful of configuration rows: one query, filtered here."""
    now = now or timezone.now()
    due = [
        source_id
        for source_id, started, interval in ChannelSource.objects.filter(
            is_active=True, kind__in=polled_kinds()
        ).values_list("id", "last_sync_started_at", "poll_interval_seconds")
        if started is None or now - started >= timedelta(seconds=interval)
    ]
    for source_id in due:
        _enqueue_sync(source_id)
    return due


@transaction.atomic
def channel_sync_retry(*, actor: Any, source: ChannelSource) -> None:
    """A supervisor's "retry": sync a polled channel now, and hand the broker its events
    still pending. Audited."""
    audit_record(
        actor=actor,
        action="channel.sync_retry",
        target=source,
        before={"last_error": source.last_error[:500]},
    )
    pending = list(
        InboundEvent.objects.filter(source=source, status=InboundEvent.Status.PENDING)
        .order_by("received_at")
        .values_list("id", flat=True)[:5000]
    )
    if pending:
        transaction.on_commit(lambda: inbound_events_enqueue(event_ids=pending))
    if adapter_for(source).polled:
        transaction.on_commit(lambda: _enqueue_sync(source.pk))
