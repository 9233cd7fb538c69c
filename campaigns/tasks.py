"""Thin Celery tasks of the campaigns app (the name starts with the queue)."""

from celery import shared_task

from campaigns import services


@shared_task(name="outbound.campaign_send_batch")
def campaign_send_batch_task(campaign_id: int) -> int:
    return services.campaign_send_batch(campaign_id=campaign_id)


@shared_task(name="scans.campaigns_start_due")
def campaigns_start_due_task() -> int:
    return services.campaigns_start_due()


@shared_task(name="scans.campaigns_send_sweep")
def campaigns_send_sweep_task() -> int:
    return services.campaigns_send_sweep()


@shared_task(name="outbound.case_follow_up")
def case_follow_up_task(case_id: int) -> bool:
    return services.case_follow_up_send(case_id=case_id) is not None


@shared_task(name="scans.case_follow_ups_sweep")
def case_follow_ups_sweep_task() -> int:
    return services.case_follow_ups_sweep()
