"""Channel adapters: one small module per ``ChannelSource.Kind``, named after the kind
(``sms.py`` serves ``kind="sms"``). See ``base.py`` for the interface and docs/ for how to add
a channel."""

from customers.channels.base import (
    ChannelAdapter,
    EventUnusable,
    InteractionDraft,
    RawEvent,
    SendFailed,
    WebhookRejected,
    adapter_class,
    adapter_for,
    polled_kinds,
    register,
)

__all__ = [
    "ChannelAdapter",
    "EventUnusable",
    "InteractionDraft",
    "RawEvent",
    "SendFailed",
    "WebhookRejected",
    "adapter_class",
    "adapter_for",
    "polled_kinds",
    "register",
]
