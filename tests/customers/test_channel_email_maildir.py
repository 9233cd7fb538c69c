"""Email from a local Maildir: messages in new/ and cur/ through channel_sync and the inbox
onto the senders' timelines, once each, without ever changing the mailbox; and the demo's
mailbox synced by a real worker."""

import os
from pathlib import Path

import pytest

from customers.channels import adapter_for
from customers.models import Channel, ContactPoint, InboundEvent, Interaction
from customers.services import channel_sync, inbound_event_process
from tests.customers.channel_support import ChannelSourceFactory

pytestmark = pytest.mark.django_db


def mail(n: int, *, sender: str = "", extra: str = "", body: str = "") -> bytes:
    sender = sender or f"Customer {n} <customer{n}@example.com>"
    return (
        f"From: {sender}\nTo: support@brand.example\nSubject: Question {n}\n"
        f"Date: Fri, 01 May 2026 09:{n:02d}:00 +0000\nMessage-ID: <msg-{n}@example.com>\n"
        f"{extra}\n{body or f'Hello, this is message {n}.'}\n"
    ).encode()


def maildir(root: Path) -> Path:
    for sub in ("new", "cur", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    return root


def deliver(root: Path, name: str, raw: bytes, folder: str = "new") -> Path:
    path = root / folder / name
    path.write_bytes(raw)
    return path


def snapshot(root: Path) -> dict[str, tuple[bytes, float]]:
    return {
        str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime)
        for p in root.rglob("*")
        if p.is_file()
    }


def maildir_source(root: Path, **settings):
    return ChannelSourceFactory(
        kind="email_maildir",
        channel=Channel.EMAIL,
        secret="",
        settings={"path": str(root), "from_address": "support@brand.example", **settings},
    )


def sync_and_process(source) -> str:
    result = channel_sync(source_id=source.pk)
    for event_id in (
        InboundEvent.objects.filter(source=source, status=InboundEvent.Status.PENDING)
        .order_by("id")
        .values_list("id", flat=True)
    ):
        inbound_event_process(event_id=event_id)
    return result


def timeline_of(address: str) -> list[Interaction]:
    point = ContactPoint.objects.get(kind="email", normalized=address)
    return list(point.customer.interactions.order_by("occurred_at"))


def test_messages_land_once_and_a_rerun_adds_nothing_and_the_mailbox_is_untouched(tmp_path):
    root = maildir(tmp_path / "Maildir")
    deliver(root, "1777626000.M1P10.host", mail(1))
    deliver(root, "1777626060.M2P10.host:2,S", mail(2), folder="cur")  # read elsewhere
    deliver(root, "1777626120.M3P10.host", mail(3, sender="customer1@example.com"))
    (root / "tmp" / "1777626180.M4P10.host").write_bytes(mail(4))  # still being delivered
    (root / "new" / ".hidden").write_bytes(mail(5))
    before = snapshot(root)
    source = maildir_source(root)

    assert sync_and_process(source) == "synced"

    first = timeline_of("customer1@example.com")
    assert [(i.external_id, i.summary, i.direction) for i in first] == [
        ("<msg-1@example.com>", "Question 1", "inbound"),
        ("<msg-3@example.com>", "Question 3", "inbound"),
    ]
    assert first[0].body == "Hello, this is message 1."
    assert first[0].occurred_at.isoformat() == "2026-05-01T09:01:00+00:00"
    assert first[0].customer.display_name == "Customer 1"
    assert [i.external_id for i in timeline_of("customer2@example.com")] == ["<msg-2@example.com>"]
    source.refresh_from_db()
    assert source.cursor == {"last": "1777626120.M3P10.host"}
    assert source.last_success_at is not None and source.last_error == ""
    event = InboundEvent.objects.get(source=source, provider_event_id="<msg-2@example.com>")
    assert event.payload["file"] == "1777626060.M2P10.host:2,S"
    assert "uid" not in event.payload

    assert sync_and_process(source) == "synced"
    assert InboundEvent.objects.filter(source=source).count() == 3
    assert Interaction.objects.count() == 3
    assert snapshot(root) == before  # nothing moved, flagged, deleted or written


def test_a_message_moved_from_new_to_cur_by_another_client_is_not_read_twice(tmp_path):
    root = maildir(tmp_path)
    first = deliver(root, "1777626000.M1P10.host", mail(1))
    source = maildir_source(root)
    sync_and_process(source)

    first.rename(root / "cur" / "1777626000.M1P10.host:2,S")  # the customer's mail app read it
    deliver(root, "1777626060.M2P10.host", mail(2))
    sync_and_process(source)
    sync_and_process(source)

    assert sorted(InboundEvent.objects.values_list("provider_event_id", flat=True)) == [
        "<msg-1@example.com>",
        "<msg-2@example.com>",
    ]
    assert Interaction.objects.count() == 2
    source.refresh_from_db()
    assert source.cursor == {"last": "1777626060.M2P10.host"}


def test_a_message_moved_while_the_poll_reads_is_found_again(tmp_path):
    root = maildir(tmp_path)
    listed = deliver(root, "1777626000.M1P10.host", mail(1))
    adapter = adapter_for(maildir_source(root))
    listed.rename(root / "cur" / "1777626000.M1P10.host:2,RS")

    event = adapter._read(root, "1777626000.M1P10.host", listed, 10**6)

    assert event.provider_event_id == "<msg-1@example.com>"
    assert event.payload["file"] == "1777626000.M1P10.host:2,RS"
    (root / "cur" / "1777626000.M1P10.host:2,RS").unlink()  # deleted: nothing to read
    assert adapter._read(root, "1777626000.M1P10.host", listed, 10**6) is None


def test_broken_messages_fail_with_their_reason_and_the_rest_still_land(tmp_path):
    root = maildir(tmp_path)
    deliver(root, "1777626000.M1P1.host", mail(1))
    deliver(
        root,
        "1777626001.M2P1.host",
        mail(2, extra="Content-Type: text/plain; charset=x-no-such-charset\n"),
    )
    deliver(root, "1777626002.M3P1.host", b"this is not an email at all\n")
    deliver(root, "1777626003.M4P1.host", mail(4, body="x" * 5000))
    deliver(
        root,
        "1777626004.M5P1.host",
        mail(5, extra="Date: whenever\n").replace(b"Date: F", b"X-Old: F"),
    )
    deliver(root, "1777626005.M6P1.host", mail(6))
    source = maildir_source(root, max_message_bytes=2000)

    assert sync_and_process(source) == "synced"

    events = {
        e.payload["file"]: (e.status, e.error) for e in InboundEvent.objects.filter(source=source)
    }
    assert events["1777626000.M1P1.host"] == ("processed", "")
    status, reason = events["1777626001.M2P1.host"]
    assert status == "failed" and "character set we cannot read" in reason
    status, reason = events["1777626002.M3P1.host"]
    assert status == "failed" and "no sender address" in reason
    status, reason = events["1777626003.M4P1.host"]
    assert status == "failed" and "over this channel's limit of 0.0 MB" in reason
    assert events["1777626004.M5P1.host"] == ("processed", "")
    assert events["1777626005.M6P1.host"] == ("processed", "")
    assert sorted(Interaction.objects.values_list("external_id", flat=True)) == [
        "<msg-1@example.com>",
        "<msg-5@example.com>",
        "<msg-6@example.com>",
    ]
    # No usable Date: the time the message arrived in the mailbox (the file's mtime).
    undated = Interaction.objects.get(external_id="<msg-5@example.com>")
    mtime = (root / "new" / "1777626004.M5P1.host").stat().st_mtime
    assert abs(undated.occurred_at.timestamp() - mtime) < 1
    source.refresh_from_db()
    assert source.cursor == {"last": "1777626005.M6P1.host"} and source.last_error == ""


def test_symlinks_in_the_maildir_are_never_followed(tmp_path):
    secret = tmp_path / "outside" / "secret"
    secret.parent.mkdir()
    secret.write_bytes(mail(1, body="DB_PASSWORD=hunter2"))
    root = maildir(tmp_path / "Maildir")
    (root / "new" / "1777626000.M1P1.host").symlink_to(secret)
    (root / "cur" / "1777626001.M2P1.host:2,S").symlink_to(tmp_path / "outside")
    deliver(root, "1777626002.M3P1.host", mail(3))
    source = maildir_source(root)

    assert sync_and_process(source) == "synced"

    assert list(InboundEvent.objects.values_list("provider_event_id", flat=True)) == [
        "<msg-3@example.com>"
    ]
    # Swapped for a symlink after the listing: a failed event saying so, nothing read.
    link = root / "new" / "1777626003.M4P1.host"
    link.symlink_to(secret)
    event = adapter_for(source)._read(root, "1777626003.M4P1.host", link, 10**6)
    assert event.provider_event_id == "maildir:1777626003.M4P1.host"
    assert "cannot be read" in event.payload["error"] and "hunter2" not in str(event.payload)


def test_a_full_page_leaves_the_cursor_on_its_last_message(tmp_path):
    root = maildir(tmp_path)
    for n in range(7):
        folder = "cur" if n % 2 else "new"
        suffix = ":2,S" if n % 2 else ""
        deliver(root, f"17776260{n:02d}.M{n}P1.host{suffix}", mail(n), folder=folder)
    adapter = adapter_for(maildir_source(root))

    seen, cursor = [], {}
    for _ in range(3):
        events, cursor = adapter.poll(cursor, 3)
        seen += [e.provider_event_id for e in events]

    assert seen == [f"<msg-{n}@example.com>" for n in range(7)]
    assert cursor == {"last": "1777626006.M6P1.host"}
    assert adapter.poll(cursor, 3) == ([], cursor)


def test_a_missing_maildir_is_recorded_as_the_channel_error(tmp_path):
    source = maildir_source(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError):
        channel_sync(source_id=source.pk)  # an OSError: the task retries
    source.refresh_from_db()
    assert "does not exist" in source.last_error and source.cursor == {}


# --- The demo's mailbox, synced by a real worker --------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.real_services
def test_a_message_dropped_in_the_demo_mailbox_reaches_the_timeline_through_a_real_worker(
    tmp_path, settings
):
    from customers.tasks import channels_sync_due_task
    from cxportal.demo import demo_mailbox_seed
    from tests.support.services import filesystem_broker_worker, wait_for

    settings.VAR_DIR = tmp_path / "var"
    source = demo_mailbox_seed()
    assert demo_mailbox_seed() == source  # idempotent
    assert (source.kind, source.channel, source.poll_interval_seconds) == (
        "email_maildir",
        "email",
        15,
    )
    mailbox = settings.VAR_DIR / "demo-drop" / "mailbox"
    assert {p.name for p in mailbox.iterdir()} == {"new", "cur", "tmp", "README.txt"}
    readme = (mailbox / "README.txt").read_text()
    assert "Save an email (an .eml" in readme
    command = next(line for line in readme.splitlines() if line.startswith("printf "))
    # The README's one-liner, run as a user would, writes the message the worker picks up.
    assert os.system(f"cd {mailbox} && {command}") == 0  # noqa: S605 - the documented command
    dropped = list((mailbox / "new").iterdir())
    assert len(dropped) == 1

    with filesystem_broker_worker(tmp_path):
        channels_sync_due_task.delay()  # what beat sends every 30 s
        landed = Interaction.objects.filter(channel="email", summary="Where is my parcel?")
        try:  # the worker needs seconds; more when the machine is busy starting it
            wait_for(lambda: landed.exists(), timeout=120, what="the dropped message")
        except AssertionError as exc:
            log = (tmp_path / "worker.log").read_text()[-3000:]
            raise AssertionError(f"{exc}\n--- worker log ---\n{log}") from None

    jane = timeline_of("jane@example.com")
    assert [(i.summary, i.direction, i.body) for i in jane] == [
        ("Where is my parcel?", "inbound", "Hi, my express parcel has not arrived.")
    ]
    assert jane[0].customer.display_name == "Jane Doe"
    source.refresh_from_db()
    assert source.cursor == {"last": dropped[0].name}
    assert list((mailbox / "new").iterdir()) == dropped  # the worker left the mailbox as it was
