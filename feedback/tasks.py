"""Thin Celery tasks of the feedback app (the name starts with the queue)."""

import logging
from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from feedback.services import mentions, surveys

logger = logging.getLogger(__name__)


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


THEMES_RECOMPUTE_TASK = "scans.themes_recompute"
#: After a change to the taxonomy, answers and mentions this recent are themed again (the
#: themes page compares this week with the four before).
THEMES_RECOMPUTE_WEEKS = 5


@shared_task(name=THEMES_RECOMPUTE_TASK)
def themes_recompute_task(theme_id: int) -> int:
    """A supervisor changed theme ``theme_id`` (or asked for it): re-theme the last five
    weeks with the whole active taxonomy. Idempotent (it rewrites the same links)."""
    since = timezone.now() - timedelta(weeks=THEMES_RECOMPUTE_WEEKS)
    seen = mentions.themes_recompute(since=since)
    logger.info("Theme %s changed: %s answers and mentions re-themed", theme_id, seen)
    return seen
