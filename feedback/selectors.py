"""Reads of feedback: scores and the weekly scorecard, theme trends, the feedback inbox,
a customer's feedback, the ideas board."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import median

from django.db.models import Count, F, Q, QuerySet, Sum, Window
from django.db.models.functions import RowNumber, TruncWeek
from django.utils import timezone

from cxportal.dashboards import dashboard_figure
from feedback.models import Idea, Mention, Response, Survey, SurveyInvitation, Theme

DIMENSIONS = {
    "channel": "channel",
    "team": "team__name",
    "region": "region",
    "survey": "survey__name",
}


@dataclass(frozen=True)
class Score:
    """One cell of a scorecard: a kind of survey over a set of answers."""

    kind: str
    n: int
    promoters: int = 0
    detractors: int = 0
    satisfied: int = 0
    score_sum: int = 0

    @property
    def value(self) -> float | None:
        """NPS (% promoters − % detractors), CSAT (% satisfied) or CES (average)."""
        if not self.n:
            return None
        if self.kind == Survey.Kind.NPS:
            return round(100 * (self.promoters - self.detractors) / self.n, 1)
        if self.kind == Survey.Kind.CSAT:
            return round(100 * self.satisfied / self.n, 1)
        return round(self.score_sum / self.n, 2)

    @property
    def label(self) -> str:
        return {"nps": "NPS", "csat": "CSAT %", "ces": "CES"}[self.kind]


@dataclass(frozen=True)
class ScorecardRow:
    week: datetime
    group: str
    score: Score


def _aggregates():
    return {
        "n": Count("id"),
        "promoters": Count("id", filter=Q(category=Response.Category.PROMOTER)),
        "detractors": Count("id", filter=Q(category=Response.Category.DETRACTOR)),
        "satisfied": Count("id", filter=Q(category=Response.Category.SATISFIED)),
        "score_sum": Sum("score"),
    }


def response_list(*, actor, filters: dict | None = None) -> QuerySet[Response]:
    """Answers the actor may see, newest first, with their themes. ``filters``: kind,
    category, channel, region, survey (id), customer (id), answered_after (inclusive) and
    answered_before (exclusive) date-times."""
    qs = (
        Response.objects.restrict(actor, "view")
        .select_related("survey", "team", "customer")
        .prefetch_related("themes")
        .order_by("-id")
    )
    filters = filters or {}
    for name in ("kind", "category", "channel", "region"):
        if filters.get(name):
            qs = qs.filter(**{name: filters[name]})
    if filters.get("survey"):
        qs = qs.filter(survey_id=filters["survey"])
    if filters.get("customer"):
        qs = qs.filter(customer_id=filters["customer"])
    if filters.get("answered_after"):
        qs = qs.filter(answered_at__gte=filters["answered_after"])
    if filters.get("answered_before"):
        qs = qs.filter(answered_at__lt=filters["answered_before"])
    return qs


def scores(*, actor, since: datetime, until: datetime, survey_id: int | None = None) -> list[Score]:
    """NPS, CSAT and CES over a period, each with its sample size: one grouped query."""
    qs = Response.objects.restrict(actor, "view").filter(
        answered_at__gte=since, answered_at__lt=until
    )
    if survey_id:
        qs = qs.filter(survey_id=survey_id)
    rows = qs.values("kind").annotate(**_aggregates()).order_by("kind")
    return [Score(kind=r.pop("kind"), **{k: v or 0 for k, v in r.items()}) for r in rows]


def scorecard(
    *, actor, since: datetime, until: datetime, dimension: str = "channel", kind: str = "nps"
) -> list[ScorecardRow]:
    """The weekly scorecard: one kind of score per week and per channel, team, region or
    survey. One grouped query over the ``response_answered`` index."""
    group = DIMENSIONS.get(dimension, "channel")
    rows = (
        Response.objects.restrict(actor, "view")
        .filter(answered_at__gte=since, answered_at__lt=until, kind=kind)
        .annotate(week=TruncWeek("answered_at"), group=F(group))
        .values("week", "group")
        .annotate(**_aggregates())
        .order_by("week", "group")
    )
    return [
        ScorecardRow(
            week=r["week"],
            group=r["group"] or "—",
            score=Score(
                kind=kind,
                n=r["n"],
                promoters=r["promoters"],
                detractors=r["detractors"],
                satisfied=r["satisfied"],
                score_sum=r["score_sum"] or 0,
            ),
        )
        for r in rows
    ]


def scorecard_figures(
    *, actor, since: datetime, until: datetime, weeks: int, dimension: str, kind: str
) -> tuple[list[Score], list[Score], list[ScorecardRow]]:
    """The scorecard page's figures: the scores of the period and of the one before, and
    the weekly rows. Shared by everyone who may read answers, up to a minute old."""

    def compute():
        return (
            scores(actor=actor, since=since, until=until),
            scores(actor=actor, since=since - timedelta(weeks=weeks), until=since),
            scorecard(actor=actor, since=since, until=until, dimension=dimension, kind=kind),
        )

    key = f"scorecard:{since.isoformat()}:{weeks}:{dimension}:{kind}"
    return dashboard_figure(key, compute, actor=actor, perm="feedback.view_response")


@dataclass(frozen=True)
class ThemeTrend:
    theme_id: int
    name: str
    this_week: int
    weekly_before: float  # average per week over the four weeks before

    @property
    def rise(self) -> float | None:
        """How many times the usual volume (None when the theme is new this week)."""
        return round(self.this_week / self.weekly_before, 1) if self.weekly_before else None


def theme_trends(*, now: datetime | None = None) -> list[ThemeTrend]:
    """Mentions and answers per theme this week against the four weeks before, the
    fastest risers first: two grouped queries (answers, mentions)."""
    now = now or timezone.now()
    week_ago, five_weeks_ago = now - timedelta(days=7), now - timedelta(days=35)
    counts: dict[int, list[int]] = {}
    for model, when in ((Response, "answered_at"), (Mention, "occurred_at")):
        through = model.themes.through
        owner = model._meta.model_name
        rows = (
            through.objects.filter(**{f"{owner}__{when}__gte": five_weeks_ago})
            .filter(**{f"{owner}__{when}__lt": now})
            .values("theme_id")
            .annotate(
                recent=Count("id", filter=Q(**{f"{owner}__{when}__gte": week_ago})),
                before=Count("id", filter=Q(**{f"{owner}__{when}__lt": week_ago})),
            )
        )
        for r in rows:
            pair = counts.setdefault(r["theme_id"], [0, 0])
            pair[0] += r["recent"]
            pair[1] += r["before"]
    names = dict(Theme.objects.filter(pk__in=counts).values_list("pk", "name"))
    trends = [
        ThemeTrend(theme_id=pk, name=names.get(pk, "?"), this_week=recent, weekly_before=before / 4)
        for pk, (recent, before) in counts.items()
    ]
    trends.sort(key=lambda t: (t.rise is not None, t.rise or 0, t.this_week), reverse=True)
    trends.sort(key=lambda t: t.this_week == 0)
    return trends


def theme_examples(*, theme_id: int, limit: int = 3) -> list[str]:
    """The latest texts about a theme (mentions and comments)."""
    mentions = list(
        Mention.objects.filter(themes=theme_id)
        .order_by("-occurred_at")
        .values_list("text", flat=True)[:limit]
    )
    comments = list(
        Response.objects.filter(themes=theme_id)
        .exclude(comment="")
        .order_by("-answered_at")
        .values_list("comment", flat=True)[:limit]
    )
    return (mentions + comments)[:limit]


def theme_examples_by_theme(*, theme_ids: list[int], limit: int = 3) -> dict[int, list[str]]:
    """``theme_examples`` for many themes at once: the latest mention texts, then the latest
    comments, per theme. Two queries (a window over each themes table), whatever the number
    of themes."""
    found: dict[int, tuple[list[str], list[str]]] = {pk: ([], []) for pk in theme_ids}
    for index, (model, text, when) in enumerate(
        ((Mention, "text", "occurred_at"), (Response, "comment", "answered_at"))
    ):
        owner = model._meta.model_name
        rank = Window(
            RowNumber(),
            partition_by=F("theme_id"),
            order_by=[F(f"{owner}__{when}").desc(), F(f"{owner}_id").desc()],
        )
        rows = (
            model.themes.through.objects.filter(theme_id__in=list(found))
            .exclude(**{f"{owner}__{text}": ""})
            .annotate(rank=rank)
            .filter(rank__lte=limit)
            .order_by("theme_id", "rank")
            .values_list("theme_id", f"{owner}__{text}")
        )
        for theme_id, example in rows:
            found[theme_id][index].append(example)
    return {pk: (mentions + comments)[:limit] for pk, (mentions, comments) in found.items()}


def feedback_inbox(*, actor, status: str = Mention.Status.NEW) -> QuerySet[Mention]:
    qs = Mention.objects.select_related("customer", "interaction").prefetch_related("themes")
    if not actor.has_perm("feedback.view_mention"):
        return qs.none()
    return qs.filter(status=status).order_by("-occurred_at", "-id") if status else qs


def customer_feedback(*, actor, customer_id: int, limit: int = 5) -> list[Response]:
    """The answers a customer allowed us to keep against them, newest first."""
    return list(
        Response.objects.restrict(actor, "view")
        .filter(customer_id=customer_id)
        .select_related("survey")
        .order_by("-answered_at")[:limit]
    )


def invitation_list(*, actor, survey_id: int | None = None) -> QuerySet[SurveyInvitation]:
    """Invitations, newest first, with their answer (one join). Partner API keys are let
    through here: their access is the ``feedback:read`` scope, checked per endpoint."""
    qs = SurveyInvitation.objects.select_related("survey", "customer", "response").order_by("-id")
    partner = getattr(actor, "api_client", None) is not None
    if not partner and not actor.has_perm("feedback.view_surveyinvitation"):
        return qs.none()
    return qs.filter(survey_id=survey_id) if survey_id else qs


def survey_list(*, actor) -> QuerySet[Survey]:
    """Surveys the actor may see, newest first (``restrict``: staff need view_survey)."""
    return Survey.objects.restrict(actor, "view").select_related("team").order_by("-id")


@dataclass(frozen=True)
class IdeasBoard:
    by_status: dict[str, int]
    median_days_to_implement: float | None
    implemented_within_10_days: float | None  # share of ideas old enough to judge
    judged: int


def ideas_board(*, now: datetime | None = None) -> IdeasBoard:
    now = now or timezone.now()
    by_status = dict(
        Idea.objects.values("status").annotate(n=Count("id")).values_list("status", "n")
    )
    spans = [
        (implemented - submitted).total_seconds() / 86400
        for submitted, implemented in Idea.objects.filter(
            status=Idea.Status.IMPLEMENTED
        ).values_list("submitted_at", "implemented_at")
    ]
    old_enough = Idea.objects.filter(submitted_at__lte=now - timedelta(days=10))
    judged = old_enough.count()
    quick = old_enough.filter(
        status=Idea.Status.IMPLEMENTED, implemented_at__lte=F("submitted_at") + timedelta(days=10)
    ).count()
    return IdeasBoard(
        by_status=by_status,
        median_days_to_implement=round(median(spans), 1) if spans else None,
        implemented_within_10_days=round(100 * quick / judged, 1) if judged else None,
        judged=judged,
    )


def idea_list(*, status: str | None = None) -> QuerySet[Idea]:
    qs = Idea.objects.select_related("team").order_by("-submitted_at", "-id")
    return qs.filter(status=status) if status else qs


def response_get(*, actor, response_id: int) -> Response:
    """One answer with what its page shows (themes, care flag, follow-up case);
    ``Response.DoesNotExist`` when the actor may not see it."""
    return (
        response_list(actor=actor)
        .select_related("care_flag", "follow_up_case", "invitation")
        .prefetch_related("themes")
        .get(pk=response_id)
    )


@dataclass
class SurveyCounts:
    """How a survey's invitations fared; ``suppressed_by_reason`` is (reason, n), most first."""

    invited: int = 0
    scheduled: int = 0
    sent: int = 0
    answered: int = 0
    expired: int = 0
    suppressed: int = 0
    suppressed_by_reason: list[tuple[str, int]] = field(default_factory=list)

    @property
    def response_rate(self) -> float | None:
        """Answered out of the invitations that reached the customer."""
        reached = self.sent + self.answered + self.expired
        return round(100 * self.answered / reached, 1) if reached else None


def suppression_reason_label(reason: str) -> str:
    """A suppression reason without the details that differ per customer (dates), so
    the same reason is counted together."""
    if reason.startswith("Surveyed on "):
        return "Inside the quiet period (surveyed recently)."
    return reason or "No reason recorded."


def survey_counts(*, survey_ids: list[int]) -> dict[int, SurveyCounts]:
    """How the invitations of these surveys fared (one grouped query)."""
    counts: dict[int, SurveyCounts] = {pk: SurveyCounts() for pk in survey_ids}
    reasons: dict[int, dict[str, int]] = {}
    rows = (
        SurveyInvitation.objects.filter(survey_id__in=survey_ids)
        .values("survey_id", "status", "suppressed_reason")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in rows:
        entry = counts[row["survey_id"]]
        status, n = row["status"], row["n"]
        entry.invited += n
        setattr(entry, status, getattr(entry, status) + n)
        if status == SurveyInvitation.Status.SUPPRESSED:
            label = suppression_reason_label(row["suppressed_reason"])
            by_reason = reasons.setdefault(row["survey_id"], {})
            by_reason[label] = by_reason.get(label, 0) + n
    for survey_id, by_reason in reasons.items():
        counts[survey_id].suppressed_by_reason = sorted(
            by_reason.items(), key=lambda item: (-item[1], item[0])
        )
    return counts
