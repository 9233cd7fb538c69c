"""Replies go out through the channel the customer wrote on: email through a real SMTP server
(aiosmtpd), SMS through the provider's HTTP API (a real local server). Queued on the
timeline, sent after the commit, never twice. The ``smtp`` and ``provider``
fixtures are in tests/conftest.py."""

import threading
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from customers.channels.base import RawEvent
from customers.channels.email_imap import read_message
from customers.models import Channel, Interaction
from customers.services import customer_create, inbound_event_process, inbound_events_store
from customers.services.core import interaction_log
from customers.services.outbound import interaction_reply_send, interaction_send, outbound_sweep
from customers.tasks import interaction_send_task
from cxportal.models import AuditEvent
from tests.customers.channel_support import (
    ChannelSourceFactory,
    sms_message,
    sms_source,
    social_source,
)
from tests.support.mail_servers import make_mail
from tests.support.services import free_port

pytestmark = pytest.mark.django_db


def arrive(source, event: RawEvent) -> Interaction:
    """An inbound message as the channel delivers it: stored in the inbox, processed."""
    (event_id,) = inbound_events_store(source=source, events=[event])
    processed = inbound_event_process(event_id=event_id)
    assert processed.status == "processed", processed.error
    return processed.interaction


def customer_mail(source, n: int, **fields) -> Interaction:
    raw = make_mail(n, sender="Jane Doe <jane@example.com>", **fields)
    return arrive(source, read_message(raw, uid=n, uidvalidity=1))


def mail_source(smtp, **settings):
    return ChannelSourceFactory(
        kind="email_imap",
        channel=Channel.EMAIL,
        settings={"host": "imap.brand.example", **smtp.settings(), **settings},
    )


def test_an_email_reply_is_queued_audited_and_sent_once(
    smtp, staff, broker, django_capture_on_commit_callbacks
):
    source = mail_source(smtp)
    original = customer_mail(
        source, 1, subject="Where is my order?", in_reply_to="<msg-0@example.com>"
    )
    agent = staff("service")
    with django_capture_on_commit_callbacks(execute=True):
        reply = interaction_reply_send(actor=agent, interaction=original, body="It ships today.")

    assert (reply.direction, reply.channel, reply.delivery_status) == (
        "outbound",
        "email",
        "queued",
    )
    assert reply.customer_id == original.customer_id and reply.in_reply_to == original
    assert reply.summary == "Re: Where is my order?" and reply.recorded_by == agent.username
    assert reply.external_id.startswith("<") and reply.external_id.endswith("@brand.example>")
    assert broker() == [("outbound.interaction_send", [reply.pk])]
    audit = AuditEvent.objects.get(action="interaction.reply")
    assert audit.after["to"] == "jane@example.com" and audit.after["interaction"] == reply.pk
    assert smtp.messages == []  # nothing leaves before the worker runs

    assert interaction_send_task(reply.pk) == "sent"
    reply.refresh_from_db()
    assert (reply.delivery_status, reply.delivery_error) == ("sent", "")
    (mail,) = smtp.messages
    assert smtp.envelopes == [("support@brand.example", ["jane@example.com"])]
    assert mail["Subject"] == "Re: Where is my order?"
    assert mail["Message-ID"] == reply.external_id
    assert mail["In-Reply-To"] == "<msg-1@example.com>"
    assert mail["References"] == "<msg-0@example.com> <msg-1@example.com>"
    assert mail.get_content() == "It ships today.\n"

    # A redelivered task finds it sent and sends nothing.
    assert interaction_send(interaction_id=reply.pk) == "sent"
    assert len(smtp.messages) == 1

    # The customer answers our reply: it threads under it.
    answer = customer_mail(source, 2, in_reply_to=reply.external_id)
    assert answer.in_reply_to == reply

    # A follow-up to our own reply goes to the same customer, on the same thread.
    follow_up = interaction_reply_send(
        actor=agent, interaction=reply, body="Tracking: 123", subject="Tracking"
    )
    assert interaction_send(interaction_id=follow_up.pk) == "sent"
    assert smtp.messages[-1]["To"] == "jane@example.com"
    assert smtp.messages[-1]["Subject"] == "Tracking"
    assert smtp.messages[-1]["In-Reply-To"] == "<msg-1@example.com>"


def test_a_mail_server_that_is_away_keeps_the_reply_queued_and_the_retry_reuses_its_id(smtp, staff):
    source = mail_source(smtp, smtp_port=free_port())
    original = customer_mail(source, 1)
    reply = interaction_reply_send(actor=staff("service"), interaction=original, body="Hi")
    with pytest.raises(ConnectionError):
        interaction_send(interaction_id=reply.pk)
    reply.refresh_from_db()
    assert reply.delivery_status == "queued" and "unreachable" in reply.delivery_error

    source.settings = mail_source(smtp).settings  # the server is back
    source.save()
    assert interaction_send(interaction_id=reply.pk) == "sent"
    reply.refresh_from_db()
    assert (reply.delivery_status, reply.delivery_error) == ("sent", "")
    assert [m["Message-ID"] for m in smtp.messages] == [reply.external_id]


def test_a_refused_reply_is_failed_for_good(smtp, staff):
    source = mail_source(smtp)
    original = customer_mail(source, 1)
    reply = interaction_reply_send(actor=staff("service"), interaction=original, body="Hi")
    smtp.refuse = "550 5.1.1 No such user"
    assert interaction_send(interaction_id=reply.pk) == "failed"
    smtp.refuse = ""
    assert interaction_send(interaction_id=reply.pk) == "failed"  # not tried again
    reply.refresh_from_db()
    assert reply.delivery_status == "failed" and "No such user" in reply.delivery_error
    assert smtp.messages == []


def test_an_sms_reply_goes_through_the_providers_api_once(provider, staff):
    source = sms_source(settings={"api_url": provider.url, "from_number": "+447700900999"})
    original = arrive(source, RawEvent("SM000001", sms_message(1, text="Card not arrived")))
    reply = interaction_reply_send(
        actor=staff("service"), interaction=original, body="New card posted today."
    )
    assert (reply.channel, reply.summary, reply.external_id) == (
        "sms",
        "New card posted today.",
        None,
    )
    assert interaction_send(interaction_id=reply.pk) == "sent"
    assert interaction_send(interaction_id=reply.pk) == "sent"
    assert [r["body"] for r in provider.received] == [
        {"from": "+447700900999", "to": "+447700900001", "text": "New card posted today."}
    ]
    reply.refresh_from_db()
    # The provider's id, namespaced as the SMS adapter names this source's messages.
    assert (reply.delivery_status, reply.external_id) == ("sent", f"sms:{source.slug}:out-1")
    # The customer's answer names the provider id: it threads under our reply.
    answer = arrive(source, RawEvent("SM000002", sms_message(2, in_reply_to="out-1")))
    assert answer.in_reply_to == reply


def test_an_sms_provider_that_fails_is_retried(provider, staff):
    source = sms_source(settings={"api_url": provider.url})
    original = arrive(source, RawEvent("SM000001", sms_message(1)))
    reply = interaction_reply_send(actor=staff("service"), interaction=original, body="Hello")
    provider.mode = "fail"
    with pytest.raises(ConnectionError, match="503"):
        interaction_send(interaction_id=reply.pk)
    reply.refresh_from_db()
    assert reply.delivery_status == "queued" and "503" in reply.delivery_error
    provider.mode = "ok"
    assert interaction_send(interaction_id=reply.pk) == "sent"
    assert len(provider.received) == 2


def test_a_reply_needs_text_and_a_channel_that_can_send(smtp, staff):
    agent = staff("service")
    mail = customer_mail(mail_source(smtp), 1)
    customer = customer_create(actor=agent, display_name="Walk-in")
    call = interaction_log(
        actor=agent, customer=customer, channel="phone", direction="inbound", summary="Call"
    )
    social = social_source()
    post = arrive(
        social,
        RawEvent(
            "twitter:1",
            {"id": "1", "network": "twitter", "author": "@jane", "text": "hi", "created_at": 1},
        ),
    )
    off = mail_source(smtp, from_address="off@brand.example")
    off_mail = customer_mail(off, 9)
    off.is_active = False
    off.save()
    before = Interaction.objects.count()
    cases = [
        (mail, "   ", "A reply needs some text"),
        (mail, "x" * (Interaction.BODY_MAX + 1), "At most"),
        (call, "Hello", "did not arrive through a configured channel"),
        (post, "Hello", "cannot send replies"),
        (off_mail, "Hello", "switched off"),
    ]
    for interaction, body, message in cases:
        with pytest.raises(ValidationError, match=message):
            interaction_reply_send(actor=agent, interaction=interaction, body=body)
    with pytest.raises(ValidationError, match="At most 200"):
        interaction_reply_send(actor=agent, interaction=mail, body="Hi", subject="s" * 201)
    assert Interaction.objects.count() == before
    assert not AuditEvent.objects.filter(action="interaction.reply").exists()


def test_the_sweeper_resends_stuck_replies_and_gives_up_after_a_day(
    smtp, staff, broker, django_assert_num_queries
):
    source = mail_source(smtp)
    agent = staff("service")
    replies = [
        interaction_reply_send(actor=agent, interaction=customer_mail(source, n), body="Hi")
        for n in (1, 2, 3)
    ]
    now = timezone.now()
    Interaction.objects.filter(pk=replies[0].pk).update(occurred_at=now - timedelta(minutes=11))
    Interaction.objects.filter(pk=replies[1].pk).update(
        occurred_at=now - timedelta(hours=25), delivery_error="ConnectionError: refused"
    )
    with django_assert_num_queries(2):  # give up (one UPDATE), read the stuck ones
        assert outbound_sweep(now=now) == 1
    assert broker() == [("outbound.interaction_send", [replies[0].pk])]
    statuses = dict(
        Interaction.objects.filter(pk__in=[r.pk for r in replies]).values_list(
            "pk", "delivery_status"
        )
    )
    assert statuses == {replies[0].pk: "queued", replies[1].pk: "failed", replies[2].pk: "queued"}
    given_up = Interaction.objects.get(pk=replies[1].pk)
    assert given_up.delivery_error.startswith("Not sent within 1 day")
    assert given_up.delivery_error.endswith("ConnectionError: refused")


@pytest.mark.django_db(transaction=True)
def test_two_deliveries_at_once_send_one_message(smtp, staff):
    """The row lock: the second delivery waits for the first and finds the reply sent."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no row locks (select_for_update is a no-op there)")
    source = mail_source(smtp)
    reply = interaction_reply_send(
        actor=staff("service"), interaction=customer_mail(source, 1), body="Hi"
    )
    smtp.delay = 1.0
    results: list[str] = []

    def deliver():
        try:
            results.append(interaction_send(interaction_id=reply.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert results == ["sent", "sent"]
    assert len(smtp.messages) == 1
