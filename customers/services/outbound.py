"""Replies to customers, sent through the channel their message came in on.

``interaction_reply_send`` writes the reply on the timeline at once (an outbound interaction,
``delivery_status="queued"``, linked to what it answers) and, after the commit, hands
``outbound.interaction_send`` to the broker. The task (``interaction_send``) sends it through
the adapter of the channel source the original message arrived from — SMTP for a mailbox,
the provider's HTTP API for SMS — and marks it ``sent`` (the provider's message id in
``external_id``) or ``failed`` (refused for good, with the reason).

Delivery is at least once, never silently lost:

- A redelivered task does not send twice: the reply row is locked (``SELECT … FOR UPDATE``),
  its status checked, the message sent and the row marked sent in that one transaction; a
  second delivery waits for the lock and then finds it sent.
- A crash between the provider accepting the message and the commit (worker killed, database
  gone) rolls the mark back: the task is redelivered (late ack) and the message is sent
  again. For email that repeat carries the same Message-ID, chosen when the reply was
  written, so mail systems (and our own inbox, which dedupes on it) can tell it is the same
  message. SMS providers get no such key from the SMS adapter today: a crash in that window
  can send one SMS twice.
- A provider that is away (``ConnectionError`` / ``TimeoutError``) is retried by the task with
  backoff; the last error is kept in ``delivery_error`` meanwhile. ``outbound_sweep`` hands
  the broker again the replies still queued after ``SWEEP_AFTER`` (the broker was down, or
  the retries ran out), and gives up on those queued longer than ``GIVE_UP_AFTER``.

Adapters with ``threads_replies = True`` (email) choose the message id before sending
(``new_message_id()``) and take ``message_id``, ``in_reply_to`` and ``references`` in
``send``, so the customer's mail program threads the reply.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, TextField, Value
from django.db.models.functions import Concat
from django.utils import timezone

from customers.channels.base import (
    ChannelAdapter,
    EventUnusable,
    SendFailed,
    adapter_for,
    summary_of,
)
from customers.models import Channel, ChannelSource, Customer, InboundEvent, Interaction, Purpose
from customers.selectors import contact_consent, customer_sendable_addresses
from cxportal.broker import publish
from cxportal.errors import TRANSIENT_ERRORS
from cxportal.services import actor_label, audit_record

logger = logging.getLogger(__name__)

SWEEP_AFTER = timedelta(minutes=10)
GIVE_UP_AFTER = timedelta(hours=24)
SWEEP_LIMIT = 1000
SUBJECT_MAX = 200

QUEUED = Interaction.DeliveryStatus.QUEUED
SENT = Interaction.DeliveryStatus.SENT
FAILED = Interaction.DeliveryStatus.FAILED


def _answered(interaction: Interaction) -> Interaction:
    """The customer's message a reply goes to: the interaction itself, or — for a follow-up
    to a reply we sent — the message that reply answered."""
    if (
        interaction.direction == Interaction.Direction.OUTBOUND
        and interaction.delivery_status
        and interaction.in_reply_to_id
    ):
        return Interaction.objects.get(pk=interaction.in_reply_to_id)
    return interaction


def _route(original: Interaction) -> tuple[ChannelSource, ChannelAdapter, dict[str, Any], str]:
    """(source, adapter, original payload, recipient) of a reply to ``original``;
    ValidationError when it did not come through a channel that can answer."""
    event = (
        InboundEvent.objects.select_related("source")
        .filter(interaction=original, status=InboundEvent.Status.PROCESSED)
        .order_by("id")
        .first()
    )
    if event is None:
        raise ValidationError(
            "This interaction did not arrive through a configured channel: there is no "
            "channel to answer it on.",
            code="no_channel",
        )
    adapter = adapter_for(event.source)
    if not adapter.sends:
        raise ValidationError(
            f"Channel {event.source.name!r} cannot send replies.", code="channel_cannot_send"
        )
    try:
        recipient = adapter.to_interaction(event.payload).contact.value
    except EventUnusable as exc:
        raise ValidationError(f"No address to reply to: {exc}", code="no_recipient") from None
    return event.source, adapter, event.payload, recipient


def _reply_subject(subject: str | None, original: Interaction, payload: dict[str, Any]) -> str:
    if subject is not None and subject.strip():
        return " ".join(subject.split())
    answered = " ".join(str(payload.get("subject") or original.summary or "").split())
    if not answered:
        return "Re: your message"
    return answered if answered.lower().startswith("re:") else f"Re: {answered}"


@transaction.atomic
def interaction_reply_send(
    *, actor: Any, interaction: Interaction, body: str, subject: str | None = None
) -> Interaction:
    """Answer ``interaction`` on its own channel: writes the outbound reply (queued) and sends
    it after the commit. ValidationError when the text is missing or too long, or the
    interaction did not come through a channel that can send."""
    errors: dict[str, list[str]] = {}
    if not isinstance(body, str) or not body.strip():
        errors["body"] = ["A reply needs some text."]
    elif len(body) > Interaction.BODY_MAX:
        errors["body"] = [f"At most {Interaction.BODY_MAX} characters."]
    if subject is not None and len(" ".join(str(subject).split())) > SUBJECT_MAX:
        errors["subject"] = [f"At most {SUBJECT_MAX} characters."]
    if errors:
        raise ValidationError(errors)
    original = _answered(interaction)
    source, adapter, payload, recipient = _route(original)
    if not source.is_active:
        raise ValidationError(f"Channel {source.name!r} is switched off.", code="inactive")
    threads = getattr(adapter, "threads_replies", False)
    reply = Interaction(
        customer_id=original.customer_id,
        channel=original.channel,
        direction=Interaction.Direction.OUTBOUND,
        occurred_at=timezone.now(),
        summary=_reply_subject(subject, original, payload)
        if threads
        else summary_of(body) or "Reply",
        body=body,
        # Email: the Message-ID is ours to choose, now, so a resend repeats it.
        external_id=adapter.new_message_id() if threads else None,
        in_reply_to=original,
        in_reply_to_external_id=original.external_id,
        recorded_by=actor_label(actor),
        delivery_status=QUEUED,
    )
    reply.full_clean(exclude=["customer", "in_reply_to"], validate_constraints=False)
    reply.save()
    audit_record(
        actor=actor,
        action="interaction.reply",
        target=original.customer,
        after={
            "interaction": reply.pk,
            "in_reply_to": original.pk,
            "channel": reply.channel,
            "source": source.slug,
            "to": recipient,
            "summary": reply.summary,
        },
    )
    transaction.on_commit(lambda: interactions_send_enqueue(interaction_ids=[reply.pk]))
    return reply


def interactions_send_enqueue(*, interaction_ids: list[int]) -> int:
    """Hand replies to the broker; never raises (the sweeper retries what was not sent)."""
    return len(publish("outbound.interaction_send", interaction_ids))


def interaction_send(*, interaction_id: int) -> str:
    """Send one queued reply. Idempotent: returns ``"sent"``, ``"failed"``, or the status it
    already had (``"gone"`` when the row no longer exists). A transient provider error is
    kept in ``delivery_error`` and re-raised so the task retries."""
    try:
        return _send_locked(interaction_id)
    except TRANSIENT_ERRORS as exc:
        Interaction.objects.filter(pk=interaction_id, delivery_status=QUEUED).update(
            delivery_error=f"{type(exc).__name__}: {exc}"[:2000]
        )
        raise


@transaction.atomic
def _send_locked(interaction_id: int) -> str:
    reply = Interaction.objects.select_for_update(of=("self",)).filter(pk=interaction_id).first()
    if reply is None:
        return "gone"
    if reply.delivery_status != QUEUED:
        return reply.delivery_status or "not_a_reply"
    if reply.in_reply_to_id is None and reply.outbound_to:
        return _send_started(reply)
    original = (
        Interaction.objects.filter(pk=reply.in_reply_to_id).first()
        if reply.in_reply_to_id
        else None
    )
    if original is None:
        return _mark(reply, status=FAILED, error="The message it answers no longer exists.")
    try:
        source, adapter, payload, recipient = _route(original)
    except ValidationError as exc:
        return _mark(reply, status=FAILED, error="; ".join(exc.messages))
    if not source.is_active:
        return _mark(reply, status=FAILED, error=f"Channel {source.name!r} is switched off.")
    extra: dict[str, Any] = {}
    if getattr(adapter, "threads_replies", False):
        references = [r for r in payload.get("references") or [] if isinstance(r, str)]
        extra = {
            "message_id": reply.external_id,
            "in_reply_to": original.external_id,
            "references": [*references, original.external_id] if original.external_id else [],
        }
    try:
        provider_id = adapter.send(to=recipient, subject=reply.summary, body=reply.body, **extra)
    except SendFailed as exc:
        return _mark(reply, status=FAILED, error=str(exc))
    return _mark(reply, status=SENT, provider_id=provider_id)


def _send_started(message: Interaction) -> str:
    """Send a message we started (``customer_message_send``) through its recorded source."""
    source = (
        ChannelSource.objects.filter(pk=message.outbound_source_id).first()
        if message.outbound_source_id
        else None
    )
    if source is None:
        return _mark(message, status=FAILED, error="Its channel no longer exists.")
    if not source.is_active:
        return _mark(message, status=FAILED, error=f"Channel {source.name!r} is switched off.")
    adapter = adapter_for(source)
    extra: dict[str, Any] = {}
    if getattr(adapter, "threads_replies", False):
        extra = {"message_id": message.external_id, "in_reply_to": None, "references": []}
        if message.body_html:
            extra["html"] = message.body_html
    try:
        provider_id = adapter.send(
            to=message.outbound_to, subject=message.summary, body=message.body, **extra
        )
    except SendFailed as exc:
        return _mark(message, status=FAILED, error=str(exc))
    return _mark(message, status=SENT, provider_id=provider_id)


def _mark(reply: Interaction, *, status: str, error: str = "", provider_id: str = "") -> str:
    reply.delivery_status, reply.delivery_error = status, error[:2000]
    fields = ["delivery_status", "delivery_error"]
    if provider_id and provider_id != reply.external_id:
        reply.external_id = provider_id
        fields.append("external_id")
        try:
            with transaction.atomic():
                reply.save(update_fields=fields)
            return status
        except IntegrityError:  # the id is taken on this channel: keep the send, note it
            reply.external_id = None
            reply.delivery_error = f"Sent; the provider id {provider_id!r} is already in use."
    reply.save(update_fields=fields)
    return status


def outbound_sweep(*, now=None, limit: int = SWEEP_LIMIT) -> int:
    """Replies stuck in ``queued``: give up on those older than ``GIVE_UP_AFTER`` (failed,
    with the last error), hand the broker again those older than ``SWEEP_AFTER``. Uses the
    partial index of queued replies; returns how many were enqueued."""
    now = now or timezone.now()
    stale = Interaction.objects.filter(delivery_status=QUEUED)
    # A send in progress holds its row lock: the UPDATE waits, then skips it if it was sent.
    stale.filter(occurred_at__lt=now - GIVE_UP_AFTER).update(
        delivery_status=FAILED,
        delivery_error=Concat(
            Value(f"Not sent within {GIVE_UP_AFTER}. Last error: "),
            F("delivery_error"),
            output_field=TextField(),
        ),
    )
    ids = list(
        stale.filter(occurred_at__lt=now - SWEEP_AFTER)
        .order_by("occurred_at")
        .values_list("id", flat=True)[:limit]
    )
    return interactions_send_enqueue(interaction_ids=ids) if ids else 0


# --- messages we start: proactive care, disruption notices, campaigns ------------------------
#: Which contact point a channel sends to.
CHANNEL_CONTACT = {"email": "email", "sms": "phone"}


@dataclass(frozen=True)
class MessageRoute:
    channel: str
    source: ChannelSource
    to: str


def customer_message_route(
    *, customer_id: int, purpose: str, channel: str | None = None
) -> tuple[MessageRoute | None, list[str]]:
    """How we may reach the customer for ``purpose``: on ``channel``, or on their preferred
    channel, then email, then SMS. Returns (route or None, why each channel was passed over).

    A channel needs the customer's address for it, an active channel source that sends, and
    consent: service messages unless the customer withdrew it for that channel; marketing
    and feedback only where they granted it (``contact_consent``)."""
    customer = Customer.objects.only("preferred_channel").get(pk=customer_id)
    wanted = [channel] if channel else [customer.preferred_channel, "email", "sms"]
    candidates = [c for c in dict.fromkeys(wanted) if c]
    addresses = customer_sendable_addresses(customer_id=customer_id)
    sources: dict[str, ChannelSource] = {}
    for source in ChannelSource.objects.filter(is_active=True).order_by("id"):
        if source.channel not in sources and adapter_for(source).sends:
            sources[source.channel] = source
    reasons = []
    for name in candidates:
        label = Channel(name).label if name in Channel.values else name
        problem = None
        if name not in CHANNEL_CONTACT:
            problem = "we cannot start a message on this channel."
        elif not addresses.get(name):
            problem = "no address on file."
        elif name not in sources:
            problem = "no channel is set up to send."
        else:
            allowed, why = contact_consent(customer_id=customer_id, channel=name, purpose=purpose)
            if not allowed:
                problem = why
        if problem is None:
            return MessageRoute(channel=name, source=sources[name], to=addresses[name]), reasons
        reasons.append(f"{label}: {problem}")
    return None, reasons


@transaction.atomic
def customer_message_send(
    *,
    actor: Any,
    customer: Customer,
    purpose: str,
    body: str,
    subject: str = "",
    channel: str | None = None,
    html: str = "",
) -> Interaction:
    """Start a message to the customer (not a reply): on the route ``customer_message_route``
    finds, written on the timeline as queued and sent after the commit, like a reply.
    ValidationError (code ``no_route``) naming why no channel was possible."""
    errors: dict[str, list[str]] = {}
    if not isinstance(body, str) or not body.strip():
        errors["body"] = ["A message needs some text."]
    elif len(body) > Interaction.BODY_MAX:
        errors["body"] = [f"At most {Interaction.BODY_MAX} characters."]
    subject = " ".join(str(subject or "").split())
    if len(subject) > SUBJECT_MAX:
        errors["subject"] = [f"At most {SUBJECT_MAX} characters."]
    if purpose not in Purpose.values:
        errors["purpose"] = [f"{purpose!r} is not a purpose."]
    if customer.erased_at is not None or customer.merged_into_id:
        errors["customer"] = ["This customer was erased or merged: nothing can be sent."]
    if errors:
        raise ValidationError(errors)
    route, reasons = customer_message_route(
        customer_id=customer.pk, purpose=purpose, channel=channel
    )
    if route is None:
        raise ValidationError(
            {"channel": [" ".join(reasons) or "No channel to reach this customer on."]},
            code="no_route",
        )
    adapter = adapter_for(route.source)
    threads = getattr(adapter, "threads_replies", False)
    message = Interaction.objects.create(
        customer=customer,
        channel=route.channel,
        direction=Interaction.Direction.OUTBOUND,
        occurred_at=timezone.now(),
        summary=(subject or summary_of(body) or "Message")[:SUBJECT_MAX],
        body=body,
        external_id=adapter.new_message_id() if threads else None,
        recorded_by=actor_label(actor),
        delivery_status=QUEUED,
        outbound_source=route.source,
        outbound_to=route.to,
        body_html=html if threads else "",
    )
    audit_record(
        actor=actor,
        action="interaction.send",
        target=customer,
        after={"interaction": message.pk, "channel": route.channel, "purpose": purpose},
    )
    transaction.on_commit(lambda: interactions_send_enqueue(interaction_ids=[message.pk]))
    return message
