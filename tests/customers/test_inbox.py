"""The inbox services: store, process (idempotent, threaded), fail with a reason, sweep, sync,
and channel health."""

import dataclasses
import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from customers.channels.base import ChannelAdapter, RawEvent, register
from customers.models import ChannelSource, ContactPoint, Customer, InboundEvent, Interaction
from customers.selectors import channel_health_list
from customers.services import (
    channel_sync,
    channel_sync_retry,
    channels_sync_due,
    customer_create,
    inbound_event_process,
    inbound_events_store,
    inbox_sweep,
)
from customers.services.core import ContactInput
from customers.services.inbox_batch import inbound_events_ingest
from cxportal.models import AuditEvent
from tests.customers.channel_support import (
    ChannelSourceFactory,
    readable_broker,
    sms_message,
    sms_source,
)

pytestmark = pytest.mark.django_db


def store(source, *messages) -> list[int]:
    return inbound_events_store(source=source, events=[RawEvent(m["id"], m) for m in messages])


def test_store_returns_only_new_events_and_ignores_replays():
    source = sms_source()
    first = store(source, sms_message(1), sms_message(2), sms_message(1))
    assert len(first) == 2
    assert store(source, sms_message(1), sms_message(2)) == []
    again = store(source, sms_message(2), sms_message(3))
    assert len(again) == 1
    assert InboundEvent.objects.get(pk=again[0]).provider_event_id == "SM000003"
    assert InboundEvent.objects.filter(source=source).count() == 3
    # The same provider id on another source is another event.
    assert len(store(sms_source(), sms_message(1))) == 1


def test_store_query_count_does_not_grow_with_events(django_assert_num_queries):
    source = sms_source()
    # atomic savepoint + insert + re-read, release
    with django_assert_num_queries(4):
        store(source, *[sms_message(n) for n in range(3)])
    with django_assert_num_queries(4):
        store(source, *[sms_message(n) for n in range(100, 400)])


def test_store_enqueues_new_events_after_commit(tmp_path, django_capture_on_commit_callbacks):
    source = sms_source()
    with readable_broker(tmp_path) as queued:
        with django_capture_on_commit_callbacks(execute=True):
            ids = store(source, sms_message(1), sms_message(2))
        with django_capture_on_commit_callbacks(execute=True):
            store(source, sms_message(1))  # a replay enqueues nothing
        assert sorted(queued()) == [("ingest.inbound_event_process", [i]) for i in sorted(ids)]
    assert InboundEvent.objects.filter(enqueued_at__isnull=False).count() == 2


def test_store_survives_a_broker_that_is_down(django_capture_on_commit_callbacks):
    from cxportal.celery import app
    from tests.support.services import free_port, use_broker

    source = sms_source()
    old = app.conf.broker_url, app.conf.broker_transport_options
    use_broker(app, f"redis://127.0.0.1:{free_port()}/0", {})
    try:
        with django_capture_on_commit_callbacks(execute=True):
            ids = store(source, sms_message(1))
    finally:
        use_broker(app, *old)
    event = InboundEvent.objects.get(pk=ids[0])
    assert event.status == InboundEvent.Status.PENDING
    assert event.enqueued_at is None  # the sweeper will send it


def test_processing_creates_one_interaction_and_is_idempotent():
    source = sms_source()
    [event_id] = store(source, sms_message(7, text="Where is my parcel?"))
    event = inbound_event_process(event_id=event_id)
    assert event.status == InboundEvent.Status.PROCESSED
    assert event.attempts == 1 and event.processed_at is not None
    interaction = event.interaction
    assert (interaction.channel, interaction.direction) == ("sms", "inbound")
    assert interaction.external_id == f"sms:{source.slug}:SM000007"
    assert interaction.summary == "Where is my parcel?"
    assert interaction.recorded_by == f"channel:{source.slug}"
    assert interaction.customer.contact_points.get().normalized == "+447700900007"
    assert interaction.customer.lifecycle_stage == Customer.Lifecycle.PROSPECT

    assert inbound_event_process(event_id=event_id) is None  # no longer pending
    InboundEvent.objects.filter(pk=event_id).update(status=InboundEvent.Status.PENDING)
    again = inbound_event_process(event_id=event_id)  # even forced, nothing new
    assert again.interaction_id == interaction.pk
    assert Interaction.objects.count() == 1
    assert Customer.objects.count() == 1


def test_processing_finds_the_known_customer():
    customer = customer_create(
        actor=None,
        display_name="Ann Known",
        contact_points=[ContactInput(kind="phone", value="07700 900123")],
    )
    [event_id] = store(sms_source(), sms_message(123))
    event = inbound_event_process(event_id=event_id)
    assert event.interaction.customer == customer
    assert Customer.objects.count() == 1


@register("test_shared_ids")
class SharedIds(ChannelAdapter):
    """SMS payloads with bare provider ids: what a channel whose ids are global (a social
    network's post ids) looks like when two sources carry the same id."""

    def to_interaction(self, payload):
        from customers.channels.sms import SmsAdapter

        draft = SmsAdapter(self.source).to_interaction(payload)
        return dataclasses.replace(draft, external_id=payload["id"])


def shared_ids_source() -> ChannelSource:
    return ChannelSourceFactory(kind="test_shared_ids", channel="sms")


def test_same_external_id_and_sender_from_two_sources_is_one_interaction():
    one = inbound_event_process(event_id=store(shared_ids_source(), sms_message(5))[0])
    two = inbound_event_process(event_id=store(shared_ids_source(), sms_message(5))[0])
    assert (one.status, two.status) == ("processed", "processed")
    assert one.interaction_id == two.interaction_id
    assert Interaction.objects.count() == 1


def test_same_external_id_from_another_sender_fails_instead_of_linking():
    one = inbound_event_process(event_id=store(shared_ids_source(), sms_message(5))[0])
    other = sms_message(5, **{"from": "+447700900222", "text": "not the same message"})
    two = inbound_event_process(event_id=store(shared_ids_source(), other)[0])
    assert two.status == "failed" and two.interaction_id is None
    assert two.error.startswith("The sms message id 'SM000005' is already on another customer")
    assert f"(interaction {one.interaction_id})" in two.error
    assert Interaction.objects.count() == 1
    assert not ContactPoint.objects.filter(normalized="+447700900222").exists()


def test_batch_ingest_fails_a_clash_instead_of_linking():
    first = shared_ids_source()
    inbound_events_ingest(source=first, events=[RawEvent("SM000005", sms_message(5))])
    other = sms_message(5, **{"from": "+447700900222"})
    second = shared_ids_source()
    counts = inbound_events_ingest(
        source=second,
        events=[RawEvent("SM000005", other), RawEvent("SM000006", sms_message(6))],
    )
    assert counts == {"new": 2, "processed": 1, "failed": 1}
    clash = InboundEvent.objects.get(source=second, provider_event_id="SM000005")
    assert clash.status == "failed" and clash.interaction_id is None
    assert "is already on another customer's timeline" in clash.error
    # The same sender through a second source is the same message: linked, not failed.
    third = inbound_events_ingest(
        source=shared_ids_source(), events=[RawEvent("5", sms_message(5))]
    )
    assert third == {"new": 1, "processed": 1, "failed": 0}


def test_batch_ingest_cleans_what_postgresql_cannot_store():
    source = sms_source()
    message = sms_message(1, id="SM\x00001", text="nul \x00 here \ud800")
    counts = inbound_events_ingest(source=source, events=[RawEvent(message["id"], message)])
    assert counts == {"new": 1, "processed": 1, "failed": 0}
    event = InboundEvent.objects.get()
    assert event.provider_event_id == "SM001"
    assert event.payload["text"] == "nul  here \ufffd"


def test_reply_threads_to_what_it_answers_in_either_order():
    source = sms_source()
    question = inbound_event_process(event_id=store(source, sms_message(1))[0]).interaction
    answer = inbound_event_process(
        event_id=store(source, sms_message(2, in_reply_to="SM000001"))[0]
    ).interaction
    assert answer.in_reply_to == question
    assert answer.in_reply_to_external_id == f"sms:{source.slug}:SM000001"

    # The reply arrives first: linked as soon as what it answers lands.
    early = inbound_event_process(
        event_id=store(source, sms_message(4, in_reply_to="SM000003"))[0]
    ).interaction
    assert early.in_reply_to is None
    late = inbound_event_process(event_id=store(source, sms_message(3))[0]).interaction
    early.refresh_from_db()
    assert early.in_reply_to == late
    assert list(late.replies.all()) == [early]


@pytest.mark.parametrize(
    "fields, reason",
    [
        ({"from": "not a number"}, "is not a phone number"),
        ({"from": None}, "'from' is missing"),
        ({"sent_at": "yesterday-ish"}, "sent_at 'yesterday-ish' is not an ISO 8601 time"),
    ],
)
def test_an_unusable_event_is_failed_with_its_reason_and_writes_nothing(fields, reason):
    [event_id] = store(sms_source(), sms_message(1, **fields))
    event = inbound_event_process(event_id=event_id)
    assert event.status == InboundEvent.Status.FAILED
    assert reason in event.error
    assert event.interaction is None
    assert not Interaction.objects.exists()
    assert not Customer.objects.exists()
    assert inbound_event_process(event_id=event_id) is None  # no retry
    assert InboundEvent.objects.get(pk=event_id).attempts == 1


def test_a_long_body_is_kept_in_full_in_the_inbox_and_cut_on_the_timeline():
    text = "x" * (Interaction.BODY_MAX + 10)
    [event_id] = store(sms_source(), sms_message(1, text=text))
    event = inbound_event_process(event_id=event_id)
    assert event.status == InboundEvent.Status.PROCESSED
    assert len(event.interaction.body) == Interaction.BODY_MAX
    assert event.payload["text"] == text


def _age(ids, **delta):
    InboundEvent.objects.filter(pk__in=ids).update(received_at=timezone.now() - timedelta(**delta))


def test_sweeper_enqueues_what_the_broker_never_got(tmp_path):
    source = sms_source()
    never_sent = store(source, sms_message(1), sms_message(2))  # on_commit never ran here
    _age(never_sent, seconds=31)
    fresh = store(source, sms_message(3))
    handed_over = store(source, sms_message(4))
    _age(handed_over, seconds=31)
    InboundEvent.objects.filter(pk__in=handed_over).update(enqueued_at=timezone.now())
    lost = store(source, sms_message(5))
    _age(lost, hours=3)
    InboundEvent.objects.filter(pk__in=lost).update(enqueued_at=timezone.now() - timedelta(hours=2))
    done = store(source, sms_message(6))
    _age(done, seconds=31)
    inbound_event_process(event_id=done[0])

    with readable_broker(tmp_path) as queued:
        assert inbox_sweep() == 3
        assert sorted(args[0] for _, args in queued()) == sorted([*never_sent, *lost])
        assert {name for name, _ in queued()} == {"ingest.inbound_event_process"}
        assert inbox_sweep() == 0  # just handed over: not again
    assert not InboundEvent.objects.filter(pk__in=[*never_sent, *lost], enqueued_at=None)
    assert InboundEvent.objects.get(pk=fresh[0]).enqueued_at is None


def test_sweeper_reads_pending_events_in_one_query(tmp_path, django_assert_num_queries):
    source = sms_source()
    _age(store(source, *[sms_message(n) for n in range(30)]), seconds=60)
    with readable_broker(tmp_path) as queued:
        with django_assert_num_queries(2):  # the read, the enqueued_at update
            assert inbox_sweep(limit=10) == 10
        assert len(queued()) == 10


# Polled channels ---------------------------------------------------------------------------

PAGES: dict[str, list] = {}


@register("test_feed")
class FakeFeed(ChannelAdapter):
    """A polled adapter for these tests: serves ``PAGES[slug]`` after cursor["offset"]."""

    polled = True

    def poll(self, cursor, limit):
        items = PAGES[self.source.slug]
        if isinstance(items, Exception):
            raise items
        offset = cursor.get("offset", 0)
        page = items[offset : offset + limit]
        return [RawEvent(m["id"], m) for m in page], {"offset": offset + len(page)}

    def to_interaction(self, payload):
        from customers.channels.sms import SmsAdapter

        return SmsAdapter(self.source).to_interaction(payload)


def feed_source(items, **fields) -> ChannelSource:
    source = ChannelSourceFactory(kind="test_feed", **fields)
    PAGES[source.slug] = items
    return source


def test_sync_stores_a_page_and_saves_the_cursor_with_it(tmp_path):
    source = feed_source([sms_message(n) for n in range(5)])
    with readable_broker(tmp_path) as queued:
        assert channel_sync(source_id=source.pk, limit=3) == "synced"
        source.refresh_from_db()
        assert source.cursor == {"offset": 3}
        assert source.last_success_at is not None and source.last_sync_started_at is not None
        assert InboundEvent.objects.filter(source=source).count() == 3
        assert ("ingest.channel_sync", [source.pk]) in queued()  # a full page: more to come

        assert channel_sync(source_id=source.pk, limit=3) == "synced"
        source.refresh_from_db()
        assert source.cursor == {"offset": 5}
        assert InboundEvent.objects.filter(source=source).count() == 5
        assert queued().count(("ingest.channel_sync", [source.pk])) == 1  # last page: done


def test_sync_that_fails_records_why_and_keeps_the_cursor(tmp_path):
    source = feed_source(ValueError("mailbox 'INBOX' does not exist"), cursor={"offset": 7})
    assert channel_sync(source_id=source.pk) == "failed"
    source.refresh_from_db()
    assert source.cursor == {"offset": 7}
    assert source.last_error == "ValueError: mailbox 'INBOX' does not exist"
    assert source.last_error_at is not None and source.last_success_at is None

    PAGES[source.slug] = ConnectionError("connection refused")
    with pytest.raises(ConnectionError):  # transient: the task retries
        channel_sync(source_id=source.pk)
    source.refresh_from_db()
    assert source.last_error == "ConnectionError: connection refused"
    assert not InboundEvent.objects.exists()


def test_inactive_channel_does_not_sync():
    source = feed_source([sms_message(1)], is_active=False)
    assert channel_sync(source_id=source.pk) == "inactive"
    assert not InboundEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_one_sync_per_channel_at_a_time():
    if connection.vendor != "postgresql":
        pytest.skip("row locks (SKIP LOCKED) are PostgreSQL's; SQLite serializes writers")
    source = feed_source([sms_message(1)])
    locked, release, results = threading.Event(), threading.Event(), []

    def hold_the_lock():
        try:
            with transaction.atomic():
                ChannelSource.objects.select_for_update().get(pk=source.pk)
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    assert locked.wait(10)
    results.append(channel_sync(source_id=source.pk))
    release.set()
    holder.join()
    results.append(channel_sync(source_id=source.pk))
    assert results == ["busy", "synced"]
    assert InboundEvent.objects.count() == 1


# Health and retry --------------------------------------------------------------------------


def test_channel_health(django_assert_num_queries):
    now = timezone.now()
    busy = sms_source(name="A busy SMS line")
    feed_source([], name="B quiet feed", last_success_at=now - timedelta(minutes=5))
    feed_source(
        [],
        name="C broken feed",
        last_success_at=now - timedelta(hours=2),
        last_error_at=now - timedelta(minutes=1),
        last_error="OSError: timed out",
    )
    ids = store(busy, *[sms_message(n) for n in range(6)])
    _age(ids[:2], minutes=3)
    _age(ids[5:], hours=2)  # outside the hour
    inbound_event_process(event_id=ids[2])

    with django_assert_num_queries(3):
        health = channel_health_list(now=now)
    by_name = {h.source.name: h for h in health}
    assert [h.source.name for h in health] == ["A busy SMS line", "B quiet feed", "C broken feed"]
    line = by_name["A busy SMS line"]
    assert line.backlog == 5
    assert 7190 <= line.lag_seconds <= 7210  # the oldest pending event is two hours old
    assert line.events_last_hour == 5 and line.events_per_minute == round(5 / 60, 2)
    assert not line.failing
    assert by_name["B quiet feed"].backlog == 0 and by_name["B quiet feed"].lag_seconds == 0
    assert not by_name["B quiet feed"].failing
    assert by_name["C broken feed"].failing

    for n in range(5):
        sms_source(name=f"D more {n}")
    with django_assert_num_queries(3):
        assert len(channel_health_list(now=now)) == 8


def test_sync_retry_is_audited_and_enqueues(tmp_path, staff, django_capture_on_commit_callbacks):
    source = feed_source([], last_error="OSError: timed out")
    pending = store(source, sms_message(1))
    supervisor = staff("supervisor")
    with readable_broker(tmp_path) as queued:
        with django_capture_on_commit_callbacks(execute=True):
            channel_sync_retry(actor=supervisor, source=source)
        assert sorted(queued()) == [
            ("ingest.channel_sync", [source.pk]),
            ("ingest.inbound_event_process", pending),
        ]
    audit = AuditEvent.objects.get(action="channel.sync_retry")
    assert audit.actor_user == supervisor and audit.target_id == str(source.pk)


def test_two_messages_from_one_new_number_share_one_customer():
    source = sms_source()
    first, second = store(source, sms_message(1), sms_message(1001))  # same number
    assert inbound_event_process(event_id=first).status == InboundEvent.Status.PROCESSED
    event = inbound_event_process(event_id=second)
    assert event.status == InboundEvent.Status.PROCESSED
    assert ContactPoint.objects.count() == 1
    assert Interaction.objects.filter(customer=event.interaction.customer).count() == 2


def test_beat_syncs_the_polled_channels_that_are_due(tmp_path):
    now = timezone.now()
    never = feed_source([])
    due = feed_source([], last_sync_started_at=now - timedelta(seconds=61))
    feed_source([], last_sync_started_at=now - timedelta(seconds=30))  # not yet
    feed_source([], is_active=False)
    sms_source()  # webhooks: nothing to poll
    with readable_broker(tmp_path) as queued:
        assert sorted(channels_sync_due(now=now)) == sorted([never.pk, due.pk])
        assert sorted(queued()) == sorted(
            [("ingest.channel_sync", [never.pk]), ("ingest.channel_sync", [due.pk])]
        )


def test_processing_query_counts(django_assert_num_queries):
    """Per event, whatever the size of the tables: a new sender (prospect, contact point,
    audit) and a known one."""
    source = sms_source()
    new, known = store(source, sms_message(1), sms_message(1001))  # one number
    with django_assert_num_queries(23):
        inbound_event_process(event_id=new)
    with django_assert_num_queries(13):
        inbound_event_process(event_id=known)
    with django_assert_num_queries(1):  # a redelivery of a processed event
        inbound_event_process(event_id=known)


# Poison events: every non-transient error fails the event; transient ones retry, bounded ----


@register("test_broken")
class BrokenAdapter(ChannelAdapter):
    """Raises ``ERRORS[slug]`` from ``to_interaction``: a bug, or the database away."""

    def to_interaction(self, payload):
        raise ERRORS[self.source.slug]


ERRORS: dict[str, BaseException] = {}


def broken_source(error: BaseException) -> ChannelSource:
    source = ChannelSourceFactory(kind="test_broken")
    ERRORS[source.slug] = error
    return source


def test_a_message_time_that_overflows_fails_the_event_instead_of_leaving_it_pending():
    [event_id] = store(sms_source(), sms_message(1, sent_at="0001-01-01T00:00:00+05:00"))
    event = inbound_event_process(event_id=event_id)
    assert event.status == InboundEvent.Status.FAILED
    assert "between the years 1900 and 2200" in event.error
    assert not Interaction.objects.exists() and not Customer.objects.exists()
    assert inbound_event_process(event_id=event_id) is None  # the sweeper will not resend it
    assert inbox_sweep(older_than_seconds=0) == 0


def test_an_unexpected_error_fails_the_event_with_its_reason():
    [event_id] = store(broken_source(KeyError("text")), sms_message(1))
    event = inbound_event_process(event_id=event_id)
    assert (event.status, event.error) == (InboundEvent.Status.FAILED, "KeyError: 'text'")
    assert event.processed_at is not None
    assert InboundEvent.objects.get(pk=event_id).attempts == 1
    assert inbound_event_process(event_id=event_id) is None


def test_a_transient_error_retries_then_gives_up_after_max_attempts():
    from django.db import OperationalError

    from customers.services.inbox import MAX_ATTEMPTS

    [event_id] = store(
        broken_source(OperationalError("server closed the connection")), sms_message(1)
    )
    for attempt in range(1, MAX_ATTEMPTS + 1):
        with pytest.raises(OperationalError):
            inbound_event_process(event_id=event_id)
        event = InboundEvent.objects.get(pk=event_id)
        assert (event.status, event.attempts) == (InboundEvent.Status.PENDING, attempt)
    event = inbound_event_process(event_id=event_id)
    assert event.status == InboundEvent.Status.FAILED
    assert event.error == f"Gave up after {MAX_ATTEMPTS} attempts."
    assert inbound_event_process(event_id=event_id) is None


def test_transient_errors_live_in_the_core_and_drive_the_task_retries():
    from cxportal.celery import CxTask
    from cxportal.errors import TRANSIENT_ERRORS

    assert CxTask.autoretry_for is TRANSIENT_ERRORS
    assert not any(issubclass(KeyError, error) for error in TRANSIENT_ERRORS)


def test_a_webhook_with_nul_and_lone_surrogates_is_stored_cleaned_and_processed(client):
    """PostgreSQL's jsonb refuses NUL (and lone surrogates): refusing the webhook would lose
    the message, so the inbox stores it without them and processing goes on as usual."""
    from tests.customers.channel_support import post_json

    source = sms_source()
    message = sms_message(1, id="SM\x00000001", text="Where is\x00 my parcel?\ud800")
    response = post_json(client, f"/webhooks/{source.slug}/", message)
    assert response.status_code == 202, response.content
    event = InboundEvent.objects.get()
    assert event.provider_event_id == "SM000001"
    assert event.payload["text"] == "Where is my parcel?\ufffd"
    processed = inbound_event_process(event_id=event.pk)
    assert processed.status == InboundEvent.Status.PROCESSED, processed.error
    assert processed.interaction.body == "Where is my parcel?\ufffd"
