"""Helpers for the channel tests: sources, signed requests, and a broker the test can read."""

import base64
import contextlib
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path

import factory

from customers.models import Channel, ChannelSource
from tests.support.services import use_broker

SMS_SECRET = "sms-signing-secret"
HUB_SECRET = "hub-app-secret"


class ChannelSourceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ChannelSource

    name = factory.Sequence(lambda n: f"Channel {n}")
    slug = factory.Sequence(lambda n: f"channel-{n}")
    kind = ChannelSource.Kind.SMS
    channel = Channel.SMS
    secret = SMS_SECRET
    settings = factory.LazyFunction(dict)


def sms_source(**fields) -> ChannelSource:
    return ChannelSourceFactory(**{"kind": "sms", "channel": Channel.SMS, **fields})


def social_source(**fields) -> ChannelSource:
    settings = {"network": "twitter", "verify_token": "let-me-in", "brand_handles": ["BrandCare"]}
    settings.update(fields.pop("settings", {}))
    return ChannelSourceFactory(
        kind="social_webhook",
        channel=Channel.SOCIAL,
        secret=HUB_SECRET,
        settings=settings,
        **fields,
    )


def sms_message(n: int = 1, **fields) -> dict:
    message = {
        "id": f"SM{n:06d}",
        "from": f"+447700900{n % 1000:03d}",
        "to": "+447700900999",
        "text": f"Hello, this is message {n}.\nSecond line.",
        "sent_at": "2026-05-01T09:30:00Z",
    }
    message.update(fields)
    return message


def sms_headers(body: bytes, *, secret: str = SMS_SECRET, timestamp: int | None = None) -> dict:
    """Django test-client kwargs of a correctly signed SMS webhook."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"HTTP_X_SIGNATURE": f"sha256={digest}", "HTTP_X_TIMESTAMP": ts}


def hub_headers(body: bytes, *, secret: str = HUB_SECRET) -> dict:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"HTTP_X_HUB_SIGNATURE_256": f"sha256={digest}"}


def post_json(client, url: str, payload, sign=sms_headers, **extra):
    body = json.dumps(payload).encode()
    headers = sign(body) if sign else {}
    return client.post(url, data=body, content_type="application/json", **headers, **extra)


class QueuedTasks:
    """The tasks waiting in a filesystem broker folder: [(task name, args), ...]."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __call__(self) -> list[tuple[str, list]]:
        tasks = []
        for path in sorted((self.folder / "queue").glob("*.msg")):
            message = json.loads(path.read_text())
            args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
            tasks.append((message["headers"]["task"], args))
        return tasks


@contextlib.contextmanager
def readable_broker(tmp_path: Path) -> Iterator[QueuedTasks]:
    """Point this process's Celery app at a fresh filesystem broker whose queue the test can
    read (the real transport, nothing mocked)."""
    from cxportal.celery import app

    folder = tmp_path / "broker"
    for sub in ("queue", "control"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    options = {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "control_folder": str(folder / "control"),
    }
    old = app.conf.broker_url, app.conf.broker_transport_options
    use_broker(app, "filesystem://", options)
    try:
        yield QueuedTasks(folder)
    finally:
        use_broker(app, *old)
