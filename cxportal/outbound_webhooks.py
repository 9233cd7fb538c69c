"""Webhooks out: partners subscribe to our events (``disruption.published`` ...).

``webhook_event_publish`` writes one ``WebhookDelivery`` per active subscription in the
caller's transaction and hands them to the broker after the commit. ``webhook_deliver``
POSTs the JSON payload, signed, and records the outcome: 2xx is delivered; anything else
(an error answer, a refused connection, a timeout) is tried again later with exponential
backoff (30 s, 1 min, 2 min, ... at most an hour apart) until ``MAX_ATTEMPTS``, then given
up (``failed``). ``webhooks_due_enqueue`` (beat, every 30 s) hands the broker the deliveries
that are due, so retries and a broker outage need no Celery retry state.

Signature: ``X-CX-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``. A
partner recomputes it over the raw body and refuses old timestamps. ``X-CX-Delivery`` is the
delivery id: the same event retried carries the same id, so partners can dedupe.

Subscriptions: partners manage their own (``webhook_subscription_create`` / ``_update`` /
``_delete``, audited); the secret is made here and shown to the partner once. A URL must be
http(s) and, outside DEBUG, resolve to public addresses only (``webhook_url_problem``: no
loopback, private or link-local targets); deliveries never follow redirects. A partner's
subscription receives an event only while its client is active and holds the scope that
reads the event's data (``EVENT_SCOPES``).

Core (no app imports): apps call ``webhook_event_publish`` with a ready payload.
"""

import hashlib
import hmac
import ipaddress
import json
import secrets
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from cxportal.broker import publish
from cxportal.models import APIClient, WebhookDelivery, WebhookSubscription
from cxportal.querysets import RestrictedQuerySet
from cxportal.services import audit_record
from cxportal.validation import text_problem

MAX_ATTEMPTS = 8
FIRST_BACKOFF = timedelta(seconds=30)
MAX_BACKOFF = timedelta(hours=1)
TIMEOUT_SECONDS = 10
DELIVER_TASK = "outbound.webhook_deliver"
USER_AGENT = "CX-Portal-Webhooks/1"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def webhook_event_publish(*, event: str, payload: dict[str, Any]) -> list[int]:
    """One delivery per active subscription to ``event``; sent after the commit."""
    now = timezone.now()
    plain = json.loads(json.dumps(payload, cls=DjangoJSONEncoder))
    # A partner's subscription stops receiving when its key is revoked or loses the scope
    # that reads the event's data (a supervisor's own subscriptions have no client).
    subscriptions = [
        s
        for s in WebhookSubscription.objects.filter(is_active=True)
        .filter(Q(api_client__isnull=True) | Q(api_client__is_active=True))
        .select_related("api_client")
        if event in (s.events or [])
        and (s.api_client is None or s.api_client.has_scope(event_scope(event)))
    ]
    deliveries = WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(
                subscription=s, event=event, payload=plain, next_attempt_at=now, created_at=now
            )
            for s in subscriptions
        ]
    )
    ids = [d.pk for d in deliveries]
    if ids:
        transaction.on_commit(lambda: publish(DELIVER_TASK, ids))
    return ids


def backoff(attempts: int) -> timedelta:
    return min(FIRST_BACKOFF * 2 ** max(attempts - 1, 0), MAX_BACKOFF)


@transaction.atomic
def webhook_deliver(*, delivery_id: int, now: datetime | None = None) -> str:
    """Try one delivery if it is due. Returns its status afterwards (``"gone"`` if deleted).

    The row stays locked during the request, so a duplicate task waits and then finds it
    delivered. A crash after the partner answered but before the commit sends it again:
    at least once, with the same ``X-CX-Delivery`` id."""
    delivery = (
        WebhookDelivery.objects.select_for_update()
        .select_related("subscription")
        .filter(pk=delivery_id)
        .first()
    )
    if delivery is None:
        return "gone"
    now = now or timezone.now()
    if delivery.status != WebhookDelivery.Status.PENDING or delivery.next_attempt_at > now:
        return delivery.status
    subscription = delivery.subscription
    delivery.attempts += 1
    delivery.last_attempt_at = now
    if not subscription.is_active:
        delivery.status = WebhookDelivery.Status.FAILED
        delivery.last_error = "The subscription was switched off."
    else:
        code, error = _post(subscription, delivery)
        delivery.last_status_code, delivery.last_error = code, error
        if code is not None and 200 <= code < 300:
            delivery.status = WebhookDelivery.Status.DELIVERED
            delivery.delivered_at = now
        elif delivery.attempts >= MAX_ATTEMPTS:
            delivery.status = WebhookDelivery.Status.FAILED
        else:
            delivery.next_attempt_at = now + backoff(delivery.attempts)
    delivery.save()
    return delivery.status


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not a delivery: it is logged (3xx) and tried again later.
    Following it would let a partner's endpoint point our POSTs at an address the URL check
    refused (``webhook_url_problem``)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def _post(subscription: WebhookSubscription, delivery: WebhookDelivery) -> tuple[int | None, str]:
    body = json.dumps(
        {"id": delivery.pk, "event": delivery.event, "data": delivery.payload},
        separators=(",", ":"),
    ).encode()
    request = urllib.request.Request(  # noqa: S310 (the URL is a validated http(s) URLField)
        subscription.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-CX-Event": delivery.event,
            "X-CX-Delivery": str(delivery.pk),
            "X-CX-Signature": signature(subscription.secret, int(time.time()), body),
        },
    )
    try:
        with _OPENER.open(request, timeout=TIMEOUT_SECONDS) as response:
            return response.status, ""
    except urllib.error.HTTPError as exc:
        return exc.code, f"HTTP {exc.code} {exc.reason}"[:2000]
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return None, f"{type(exc).__name__}: {reason}"[:2000]


def webhooks_due_enqueue(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Hand the broker the pending deliveries that are due (new ones the broker never got,
    retries whose backoff is over). Returns how many were sent."""
    now = now or timezone.now()
    ids = list(
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now
        )
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:limit]
    )
    return len(publish(DELIVER_TASK, ids)) if ids else 0


# --- Subscriptions ---------------------------------------------------------------------------
# Partners manage their own through the API (``cxportal.api.webhooks``); supervisors manage
# every one in the admin.

SUBSCRIPTION_FIELDS = ("name", "url", "events", "is_active")
MAX_SUBSCRIPTIONS_PER_CLIENT = 20
#: The partner scope that reads an event's data: a client is sent only what it may read.
EVENT_SCOPES = {"disruption": "disruptions:read"}
#: Where deliveries may not go (SSRF): checked on every address the host resolves to.
URL_REFUSED = (
    "Deliveries go to public internet addresses only: this host is, or resolves to, a "
    "loopback, private, link-local or reserved address."
)


def event_scope(event: str) -> str:
    return EVENT_SCOPES[event.partition(".")[0]]


def _resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (an IP literal is its own answer)."""
    return [info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone ("fe80::1%eth0")
    if isinstance(ip, ipaddress.IPv6Address):
        ip = ip.ipv4_mapped or ip.sixtofour or ip
    return ip.is_global and not ip.is_multicast


def webhook_url_problem(url: str) -> str | None:
    """Why deliveries may not be POSTed to ``url``, or None. Only http(s) URLs with a host.
    Outside DEBUG the host must resolve, and only to public addresses: no loopback, private,
    link-local (a cloud's metadata service), shared or reserved one. Deliveries do not follow
    redirects, so a public endpoint cannot send them on to such an address."""
    if not isinstance(url, str) or not url:
        return "A URL is needed."
    if len(url) > 500:
        return "At most 500 characters."
    if problem := text_problem(url):
        return problem
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return "Not a valid URL."
    if parts.scheme not in ("http", "https"):
        return "Only http and https URLs."
    host = parts.hostname
    if not host:
        return "The URL needs a host."
    if settings.DEBUG:
        return None  # a developer's own machine: local receivers are the point
    try:
        addresses = _resolve(host, port)
    except (OSError, UnicodeError):
        return f"The host {host!r} does not resolve."
    if not addresses or not all(_public(a) for a in addresses):
        return URL_REFUSED
    return None


def _subscription_check(
    fields: dict[str, Any], *, api_client: APIClient | None, creating: bool
) -> dict[str, Any]:
    unknown = set(fields) - set(SUBSCRIPTION_FIELDS)
    if unknown:
        raise TypeError(f"Not a subscription field: {', '.join(sorted(unknown))}")
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    if creating or "name" in fields:
        name = fields.get("name")
        name = name.strip() if isinstance(name, str) else ""
        if not name:
            errors["name"] = ["This field is required."]
        elif len(name) > 100:
            errors["name"] = ["At most 100 characters."]
        elif problem := text_problem(name):
            errors["name"] = [problem]
        clean["name"] = name
    if creating or "url" in fields:
        url = fields.get("url")
        url = url.strip() if isinstance(url, str) else url
        if problem := webhook_url_problem(url):
            errors["url"] = [problem]
        clean["url"] = url
    if creating or "events" in fields:
        events = fields.get("events")
        known = WebhookSubscription.EVENTS
        if not isinstance(events, list | tuple) or not events:
            errors["events"] = [f"A list of events from: {', '.join(known)}."]
        elif unknown_events := sorted({str(e) for e in events} - set(known)):
            errors["events"] = [f"Unknown event(s): {', '.join(unknown_events)}."]
        elif api_client is not None and (
            missing := sorted({event_scope(e) for e in events} - set(api_client.scopes))
        ):
            errors["events"] = [
                f"These events carry data that needs the scope(s): {', '.join(missing)}."
            ]
        else:
            events = [e for e in known if e in events]  # known order, no repeats
        clean["events"] = events
    if "is_active" in fields:
        if not isinstance(fields["is_active"], bool):
            errors["is_active"] = ["True or false."]
        clean["is_active"] = fields["is_active"]
    if errors:
        raise ValidationError(errors)
    return clean


def _facts(subscription: WebhookSubscription) -> dict[str, Any]:
    """What the audit log keeps of a subscription: never its secret."""
    return {name: getattr(subscription, name) for name in SUBSCRIPTION_FIELDS}


@transaction.atomic
def webhook_subscription_create(
    *, actor: Any, api_client: APIClient | None, name: str, url: str, events: list[str]
) -> WebhookSubscription:
    """A new subscription, active, with a secret made here (``secrets.token_urlsafe``):
    show ``subscription.secret`` to the partner once, when it is made. A client may hold
    ``MAX_SUBSCRIPTIONS_PER_CLIENT`` subscriptions, and only to events whose data its
    scopes may read."""
    clean = _subscription_check(
        {"name": name, "url": url, "events": events}, api_client=api_client, creating=True
    )
    if api_client is not None:
        # One client's creates wait for each other here, so the cap holds under races.
        APIClient.objects.select_for_update().filter(pk=api_client.pk).values_list("pk").first()
        held = WebhookSubscription.objects.filter(api_client_id=api_client.pk).count()
        if held >= MAX_SUBSCRIPTIONS_PER_CLIENT:
            raise ValidationError(
                {
                    "non_field_errors": [
                        f"A client may hold {MAX_SUBSCRIPTIONS_PER_CLIENT} subscriptions; "
                        "delete one first."
                    ]
                }
            )
    subscription = WebhookSubscription.objects.create(
        api_client_id=api_client.pk if api_client is not None else None,
        secret=secrets.token_urlsafe(32),
        is_active=True,
        **clean,
    )
    audit_record(
        actor=actor,
        action="webhook_subscription.create",
        target=subscription,
        after=_facts(subscription),
    )
    return subscription


@transaction.atomic
def webhook_subscription_update(
    *, actor: Any, subscription: WebhookSubscription, **fields: Any
) -> WebhookSubscription:
    """Change the name, URL, events or ``is_active`` (the same checks as creating). The
    secret stays as it is."""
    client = (
        APIClient.objects.only("id", "scopes").filter(pk=subscription.api_client_id).first()
        if "events" in fields and subscription.api_client_id is not None
        else None
    )
    clean = _subscription_check(fields, api_client=client, creating=False)
    changed = [name for name, value in clean.items() if getattr(subscription, name) != value]
    if not changed:
        return subscription
    before = {name: getattr(subscription, name) for name in changed}
    for name in changed:
        setattr(subscription, name, clean[name])
    subscription.save(update_fields=changed)
    after = {name: getattr(subscription, name) for name in changed}
    audit_record(
        actor=actor,
        action="webhook_subscription.update",
        target=subscription,
        before=before,
        after=after,
    )
    return subscription


@transaction.atomic
def webhook_subscription_delete(*, actor: Any, subscription: WebhookSubscription) -> None:
    """Delete the subscription and its delivery log; pending deliveries are not sent."""
    audit_record(
        actor=actor,
        action="webhook_subscription.delete",
        target=subscription,
        before=_facts(subscription),
    )
    subscription.delete()


class WebhookSubscriptionQuerySet(RestrictedQuerySet):
    def restrict(self, actor, action: str = "view") -> "WebhookSubscriptionQuerySet":
        """A partner sees its own client's subscriptions; nobody else sees any here
        (supervisors use the admin)."""
        client = getattr(actor, "api_client", None) if actor is not None else None
        if client is None:
            return self.none()
        return self.filter(api_client_id=client.pk)


DELIVERY_LOG_FIELDS = (
    "id",
    "subscription_id",
    "event",
    "status",
    "attempts",
    "last_status_code",
    "last_error",
    "created_at",
    "delivered_at",
    "next_attempt_at",
)


def webhook_subscription_list(*, actor: Any) -> QuerySet[WebhookSubscription]:
    """The subscriptions ``actor`` may manage (a partner: its own), newest first."""
    return WebhookSubscriptionQuerySet(WebhookSubscription).restrict(actor).order_by("-id")


def webhook_delivery_list(*, subscription: WebhookSubscription) -> QuerySet[WebhookDelivery]:
    """A subscription's delivery log, newest first (payloads left unread)."""
    return (
        WebhookDelivery.objects.filter(subscription=subscription)
        .only(*DELIVERY_LOG_FIELDS)
        .order_by("-id")
    )


# --- Supervisors: the delivery log ------------------------------------------------------------

#: "Retry now" works on a page of deliveries at most, never a whole log.
RETRY_MAX = 100


@transaction.atomic
def webhook_delivery_retry(*, actor: Any, deliveries: Iterable[WebhookDelivery]) -> list[int]:
    """Try these deliveries again now: a pending one skips the rest of its backoff, a failed
    one (given up) becomes pending for one more attempt. Delivered ones are left alone.
    Each one retried is audited; they are handed to the broker after the commit (and beat's
    ``webhooks_due_enqueue`` picks them up if the broker is away). Returns the ids retried."""
    ids = sorted({d.pk for d in deliveries})
    if len(ids) > RETRY_MAX:
        raise ValidationError(f"Retry at most {RETRY_MAX} deliveries at a time.")
    now = timezone.now()
    retried = []
    for delivery in (
        WebhookDelivery.objects.select_for_update()
        .filter(
            pk__in=ids,
            status__in=[WebhookDelivery.Status.PENDING, WebhookDelivery.Status.FAILED],
        )
        .only("id", "subscription_id", "event", "status", "attempts", "next_attempt_at")
        .order_by("id")
    ):
        before = {
            "status": delivery.status,
            "attempts": delivery.attempts,
            "next_attempt_at": delivery.next_attempt_at.isoformat(),
        }
        delivery.status = WebhookDelivery.Status.PENDING
        delivery.next_attempt_at = now
        delivery.save(update_fields=["status", "next_attempt_at"])
        audit_record(
            actor=actor,
            action="webhook_delivery.retry",
            target=delivery,
            before=before,
            after={"status": delivery.status, "next_attempt_at": now.isoformat()},
        )
        retried.append(delivery.pk)
    if retried:
        transaction.on_commit(lambda: publish(DELIVER_TASK, retried))
    return retried
