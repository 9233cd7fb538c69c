"""Social networks that push posts to us (Meta / X style webhooks).

Subscription handshake: ``GET /webhooks/<slug>/?hub.mode=subscribe&hub.verify_token=T&
hub.challenge=C`` answers ``C`` (text/plain) when ``T`` equals ``settings.verify_token``,
403 otherwise.

Deliveries: ``POST`` signed with ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw
body keyed with the secret>`` (missing: 401; wrong: 403; nothing stored). The body::

    {"entry": [{"id": "1790", "network": "twitter", "author": "@jane_doe",
                "author_name": "Jane Doe", "text": "@brand my parcel is late",
                "created_at": "2026-05-01T09:30:00Z", "in_reply_to": "1788",
                "reply_to_author": "brand"}]}

``network`` defaults to ``settings.network``; ``created_at`` is ISO 8601 or unix seconds;
``in_reply_to`` (optional) is the id of the post answered. External ids are
``<network>:<id>``, so two networks never clash. Posts by the brand's own handles
(``settings.brand_handles``) are outbound and go on the timeline of ``reply_to_author``,
the customer answered.
"""

import hmac
import json
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from customers.channels.base import (
    ChannelAdapter,
    EventIgnored,
    EventUnusable,
    InteractionDraft,
    RawEvent,
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
from cxportal.api.exceptions import error_body

MAX_ENTRIES = 1000
CHALLENGE_MAX = 200


def _handle(value: str) -> str:
    return value.strip().lstrip("@").lower()


@register("social_webhook")
class SocialWebhookAdapter(ChannelAdapter):
    receives_webhooks = True

    @property
    def network(self) -> str:
        return str(self.settings.get("network", "")).strip().lower()

    def handshake(self, request: HttpRequest) -> HttpResponse | None:
        mode = request.GET.get("hub.mode", "")
        token = request.GET.get("hub.verify_token", "")
        challenge = request.GET.get("hub.challenge", "")
        expected = str(self.settings.get("verify_token", ""))
        if (
            mode == "subscribe"
            and expected
            and challenge
            and len(challenge) <= CHALLENGE_MAX
            and hmac.compare_digest(token.encode(), expected.encode())
        ):
            return HttpResponse(challenge, content_type="text/plain")
        return JsonResponse(
            error_body("The verification token does not match.", "forbidden"), status=403
        )

    def verify(self, request: HttpRequest) -> None:
        secret = self.source.secret
        if not secret:
            raise WebhookRejected(
                "This channel has no signing secret configured.", code="not_configured"
            )
        signature = request.headers.get("X-Hub-Signature-256", "")
        if not signature:
            raise WebhookRejected(
                "Unsigned request: X-Hub-Signature-256 is required.", status=401, code="unsigned"
            )
        if not signature_matches(signature, secret, request.body):
            raise WebhookRejected("The signature does not match.", code="bad_signature")

    def events(self, request: HttpRequest) -> list[RawEvent]:
        body = json_body(request)
        entries = body.get("entry") if isinstance(body, dict) else None
        if not isinstance(entries, list):
            raise WebhookRejected('The body must be {"entry": [...]}.', status=400, code="invalid")
        if len(entries) > MAX_ENTRIES:
            raise WebhookRejected(
                f"At most {MAX_ENTRIES} entries per request.", status=400, code="invalid"
            )
        events, errors = [], {}
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict):
                errors[str(index)] = ["An entry must be a JSON object."]
                continue
            network = str(entry.get("network") or self.network).strip().lower()[:40]
            if not network:
                errors[str(index)] = ["network: required (no default network configured)."]
                continue
            try:
                post_id = event_id_of(entry.get("id"))
            except ValueError as exc:
                errors[str(index)] = [f"id: {exc}."]
                continue
            events.append(RawEvent(f"{network}:{post_id}", {**entry, "network": network}))
        if errors:
            raise WebhookRejected(
                f"Malformed entr(ies): {json.dumps(errors)}", status=400, code="invalid"
            )
        return events

    def to_interaction(self, payload: dict[str, Any]) -> InteractionDraft:
        network = str(payload.get("network") or self.network)
        author = text_of(payload, "author")
        text = text_of(payload, "text", required=False)
        brand = {_handle(h) for h in self.settings.get("brand_handles", []) if isinstance(h, str)}
        direction = Interaction.Direction.INBOUND
        customer_handle, display_name = author, str(payload.get("author_name") or "")
        if _handle(author) in brand:
            direction = Interaction.Direction.OUTBOUND
            customer_handle, display_name = str(payload.get("reply_to_author") or ""), ""
            if not customer_handle.strip() or _handle(customer_handle) in brand:
                raise EventIgnored("A brand post that answers no customer (no reply_to_author).")
        try:
            post_id = event_id_of(payload.get("id"))
        except ValueError as exc:
            raise EventUnusable(f"id: {exc}.") from None
        reply_to = payload.get("in_reply_to")
        return InteractionDraft(
            contact=ContactInput(
                kind=ContactPoint.Kind.SOCIAL, value=customer_handle, network=network
            ),
            channel=self.source.channel,
            direction=direction,
            occurred_at=parse_time(payload.get("created_at"), "created_at"),
            summary=summary_of(text) or f"{network} post",
            body=text,
            external_id=f"{network}:{post_id}",
            in_reply_to=f"{network}:{reply_to}"
            if isinstance(reply_to, str | int) and not isinstance(reply_to, bool) and reply_to
            else None,
            display_name=display_name[:200],
        )
