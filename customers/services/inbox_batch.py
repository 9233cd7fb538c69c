"""The channel inbox for a whole file at once: store a page of raw events and turn them into
timeline interactions in one transaction, set-based.

``inbox.inbound_event_process`` handles one event per task (about 15 queries): right for
live traffic, too slow to replay a 5,000-post export in seconds. ``inbound_events_ingest``
has the same effect for a page of events with a fixed number of queries: the raw events are
stored first (a replayed provider event id is ignored), every new event goes through its
adapter's ``to_interaction``, customers are resolved and interactions written by the bulk
ingest service (idempotent on ``(channel, external_id)``), replies are threaded in both
directions, and each event ends ``processed`` (linked to its interaction) or ``failed``
with the reason. Nothing is handed to the broker: the events are done when the transaction
commits. Used by ``manage.py replay_social``.
"""

from collections.abc import Iterable, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, OuterRef, Subquery
from django.utils import timezone

from customers.channels.base import (
    EventIgnored,
    EventUnusable,
    InteractionDraft,
    RawEvent,
    adapter_for,
)
from customers.models import ChannelSource, ContactPoint, InboundEvent, Interaction
from customers.normalize import normalize_contact
from customers.services.inbox import BATCH, TRUNCATED
from customers.services.ingest import (
    CREATED,
    MAX_ITEMS,
    REJECTED,
    UNCHANGED,
    ItemResult,
    interaction_bulk_ingest,
)
from cxportal.validation import json_sanitized


def _reason(errors: dict[str, Any]) -> str:
    """``{"contact": {"value": ["bad"]}}`` → ``contact.value: bad``."""
    parts = []
    for field, value in errors.items():
        if isinstance(value, dict):
            parts += [f"{field}.{inner}" for inner in _reason(value).split("; ")]
        else:
            parts.append(f"{field}: {' '.join(map(str, value))}")
    return "; ".join(parts)


def _item(draft: InteractionDraft) -> dict[str, Any]:
    body = draft.body
    if len(body) > Interaction.BODY_MAX:
        body = body[: Interaction.BODY_MAX - len(TRUNCATED)] + TRUNCATED
    contact = {"kind": draft.contact.kind, "value": draft.contact.value}
    if draft.contact.network:
        contact["network"] = draft.contact.network
    return {
        "contact": contact,
        "channel": draft.channel,
        "direction": draft.direction,
        "occurred_at": draft.occurred_at,
        "summary": draft.summary,
        "body": body,
        "external_id": draft.external_id,
    }


@transaction.atomic
def inbound_events_ingest(*, source: ChannelSource, events: Iterable[RawEvent]) -> dict[str, int]:
    """Store up to ``MAX_ITEMS`` raw events of ``source`` and process every one of them still
    pending. Returns ``{"new", "processed", "failed"}`` counts of this call."""
    unique: dict[str, RawEvent] = {}
    for event in events:  # cleaned as inbox.inbound_events_store does: jsonb refuses NUL
        unique.setdefault(json_sanitized(event.provider_event_id), event)
    if len(unique) > MAX_ITEMS:
        raise ValueError(f"At most {MAX_ITEMS} events per call.")
    now = timezone.now()
    InboundEvent.objects.bulk_create(
        [
            InboundEvent(
                source=source,
                provider_event_id=key,
                payload=json_sanitized(event.payload),
                received_at=now,
            )
            for key, event in unique.items()
        ],
        ignore_conflicts=True,
        batch_size=BATCH,
    )
    rows = list(
        InboundEvent.objects.filter(source=source, provider_event_id__in=list(unique))
        .filter(status=InboundEvent.Status.PENDING)
        .select_for_update(skip_locked=True)
        .only("id", "payload", "received_at")
    )
    counts = inbound_events_process_batch(source=source, events=rows)
    counts["new"] = sum(1 for row in rows if row.received_at == now)
    return counts


def inbound_events_process_batch(
    *, source: ChannelSource, events: Sequence[InboundEvent]
) -> dict[str, int]:
    """Process pending events of one source (locked by the caller, inside its transaction)
    into interactions; the set-based equivalent of ``inbound_event_process`` per event."""
    if not events:
        return {"processed": 0, "failed": 0}
    InboundEvent.objects.filter(pk__in=[e.pk for e in events]).update(attempts=F("attempts") + 1)
    adapter = adapter_for(source)
    errors: dict[int, str] = {}
    ignored: set[int] = set()
    drafts: dict[int, InteractionDraft] = {}
    first_of: dict[tuple[str, str], int] = {}
    for event in events:
        try:
            draft = adapter.to_interaction(event.payload)
        except EventIgnored as exc:
            errors[event.pk] = str(exc)
            ignored.add(event.pk)
            continue
        except (EventUnusable, ValidationError) as exc:
            errors[event.pk] = (
                "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            )
            continue
        drafts[event.pk] = draft
        first_of.setdefault((draft.channel, draft.external_id), event.pk)

    firsts = list(first_of.values())
    results = interaction_bulk_ingest(actor=None, items=[_item(drafts[pk]) for pk in firsts])
    clashes = _clashes(
        {
            pk: (drafts[pk], r)
            for pk, r in zip(firsts, results, strict=True)
            if r.status == UNCHANGED
        }
    )
    interaction_of: dict[tuple[str, str], int] = {}
    created: list[Interaction] = []
    for pk, result in zip(firsts, results, strict=True):
        draft = drafts[pk]
        if result.status == REJECTED:
            errors[pk] = _reason(result.errors or {})
            continue
        if pk in clashes:
            errors[pk] = clashes[pk]
            continue
        interaction_of[(draft.channel, draft.external_id)] = result.id
        if result.status == CREATED:
            created.append(
                Interaction(
                    pk=result.id,
                    in_reply_to_external_id=draft.in_reply_to or None,
                    recorded_by=f"channel:{source.slug}",
                )
            )
    _thread(created, channel=source.channel)

    finished = timezone.now()
    for event in events:
        draft = drafts.get(event.pk)
        key = (draft.channel, draft.external_id) if draft else None
        interaction = interaction_of.get(key) if key else None
        if interaction is None:  # its own reason, or that of the event it shares an id with
            failed = event.pk not in ignored
            event.status = InboundEvent.Status.FAILED if failed else InboundEvent.Status.IGNORED
            event.interaction_id = None
            event.error = errors.get(event.pk) or errors.get(first_of.get(key), "Not written.")
            event.error = event.error[:2000]
        else:
            event.status, event.error, event.interaction_id = (
                InboundEvent.Status.PROCESSED,
                "",
                interaction,
            )
        event.processed_at = finished
    InboundEvent.objects.bulk_update(
        events, ["status", "error", "interaction", "processed_at"], batch_size=BATCH
    )
    failed = sum(1 for e in events if e.status == InboundEvent.Status.FAILED)
    return {"processed": len(events) - failed, "failed": failed}


def _clashes(found: dict[int, tuple[InteractionDraft, ItemResult]]) -> dict[int, str]:
    """Of the events whose ``(channel, external_id)`` was already on a timeline, those whose
    sender is not a contact point of that timeline's customer (two sources using the same
    ids), with the reason; one query. The set-based twin of ``inbox._same_sender``."""
    keys: dict[int, tuple[str, str]] = {}
    for pk, (draft, _) in found.items():
        contact = draft.contact
        try:
            keys[pk] = (
                contact.kind,
                normalize_contact(contact.kind, contact.value, contact.network),
            )
        except ValidationError:
            keys[pk] = (contact.kind, "")
    owned = set(
        ContactPoint.objects.filter(
            kind__in={kind for kind, _ in keys.values()},
            normalized__in={normalized for _, normalized in keys.values()},
        ).values_list("customer_id", "kind", "normalized")
        if keys
        else ()
    )
    return {
        pk: (
            f"The {draft.channel} message id {draft.external_id!r} is already on another "
            f"customer's timeline (interaction {result.id}), and this event's sender "
            f"{draft.contact.kind} {draft.contact.value!r} is not that customer's: two sources "
            "use the same ids. Not linked."
        )
        for pk, (draft, result) in found.items()
        if (result.customer_id, *keys[pk]) not in owned
    }


def _thread(created: list[Interaction], *, channel: str) -> None:
    """Record what each new interaction answers, then link both ways in two UPDATEs: new
    replies to the messages they answer, and earlier replies to the new messages."""
    if not created:
        return
    Interaction.objects.bulk_update(
        created, ["in_reply_to_external_id", "recorded_by"], batch_size=BATCH
    )
    parent = Interaction.objects.filter(
        channel=OuterRef("channel"), external_id=OuterRef("in_reply_to_external_id")
    ).values("pk")[:1]
    ids = [i.pk for i in created]
    Interaction.objects.filter(
        pk__in=ids, in_reply_to__isnull=True, in_reply_to_external_id__isnull=False
    ).update(in_reply_to=Subquery(parent))
    new_external_ids = Interaction.objects.filter(pk__in=ids).values("external_id")
    Interaction.objects.filter(
        channel=channel, in_reply_to__isnull=True, in_reply_to_external_id__in=new_external_ids
    ).update(in_reply_to=Subquery(parent))
