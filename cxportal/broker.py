"""Handing tasks to the broker from services, without losing work when it is away.

Core (no app imports): a service names its task by its Celery name, so a lower layer never
imports a tasks module. Work is always recorded in the database first; this only nudges a
worker, and each app's sweeper re-sends what was not handed over.
"""

import json
import logging
from collections.abc import Sequence

from celery import current_app

logger = logging.getLogger(__name__)


def publish(task_name: str, ids: Sequence[int]) -> list[int]:
    """Send ``task_name(id)`` for each id over one broker connection; returns the ids sent.

    Fails fast when the broker is away: one connection attempt, no publish retries (Celery's
    defaults would retry for seconds, and a webhook must answer in well under one). Never
    raises."""
    sent: list[int] = []
    try:
        with current_app.producer_or_acquire() as producer:
            producer.connection.ensure_connection(max_retries=0)
            for one_id in ids:
                current_app.send_task(task_name, (one_id,), producer=producer, retry=False)
                sent.append(one_id)
    except Exception:
        logger.warning("Could not send %s to the broker", task_name, exc_info=True)
    return sent


def queue_idle(queue: str) -> bool:
    """Whether the broker holds nothing for ``queue``: no message waiting (at any priority)
    and none delivered to a worker and not yet acknowledged. Known for Redis only; False
    elsewhere and when Redis cannot be asked (then nothing is presumed lost early).

    A sweeper uses it to tell a lost message from a queued one: work marked as handed over
    while the queue is idle was lost with the broker (a Redis restarted without
    persistence), and can be handed over again at once instead of after the visibility
    timeout."""
    url = current_app.conf.broker_url or ""
    if not url.startswith(("redis://", "rediss://")):
        return False
    import redis  # the broker's own client library (kombu's Redis transport needs it)

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
        sep = "\x06\x16"  # kombu's Redis transport: "<queue>\x06\x16<priority>" per step
        keys = [queue, *(f"{queue}{sep}{step}" for step in (3, 6, 9))]
        if any(client.llen(key) for key in keys):
            return False
        for raw in client.hvals("unacked"):
            _message, _exchange, routing_key = json.loads(raw)
            if routing_key == queue:
                return False
        return True
    except Exception:
        logger.warning("Could not ask the broker about queue %s", queue, exc_info=True)
        return False
