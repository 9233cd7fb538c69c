"""SMS through a provider's HTTP API.

Inbound (webhook ``POST /webhooks/<slug>/``): the body is one message or a JSON array of them::

    {"id": "SM123", "from": "+447700900123", "to": "+447700900001",
     "text": "Where is my order?", "sent_at": "2026-05-01T09:30:00Z", "in_reply_to": null}

``sent_at`` is ISO 8601 or unix seconds; ``in_reply_to`` (optional) is the provider id of the
message answered. On the timeline a message's external id is ``sms:<source slug>:<provider
id>`` (and ``in_reply_to`` the same way): two providers, or two accounts of one, may hand
out the same ids, and one must never stand for the other's message.

Every request is signed: ``X-Timestamp: <unix seconds>`` and
``X-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>" keyed with the secret>``.
A request without them answers 401; a wrong signature, or a timestamp more than 5 minutes
off our clock (either way), 403. Nothing of a refused request is stored.

Outbound: ``POST <settings.api_url>/messages`` with ``Authorization: Bearer <secret>`` and
``{"from": settings.from_number, "to", "text"}``; the provider answers ``{"id": ...}``.
SMS has no subject: ``send`` ignores it; it returns the sent message's external id
(``sms:<slug>:<provider id>``), so the customer's answer threads under our reply.
Settings: ``api_url``, ``from_number``, ``timeout`` (seconds, default 10).
"""

import json
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from django.http import HttpRequest

from customers.channels.base import (
    ChannelAdapter,
    EventUnusable,
    InteractionDraft,
    RawEvent,
    SendFailed,
    WebhookRejected,
    event_id_of,
    json_body,
    parse_time,
    register,
    signature_matches,
    summary_of,
    text_of,
)
from customers.models import ContactPoint, Interaction
from customers.services.core import ContactInput

SIGNATURE_WINDOW_SECONDS = 300
MAX_MESSAGES = 1000


@register("sms")
class SmsAdapter(ChannelAdapter):
    receives_webhooks = True
    sends = True

    def verify(self, request: HttpRequest) -> None:
        secret = self.source.secret
        if not secret:
            raise WebhookRejected(
                "This channel has no signing secret configured.", code="not_configured"
            )
        signature = request.headers.get("X-Signature", "")
        timestamp = request.headers.get("X-Timestamp", "").strip()
        if not signature or not timestamp:
            raise WebhookRejected(
                "Unsigned request: X-Signature and X-Timestamp are required.",
                status=401,
                code="unsigned",
            )
        if not timestamp.isdigit():
            raise WebhookRejected("X-Timestamp must be unix seconds.", status=401, code="unsigned")
        if not signature_matches(signature, secret, timestamp.encode() + b"." + request.body):
            raise WebhookRejected("The signature does not match.", code="bad_signature")
        if abs(time.time() - int(timestamp)) > SIGNATURE_WINDOW_SECONDS:
            raise WebhookRejected(
                "The timestamp is more than 5 minutes away from our clock.", code="stale"
            )

    def events(self, request: HttpRequest) -> list[RawEvent]:
        body = json_body(request)
        messages = body if isinstance(body, list) else [body]
        if len(messages) > MAX_MESSAGES:
            raise WebhookRejected(
                f"At most {MAX_MESSAGES} messages per request.", status=400, code="invalid"
            )
        events, errors = [], {}
        for index, message in enumerate(messages):
            if not isinstance(message, dict):
                errors[str(index)] = ["A message must be a JSON object."]
                continue
            try:
                events.append(RawEvent(event_id_of(message.get("id")), message))
            except ValueError as exc:
                errors[str(index)] = [f"id: {exc}."]
        if errors:
            raise WebhookRejected(
                f"Malformed message(s): {json.dumps(errors)}", status=400, code="invalid"
            )
        return events

    def to_interaction(self, payload: dict[str, Any]) -> InteractionDraft:
        sender = text_of(payload, "from")
        text = text_of(payload, "text", required=False)
        try:
            message_id = event_id_of(payload.get("id"))
        except ValueError as exc:
            raise EventUnusable(f"id: {exc}.") from None
        reply_to = payload.get("in_reply_to")
        return InteractionDraft(
            contact=ContactInput(kind=ContactPoint.Kind.PHONE, value=sender),
            channel=self.source.channel,
            direction=Interaction.Direction.INBOUND,
            occurred_at=parse_time(payload.get("sent_at"), "sent_at"),
            summary=summary_of(text) or "SMS",
            body=text,
            external_id=self.external_id_of(message_id),
            in_reply_to=self.external_id_of(str(reply_to))
            if isinstance(reply_to, str | int) and reply_to
            else None,
        )

    def external_id_of(self, provider_id: str) -> str:
        """The timeline's external id of this source's message ``provider_id``."""
        return f"sms:{self.source.slug}:{provider_id}"

    def send(self, *, to: str, subject: str, body: str) -> str:
        api_url = str(self.settings.get("api_url", "")).rstrip("/")
        if urlsplit(api_url).scheme not in ("http", "https"):
            raise SendFailed("The channel's api_url is not an http(s) URL.")
        request = urllib.request.Request(  # noqa: S310 (scheme checked above)
            f"{api_url}/messages",
            data=json.dumps(
                {"from": self.settings.get("from_number", ""), "to": to, "text": body}
            ).encode(),
            method="POST",
            headers={
                "Authorization": f"Bearer {self.source.secret}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
        )
        timeout = float(self.settings.get("timeout", 10))
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                answer = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:300].decode("utf-8", "replace")
            if exc.code >= 500 or exc.code == 429:
                raise ConnectionError(f"SMS provider answered HTTP {exc.code}: {detail}") from exc
            raise SendFailed(f"SMS provider refused the message: HTTP {exc.code} {detail}") from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise TimeoutError(f"SMS provider did not answer in {timeout:g}s") from exc
            raise ConnectionError(f"SMS provider unreachable: {exc.reason}") from exc
        except ValueError as exc:
            raise SendFailed("SMS provider answered something that is not JSON.") from exc
        message_id = answer.get("id") if isinstance(answer, dict) else None
        if not isinstance(message_id, str | int) or not str(message_id):
            raise SendFailed("SMS provider answered without a message id.")
        # What the customer's answer will name in in_reply_to, namespaced the same way.
        return self.external_id_of(str(message_id))
