"""The IMAP email adapter against a real Dovecot server the test starts: UID checkpoints,
UIDVALIDITY, read mail, broken messages, threading, and a 10,000-message benchmark
(``CXPORTAL_BENCH=1``)."""

import base64
import os
import time
import uuid
from email.message import EmailMessage

import pytest

from customers.channels import adapter_for
from customers.channels.email_imap import read_message
from customers.models import Channel, ChannelSource, Customer, InboundEvent, Interaction
from customers.services import channel_sync, inbound_event_process
from customers.services.inbox import FAILED, SYNCED
from tests.customers.channel_support import ChannelSourceFactory
from tests.support.mail_servers import DOVECOT_PASSWORD, dovecot_server, imap_append, make_mail

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def dovecot():
    with dovecot_server() as server:
        yield server


@pytest.fixture(autouse=True)
def _every_test_reads_its_broker(broker):
    return broker


@pytest.fixture
def mailbox(dovecot):
    """A fresh IMAP user (its own empty Maildir) and a logged-in connection to it."""
    user = f"u{uuid.uuid4().hex[:12]}"
    imap = dovecot.connect(user)
    yield user, imap
    imap.logout()


def email_source(dovecot, user, **settings) -> ChannelSource:
    return ChannelSourceFactory(
        kind="email_imap",
        channel=Channel.EMAIL,
        secret=DOVECOT_PASSWORD,
        settings=dovecot.settings(user, from_address="support@brand.example", **settings),
    )


def sync(source, *, limit: int = 500) -> list[InboundEvent]:
    """One channel_sync; the events it stored."""
    before = set(InboundEvent.objects.filter(source=source).values_list("id", flat=True))
    assert channel_sync(source_id=source.pk, limit=limit) == SYNCED
    return list(InboundEvent.objects.filter(source=source).exclude(id__in=before).order_by("id"))


def process_pending() -> None:
    for event_id in InboundEvent.objects.filter(status="pending").values_list("id", flat=True):
        inbound_event_process(event_id=event_id)


def uidvalidity(imap, mailbox="INBOX") -> int:
    imap.select(mailbox, readonly=True)
    return int(imap.response("UIDVALIDITY")[1][0])


def test_fifty_messages_land_once_each_and_a_rerun_adds_nothing(dovecot, mailbox):
    user, imap = mailbox
    for n in range(1, 51):
        imap_append(imap, make_mail(n))
    source = email_source(dovecot, user)

    events = sync(source)
    assert [e.provider_event_id for e in events] == [f"<msg-{n}@example.com>" for n in range(1, 51)]
    source.refresh_from_db()
    assert source.cursor == {"uidvalidity": uidvalidity(imap), "last_uid": 50}
    assert source.last_success_at is not None and source.last_error == ""

    process_pending()
    assert InboundEvent.objects.filter(status="processed").count() == 50
    interactions = Interaction.objects.filter(channel="email").order_by("external_id")
    assert interactions.count() == 50 and Customer.objects.count() == 50
    first = Interaction.objects.get(external_id="<msg-7@example.com>")
    assert (first.direction, first.summary) == ("inbound", "Question number 7")
    assert first.body == "Hello, this is message 7."
    assert first.occurred_at.isoformat() == "2026-05-01T09:30:00+00:00"
    assert first.customer.display_name == "Customer 7"
    assert first.customer.contact_points.get().value == "customer7@example.com"

    assert sync(source) == []
    source.refresh_from_db()
    assert source.cursor["last_uid"] == 50
    assert Interaction.objects.count() == 50


def test_a_full_page_comes_back_for_the_rest(dovecot, mailbox, broker):
    user, imap = mailbox
    for n in range(1, 26):
        imap_append(imap, make_mail(n))
    source = email_source(dovecot, user)
    assert len(sync(source, limit=10)) == 10
    assert broker() == [("ingest.channel_sync", [source.pk])]  # a full page: sync again now
    assert len(sync(source, limit=10)) == 10
    assert len(sync(source, limit=10)) == 5
    assert len(broker()) == 2  # the short last page did not re-enqueue
    assert InboundEvent.objects.filter(source=source).count() == 25


def test_mail_already_read_elsewhere_still_counts_and_we_never_mark_it_read(dovecot, mailbox):
    user, imap = mailbox
    for n in range(1, 7):
        imap_append(imap, make_mail(n), flags=r"(\Seen)" if n <= 3 else "")
    imap.select("INBOX")
    imap.uid("STORE", "5", "+FLAGS", r"(\Seen)")  # read in another client after arrival
    source = email_source(dovecot, user)

    assert len(sync(source)) == 6
    imap.select("INBOX", readonly=True)
    _, unseen = imap.uid("SEARCH", "UNSEEN")
    assert unseen[0].split() == [b"4", b"6"]  # still unread after the sync


def test_only_mail_after_the_checkpoint_is_fetched(dovecot, mailbox):
    user, imap = mailbox
    for n in range(1, 11):
        imap_append(imap, make_mail(n))
    source = email_source(dovecot, user)
    assert len(sync(source)) == 10
    for n in range(11, 16):
        imap_append(imap, make_mail(n))
    new = sync(source)
    assert [e.payload["uid"] for e in new] == [11, 12, 13, 14, 15]
    assert [e.provider_event_id for e in new] == [f"<msg-{n}@example.com>" for n in range(11, 16)]
    source.refresh_from_db()
    assert source.cursor["last_uid"] == 15


def test_a_new_uidvalidity_rereads_the_mailbox_without_duplicates(dovecot, mailbox):
    user, imap = mailbox
    assert imap.create("Support")[0] == "OK"
    for n in range(1, 11):
        imap_append(imap, make_mail(n), mailbox="Support")
    source = email_source(dovecot, user, mailbox="Support")
    assert len(sync(source)) == 10
    process_pending()
    old = source.__class__.objects.get(pk=source.pk).cursor

    # The mailbox is rebuilt (deleted and created again): same mail, new UIDs, plus two new.
    imap.select("INBOX")
    assert imap.delete("Support")[0] == "OK"
    assert imap.create("Support")[0] == "OK"
    for n in [*range(1, 11), 11, 12]:
        imap_append(imap, make_mail(n), mailbox="Support")
    assert uidvalidity(imap, "Support") != old["uidvalidity"]

    new = sync(source)
    assert [e.provider_event_id for e in new] == ["<msg-11@example.com>", "<msg-12@example.com>"]
    source.refresh_from_db()
    assert source.cursor == {"uidvalidity": uidvalidity(imap, "Support"), "last_uid": 12}
    process_pending()
    assert Interaction.objects.count() == 12


def _mail_with_attachment(n: int, payload: bytes, charset: str, *, text_charset="utf-8") -> bytes:
    message = EmailMessage()
    message["From"] = f"customer{n}@example.com"
    message["To"] = "support@brand.example"
    message["Subject"] = f"Attachment {n}"
    message["Date"] = "Fri, 01 May 2026 09:30:00 +0000"
    message["Message-ID"] = f"<msg-{n}@example.com>"
    message.set_content(f"See attached, message {n}.\n", charset=text_charset)
    message.add_attachment(
        payload, maintype="application", subtype="octet-stream", filename="x.bin"
    )
    attachment = message.get_payload()[1]
    attachment.set_param("charset", charset)
    return message.as_bytes()


def _raw(headers: str, body: bytes) -> bytes:
    return headers.replace("\n", "\r\n").encode() + b"\r\n" + body


def test_broken_messages_are_failed_with_a_reason_and_the_fetch_goes_on(dovecot, mailbox):
    user, imap = mailbox
    bogus_text = _raw(
        "From: customer4@example.com\nSubject: Bogus charset\nMessage-ID: <msg-4@example.com>\n"
        "Date: Fri, 01 May 2026 09:30:00 +0000\nMIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=x-no-such-charset\n",
        b"caf\xe9 au lait\r\n",
    )
    odd_attachment = _raw(
        "From: customer5@example.com\nSubject: =?utf-8?q?Caf=C3=A9?= menu\n"
        "Message-ID: <msg-5@example.com>\nDate: Fri, 01 May 2026 09:30:00 +0000\n"
        "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=B\n",
        b"--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nMenu attached.\r\n"
        b"--B\r\nContent-Type: text/plain; charset=x-bogus\r\n"
        b"Content-Disposition: attachment; filename*=x-bogus''men%FF.txt\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n@@@not base64@@@\x00\r\n--B--\r\n",
    )
    eight_bit_headers = _raw(
        "From: Zo\u00eb <customer6@example.com>\nSubject: Caf\u00e9 \u00fcber alles\n"
        "Message-ID: <msg-6@example.com>\nDate: garbage date\n",
        b"Body with a NUL \x00 inside.\r\n",
    )
    mails = [
        make_mail(1),
        b"\x00\x01\x02 this is not a mail at all \xff\xfe\r\n\r\n\x00\x00",
        _mail_with_attachment(3, os.urandom(5 * 1024 * 1024), "x-bogus-charset"),
        bogus_text,
        odd_attachment,
        eight_bit_headers,
        make_mail(7),
    ]
    for raw in mails:
        imap_append(imap, raw)
    source = email_source(dovecot, user, max_message_bytes=3_000_000)

    events = sync(source)
    assert [e.payload["uid"] for e in events] == [1, 2, 3, 4, 5, 6, 7]
    source.refresh_from_db()
    assert source.cursor["last_uid"] == 7 and source.last_error == ""
    process_pending()
    by_uid = {e.payload["uid"]: InboundEvent.objects.get(pk=e.pk) for e in events}

    assert by_uid[1].status == by_uid[7].status == "processed"
    garbage = by_uid[2]
    assert garbage.status == "failed" and "no sender address" in garbage.error
    assert garbage.provider_event_id.startswith("sha256:")
    huge = by_uid[3]
    assert huge.status == "failed" and "over this channel's limit of 3.0 MB" in huge.error
    assert huge.payload["from"] == "customer3@example.com"  # the headers are kept
    assert huge.payload["size"] > 5_000_000 and "raw_base64" not in huge.payload
    unreadable = by_uid[4]
    assert unreadable.status == "failed" and "character set" in unreadable.error
    assert base64.b64decode(unreadable.payload["raw_base64"]) == bogus_text
    # A strange attachment does not spoil the message: the text lands, the file is listed.
    odd = by_uid[5]
    assert odd.status == "processed", odd.error
    assert odd.interaction.body == "Menu attached."
    assert odd.interaction.summary == "Café menu"
    assert odd.payload["attachments"][0]["content_type"] == "text/plain"
    # 8-bit headers are read as UTF-8; a bad Date falls back to the arrival time.
    eight = by_uid[6]
    assert eight.status == "processed", eight.error
    assert eight.interaction.summary == "Café über alles"
    # (Dovecot itself hands a NUL out as another byte; none reaches the database.)
    assert (
        eight.interaction.body.startswith("Body with a NUL ")
        and "\x00" not in eight.interaction.body
    )
    assert eight.interaction.customer.display_name == "Zoë"
    assert eight.interaction.occurred_at.isoformat() == eight.payload["internal_date"]


def test_replies_thread_with_what_they_answer(dovecot, mailbox):
    user, imap = mailbox
    # The reply arrives first (UID 1), then the message it answers, then a reply that only
    # names it in References.
    imap_append(imap, make_mail(2, sender="jane@example.com", in_reply_to="<msg-1@example.com>"))
    imap_append(imap, make_mail(1, sender="jane@example.com"))
    third = make_mail(3, sender="jane@example.com").replace(
        b"Message-ID:", b"References: <x@y> <msg-2@example.com>\r\nMessage-ID:", 1
    )
    imap_append(imap, third)
    source = email_source(dovecot, user)
    sync(source)
    process_pending()
    one, two, three = (
        Interaction.objects.get(external_id=f"<msg-{n}@example.com>") for n in (1, 2, 3)
    )
    assert two.in_reply_to == one and two.in_reply_to_external_id == "<msg-1@example.com>"
    assert three.in_reply_to == two
    assert {one.customer_id, two.customer_id, three.customer_id} == {one.customer_id}


def test_mail_from_our_own_address_is_outbound_on_the_customers_timeline():
    source = ChannelSourceFactory(
        kind="email_imap",
        channel=Channel.EMAIL,
        settings={"username": "support@brand.example", "own_addresses": ["care@brand.example"]},
    )
    raw = make_mail(1, sender="Care <CARE@brand.example>").replace(
        b"To: support@brand.example", b"To: support@brand.example, jane@example.com"
    )
    draft = adapter_for(source).to_interaction(read_message(raw, uid=1, uidvalidity=1).payload)
    assert (draft.direction, draft.contact.value) == ("outbound", "jane@example.com")


def test_html_only_mail_becomes_text():
    message = EmailMessage()
    message["From"] = "jane@example.com"
    message["Message-ID"] = "<h@example.com>"
    message.set_content(
        "<html><head><style>p{color:red}</style></head><body><p>Where is my&nbsp;order?</p>"
        "<p>Thanks,<br>Jane</p><script>alert(1)</script></body></html>",
        subtype="html",
    )
    payload = read_message(message.as_bytes(), uid=1, uidvalidity=1).payload
    assert payload["text"] == "Where is my order?\nThanks,\nJane"


def test_wrong_password_and_missing_mailbox_are_recorded_on_the_channel(dovecot, mailbox):
    user, _ = mailbox
    wrong = email_source(dovecot, user)
    wrong.secret = "guess"
    wrong.save()
    missing = email_source(dovecot, user, mailbox="Nope")
    for source, reason in [(wrong, "AUTHENTICATIONFAILED"), (missing, "Cannot open mailbox")]:
        assert channel_sync(source_id=source.pk) == FAILED
        source.refresh_from_db()
        assert reason in source.last_error and source.cursor == {}


def test_an_unreachable_server_is_retried(dovecot, mailbox):
    from tests.support.services import free_port

    user, _ = mailbox
    source = email_source(dovecot, user, port=free_port())
    with pytest.raises(ConnectionError):
        channel_sync(source_id=source.pk)
    source.refresh_from_db()
    assert "ConnectionRefusedError" in source.last_error


def test_sync_query_count_does_not_grow_with_messages(dovecot, mailbox, django_assert_num_queries):
    user, imap = mailbox
    for n in range(1, 41):
        imap_append(imap, make_mail(n))
    source = email_source(dovecot, user)
    # The same queries for 5 messages as for 35 (lock, store, re-read, save the cursor).
    with django_assert_num_queries(8):
        assert channel_sync(source_id=source.pk, limit=5) == SYNCED
    with django_assert_num_queries(8):
        assert channel_sync(source_id=source.pk, limit=35) == SYNCED
    assert InboundEvent.objects.count() == 40


@pytest.mark.skipif(os.environ.get("CXPORTAL_BENCH") != "1", reason="benchmark: CXPORTAL_BENCH=1")
def test_benchmark_sync_of_a_10000_message_mailbox(dovecot, mailbox, capsys):
    """Measured once for the README: IMAP → inbox (``channel_sync`` pages of 500, as the
    worker runs them) and inbox → timeline (``inbound_event_process`` per event, in-process)."""
    total = 10_000
    user, imap = mailbox
    started = time.perf_counter()
    for n in range(1, total + 1):
        imap_append(imap, make_mail(n, body=f"Hello, this is message {n}.\n" + "Some text. " * 80))
    append_seconds = time.perf_counter() - started

    source = email_source(dovecot, user)
    started = time.perf_counter()
    pages = 0
    while True:
        pages += 1
        before = InboundEvent.objects.count()
        channel_sync(source_id=source.pk)
        if InboundEvent.objects.count() - before < 500:
            break
    sync_seconds = time.perf_counter() - started
    assert InboundEvent.objects.count() == total

    started = time.perf_counter()
    process_pending()
    process_seconds = time.perf_counter() - started
    assert Interaction.objects.count() == total
    with capsys.disabled():
        print(
            f"\n10,000-message mailbox: append {total / append_seconds:,.0f} msg/s; "
            f"sync IMAP→inbox {sync_seconds:.1f}s = {total / sync_seconds:,.0f} msg/s "
            f"({pages} pages of 500); inbox→timeline {process_seconds:.1f}s = "
            f"{total / process_seconds:,.0f} events/s (one process)"
        )
