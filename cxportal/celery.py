"""The Celery app: three queues, JSON only, late acks, bounded retries with backoff.

Tasks are thin (take ids, load, call one service) and idempotent, so a redelivery after a
killed worker changes nothing. Enqueue from services with ``task.delay_on_commit(...)`` so a
rolled-back transaction never leaves a task behind.
"""

import os

from celery import Celery
from celery.contrib.django.task import DjangoTask
from celery.schedules import crontab
from kombu import Queue

from cxportal.errors import TRANSIENT_ERRORS

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cxportal.settings")

QUEUES = ("ingest", "outbound", "scans")


class CxTask(DjangoTask):
    """Base task: ``delay_on_commit``; bounded, jittered backoff on transient errors only."""

    autoretry_for = TRANSIENT_ERRORS
    max_retries = 5
    retry_backoff = 2
    retry_backoff_max = 600
    retry_jitter = True
    acks_late = True
    reject_on_worker_lost = True


app = Celery("cxportal", task_cls=CxTask)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_queues=[Queue(name) for name in QUEUES],
    task_default_queue="scans",
    # A task's name starts with its queue: "ingest.inbound_event_process".
    task_routes={f"{queue}.*": {"queue": queue} for queue in QUEUES},
    task_create_missing_queues=False,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_time_limit=300,
    task_soft_time_limit=240,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    beat_schedule={
        "clear-expired-sessions": {
            "task": "scans.sessions_clear_expired",
            "schedule": crontab(minute=17, hour=3),
        },
        # Channels: hand the broker inbox events it never got; start due polls.
        "inbox-sweep": {"task": "scans.inbox_sweep", "schedule": 30.0},
        "channels-sync-due": {"task": "scans.channels_sync_due", "schedule": 30.0},
        # Replies: re-send ones still queued after 10 minutes, give up after a day.
        "outbound-sweep": {"task": "scans.outbound_sweep", "schedule": 60.0},
        # Webhooks to partners: new deliveries the broker never got, and retries now due.
        "webhooks-due": {"task": "scans.webhooks_due", "schedule": 30.0},
        # Proactive care: an incremental scan every minute, a full one nightly.
        "care-scan": {"task": "scans.care_scan", "schedule": 60.0},
        "care-scan-full": {
            "task": "scans.care_scan",
            "schedule": crontab(minute=40, hour=2),
            "kwargs": {"full": True},
        },
        # Disruptions: scheduled ones start; notifying that stopped halfway goes on.
        "disruptions-activate": {"task": "scans.disruptions_activate_due", "schedule": 60.0},
        "disruption-notify-sweep": {"task": "scans.disruption_notify_sweep", "schedule": 120.0},
        # Feedback: invite on deliveries and chosen interactions, send what is due, re-ask
        # on the fallback channel, close expired links, turn posts and call notes into
        # mentions.
        "surveys-triggers": {"task": "scans.surveys_triggers", "schedule": 300.0},
        "invitations-send": {"task": "outbound.invitations_send_due", "schedule": 60.0},
        "invitations-fallback": {"task": "outbound.invitations_fallback_due", "schedule": 900.0},
        "invitations-expire": {"task": "scans.invitations_expire", "schedule": 3600.0},
        "mentions-scan": {"task": "scans.mentions_scan", "schedule": 60.0},
        # Campaigns: scheduled ones start; sending that stopped (a killed worker) goes on.
        "campaigns-start": {"task": "scans.campaigns_start_due", "schedule": 60.0},
        "campaigns-send-sweep": {"task": "scans.campaigns_send_sweep", "schedule": 120.0},
        # Resolved cases whose follow-up task was lost with the broker.
        "case-follow-ups-sweep": {"task": "scans.case_follow_ups_sweep", "schedule": 300.0},
    },
)
app.autodiscover_tasks()
