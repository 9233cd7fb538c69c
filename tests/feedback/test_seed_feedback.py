"""`manage.py seed_feedback` (answers for benchmarks, up to N) and the benchmark's feedback
scorecard rows (`manage.py benchmark --only feedback`), at small scale."""

import io
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db.models import Count
from django.utils import timezone

from customers.models import Customer
from feedback.models import Response, Survey
from feedback.selectors import scorecard
from feedback.services.surveys import score_category

pytestmark = pytest.mark.django_db

FEEDBACK_ROWS = [
    "feedback scorecard, 12 weeks by channel",
    "feedback scorecard, 52 weeks by channel",
]


def seed(n: int) -> str:
    out = io.StringIO()
    call_command("seed_feedback", responses=n, no_progress=True, stdout=out)
    return out.getvalue()


def test_seed_feedback_fills_up_to_n_answers_over_52_weeks(staff):
    call_command("seed", customers=30, stdout=io.StringIO(), stderr=io.StringIO())

    assert "Seeded 600 answers (600 in all)" in seed(600)

    answers = Response.objects.all()
    assert answers.count() == 600
    assert set(Survey.objects.values_list("kind", flat=True)) == {"nps", "csat", "ces"}
    kinds = dict(answers.values_list("kind").annotate(n=Count("id")))
    assert kinds["nps"] > kinds["csat"] > kinds["ces"] > 30  # mixed, NPS the most
    now = timezone.now()
    oldest = answers.order_by("answered_at").first().answered_at
    assert now - timedelta(weeks=52) <= oldest < now - timedelta(weeks=50)
    assert answers.order_by("-answered_at").first().answered_at > now - timedelta(days=3)
    assert not answers.filter(channel="") and not answers.filter(team__isnull=True)
    assert set(answers.values_list("channel", flat=True)) == {"email", "sms"}
    assert not answers.filter(region="")
    for answer in answers:
        assert answer.category == score_category(answer.kind, answer.score)
        low, high = answer.survey.scale
        assert low <= answer.score <= high and answer.kind == answer.survey.kind
        assert (answer.customer_id is not None) == answer.contact_allowed
        assert (answer.sentiment is None) == (answer.comment == "")
    commented = answers.exclude(comment="")
    assert 0.15 < commented.count() / 600 < 0.35
    assert commented.filter(themes__isnull=False).exists()
    assert set(answers.exclude(customer=None).values_list("customer_id", flat=True)) <= set(
        Customer.objects.values_list("id", flat=True)
    )

    # Re-runnable up to N: nothing twice, and the rest when N grows.
    assert "Nothing to do: 600 answers already (asked for 600)." in seed(600)
    assert "Seeded 200 answers (800 in all)" in seed(800)
    assert Response.objects.count() == 800 and Survey.objects.count() == 3

    # The scorecard counts every NPS answer of the year, week by week and channel by channel.
    rows = scorecard(
        actor=staff("marketing"), since=now - timedelta(weeks=53), until=now, dimension="channel"
    )
    assert sum(r.score.n for r in rows) == Response.objects.filter(kind="nps").count()
    assert {r.group for r in rows} == {"email", "sms"} and len({r.week for r in rows}) >= 52


def test_benchmark_measures_the_feedback_scorecard(tmp_path, capsys):
    out = tmp_path / "bench.json"
    call_command("benchmark", scale=10, responses=400, only="feedback", repeat=3, json=str(out))

    rows = {row["name"]: row for row in json.loads(out.read_text())}
    assert list(rows) == FEEDBACK_ROWS
    for name in FEEDBACK_ROWS:
        row = rows[name]
        assert row["p50_ms"] > 0 and row["queries"] == 1, row  # one grouped query
        assert row["sql_p50_ms"] is not None and row["ratio"] is not None, row
        assert "400 responses" in row["note"]
    assert "feedback scorecard, 52 weeks by channel" in capsys.readouterr().out


def test_benchmark_without_answers_says_how_to_get_the_feedback_rows(tmp_path, capsys):
    out = tmp_path / "bench.json"
    call_command("benchmark", only="feedback", repeat=3, json=str(out))
    assert json.loads(out.read_text()) == []
    assert "run `manage.py seed_feedback --responses N`" in capsys.readouterr().err
