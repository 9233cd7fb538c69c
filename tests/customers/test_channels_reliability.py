"""Nothing lost, nothing duplicated — with real processes: a real Celery worker on real Redis,
SIGKILLed mid-run; and Redis itself gone while webhooks keep arriving.

Redelivery after the kill is the broker's: the test worker runs with a 5 s Redis visibility
timeout (``CELERY_VISIBILITY_TIMEOUT``), after which Redis hands unacknowledged tasks of the
dead worker to the next one. After the outage, the inbox sweeper sends what the broker never
got. Both tests start their own ``redis-server``; they never touch the machine's Redis.
"""

import os
import shutil
import signal
import statistics
import time

import pytest
from django.db.models import Count
from django.test import Client

from customers.channels.base import RawEvent
from customers.models import Customer, InboundEvent, Interaction
from customers.services import inbound_events_store, inbox_sweep
from tests.customers.channel_support import post_json, sms_message, sms_source
from tests.support.services import (
    celery_worker,
    free_port,
    missing_service,
    process_stop,
    redis_server_start,
    wait_for,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.real_services]

EVENTS = 2000
NUMBERS = 500  # customers: several messages each, so workers race to resolve new numbers


def processed() -> int:
    return InboundEvent.objects.filter(status=InboundEvent.Status.PROCESSED).count()


def in_flight() -> bool:
    """A processing attempt was counted but has not finished."""
    return InboundEvent.objects.filter(status=InboundEvent.Status.PENDING, attempts__gte=1).exists()


def test_worker_sigkilled_mid_run_still_processes_every_event_exactly_once(
    broker_at, own_redis, tmp_path
):
    url = own_redis
    broker_at(url)
    source = sms_source()
    messages = [sms_message(n, **{"from": f"+447700901{n % NUMBERS:03d}"}) for n in range(EVENTS)]
    for start in range(0, EVENTS, 500):  # each batch is enqueued on its commit
        inbound_events_store(
            source=source, events=[RawEvent(m["id"], m) for m in messages[start : start + 500]]
        )
    assert InboundEvent.objects.filter(enqueued_at__isnull=False).count() == EVENTS

    worker = {
        "broker_url": url,
        "queues": "ingest",
        "concurrency": 2,
        "extra_env": {"CELERY_VISIBILITY_TIMEOUT": "5"},
        "new_session": True,
    }
    killed_mid_task = False
    for round_ in range(5):  # kill until a kill lands in the middle of a task
        done_before = processed()
        with celery_worker(log_path=tmp_path / f"worker-{round_}.log", **worker) as proc:
            wait_for(
                lambda n=done_before: processed() >= n + 100,
                timeout=180,
                what="the worker to get going",
            )
            wait_for(in_flight, timeout=60, interval=0.002, what="a task in flight")
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        if in_flight():
            killed_mid_task = True
            break
    assert killed_mid_task, "no kill landed in the middle of a task"
    assert processed() < EVENTS

    with celery_worker(log_path=tmp_path / "worker-final.log", **worker):
        wait_for(
            lambda: processed() == EVENTS,
            timeout=600,
            interval=1,
            what=f"all {EVENTS} events to be processed",
        )

    assert Interaction.objects.count() == EVENTS
    assert not Interaction.objects.values("external_id").annotate(n=Count("id")).filter(n__gt=1)
    assert (
        InboundEvent.objects.filter(interaction__isnull=False)
        .values("interaction")
        .distinct()
        .count()
        == EVENTS
    )
    assert Customer.objects.count() == NUMBERS  # no duplicate prospects either
    assert not InboundEvent.objects.exclude(status=InboundEvent.Status.PROCESSED).exists()
    redelivered = InboundEvent.objects.filter(attempts__gt=1).count()
    assert redelivered >= 1, "the killed task was never delivered again"


def test_webhooks_are_accepted_while_redis_is_down_and_processed_when_it_returns(
    broker_at, tmp_path
):
    if shutil.which("redis-server") is None:
        missing_service("redis-server is not installed")
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    redis = redis_server_start(port)
    try:
        broker_at(url)
        source = sms_source()
        client = Client()
        process_stop(redis)  # the broker goes away during webhook traffic

        timings = []
        for n in range(20):
            started = time.monotonic()
            response = post_json(client, f"/webhooks/{source.slug}/", sms_message(n))
            timings.append(time.monotonic() - started)
            assert response.status_code == 202, response.content
            assert response.json() == {"accepted": 1, "duplicates": 0}
        assert statistics.median(timings) < 1.0, timings
        assert InboundEvent.objects.filter(status="pending", enqueued_at=None).count() == 20

        redis = redis_server_start(port)  # it comes back (empty: it persisted nothing)
        assert inbox_sweep(older_than_seconds=0) == 20
        with celery_worker(broker_url=url, queues="ingest", log_path=tmp_path / "worker.log"):
            wait_for(lambda: processed() == 20, timeout=120, what="the backlog to be processed")
        assert Interaction.objects.count() == 20
    finally:
        process_stop(redis)
