"""Thin Celery tasks of the feedback app (the name starts with the queue)."""

from celery import shared_task

from feedback.services import mentions, surveys


@shared_task(name="scans.survey_case_resolved")
def survey_case_resolved_task(case_id: int) -> int:
    return len(surveys.surveys_for_case_resolved(case_id=case_id))


@shared_task(name="scans.surveys_triggers")
def surveys_triggers_task() -> int:
    return surveys.surveys_triggers_scan()


@shared_task(name="outbound.invitations_send_due")
def invitations_send_due_task() -> int:
    handled = surveys.invitations_send_due()
    if handled >= surveys.SEND_BATCH:  # a backlog: keep going in measured batches
        invitations_send_due_task.apply_async(countdown=1)
    return handled


@shared_task(name="outbound.invitations_fallback_due")
def invitations_fallback_due_task() -> int:
    return surveys.invitations_fallback_due()


@shared_task(name="scans.invitations_expire")
def invitations_expire_task() -> int:
    return surveys.invitations_expire()


@shared_task(name="scans.mentions_scan")
def mentions_scan_task() -> int:
    return mentions.mentions_scan()
