"""Mentions from the channels, theme trends, the scorecard's arithmetic, the ideas board."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from customers.services.core import interaction_log
from cxportal.models import Team
from feedback.models import Idea, Mention, Response, Survey, Theme
from feedback.selectors import ideas_board, scorecard, scores, theme_trends
from feedback.services.ideas import idea_move, idea_submit
from feedback.services.mentions import mentions_scan, themes_recompute
from tests.customers.factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent(staff):
    return staff("service")


def test_posts_and_call_notes_become_mentions_once(agent):
    Theme.objects.create(name="Tea bags", keywords=["tea bag", "plastic"])
    customer = CustomerFactory()
    post = interaction_log(
        actor=agent,
        customer=customer,
        channel="social",
        direction="inbound",
        summary="@Brand there is plastic in your tea bags?! Disgusting.",
    )
    call = interaction_log(
        actor=agent,
        customer=customer,
        channel="phone",
        direction="inbound",
        summary="Call",
        body="Customer happy with the refund, thanked the team.",
    )
    interaction_log(
        actor=agent, customer=customer, channel="phone", direction="inbound", summary="Call"
    )  # no notes: not feedback
    interaction_log(
        actor=agent, customer=customer, channel="social", direction="outbound", summary="Sorry!"
    )  # ours
    assert mentions_scan() == 2
    assert mentions_scan() == 0
    social = Mention.objects.get(interaction=post)
    assert (social.source, social.customer) == ("social", customer)
    assert social.sentiment < -0.3
    assert [t.name for t in social.themes.all()] == ["Tea bags"]
    note = Mention.objects.get(interaction=call)
    assert note.source == "call_note" and note.sentiment > 0.3


def test_a_theme_that_spikes_this_week_rises_to_the_top(agent):
    tea = Theme.objects.create(name="Tea bags", keywords=["tea bag", "tea bags"])
    late = Theme.objects.create(name="Delivery", keywords=["late"])
    now = timezone.now()
    customer = CustomerFactory()

    def mention(text, days_ago):
        m = Mention.objects.create(
            source="social",
            customer=customer,
            text=text,
            occurred_at=now - timedelta(days=days_ago),
        )
        return m

    for days in (10, 17, 24, 31):  # one a week before
        mention("tea bags ok", days)
        mention("late again", days)
        mention("late again", days)
    for _ in range(6):
        mention("plastic in my tea bags", 1)
    mention("late again", 2)
    mention("late again", 3)
    assert themes_recompute(since=now - timedelta(days=40)) == Mention.objects.count()
    trends = {t.name: t for t in theme_trends(now=now)}
    assert (trends["Tea bags"].this_week, trends["Tea bags"].weekly_before) == (6, 1.0)
    assert trends["Tea bags"].rise == 6.0
    assert trends["Delivery"].rise == 1.0
    assert [t.name for t in theme_trends(now=now)][0] == "Tea bags"
    assert tea.pk and late.pk


def answer(survey, score, *, days_ago=0, channel="email", region="North"):
    from feedback.services.surveys import score_category

    return Response.objects.create(
        survey=survey,
        kind=survey.kind,
        score=score,
        category=score_category(survey.kind, score),
        channel=channel,
        region=region,
        answered_at=timezone.now() - timedelta(days=days_ago),
    )


def test_nps_csat_and_ces_with_their_sample_sizes(agent):
    team = Team.objects.get(slug="service")
    nps = Survey.objects.create(name="NPS", kind="nps", question="?", trigger="manual", team=team)
    csat = Survey.objects.create(
        name="CSAT", kind="csat", question="?", trigger="manual", team=team
    )
    ces = Survey.objects.create(name="CES", kind="ces", question="?", trigger="manual", team=team)
    for score in (10, 9, 9, 8, 3):  # 3 promoters, 1 detractor of 5: NPS 40
        answer(nps, score)
    for score in (5, 4, 2, 1):  # 2 of 4 satisfied: 50%
        answer(csat, score, channel="sms")
    for score in (7, 5, 3):  # average 5
        answer(ces, score)
    now = timezone.now()
    result = {s.kind: s for s in scores(actor=agent, since=now - timedelta(days=1), until=now)}
    assert (result["nps"].value, result["nps"].n) == (40.0, 5)
    assert (result["csat"].value, result["csat"].n) == (50.0, 4)
    assert (result["ces"].value, result["ces"].n) == (5.0, 3)
    rows = scorecard(
        actor=agent, since=now - timedelta(days=8), until=now, dimension="channel", kind="csat"
    )
    assert [(r.group, r.score.value, r.score.n) for r in rows] == [("sms", 50.0, 4)]


def test_ideas_move_on_and_the_board_measures_them(agent, staff):
    boss = staff("supervisor")
    quick = idea_submit(actor=agent, title="Show courier ETA on the case page")
    slow = idea_submit(actor=agent, title="Braille receipts")
    declined = idea_submit(actor=agent, title="Free tea for all")
    ten_days_ago = timezone.now() - timedelta(days=20)
    Idea.objects.update(submitted_at=ten_days_ago)
    for status in ("reviewing", "implementing", "implemented"):
        quick = idea_move(actor=boss, idea=quick, status=status)
    Idea.objects.filter(pk=quick.pk).update(implemented_at=ten_days_ago + timedelta(days=4))
    idea_move(actor=boss, idea=slow, status="reviewing")
    with pytest.raises(ValidationError, match="Say why"):
        idea_move(actor=boss, idea=declined, status="declined")
    idea_move(actor=boss, idea=declined, status="declined", note="Budget")
    with pytest.raises(ValidationError, match="cannot become"):
        idea_move(actor=boss, idea=slow, status="implemented")
    board = ideas_board()
    assert board.by_status == {"implemented": 1, "reviewing": 1, "declined": 1}
    assert board.median_days_to_implement == 4.0
    assert (board.implemented_within_10_days, board.judged) == (33.3, 3)
    with pytest.raises(ValidationError):
        idea_submit(actor=agent, title=" ")
