"""Survey answers at any scale, for benchmarks (`manage.py seed_feedback --responses N`).

Answers are spread evenly over the last 52 weeks, written one chunk at a time, each chunk in
one transaction: ``COPY`` on PostgreSQL, batched ``executemany`` on SQLite. Three surveys
(NPS after a case, CSAT after a delivery, CES after a technician visit) are made when
missing; each answer has its survey's kind, a score from a realistic spread and its
category, a channel (email or SMS), a team and a region; about a quarter carry a comment
with its sentiment and themes (as ``response_submit`` would give them), and about a third
allowed contact and so name a customer. It seeds *up to* a number of answers: a second run
with the same number adds nothing.

It writes rows in bulk and so records no audit event and raises no care flag per row: a tool
to fill a database for a benchmark, never a way in for real answers (``response_submit``).
"""

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from customers.models import Customer
from customers.seed import REGIONS
from cxportal.bulk import ids_reserve, rows_write, tables_analyze
from cxportal.models import Team
from cxportal.services import teams_ensure_defaults
from feedback.analysis import ThemeMatcher, sentiment_of
from feedback.models import Response, Survey, Theme
from feedback.services.surveys import score_category
from feedback.services.themes import themes_ensure_defaults

WEEKS = 52
SURVEYS = (
    # name, kind, trigger, team, keyword, share of answers
    ("Seed: after your case (NPS)", "nps", "case_resolved", "service", "", 50),
    ("Seed: your delivery (CSAT)", "csat", "order_delivered", "operations", "", 35),
    ("Seed: technician visit (CES)", "ces", "interaction", "service", "technician visit", 15),
)
QUESTIONS = {
    "nps": "How likely are you to recommend us to a friend or colleague?",
    "csat": "How satisfied were you with your delivery?",
    "ces": "How easy was it to get what you needed?",
}
# Score spreads (weights per score, lowest first), as real programmes see them.
SCORES = {
    "nps": (2, 1, 1, 2, 2, 4, 5, 10, 18, 22, 33),
    "csat": (6, 6, 12, 34, 42),
    "ces": (3, 4, 7, 12, 20, 28, 26),
}
CHANNELS = (("email", 70), ("sms", 30))
TEAMS = (("service", 70), ("operations", 20), ("sales", 10))
COMMENT_SHARE = 0.25
CONTACT_SHARE = 0.3
COMMENTS = {
    "low": (
        "My parcel arrived three days late and nobody told me.",
        "Charged twice and still waiting for the refund.",
        "The app crashes every time I try to track my order.",
        "I waited 40 minutes on hold before anyone answered.",
        "Could not log in to my account for days.",
        "Too expensive for what it is.",
        "Internet outage twice this week.",
        "The item was damaged when it arrived.",
    ),
    "mid": (
        "Fine in the end, but it took two calls.",
        "Delivery was on time, the box was a bit damaged.",
        "Good, but the website is slow.",
        "OK once I found the right number to call.",
    ),
    "high": (
        "Quick answer on live chat, very helpful.",
        "Sam sorted my refund in one call. Brilliant, thank you!",
        "Arrived a day early, perfect.",
        "Friendly staff at the store.",
        "Easy to change my plan in the app.",
    ),
}
COLUMNS = (
    "id",
    "survey_id",
    "kind",
    "customer_id",
    "contact_allowed",
    "score",
    "comment",
    "category",
    "sentiment",
    "channel",
    "team_id",
    "region",
    "answered_at",
    "follow_up_outcome",
    "follow_up_by",
)
THEME_COLUMNS = ("response_id", "theme_id")
TABLES = {"feedback_response": COLUMNS, "feedback_response_themes": THEME_COLUMNS}


@dataclass
class SeedResult:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    existing: int = 0
    elapsed: float = 0.0

    @property
    def rows(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class _Comment:
    text: str
    sentiment: float | None
    themes: tuple[int, ...]


def surveys_ensure() -> list[tuple[Survey, int]]:
    """The seed's three surveys (made when missing) with their share of answers."""
    teams = dict(Team.objects.values_list("slug", "id"))
    surveys = []
    for name, kind, trigger, team, keyword, share in SURVEYS:
        survey, _ = Survey.objects.get_or_create(
            name=name,
            defaults={
                "kind": kind,
                "question": QUESTIONS[kind],
                "trigger": trigger,
                "trigger_keyword": keyword,
                "team_id": teams[team],
            },
        )
        surveys.append((survey, share))
    return surveys


def _comments() -> dict[str, list[_Comment]]:
    matcher = ThemeMatcher.build(Theme.objects.filter(is_active=True).values_list("pk", "keywords"))
    return {
        band: [_Comment(t, sentiment_of(t), tuple(matcher.matches(t))) for t in texts]
        for band, texts in COMMENTS.items()
    }


def _band(kind: str, score: int) -> str:
    category = score_category(kind, score)
    if category in ("promoter", "satisfied", "easy"):
        return "high"
    return "mid" if category in ("passive", "neutral") else "low"


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _pick(rng: random.Random, pairs) -> str:
    return rng.choices([p[0] for p in pairs], [p[1] for p in pairs])[0]


def seed_feedback(
    *,
    responses: int,
    seed: int = 1,
    batch: int = 20_000,
    on_progress: Callable[[int, int], None] | None = None,
) -> SeedResult:
    """Seed up to ``responses`` answers (those already there count): nothing is added when
    there are enough. ``on_progress(answers_added, rows_written)`` after each chunk."""
    if responses < 0 or batch < 1:
        raise ValueError("responses must be >= 0 and batch >= 1")
    started = time.monotonic()
    result = SeedResult(existing=Response.objects.count())
    missing = responses - result.existing
    if missing <= 0:
        result.elapsed = time.monotonic() - started
        return result
    teams_ensure_defaults()
    themes_ensure_defaults()
    surveys = surveys_ensure()
    teams = dict(Team.objects.values_list("slug", "id"))
    comments = _comments()
    customer_ids = list(
        Customer.objects.filter(merged_into__isnull=True, erased_at__isnull=True)
        .order_by("-id")
        .values_list("id", flat=True)[:200_000]
    )
    now = timezone.now()
    start = now - timedelta(weeks=WEEKS)
    span = (now - start).total_seconds() - 60
    pg = connection.vendor == "postgresql"
    done = 0
    while done < missing:
        size = min(batch, missing - done)
        with transaction.atomic():
            if pg:  # a seed needs no durability per commit
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit TO OFF")
            ids = ids_reserve("feedback_response", size)
            rng = random.Random(seed * 1_000_003 + ids[0])  # noqa: S311 - sample data
            rows, links = [], []
            for k, pk in enumerate(ids, start=done):
                survey = rng.choices([s for s, _ in surveys], [w for _, w in surveys])[0]
                kind = survey.kind
                low, _high = survey.scale
                score = low + rng.choices(range(len(SCORES[kind])), SCORES[kind])[0]
                comment = (
                    rng.choice(comments[_band(kind, score)])
                    if rng.random() < COMMENT_SHARE
                    else None
                )
                contact = bool(customer_ids) and rng.random() < CONTACT_SHARE
                answered = start + timedelta(seconds=span * (k + rng.random()) / missing)
                rows.append(
                    (
                        pk,
                        survey.pk,
                        kind,
                        rng.choice(customer_ids) if contact else None,
                        contact,
                        score,
                        comment.text if comment else "",
                        score_category(kind, score),
                        comment.sentiment if comment else None,
                        _pick(rng, CHANNELS),
                        teams[_pick(rng, TEAMS)],
                        rng.choice(REGIONS),
                        _ts(answered),
                        "",
                        "",
                    )
                )
                if comment:
                    links += [(pk, theme_id) for theme_id in comment.themes]
            rows_write("feedback_response", TABLES["feedback_response"], rows)
            rows_write("feedback_response_themes", TABLES["feedback_response_themes"], links)
            result.counts["feedback_response"] += len(rows)
            result.counts["feedback_response_themes"] += len(links)
        done += size
        if on_progress:
            on_progress(done, result.rows)
    if pg:
        tables_analyze(list(TABLES))
    result.elapsed = time.monotonic() - started
    return result
