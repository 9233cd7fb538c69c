"""Mentions: social posts, forum posts and call notes that arrive through the channels
become feedback items (sentiment and themes), linked to the customer's interaction.

``mentions_scan`` (beat, every minute) looks at the last day's new interactions that are
feedback-like and have no mention yet: inbound social posts, inbound web/forum posts, and
phone calls with notes. A mention is unique per interaction, so a rescan adds nothing.
"""

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from customers.models import Channel, Interaction
from cxportal.services import audit_record
from feedback.analysis import ThemeMatcher, sentiment_of
from feedback.models import Mention, Response, Theme

SCAN_WINDOW = timedelta(days=1)
SCAN_LIMIT = 1000

FEEDBACK_LIKE = (
    Q(channel=Channel.SOCIAL, direction=Interaction.Direction.INBOUND)
    | Q(channel=Channel.WEB, direction=Interaction.Direction.INBOUND)
    | (Q(channel=Channel.PHONE) & ~Q(body=""))
)
SOURCE = {Channel.SOCIAL: Mention.Source.SOCIAL, Channel.WEB: Mention.Source.FORUM}


def theme_matcher() -> ThemeMatcher:
    return ThemeMatcher.build(Theme.objects.filter(is_active=True).values_list("pk", "keywords"))


def mentions_scan(*, now: datetime | None = None, limit: int = SCAN_LIMIT) -> int:
    """Turn new feedback-like interactions into mentions; returns how many were made."""
    now = now or timezone.now()
    candidates = list(
        Interaction.objects.filter(FEEDBACK_LIKE, created_at__gte=now - SCAN_WINDOW)
        .filter(mention__isnull=True)
        .order_by("id")
        .only("id", "customer_id", "channel", "summary", "body", "occurred_at")[:limit]
    )
    if not candidates:
        return 0
    matcher = theme_matcher()
    made = 0
    with transaction.atomic():
        for interaction in candidates:
            text = (interaction.body or interaction.summary or "").strip()
            if not text:
                continue
            mention, created = Mention.objects.get_or_create(
                interaction=interaction,
                defaults={
                    "source": SOURCE.get(interaction.channel, Mention.Source.CALL_NOTE),
                    "customer_id": interaction.customer_id,
                    "text": text,
                    "sentiment": sentiment_of(text),
                    "occurred_at": interaction.occurred_at,
                },
            )
            if created:
                themes = matcher.matches(text)
                if themes:
                    mention.themes.set(themes)
                made += 1
    return made


@transaction.atomic
def mention_review(*, actor: Any, mention: Mention) -> Mention:
    if mention.status != Mention.Status.REVIEWED:
        mention.status = Mention.Status.REVIEWED
        mention.save(update_fields=["status"])
        audit_record(actor=actor, action="mention.review", target=mention, after={})
    return mention


def themes_recompute(*, since: datetime, batch: int = 1000) -> int:
    """After a supervisor edits the taxonomy: re-theme the answers and mentions since
    ``since``, in batches; returns how many items were looked at."""
    matcher = theme_matcher()
    seen = 0
    for model, text_field, time_field in (
        (Response, "comment", "answered_at"),
        (Mention, "text", "occurred_at"),
    ):
        last_id = 0
        while True:
            rows = list(
                model.objects.filter(**{f"{time_field}__gte": since, "pk__gt": last_id})
                .exclude(**{text_field: ""})
                .order_by("pk")
                .values_list("pk", text_field)[:batch]
            )
            if not rows:
                break
            through = model.themes.through
            owner = f"{model._meta.model_name}_id"
            with transaction.atomic():
                through.objects.filter(**{f"{owner}__in": [pk for pk, _ in rows]}).delete()
                through.objects.bulk_create(
                    [
                        through(**{owner: pk, "theme_id": theme_id})
                        for pk, text in rows
                        for theme_id in matcher.matches(text)
                    ]
                )
            seen += len(rows)
            last_id = rows[-1][0]
    return seen
