"""A campaign send survives a worker SIGKILLed mid-send: a real Celery worker on a
redis-server of the test's own, killed while batches are going out, then a new worker and
the sweeper (beat's job) finish it. Every customer gets exactly one delivery and one
message; the mail server sees each message id once per recipient (a resend after a kill
would repeat the same Message-ID, never a new message)."""

import os
import signal
from datetime import timedelta

import pytest
from django.db.models import Count
from django.utils import timezone

from campaigns.models import Delivery
from campaigns.services import (
    campaign_launch,
    campaign_review,
    campaign_submit,
    campaigns_send_sweep,
)
from customers.models import Interaction
from customers.services.outbound import SWEEP_AFTER, outbound_sweep
from tests.campaigns.factories import campaign, marketable
from tests.customers.test_outbound import mail_source
from tests.support.services import celery_worker, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.real_services]

CUSTOMERS = 300


def sent() -> int:
    return Delivery.objects.filter(status=Delivery.Status.SENT).count()


def test_a_worker_killed_mid_send_never_sends_twice(staff, smtp, broker_at, own_redis, tmp_path):
    from campaigns.gate import gate_settings

    gate = gate_settings()
    gate.quiet_hours_start = gate.quiet_hours_end = gate.quiet_hours_start.replace(hour=0)
    gate.save()
    broker_at(own_redis)
    mail_source(smtp)
    marketer, reviewer = staff("marketing"), staff("service")
    for n in range(CUSTOMERS):
        marketable(marketer, n)
    c = campaign(marketer)
    c = campaign_submit(actor=marketer, campaign=c, version=c.version)
    c = campaign_review(actor=reviewer, campaign=c, version=c.version, decision="approved")
    worker = {
        "broker_url": own_redis,
        "queues": "outbound",
        "concurrency": 2,
        "extra_env": {"CELERY_VISIBILITY_TIMEOUT": "5"},
        "new_session": True,
    }
    with celery_worker(log_path=tmp_path / "worker-1.log", **worker) as proc:
        campaign_launch(actor=marketer, campaign=c, version=c.version)  # enqueued on commit
        wait_for(lambda: sent() >= 100, timeout=300, what="the first batches to go out")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    assert sent() < CUSTOMERS, "the kill came too late to prove anything"

    with celery_worker(log_path=tmp_path / "worker-2.log", **worker):
        campaigns_send_sweep()  # what beat does every two minutes
        wait_for(
            lambda: not Delivery.objects.filter(status=Delivery.Status.QUEUED).exists(),
            timeout=600,
            interval=1,
            what="every delivery to be handled",
        )
        # Messages written by a batch whose worker died before handing them to the broker
        # wait for the outbound sweeper (beat, after ten minutes): run it as if that passed.
        outbound_sweep(now=timezone.now() + SWEEP_AFTER + timedelta(minutes=1))
        wait_for(
            lambda: not Interaction.objects.filter(delivery_status="queued").exists(),
            timeout=600,
            interval=1,
            what="every message to leave",
        )
        campaigns_send_sweep()
        wait_for(lambda: type(c).objects.get(pk=c.pk).status == "sent", timeout=120, what="sent")

    assert Delivery.objects.filter(campaign=c).count() == CUSTOMERS
    assert sent() == CUSTOMERS
    messages = Interaction.objects.filter(direction="outbound", channel="email")
    assert messages.count() == CUSTOMERS
    assert not messages.values("customer").annotate(n=Count("id")).filter(n__gt=1)
    by_recipient: dict[str, set[str]] = {}
    for mail in smtp.messages:
        by_recipient.setdefault(mail["To"], set()).add(mail["Message-ID"])
    assert len(by_recipient) == CUSTOMERS
    assert all(len(ids) == 1 for ids in by_recipient.values())
