"""Staff ideas: submitted by anyone, moved through review to implementation by
supervisors; the board measures time to implementation."""

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from cxportal.models import Team
from cxportal.services import actor_label, audit_record
from cxportal.validation import text_field
from feedback.models import Idea


@transaction.atomic
def idea_submit(*, actor: Any, title: str, description: str = "", team: Team | None = None) -> Idea:
    errors: dict[str, list[str]] = {}
    title = text_field(errors, "title", title, required=True, limit=200)
    description = text_field(errors, "description", description, required=False, limit=5000)
    if errors:
        raise ValidationError(errors)
    now = timezone.now()
    idea = Idea.objects.create(
        title=title,
        description=description,
        team=team,
        submitted_by=actor_label(actor),
        submitted_at=now,
        status_changed_at=now,
    )
    audit_record(actor=actor, action="idea.submit", target=idea, after={"title": title})
    return idea


@transaction.atomic
def idea_move(*, actor: Any, idea: Idea, status: str, note: str = "") -> Idea:
    """Move an idea on (submitted → reviewing → implementing → implemented, or declined;
    a declined idea may be reviewed again)."""
    errors: dict[str, list[str]] = {}
    note = text_field(errors, "note", note, required=False, limit=300)
    if status not in Idea.Status.values:
        errors["status"] = [f"One of: {', '.join(Idea.Status.values)}."]
    if errors:
        raise ValidationError(errors)
    idea = Idea.objects.select_for_update().get(pk=idea.pk)
    if status not in Idea.TRANSITIONS[idea.status]:
        allowed = ", ".join(sorted(Idea.TRANSITIONS[idea.status])) or "none"
        raise ValidationError(
            {"status": [f"An idea that is {idea.status} cannot become {status} (next: {allowed})."]}
        )
    if status == Idea.Status.DECLINED and not note:
        raise ValidationError(
            {"note": ["Say why it is declined: the person who had it reads this."]}
        )
    before = idea.status
    now = timezone.now()
    idea.status, idea.status_changed_at = status, now
    idea.implemented_at = now if status == Idea.Status.IMPLEMENTED else None
    if note:
        idea.decision_note = note
    idea.save()
    audit_record(
        actor=actor,
        action="idea.move",
        target=idea,
        before={"status": before},
        after={"status": status, "note": note},
    )
    return idea
