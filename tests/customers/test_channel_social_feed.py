"""The polled social feed: a drop folder of CSV / JSON lines, or an HTTP endpoint (a real
local server), through channel_sync and the inbox onto the right customers' timelines."""

import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from customers.channels import adapter_for
from customers.channels.file_drop import _open_regular
from customers.models import Channel, ContactPoint, InboundEvent, Interaction
from customers.selectors import channel_health_list
from customers.services import channel_sync, inbound_event_process
from tests.customers.channel_support import ChannelSourceFactory, readable_broker

pytestmark = pytest.mark.django_db

HEADER = "id,author,author_name,text,created_at,in_reply_to\n"


def feed_source(**settings):
    return ChannelSourceFactory(
        kind="social_feed",
        channel=Channel.SOCIAL,
        secret="",
        settings={"network": "twitter", "brand_handles": ["BrandCare"], **settings},
    )


def sync_and_process(source) -> str:
    result = channel_sync(source_id=source.pk)
    for event_id in InboundEvent.objects.filter(
        source=source, status=InboundEvent.Status.PENDING
    ).values_list("id", flat=True):
        inbound_event_process(event_id=event_id)
    return result


def timeline_of(handle: str) -> list[Interaction]:
    point = ContactPoint.objects.get(kind="social", normalized=f"twitter:{handle.lower()}")
    return list(point.customer.interactions.order_by("occurred_at"))


def test_csv_posts_land_on_customers_and_brand_replies_thread(tmp_path):
    (tmp_path / "001-posts.csv").write_text(
        HEADER
        + '11,@jane_doe,Jane Doe,"@BrandCare my parcel\nis late",2026-05-01T09:30:00Z,\n'
        + "12,BrandCare,,@jane_doe sorry! Sending a DM,2026-05-01T09:35:00Z,11.0\n"
        + "13,@jane_doe,Jane Doe,@BrandCare thanks,Fri May 01 09:40:00 +0000 2026,12\n"
    )
    source = feed_source(path=str(tmp_path))

    assert sync_and_process(source) == "synced"

    jane = timeline_of("jane_doe")
    assert [(i.external_id, i.direction) for i in jane] == [
        ("twitter:11", "inbound"),
        ("twitter:12", "outbound"),
        ("twitter:13", "inbound"),
    ]
    assert jane[0].body == "@BrandCare my parcel\nis late"
    assert jane[0].customer.display_name == "Jane Doe"
    assert jane[1].in_reply_to == jane[0] and jane[2].in_reply_to == jane[1]
    assert jane[2].occurred_at.isoformat() == "2026-05-01T09:40:00+00:00"
    assert not ContactPoint.objects.filter(normalized="twitter:brandcare").exists()
    source.refresh_from_db()
    assert source.cursor == {
        "file": "001-posts.csv",
        "offset": (tmp_path / "001-posts.csv").stat().st_size,
    }
    assert source.last_success_at is not None


def test_malformed_rows_fail_with_their_reason_and_never_stop_the_poll(tmp_path):
    lines = [
        '{"id": 1, "author": "amy", "text": "hi @BrandCare", "created_at": 1777000000}',
        "{not json",
        '["a", "list"]',
        '{"author": "bob", "text": "no id", "created_at": 1777000000}',
        '{"id": 5, "author": "bob", "text": "no time"}',
        '{"id": 6, "author": "BrandCare", "text": "Big sale today!", "created_at": 1777000000}',
        '{"id": 7, "author": "bob", "text": "after the bad ones", "created_at": 1777000100}',
    ]
    (tmp_path / "a.jsonl").write_text("\n".join(lines) + "\n")
    at = [sum(len(line) + 1 for line in lines[:n]) for n in range(len(lines))]
    source = feed_source(path=str(tmp_path))

    sync_and_process(source)

    failed = dict(
        InboundEvent.objects.filter(source=source, status="failed").values_list(
            "provider_event_id", "error"
        )
    )
    assert failed == {
        f"malformed:a.jsonl@{at[1]}": f"Malformed row at a.jsonl@{at[1]}: not valid JSON "
        "(Expecting property name enclosed in double quotes: line 1 column 2 (char 1)).",
        f"malformed:a.jsonl@{at[2]}": f"Malformed row at a.jsonl@{at[2]}: a line must be a "
        "JSON object.",
        f"malformed:a.jsonl@{at[3]}": f"Malformed row at a.jsonl@{at[3]}: id: an id (text or "
        "number) is required.",
        "twitter:5": "created_at None is not an ISO 8601 time or unix seconds.",
    }
    ignored = InboundEvent.objects.get(source=source, status="ignored")
    assert (ignored.provider_event_id, ignored.error) == (
        "twitter:6",
        "A brand broadcast: @BrandCare posted to no customer (no reply_to_author "
        "and no customer @mention), so it is on no timeline.",
    )
    assert sorted(Interaction.objects.values_list("external_id", flat=True)) == [
        "twitter:1",
        "twitter:7",
    ]


def test_a_line_still_being_written_waits_and_files_are_read_in_name_order(tmp_path):
    source = feed_source(path=str(tmp_path))
    first = tmp_path / "2026-05-01T0900.jsonl"
    first.write_text(
        '{"id": 1, "author": "amy", "text": "one", "created_at": 1777000000}\n'
        '{"id": 2, "author": "amy", "text": "tw'  # no line end yet: the writer is busy
    )
    sync_and_process(source)
    assert list(Interaction.objects.values_list("external_id", flat=True)) == ["twitter:1"]

    with first.open("a") as f:
        f.write('o", "created_at": 1777000001}\n')
    (tmp_path / "2026-05-01T0800-older.jsonl").write_text(  # sorts before the cursor: done
        '{"id": 99, "author": "zed", "text": "late", "created_at": 1777000000}\n'
    )
    (tmp_path / "2026-05-01T1000.jsonl").write_text(
        '{"id": 3, "author": "amy", "text": "three", "created_at": 1777000002}'  # settled below
    )
    (tmp_path / "README.txt").write_text("not a feed file\n")
    sync_and_process(source)
    assert sorted(Interaction.objects.values_list("external_id", flat=True)) == [
        "twitter:1",
        "twitter:2",
    ]  # the last file's line has no line end and the file is fresh: it waits

    old = time.time() - 120
    os.utime(tmp_path / "2026-05-01T1000.jsonl", (old, old))  # quiet for 2 minutes: complete
    sync_and_process(source)
    assert sorted(Interaction.objects.values_list("external_id", flat=True)) == [
        "twitter:1",
        "twitter:2",
        "twitter:3",
    ]
    source.refresh_from_db()
    assert source.cursor["file"] == "2026-05-01T1000.jsonl"


def test_a_full_page_leaves_the_cursor_on_the_next_record(tmp_path):
    lines = [
        json.dumps(
            {"id": n, "author": f"user{n % 3}", "text": f"post {n}", "created_at": 1777000000 + n}
        )
        for n in range(7)
    ]
    (tmp_path / "feed.jsonl").write_text("\n".join(lines) + "\n")
    source = feed_source(path=str(tmp_path))
    adapter = adapter_for(source)

    seen, cursor = [], {}
    for _ in range(4):
        events, cursor = adapter.poll(cursor, 3)
        seen += [e.provider_event_id for e in events]
    assert seen == [f"twitter:{n}" for n in range(7)]
    assert adapter.poll(cursor, 3) == ([], cursor)


def test_a_missing_folder_is_recorded_as_the_channel_error(tmp_path):
    source = feed_source(path=str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError):
        channel_sync(source_id=source.pk)  # an OSError: the task retries
    source.refresh_from_db()
    assert "does not exist" in source.last_error
    assert source.cursor == {}


# --- HTTP endpoint: a real local server ---------------------------------------------------


def test_a_drop_folder_does_not_follow_symlinks_out_of_it(tmp_path):
    secret = tmp_path / "outside" / "secret.jsonl"
    secret.parent.mkdir()
    secret.write_text('{"id": 1, "author": "amy", "text": "DB_PASSWORD=hunter2"}\n')
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "a.jsonl").symlink_to(secret)
    (drop / "b.jsonl").symlink_to(tmp_path / "outside")  # a directory, too
    (drop / "c.jsonl").write_text('{"id": 2, "author": "amy", "text": "real", "created_at": 1}\n')
    source = feed_source(path=str(drop), settle_seconds=0)

    assert sync_and_process(source) == "synced"
    assert list(InboundEvent.objects.values_list("provider_event_id", flat=True)) == ["twitter:2"]
    assert not any("hunter2" in json.dumps(p) for p in InboundEvent.objects.values("payload"))

    # A file swapped for a symlink after the folder was listed is not followed either.
    with pytest.raises(OSError):
        _open_regular(drop / "a.jsonl", follow=False)


class Feed:
    """A small social listening API: ``GET /posts?since=<id>&limit=<n>`` → JSON lines."""

    def __init__(self, posts: list[dict]) -> None:
        self.posts, self.requests, self.fail_next = posts, [], 0
        self.raw: bytes | None = None  # served as is instead of the posts
        self.redirect_to: str | None = None

    def handler(self):
        feed = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                query = parse_qs(urlsplit(self.path).query)
                feed.requests.append((query, self.headers.get("Authorization")))
                if feed.fail_next:
                    feed.fail_next -= 1
                    self.send_error(503)
                    return
                if feed.redirect_to:
                    self.send_response(302)
                    self.send_header("Location", feed.redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                since = int(query.get("since", ["0"])[0])
                limit = int(query["limit"][0])
                page = [p for p in feed.posts if int(p["id"]) > since][:limit]
                body = "".join(json.dumps(p) + "\n" for p in page).encode()
                if feed.raw is not None:
                    body = feed.raw
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        return Handler


@pytest.fixture
def feed_server():
    servers = []

    def start(posts):
        feed = Feed(posts)
        server = ThreadingHTTPServer(("127.0.0.1", 0), feed.handler())
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return feed, f"http://127.0.0.1:{server.server_port}/posts"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_http_feed_pages_with_since_and_lands_posts_once(feed_server):
    posts = [
        {"id": n, "author": "amy" if n % 2 else "BrandCare", "text": f"@amy post {n}",
         "created_at": 1777000000 + n, "in_reply_to": n - 1 if n > 1 else None}
        for n in range(1, 6)
    ]  # fmt: skip
    feed, url = feed_server(posts)
    source = feed_source(url=url)
    source.secret = "feed-token"
    source.save()

    assert channel_sync(source_id=source.pk, limit=3) == "synced"
    assert channel_sync(source_id=source.pk, limit=3) == "synced"
    assert channel_sync(source_id=source.pk, limit=3) == "synced"
    for event_id in InboundEvent.objects.values_list("id", flat=True):
        inbound_event_process(event_id=event_id)

    assert [q.get("since") for q, _ in feed.requests] == [None, ["3"], ["5"]]
    assert {auth for _, auth in feed.requests} == {"Bearer feed-token"}
    source.refresh_from_db()
    assert source.cursor == {"since": "5"}
    amy = timeline_of("amy")
    assert [(i.external_id, i.direction) for i in amy] == [
        (f"twitter:{n}", "inbound" if n % 2 else "outbound") for n in range(1, 6)
    ]
    assert all(
        i.in_reply_to.external_id == f"twitter:{n - 1}" for n, i in enumerate(amy, 1) if n > 1
    )


def test_http_feed_that_is_down_records_the_error_and_keeps_the_cursor(feed_server):
    feed, url = feed_server([{"id": 1, "author": "amy", "text": "x", "created_at": 1777000000}])
    feed.fail_next = 1
    source = feed_source(url=url)

    with pytest.raises(ConnectionError):
        channel_sync(source_id=source.pk)  # transient: the task retries
    source.refresh_from_db()
    assert "HTTP 503" in source.last_error and source.cursor == {}

    assert channel_sync(source_id=source.pk) == "synced"
    source.refresh_from_db()
    assert source.cursor == {"since": "1"}
    assert source.last_success_at > source.last_error_at


def test_a_full_page_the_feed_cannot_move_past_fails_the_channel_instead_of_looping(
    feed_server, tmp_path
):
    feed, url = feed_server([])
    feed.raw = b"".join(b'{"no_id": %d}\n' % n for n in range(5))  # no id: no cursor to give
    source = feed_source(url=url)
    with readable_broker(tmp_path) as queued:
        assert channel_sync(source_id=source.pk, limit=5) == "failed"
        assert channel_sync(source_id=source.pk, limit=5) == "failed"  # beat, later
        assert queued() == []  # not re-enqueued at once: no hot loop
    source.refresh_from_db()
    assert source.cursor == {}
    assert source.last_error == "5 unreadable records at {}; the feed cannot move past them."
    assert source.last_success_at is None and source.last_error_at is not None
    [health] = [h for h in channel_health_list() if h.source == source]
    assert health.failing
    # The records themselves are kept as failed events with their reason, once.
    assert InboundEvent.objects.filter(source=source).count() == 5

    feed.raw = None  # the feed moves on: the channel recovers
    feed.posts = [{"id": 1, "author": "amy", "text": "x", "created_at": 1777000000}]
    assert channel_sync(source_id=source.pk, limit=5) == "synced"
    source.refresh_from_db()
    assert source.cursor == {"since": "1"} and source.last_success_at > source.last_error_at


def test_the_feed_token_is_not_sent_on_to_where_the_feed_redirects(feed_server):
    other, other_url = feed_server([{"id": 1, "author": "amy", "text": "x", "created_at": 1}])
    feed, url = feed_server([])
    feed.redirect_to = f"{other_url}?limit=5"
    source = feed_source(url=url)
    source.secret = "feed-token"
    source.save()
    assert channel_sync(source_id=source.pk) == "synced"
    assert [auth for _, auth in feed.requests] == ["Bearer feed-token"]
    assert [auth for _, auth in other.requests] == [None]
    assert InboundEvent.objects.filter(source=source).count() == 1


# --- The demo's live channels, synced by a real worker -------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.real_services
def test_a_file_dropped_in_the_demo_folders_reaches_the_timeline_through_a_real_worker(
    tmp_path, settings
):
    from customers.tasks import channels_sync_due_task
    from cxportal.demo import demo_channels_seed
    from tests.support.services import filesystem_broker_worker, wait_for

    settings.VAR_DIR = tmp_path / "var"
    social, store = demo_channels_seed()
    assert demo_channels_seed() == [social, store]  # idempotent
    assert (social.poll_interval_seconds, social.channel, store.channel) == (15, "social", "store")
    folder = settings.VAR_DIR / "demo-drop"
    assert "Drop a .jsonl or .csv file" in (folder / "social" / "README.txt").read_text()
    (folder / "social" / "2026-05-01T0930-posts.jsonl").write_text(
        '{"id": "d1", "author": "@jane_doe", "text": "@CXPortalCare parcel late", '
        '"created_at": "2026-05-01T09:30:00Z"}\n'
        '{"id": "d2", "author": "CXPortalCare", "text": "@jane_doe On it!", '
        '"created_at": "2026-05-01T09:34:00Z", "in_reply_to": "d1"}\n'
    )
    (folder / "store" / "2026-05-01T1800-visits.csv").write_text(
        "external_id,occurred_at,email,summary\n"
        "VISIT-1,2026-05-01T17:45:00Z,jane@example.com,Returned a kettle\n"
    )

    with filesystem_broker_worker(tmp_path):
        channels_sync_due_task.delay()  # what beat sends every 30 s
        landed = Interaction.objects.filter(
            external_id__in=["twitter:d1", "twitter:d2", f"store:{store.slug}:VISIT-1"]
        )
        try:  # the worker needs seconds; more when the machine is busy starting it
            wait_for(lambda: landed.count() == 3, timeout=120, what="the dropped files")
        except AssertionError as exc:
            log = (tmp_path / "worker.log").read_text()[-3000:]
            raise AssertionError(f"{exc}\n--- worker log ---\n{log}") from None

    jane = timeline_of("jane_doe")
    assert [(i.external_id, i.direction) for i in jane] == [
        ("twitter:d1", "inbound"),
        ("twitter:d2", "outbound"),
    ]
    assert jane[1].in_reply_to == jane[0]
    visit = Interaction.objects.get(external_id=f"store:{store.slug}:VISIT-1")
    assert (visit.channel, visit.summary) == ("store", "Returned a kettle")
    social.refresh_from_db()
    assert social.cursor["file"] == "2026-05-01T0930-posts.jsonl"
