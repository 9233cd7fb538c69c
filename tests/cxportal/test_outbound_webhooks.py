"""Webhooks to partners: signed, retried with backoff until a 2xx, given up after a bound,
logged; a real HTTP server plays the partner."""

import hashlib
import hmac
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from cxportal.models import WebhookDelivery, WebhookSubscription
from cxportal.outbound_webhooks import (
    MAX_ATTEMPTS,
    backoff,
    webhook_deliver,
    webhook_event_publish,
    webhooks_due_enqueue,
)
from tests.customers.channel_support import readable_broker

pytestmark = pytest.mark.django_db
SECRET = "partner-shared-secret"


class Partner(ThreadingHTTPServer):
    def __init__(self):
        self.received: list[dict] = []
        self.answer = 200
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks"


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append({"headers": self.headers, "body": body})
        self.send_response(self.server.answer)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def partner():
    server = Partner()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def subscribe(url: str, events=("disruption.published",), **fields) -> WebhookSubscription:
    return WebhookSubscription.objects.create(
        name="Journey planner", url=url, secret=SECRET, events=list(events), **fields
    )


def verify(request: dict) -> dict:
    """What a partner does: check the signature over the raw body, then parse it."""
    t, v1 = (part.split("=", 1)[1] for part in request["headers"]["X-CX-Signature"].split(","))
    expected = hmac.new(SECRET.encode(), f"{t}.".encode() + request["body"], hashlib.sha256)
    assert hmac.compare_digest(v1, expected.hexdigest())
    return json.loads(request["body"])


def test_an_event_reaches_each_subscriber_signed_once(partner, django_capture_on_commit_callbacks):
    subscribe(partner.url)
    subscribe(partner.url, events=["disruption.resolved"])  # not interested
    subscribe(partner.url, is_active=False)
    with django_capture_on_commit_callbacks() as callbacks:
        (delivery_id,) = webhook_event_publish(
            event="disruption.published", payload={"id": 7, "title": "Lift out at Bank"}
        )
    assert len(callbacks) == 1
    assert webhook_deliver(delivery_id=delivery_id) == "delivered"
    assert webhook_deliver(delivery_id=delivery_id) == "delivered"  # a redelivered task
    (request,) = partner.received
    body = verify(request)
    assert body == {
        "id": delivery_id,
        "event": "disruption.published",
        "data": {"id": 7, "title": "Lift out at Bank"},
    }
    assert request["headers"]["X-CX-Event"] == "disruption.published"
    assert request["headers"]["X-CX-Delivery"] == str(delivery_id)
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    assert (delivery.attempts, delivery.last_status_code) == (1, 200)


def test_failures_are_retried_with_backoff_then_given_up(partner):
    subscribe(partner.url)
    partner.answer = 503
    (delivery_id,) = webhook_event_publish(event="disruption.published", payload={"id": 1})
    now = timezone.now()
    assert webhook_deliver(delivery_id=delivery_id, now=now) == "pending"
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    assert delivery.next_attempt_at == now + timedelta(seconds=30)
    assert delivery.last_error == "HTTP 503 Service Unavailable"
    # Not due yet: nothing is sent.
    assert webhook_deliver(delivery_id=delivery_id, now=now + timedelta(seconds=10)) == "pending"
    assert len(partner.received) == 1
    assert [backoff(n).total_seconds() for n in (1, 2, 3, 9)] == [30, 60, 120, 3600]
    for _attempt in range(2, MAX_ATTEMPTS + 1):
        now += timedelta(hours=1)
        status = webhook_deliver(delivery_id=delivery_id, now=now)
    assert status == "failed"
    assert len(partner.received) == MAX_ATTEMPTS


def test_a_partner_that_is_down_is_retried_and_then_delivered(partner):
    subscribe("http://127.0.0.1:9/nobody-listens")
    (delivery_id,) = webhook_event_publish(event="disruption.published", payload={"id": 1})
    assert webhook_deliver(delivery_id=delivery_id) == "pending"
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    assert delivery.last_status_code is None and "Connection refused" in delivery.last_error
    WebhookSubscription.objects.update(url=partner.url)
    later = timezone.now() + timedelta(minutes=1)
    assert webhook_deliver(delivery_id=delivery_id, now=later) == "delivered"


def test_the_sweeper_hands_due_deliveries_to_the_broker(partner, tmp_path):
    subscribe(partner.url)
    (delivery_id,) = webhook_event_publish(event="disruption.published", payload={"id": 1})
    with readable_broker(tmp_path) as queued:
        assert webhooks_due_enqueue() == 1
        assert queued() == [("outbound.webhook_deliver", [delivery_id])]


def test_subscriptions_name_known_events():
    from django.core.exceptions import ValidationError

    subscription = WebhookSubscription(name="x", url="https://p.example", secret="s", events=["x"])
    with pytest.raises(ValidationError, match="Unknown event"):
        subscription.clean()
