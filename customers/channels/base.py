"""What every channel adapter offers, and the registry that finds one by kind.

An adapter is a small class around one ``ChannelSource`` (its settings, secret and cursor).
It only speaks the provider's language: checking signatures, reading payloads, polling,
sending. Storing, deduplicating, resolving customers and writing the timeline are the
services' job (``customers.services.inbox``), the same for every channel.

- Webhook kinds (``receives_webhooks = True``): ``verify(request)`` raises ``WebhookRejected``
  for anything not signed by the provider; ``events(request)`` turns the body into
  ``RawEvent``s; ``handshake(request)`` answers a GET subscription challenge, if any.
- Polled kinds (``polled = True``): ``poll(cursor, limit) -> (events, new_cursor)``. Returning
  ``limit`` events means "there may be more": the sync runs again at once.
- Every kind: ``to_interaction(payload) -> InteractionDraft``; ``EventUnusable`` for a payload
  that can never become an interaction (recorded as a failed event with the reason).
- Outbound kinds (``sends = True``): ``send(to=, subject=, body=) -> provider message id``;
  ``SendFailed`` when the provider refuses for good, ``ConnectionError`` / ``TimeoutError``
  when it is away (the task retries those).

Adapters are registered with ``@register("<kind>")`` in a module named after the kind, which
``adapter_for`` imports on first use.
"""

import contextlib
import hashlib
import hmac
import importlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from django.http import HttpRequest, HttpResponse
from django.utils.dateparse import parse_datetime

if TYPE_CHECKING:
    from customers.models import ChannelSource
    from customers.services.core import ContactInput

SUMMARY_MAX = 200


@dataclass(frozen=True, slots=True)
class RawEvent:
    """One message as the provider sent it: its id (deduplicates replays) and payload."""

    provider_event_id: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class InteractionDraft:
    """What an event becomes on the timeline; ``in_reply_to`` is the external id (same
    channel) of the message it answers."""

    contact: "ContactInput"
    channel: str
    direction: str
    occurred_at: datetime
    summary: str
    body: str
    external_id: str
    in_reply_to: str | None = None
    display_name: str = ""


class WebhookRejected(Exception):
    """A webhook request we refuse; nothing of it is stored."""

    def __init__(self, reason: str, *, status: int = 403, code: str = "rejected") -> None:
        super().__init__(reason)
        self.reason, self.status, self.code = reason, status, code


class EventUnusable(Exception):
    """A stored payload that can never become an interaction (no retry)."""


class EventIgnored(EventUnusable):
    """A well-formed payload that is not for any timeline (a brand's broadcast post): the
    event is kept as ``ignored`` with the reason, and is not counted as a failure."""


class SendFailed(Exception):
    """The provider refused an outbound message for good (bad number, bad credentials)."""


class ChannelAdapter:
    kind: ClassVar[str] = ""
    receives_webhooks: ClassVar[bool] = False
    polled: ClassVar[bool] = False
    sends: ClassVar[bool] = False

    def __init__(self, source: "ChannelSource") -> None:
        self.source = source

    @property
    def settings(self) -> dict[str, Any]:
        return self.source.settings or {}

    # Webhook kinds
    def handshake(self, request: HttpRequest) -> HttpResponse | None:
        return None

    def verify(self, request: HttpRequest) -> None:
        raise WebhookRejected("This channel does not take webhooks.", status=404, code="not_found")

    def events(self, request: HttpRequest) -> list[RawEvent]:
        raise NotImplementedError

    # Polled kinds
    def poll(self, cursor: dict[str, Any], limit: int) -> tuple[list[RawEvent], dict[str, Any]]:
        raise NotImplementedError

    # Every kind
    def to_interaction(self, payload: dict[str, Any]) -> InteractionDraft:
        raise NotImplementedError

    # Outbound kinds
    def send(self, *, to: str, subject: str, body: str) -> str:
        raise NotImplementedError(f"{self.kind} channels do not send")


_REGISTRY: dict[str, type[ChannelAdapter]] = {}


def register(kind: str):
    """Class decorator: ``@register("sms")`` makes the class the adapter of that kind."""

    def decorate(cls: type[ChannelAdapter]) -> type[ChannelAdapter]:
        cls.kind = kind
        _REGISTRY[kind] = cls
        return cls

    return decorate


def adapter_class(kind: str) -> type[ChannelAdapter]:
    """The adapter class of a kind; LookupError when no module provides one."""
    if kind not in _REGISTRY:
        try:
            importlib.import_module(f"{__package__}.{kind}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__package__}.{kind}":
                raise
    try:
        return _REGISTRY[kind]
    except KeyError:
        raise LookupError(f"No channel adapter for kind {kind!r}.") from None


def adapter_for(source: "ChannelSource") -> ChannelAdapter:
    return adapter_class(source.kind)(source)


def polled_kinds() -> list[str]:
    """The kinds whose adapter polls: of every ``ChannelSource.Kind`` that has an adapter
    module, and of any other adapter registered."""
    from customers.models import ChannelSource

    for kind in ChannelSource.Kind.values:
        with contextlib.suppress(LookupError):
            adapter_class(kind)
    return sorted(kind for kind, cls in _REGISTRY.items() if cls.polled)


# Helpers shared by adapters --------------------------------------------------------------


def hmac_sha256_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_matches(header: str, secret: str, message: bytes) -> bool:
    """``header`` is ``sha256=<hex>``; compared in constant time."""
    expected = f"sha256={hmac_sha256_hex(secret, message)}"
    return hmac.compare_digest(expected.encode(), header.strip().encode())


def json_body(request: HttpRequest) -> Any:
    """The request body as JSON; WebhookRejected (400) when it is not, or nests too deep
    for the parser (RecursionError: a signed body of 100,000 ``[`` is still bad input)."""
    try:
        return json.loads(request.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise WebhookRejected(
            "The body is not valid JSON.", status=400, code="parse_error"
        ) from None


def event_id_of(value: Any) -> str:
    """A provider id as text; ValueError when missing or unusable as a dedupe key."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError("an id (text or number) is required")
    text = str(value).strip()
    if not text or len(text) > 150:
        raise ValueError("the id must be 1 to 150 characters")
    return text


def parse_time(value: Any, field: str = "time") -> datetime:
    """ISO 8601 (a naive one is UTC) or unix seconds → an aware datetime."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise EventUnusable(f"{field} {value!r} is not a time.") from None
    if isinstance(value, str) and value.strip():
        try:
            parsed = parse_datetime(value.strip())
        except ValueError:
            parsed = None
        if parsed is not None:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise EventUnusable(f"{field} {value!r} is not an ISO 8601 time or unix seconds.")


def text_of(payload: dict[str, Any], field: str, *, required: bool = True) -> str:
    value = payload.get(field)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise EventUnusable(f"'{field}' is missing or not text.")
    return value


def summary_of(text: str) -> str:
    """The first line, trimmed to fit ``Interaction.summary``."""
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return line if len(line) <= SUMMARY_MAX else line[: SUMMARY_MAX - 1] + "…"
