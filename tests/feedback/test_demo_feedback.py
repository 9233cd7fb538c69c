"""The demo's feedback: two surveys answered through the services over six weeks, care flags
for detractors, themes, mentions with a rising theme, ideas in every state; a second run
duplicates nothing."""

import io

import pytest
from django.core.management import call_command
from django.db.models.functions import TruncWeek

from cases.models import CareFlag
from customers.models import Consent, ConsentEvent, Interaction
from feedback.models import Idea, Mention, Response, Survey, SurveyInvitation, Theme
from feedback.selectors import ideas_board, theme_trends
from feedback.services.themes import DEFAULT_THEMES

pytestmark = pytest.mark.django_db


def counts() -> dict[str, int]:
    return {
        "surveys": Survey.objects.count(),
        "themes": Theme.objects.count(),
        "invitations": SurveyInvitation.objects.count(),
        "responses": Response.objects.count(),
        "detractor flags": CareFlag.objects.filter(kind="detractor").count(),
        "mentions": Mention.objects.count(),
        "ideas": Idea.objects.count(),
        "interactions": Interaction.objects.count(),
        "consent events": ConsentEvent.objects.count(),
    }


def test_demo_feedback_is_made_through_the_services_and_reruns_add_nothing():
    call_command("seed_demo", stdout=io.StringIO())
    first = counts()

    assert set(Survey.objects.values_list("kind", "trigger")) == {
        ("nps", "case_resolved"),
        ("csat", "order_delivered"),
    }
    assert set(Theme.objects.values_list("name", flat=True)) == set(DEFAULT_THEMES)
    # ~40 answers over the last six weeks, each from an invitation that was sent and answered.
    answers = Response.objects.select_related("invitation")
    assert first["responses"] == 40
    assert {r.kind for r in answers} == {"nps", "csat"}
    assert all(r.invitation.status == "answered" and r.invitation.sent_at for r in answers)
    assert all(r.channel == "email" and r.team_id and r.region for r in answers)
    weeks = set(answers.annotate(w=TruncWeek("answered_at")).values_list("w", flat=True))
    assert len(weeks) >= 6
    assert SurveyInvitation.objects.filter(status="sent").count() == 6  # awaiting an answer
    invited = SurveyInvitation.objects.values("customer_id")
    assert not Consent.objects.filter(
        customer_id__in=invited, channel="email", purpose="feedback"
    ).exclude(status="granted")
    assert answers.exclude(comment="").filter(themes__isnull=False).distinct().count() >= 15
    # Detractors who allowed contact: flags in the care queue, linked to their answer.
    flagged = Response.objects.filter(care_flag__isnull=False)
    assert flagged.count() == first["detractor flags"] >= 2
    assert all(r.contact_allowed and r.customer_id for r in flagged)

    # Mentions from the channels: this week's tea-bag posts make a theme rise.
    tea = Mention.objects.filter(text__icontains="tea bags")
    assert tea.count() == 4
    assert all(m.themes.filter(name="Product quality & faults").exists() for m in tea)
    assert theme_trends()[0].name == "Product quality & faults"

    # Ideas in every state; the board can measure time to implementation.
    assert set(Idea.objects.values_list("status", flat=True)) == set(Idea.Status.values)
    assert Idea.objects.get(status="declined").decision_note
    assert ideas_board().median_days_to_implement == 8.0

    call_command("seed_demo", stdout=io.StringIO())
    assert counts() == first
