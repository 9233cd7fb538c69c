"""``/webhooks/<slug>/``: what every channel's endpoint does whatever the adapter — 404s, size
limit, JSON errors, fast 202 with dedupe, enqueue after commit, and replays racing each other."""

import json
import threading

import pytest
from django.db import connection
from django.test import Client

from customers.models import InboundEvent, Interaction
from customers.services import inbound_event_process
from customers.webhooks import MAX_BODY_BYTES
from tests.customers.channel_support import (
    post_json,
    readable_broker,
    sms_headers,
    sms_message,
    sms_source,
    social_source,
)

pytestmark = pytest.mark.django_db


def url(source) -> str:
    return f"/webhooks/{source.slug}/"


def test_unknown_or_inactive_channel_is_a_json_404(client):
    assert client.post("/webhooks/nope/", {}).json()["code"] == "not_found"
    inactive = sms_source(is_active=False)
    response = post_json(client, url(inactive), sms_message(1))
    assert response.status_code == 404
    assert response.json() == {"message": "No such channel.", "code": "not_found", "errors": {}}
    assert not InboundEvent.objects.exists()


def test_a_channel_that_takes_no_webhooks_is_404(client):
    from tests.customers.channel_support import ChannelSourceFactory

    polled = ChannelSourceFactory(kind="csv_drop", slug="drop")
    assert post_json(client, url(polled), sms_message(1)).status_code == 404


def test_get_on_a_channel_without_handshake_is_404(client):
    assert client.get(url(sms_source())).status_code == 404


def test_other_methods_are_405(client):
    response = client.put(url(sms_source()), b"{}", content_type="application/json")
    assert response.status_code == 405
    assert response["Allow"] == "GET, POST"


def test_body_over_1mb_is_413_and_nothing_is_stored(client):
    source = sms_source()
    message = sms_message(1, text="x" * MAX_BODY_BYTES)
    response = post_json(client, url(source), message)
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    assert not InboundEvent.objects.exists()


def test_malformed_json_is_400(client):
    source = sms_source()
    body = b'{"id": "SM1", "from": '
    response = client.post(url(source), body, content_type="application/json", **sms_headers(body))
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"
    body = b"\xff\xfe not utf-8"
    response = client.post(url(source), body, content_type="application/json", **sms_headers(body))
    assert response.status_code == 400
    assert not InboundEvent.objects.exists()


@pytest.mark.parametrize("source", [sms_source, social_source])
def test_signed_json_nested_too_deep_is_400_not_500(client, source):
    from tests.customers.channel_support import hub_headers

    source = source()
    sign = sms_headers if source.kind == "sms" else hub_headers
    body = b"[" * 200_000 + b"]" * 200_000  # valid JSON, too deep for the parser
    client.raise_request_exception = False
    response = client.post(url(source), body, content_type="application/json", **sign(body))
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"
    assert not InboundEvent.objects.exists()


def test_csrf_is_not_needed(settings):
    source = sms_source()
    strict = Client(enforce_csrf_checks=True)
    assert post_json(strict, url(source), sms_message(1)).status_code == 202


def test_accepts_and_enqueues_after_commit(client, tmp_path, django_capture_on_commit_callbacks):
    source = sms_source()
    with readable_broker(tmp_path) as queued:
        with django_capture_on_commit_callbacks(execute=True):
            response = post_json(client, url(source), [sms_message(1), sms_message(2)])
        assert response.status_code == 202
        ids = sorted(InboundEvent.objects.values_list("id", flat=True))
        assert sorted(queued()) == [("ingest.inbound_event_process", [i]) for i in ids]


def test_accept_query_count_does_not_grow_with_the_batch(client, django_assert_num_queries):
    source = sms_source()
    # the source; savepoint, insert, re-read, release
    with django_assert_num_queries(5):
        post_json(client, url(source), [sms_message(n) for n in range(3)])
    with django_assert_num_queries(5):
        post_json(client, url(source), [sms_message(n) for n in range(100, 400)])


def test_social_and_sms_sources_do_not_share_events(client):
    sms, social = sms_source(), social_source()
    post_json(client, url(sms), sms_message(1))
    from tests.customers.channel_support import hub_headers

    entry = {"id": "SM000001", "author": "jane", "text": "hi", "created_at": 1}
    post_json(client, url(social), {"entry": [entry]}, sign=hub_headers)
    assert InboundEvent.objects.filter(source=sms).count() == 1
    assert InboundEvent.objects.filter(source=social).count() == 1


@pytest.mark.django_db(transaction=True)
def test_one_webhook_replayed_5_times_concurrently_is_one_event_and_one_interaction():
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL (SQLite serializes every write)")
    source = sms_source()
    body = json.dumps(sms_message(42)).encode()
    headers = sms_headers(body)
    barrier, answers, errors = threading.Barrier(5), [], []

    def deliver():
        try:
            barrier.wait(10)
            response = Client().post(url(source), body, content_type="application/json", **headers)
            answers.append((response.status_code, response.json()))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    assert [status for status, _ in answers] == [202] * 5
    assert sum(body["accepted"] for _, body in answers) == 1
    assert sum(body["duplicates"] for _, body in answers) == 4
    event = InboundEvent.objects.get()

    # Five deliveries of its processing task at once: one interaction.
    barrier, results = threading.Barrier(5), []

    def process():
        try:
            barrier.wait(10)
            results.append(inbound_event_process(event_id=event.pk))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=process) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    assert Interaction.objects.count() == 1
    event.refresh_from_db()
    assert event.status == "processed" and event.interaction == Interaction.objects.get()
    assert event.attempts >= 1
