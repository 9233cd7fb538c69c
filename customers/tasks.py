"""Thin Celery tasks of the customers app: take ids, call one service.

The task name starts with its queue (``cxportal/celery.py`` routes by prefix)."""

import logging

from celery import shared_task

from customers.services import inbox, outbound

logger = logging.getLogger(__name__)

SWEEP_LIMIT = 5000


@shared_task(name="ingest.inbound_event_process")
def inbound_event_process_task(event_id: int) -> None:
    inbox.inbound_event_process(event_id=event_id)


@shared_task(name="ingest.channel_sync")
def channel_sync_task(source_id: int) -> str:
    return inbox.channel_sync(source_id=source_id)


@shared_task(name="scans.inbox_sweep")
def inbox_sweep_task() -> int:
    sent = inbox.inbox_sweep(limit=SWEEP_LIMIT)
    if sent >= SWEEP_LIMIT:  # a backlog: keep going in measured batches
        inbox_sweep_task.apply_async(countdown=1)
    return sent


@shared_task(name="scans.channels_sync_due")
def channels_sync_due_task() -> int:
    return len(inbox.channels_sync_due())


@shared_task(name="outbound.interaction_send")
def interaction_send_task(interaction_id: int) -> str:
    return outbound.interaction_send(interaction_id=interaction_id)


@shared_task(name="scans.outbound_sweep")
def outbound_sweep_task() -> int:
    return outbound.outbound_sweep()
