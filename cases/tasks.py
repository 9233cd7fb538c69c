"""Thin Celery tasks of the cases app: take ids, call one service. The name starts with the
queue (``cxportal/celery.py`` routes by prefix)."""

from celery import shared_task

from cases import care, disruptions, services
from cxportal.models import Team

SLA_RECOMPUTE_TASK = "scans.case_sla_recompute_team"


@shared_task(name="scans.care_scan")
def care_scan_task(full: bool = False) -> dict:
    result = care.care_scan(full=full)
    return {"raised": result.raised, "cleared": result.cleared, "ms": result.duration_ms}


@shared_task(name="scans.disruptions_activate_due")
def disruptions_activate_due_task() -> int:
    return disruptions.disruptions_activate_due()


@shared_task(name="outbound.disruption_notify")
def disruption_notify_task(update_id: int) -> dict:
    batch = disruptions.disruption_notify_batch(update_id=update_id)
    return {"sent": batch.sent, "skipped": batch.skipped, "more": batch.more}


@shared_task(name="scans.disruption_notify_sweep")
def disruption_notify_sweep_task() -> int:
    return disruptions.disruption_notify_sweep()


@shared_task(name=SLA_RECOMPUTE_TASK)
def case_sla_recompute_team_task(team_id: int) -> int:
    team = Team.objects.filter(pk=team_id).first()
    if team is None:
        return 0
    return services.case_sla_recompute_team(actor=None, team=team)
