"""The SMS adapter: signed inbound webhooks, and outbound messages through the provider's HTTP
API (a real local HTTP server that speaks it, not a mock)."""

import contextlib
import json
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from customers.channels import SendFailed, adapter_for
from customers.channels.base import EventUnusable
from customers.models import InboundEvent, Interaction
from customers.services import inbound_event_process
from tests.customers.channel_support import post_json, sms_headers, sms_message, sms_source

pytestmark = pytest.mark.django_db


def url(source) -> str:
    return f"/webhooks/{source.slug}/"


def test_signed_message_is_accepted_and_stored(client):
    source = sms_source()
    response = post_json(client, url(source), sms_message(1))
    assert response.status_code == 202
    assert response.json() == {"accepted": 1, "duplicates": 0}
    event = InboundEvent.objects.get()
    assert (event.source, event.provider_event_id) == (source, "SM000001")
    assert event.payload == sms_message(1)
    assert event.status == InboundEvent.Status.PENDING


def test_a_batch_is_one_request(client):
    source = sms_source()
    response = post_json(client, url(source), [sms_message(1), sms_message(2), sms_message(1)])
    assert response.json() == {"accepted": 2, "duplicates": 1}
    assert InboundEvent.objects.count() == 2


def _rejected(response, status: int, code: str):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code and body["message"]
    assert not InboundEvent.objects.exists()


def test_unsigned_is_401(client):
    source = sms_source()
    _rejected(post_json(client, url(source), sms_message(1), sign=None), 401, "unsigned")
    # A signature without its timestamp is unsigned too.
    body = json.dumps(sms_message(1)).encode()
    headers = sms_headers(body)
    del headers["HTTP_X_TIMESTAMP"]
    response = client.post(url(source), body, content_type="application/json", **headers)
    _rejected(response, 401, "unsigned")


def test_tampered_body_is_403(client):
    source = sms_source()
    body = json.dumps(sms_message(1)).encode()
    headers = sms_headers(body)
    tampered = body.replace(b"message 1", b"message 2")
    response = client.post(url(source), tampered, content_type="application/json", **headers)
    _rejected(response, 403, "bad_signature")


def test_tampered_timestamp_is_403(client):
    source = sms_source()
    body = json.dumps(sms_message(1)).encode()
    headers = sms_headers(body)
    headers["HTTP_X_TIMESTAMP"] = str(int(headers["HTTP_X_TIMESTAMP"]) + 1)
    response = client.post(url(source), body, content_type="application/json", **headers)
    _rejected(response, 403, "bad_signature")


def test_wrong_secret_is_403(client):
    source = sms_source()
    sign = lambda body: sms_headers(body, secret="guess")  # noqa: E731
    _rejected(post_json(client, url(source), sms_message(1), sign=sign), 403, "bad_signature")


@pytest.mark.parametrize("offset", [-301, 301, -3600])
def test_stale_or_future_timestamp_is_403(client, offset):
    source = sms_source()
    sign = lambda body: sms_headers(body, timestamp=int(time.time()) + offset)  # noqa: E731
    _rejected(post_json(client, url(source), sms_message(1), sign=sign), 403, "stale")


@pytest.mark.parametrize("offset", [-290, 290])
def test_inside_the_window_is_accepted(client, offset):
    source = sms_source()
    sign = lambda body: sms_headers(body, timestamp=int(time.time()) + offset)  # noqa: E731
    assert post_json(client, url(source), sms_message(1), sign=sign).status_code == 202


def test_a_channel_without_a_secret_accepts_nothing(client):
    source = sms_source(secret="")
    sign = lambda body: sms_headers(body, secret="")  # noqa: E731
    _rejected(post_json(client, url(source), sms_message(1), sign=sign), 403, "not_configured")


@pytest.mark.parametrize(
    "payload",
    [{"from": "+447700900123", "text": "no id"}, [sms_message(1), "text"], [{"id": ""}]],
)
def test_a_malformed_message_rejects_the_request(client, payload):
    source = sms_source()
    _rejected(post_json(client, url(source), payload), 400, "invalid")


def test_to_interaction():
    source = sms_source()
    draft = adapter_for(source).to_interaction(
        sms_message(5, sent_at=1777627800, text="\n  Card not arrived  \nI'm off on Friday")
    )
    assert (draft.contact.kind, draft.contact.value) == ("phone", "+447700900005")
    assert (draft.channel, draft.direction) == ("sms", "inbound")
    assert draft.occurred_at.timestamp() == 1777627800
    assert draft.summary == "Card not arrived"
    # Namespaced by source: another provider's (or account's) SM000005 is another message.
    assert draft.external_id == f"sms:{source.slug}:SM000005" and draft.in_reply_to is None
    answer = adapter_for(source).to_interaction(sms_message(6, in_reply_to="SM000005"))
    assert answer.in_reply_to == draft.external_id
    with pytest.raises(EventUnusable, match="'from' is missing"):
        adapter_for(source).to_interaction({"id": "x", "text": "hi", "sent_at": 1})


def test_two_sources_with_the_same_message_ids_keep_both_messages(client):
    one, two = sms_source(), sms_source()
    post_json(client, url(one), sms_message(1, **{"from": "+447700900111", "text": "from one"}))
    post_json(client, url(two), sms_message(1, **{"from": "+447700900222", "text": "from two"}))
    for event_id in InboundEvent.objects.order_by("id").values_list("id", flat=True):
        inbound_event_process(event_id=event_id)
    events = list(InboundEvent.objects.order_by("id").select_related("interaction__customer"))
    assert [e.status for e in events] == ["processed", "processed"]
    assert [e.interaction.body for e in events] == ["from one", "from two"]
    assert [e.interaction.external_id for e in events] == [
        f"sms:{one.slug}:SM000001",
        f"sms:{two.slug}:SM000001",
    ]
    assert events[0].interaction.customer != events[1].interaction.customer
    assert Interaction.objects.count() == 2


# Outbound ------------------------------------------------------------------------------------


class FakeProvider(ThreadingHTTPServer):
    """A tiny SMS provider: POST /messages with a bearer token answers {"id": ...}; it keeps
    what it received. ``mode`` makes it refuse (400), fail (503) or hang."""

    def __init__(self):
        self.received: list[dict] = []
        self.mode = "ok"
        super().__init__(("127.0.0.1", 0), _ProviderHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _ProviderHandler(BaseHTTPRequestHandler):
    server: FakeProvider

    def do_POST(self):  # noqa: N802 (http.server's naming)
        length = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(length))
        self.server.received.append(
            {
                "path": self.path,
                "authorization": self.headers.get("Authorization"),
                "content_type": self.headers.get("Content-Type"),
                "body": body,
            }
        )
        mode = self.server.mode
        if mode == "hang":
            time.sleep(2)
        if mode == "refuse" or self.headers.get("Authorization") != "Bearer sms-signing-secret":
            return self._answer(400, {"error": "invalid 'to' number"})
        if mode == "fail":
            return self._answer(503, {"error": "try later"})
        self._answer(201, {"id": f"out-{len(self.server.received)}", "status": "queued"})

    def _answer(self, status: int, payload: dict):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(data)

    def log_message(self, *args):
        pass


def test_send_posts_to_the_provider_api(provider):
    source = sms_source(settings={"api_url": provider.url + "/", "from_number": "+447700900999"})
    message_id = adapter_for(source).send(to="+447700900123", subject="ignored", body="On its way")
    assert message_id == f"sms:{source.slug}:out-1"  # as the customer's answer names it
    assert provider.received == [
        {
            "path": "/v1/messages",
            "authorization": "Bearer sms-signing-secret",
            "content_type": "application/json",
            "body": {"from": "+447700900999", "to": "+447700900123", "text": "On its way"},
        }
    ]


def test_send_refused_for_good_is_send_failed(provider):
    provider.mode = "refuse"
    source = sms_source(settings={"api_url": provider.url})
    with pytest.raises(SendFailed, match="HTTP 400"):
        adapter_for(source).send(to="+44", subject="", body="x")


def test_send_to_a_failing_provider_is_transient(provider):
    provider.mode = "fail"
    source = sms_source(settings={"api_url": provider.url})
    with pytest.raises(ConnectionError, match="HTTP 503"):
        adapter_for(source).send(to="+447700900123", subject="", body="x")


def test_send_times_out(provider):
    provider.mode = "hang"
    source = sms_source(settings={"api_url": provider.url, "timeout": 0.3})
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        adapter_for(source).send(to="+447700900123", subject="", body="x")
    assert time.monotonic() - started < 1.5


def test_send_to_nobody_listening_is_transient():
    from tests.support.services import free_port

    source = sms_source(settings={"api_url": f"http://127.0.0.1:{free_port()}"})
    with pytest.raises(ConnectionError, match="unreachable"):
        adapter_for(source).send(to="+447700900123", subject="", body="x")


def test_send_needs_an_http_api_url():
    source = sms_source(settings={"api_url": "file:///etc/passwd"})
    with pytest.raises(SendFailed, match="http"):
        adapter_for(source).send(to="+447700900123", subject="", body="x")
