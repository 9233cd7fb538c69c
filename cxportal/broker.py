"""Handing tasks to the broker from services, without losing work when it is away.

Core (no app imports): a service names its task by its Celery name, so a lower layer never
imports a tasks module. Work is always recorded in the database first; this only nudges a
worker, and each app's sweeper re-sends what was not handed over.
"""

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
