"""The supervisors' channel health page (/channels/) and its "Retry now" button."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers.channels.base import RawEvent
from customers.models import Channel, InboundEvent
from customers.selectors import channel_traffic
from customers.services import inbound_events_store
from cxportal.models import AuditEvent
from tests.customers.channel_support import ChannelSourceFactory, readable_broker, sms_source

pytestmark = pytest.mark.django_db

URL = "/channels/"


def broken_feed(**fields):
    now = timezone.now()
    return ChannelSourceFactory(
        name="Forum feed",
        kind="social_feed",
        channel=Channel.SOCIAL,
        settings={"network": "forum", "path": "/nowhere"},
        last_success_at=now - timedelta(hours=3),
        last_error_at=now - timedelta(minutes=2),
        last_error="FileNotFoundError: The drop folder '/nowhere' does not exist.",
        **fields,
    )


def test_anonymous_is_sent_to_login(client):
    response = client.get(URL)
    assert response.status_code == 302 and response["Location"].startswith("/login/")


@pytest.mark.parametrize("team", ["service", "marketing", "sales", "operations"])
def test_other_teams_get_403(client, staff, team):
    client.force_login(staff(team))
    assert client.get(URL).status_code == 403
    source = broken_feed()
    assert client.post(f"/channels/{source.pk}/retry/").status_code == 403


def test_supervisor_sees_health_reason_lag_backlog_and_traffic(client, staff):
    client.force_login(staff("supervisor"))
    feed = broken_feed()
    line = sms_source(name="SMS line")
    inbound_events_store(
        source=line,
        events=[RawEvent(f"SM{n}", {"id": f"SM{n}"}) for n in range(4)],
    )
    InboundEvent.objects.filter(provider_event_id="SM0").update(
        received_at=timezone.now() - timedelta(minutes=12)
    )

    response = client.get(URL)

    assert response.status_code == 200
    html = response.content.decode()
    assert '<a href="/channels/" class="active" aria-current="page">Channels</a>' in html
    rows = {row.source.name: row for row in response.context["rows"]}
    assert rows["Forum feed"].status == "failing"
    assert "The drop folder &#x27;/nowhere&#x27; does not exist." in html
    assert rows["SMS line"].status == "behind"
    assert rows["SMS line"].health.backlog == 4
    assert rows["SMS line"].lag == "12 min"
    assert [bar.count for bar in rows["SMS line"].bars if bar.count] == [1, 3]
    assert html.count("Retry now</button>") == 2  # failing, and a backlog to hand over
    assert f'action="/channels/{feed.pk}/retry/"' in html


def test_retry_is_a_csrf_protected_post_that_reports_back(
    client, staff, tmp_path, django_capture_on_commit_callbacks
):
    from django.test import Client

    supervisor = staff("supervisor")
    source = broken_feed()
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(supervisor)
    assert strict.post(f"/channels/{source.pk}/retry/").status_code == 403
    client.force_login(supervisor)
    assert client.get(f"/channels/{source.pk}/retry/").status_code == 405

    with readable_broker(tmp_path) as queued:
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(f"/channels/{source.pk}/retry/", follow=True)
        assert ("ingest.channel_sync", [source.pk]) in queued()

    assert response.redirect_chain == [("/channels/", 302)]
    assert "Retrying Forum feed: a sync was sent to the worker" in response.content.decode()
    assert AuditEvent.objects.filter(action="channel.sync_retry", target_id=str(source.pk)).exists()
    assert client.post("/channels/999999/retry/").status_code == 404


def test_query_count_does_not_grow_with_channels(client, staff, django_assert_num_queries):
    """Session, user, two permission reads, the team of the navigation, and the page's own
    four reads: sources, backlog, the last hour, traffic per minute."""
    client.force_login(staff("supervisor"))
    for _ in range(2):
        broken_feed()
    with django_assert_num_queries(9):
        assert len(client.get(URL).context["rows"]) == 2
    for _ in range(2):
        broken_feed()
        inbound_events_store(source=sms_source(), events=[RawEvent("x", {})])
    with django_assert_num_queries(9):
        assert len(client.get(URL).context["rows"]) == 6


def test_traffic_is_one_query_per_minute_bucket(django_assert_num_queries):
    now = timezone.now().replace(second=30)
    source = sms_source()
    ids = inbound_events_store(source=source, events=[RawEvent(f"e{n}", {}) for n in range(5)])
    InboundEvent.objects.filter(pk__in=ids[:2]).update(received_at=now - timedelta(minutes=59))
    InboundEvent.objects.filter(pk__in=ids[2:3]).update(received_at=now - timedelta(minutes=61))
    InboundEvent.objects.filter(pk__in=ids[3:]).update(received_at=now)
    other = sms_source()
    inbound_events_store(source=other, events=[RawEvent("o1", {})])
    with django_assert_num_queries(1):
        traffic = channel_traffic(source_ids=[source.pk], now=now)
    assert set(traffic) == {source.pk}  # only the sources asked for
    assert len(traffic[source.pk]) == 60
    assert (
        traffic[source.pk][0] == 2 and traffic[source.pk][-1] == 2 and sum(traffic[source.pk]) == 4
    )


def test_the_page_reads_events_through_the_source_received_at_index(client, staff):
    """Both reads of recent events name the sources: without ``source_id IN (...)`` the
    ``(source, received_at)`` index cannot be used and 10M events are scanned."""
    client.force_login(staff("supervisor"))
    source = sms_source()
    inbound_events_store(source=source, events=[RawEvent("e1", {})])
    with CaptureQueriesContext(connection) as queries:
        assert client.get(URL).status_code == 200
    recent = [q["sql"] for q in queries if '"received_at" >=' in q["sql"]]
    assert len(recent) == 2
    assert all(f'"source_id" IN ({source.pk})' in sql for sql in recent), recent


def test_admin_shows_why_events_failed_and_retries_channels(
    client, staff, tmp_path, django_capture_on_commit_callbacks
):
    supervisor = staff("supervisor")
    client.force_login(supervisor)
    source = broken_feed()
    inbound_events_store(source=source, events=[RawEvent("bad-1", {})])
    InboundEvent.objects.filter(provider_event_id="bad-1").update(
        status="failed", error="Malformed row at a.jsonl@0: not valid JSON."
    )

    inbox = client.get("/admin/customers/inboundevent/")
    assert "Malformed row at a.jsonl@0: not valid JSON." in inbox.content.decode()
    sources = client.get("/admin/customers/channelsource/")
    assert "The drop folder &#x27;/nowhere&#x27; does not exist." in sources.content.decode()

    with readable_broker(tmp_path) as queued:
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                "/admin/customers/channelsource/",
                {"action": "retry_sync", "_selected_action": [source.pk]},
                follow=True,
            )
        assert ("ingest.channel_sync", [source.pk]) in queued()
    assert "Retrying Forum feed" in response.content.decode()


def test_the_admin_retry_needs_change_permission_not_just_view(
    client, staff, tmp_path, django_capture_on_commit_callbacks
):
    viewer = staff(None, is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_channelsource"))
    client.force_login(viewer)
    source = broken_feed()
    page = client.get("/admin/customers/channelsource/")
    assert page.status_code == 200 and "retry_sync" not in page.content.decode()
    with readable_broker(tmp_path) as queued:
        with django_capture_on_commit_callbacks(execute=True):
            client.post(
                "/admin/customers/channelsource/",
                {"action": "retry_sync", "_selected_action": [source.pk]},
            )
        assert queued() == []
    assert not AuditEvent.objects.filter(action="channel.sync_retry").exists()
