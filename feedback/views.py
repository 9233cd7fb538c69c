"""Staff pages of feedback: the scorecard (NPS, CSAT, CES with a weekly trend and a CSV
export), themes rising this week, the feedback inbox (mentions), survey answers and closing
the loop with detractors, the staff ideas board, and the surveys with their invitations.

Thin: reads through ``feedback.selectors``, writes through ``feedback.services``. A
service's ValidationError is shown on the form it came from and nothing is written. Each
list page costs a fixed number of queries whatever it holds; charts are SVG drawn here.
"""

import csv
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from customers.models import Channel
from customers.selectors import customer_list
from cxportal.pagination import keyset_page, timeline_page
from cxportal.selectors import team_home_for_user
from cxportal.web import next_url, show_errors
from feedback.forms import (
    DIMENSION_LABELS,
    KIND_LABELS,
    FollowUpForm,
    IdeaForm,
    IdeaMoveForm,
    ResponseFilterForm,
    ScorecardForm,
    SurveyInviteForm,
)
from feedback.models import Idea, Mention, Response, Survey
from feedback.selectors import (
    Score,
    feedback_inbox,
    idea_list,
    ideas_board,
    response_get,
    response_list,
    scorecard,
    scorecard_figures,
    survey_counts,
    survey_list,
    theme_examples_by_theme,
    theme_trends,
)
from feedback.services.ideas import idea_move, idea_submit
from feedback.services.mentions import mention_review
from feedback.services.surveys import response_follow_up_record, survey_invite_list

#: Colours of the chart lines (the same palette as the SLA report); "All" is drawn in ink.
COLOURS = ["#2f5bd3", "#067647", "#b45309", "#a8255f", "#0f6f7c", "#6b3fb5", "#4a5565"]
INK = "#1d2430"
#: Groups drawn on the trend chart (the largest by answers; the table has them all).
CHART_GROUPS = 6
#: Fewer answers than this and a score is shown as a small sample.
SMALL_SAMPLE = 10
#: Rising themes shown with examples.
RISERS_WITH_EXAMPLES = 6
THEME_BARS = 10


# --- Words and small helpers --------------------------------------------------------------
def sentiment_label(value: float | None) -> str:
    """VADER's usual cut-offs: ≤ −0.05 negative, ≥ 0.05 positive, neutral between."""
    if value is None:
        return ""
    if value <= -0.05:
        return "negative"
    return "positive" if value >= 0.05 else "neutral"


def signed(value: float) -> str:
    text = f"{abs(value):g}"
    return f"+{text}" if value > 0 else f"−{text}" if value < 0 else "0"


def score_text(score: Score | None) -> str:
    """A score as people read it: NPS +12, CSAT 84%, CES 5.4."""
    if score is None or score.value is None:
        return "—"
    if score.kind == Survey.Kind.NPS:
        return signed(score.value)
    if score.kind == Survey.Kind.CSAT:
        return f"{score.value:g}%"
    return f"{score.value:g}"


def group_label(dimension: str, value: str) -> str:
    if dimension == "channel" and value in Channel.values:
        return Channel(value).label
    return value or "—"


def tabs(user, active: str) -> list[dict]:
    """The feedback section's own tabs, those the user may open."""
    items = [
        ("scorecard", "Scorecard", "feedback:scorecard", "feedback.view_response"),
        ("themes", "Themes", "feedback:themes", "feedback.view_theme"),
        ("inbox", "Inbox", "feedback:inbox", "feedback.view_mention"),
        ("responses", "Answers", "feedback:responses", "feedback.view_response"),
        ("ideas", "Ideas", "feedback:ideas", "feedback.view_idea"),
        ("surveys", "Surveys", "feedback:surveys", "feedback.view_survey"),
    ]
    return [
        {"label": label, "url": reverse(name), "active": key == active}
        for key, label, name, perm in items
        if user.has_perm(perm)
    ]


# --- The scorecard ------------------------------------------------------------------------
def week_starts(weeks: int, now: datetime) -> list[datetime]:
    """The Mondays (local midnight) of the last ``weeks`` weeks, oldest first."""
    today = timezone.localdate(now)
    monday = today - timedelta(days=today.weekday())
    tz = timezone.get_current_timezone()
    return [
        datetime.combine(monday - timedelta(weeks=i), datetime.min.time(), tz)
        for i in reversed(range(weeks))
    ]


def _combined(kind: str, cells: list[Score]) -> Score | None:
    """Several cells as one (sums of counts, so NPS and CSAT stay exact)."""
    if not cells:
        return None
    return Score(
        kind=kind,
        n=sum(c.n for c in cells),
        promoters=sum(c.promoters for c in cells),
        detractors=sum(c.detractors for c in cells),
        satisfied=sum(c.satisfied for c in cells),
        score_sum=sum(c.score_sum for c in cells),
    )


@dataclass
class Cell:
    score: Score | None

    @property
    def text(self) -> str:
        return score_text(self.score)

    @property
    def n(self) -> int:
        return self.score.n if self.score else 0

    @property
    def small(self) -> bool:
        return 0 < self.n < SMALL_SAMPLE


def scorecard_table(rows, weeks: list[datetime], dimension: str, kind: str) -> dict:
    """The scorecard pivoted: a row per week (newest first) and a column per group (the
    largest first), with "All" and a whole-period row, all summed from the same cells."""
    by_week: dict = {}
    totals: dict[str, list[Score]] = {}
    for row in rows:
        week = timezone.localtime(row.week).date()
        group = group_label(dimension, row.group)
        by_week.setdefault(week, {})[group] = row.score
        totals.setdefault(group, []).append(row.score)
    groups = sorted(totals, key=lambda g: (-sum(s.n for s in totals[g]), g))
    body = []
    for start in reversed(weeks):
        cells = by_week.get(start.date(), {})
        body.append(
            {
                "week": start,
                "all": Cell(_combined(kind, list(cells.values()))),
                "cells": [Cell(cells.get(g)) for g in groups],
            }
        )
    return {
        "groups": groups,
        "weeks": body,
        "total": {
            "all": Cell(_combined(kind, [s for cells in totals.values() for s in cells])),
            "cells": [Cell(_combined(kind, totals[g])) for g in groups],
        },
        "by_week": by_week,
    }


CHART_W, CHART_H = 760, 250
PAD_L, PAD_R, PAD_T, PAD_B = 46, 18, 12, 28
Y_AXIS = {
    Survey.Kind.NPS: (-100, 100, (-100, -50, 0, 50, 100)),
    Survey.Kind.CSAT: (0, 100, (0, 25, 50, 75, 100)),
    Survey.Kind.CES: (1, 7, (1, 2, 3, 4, 5, 6, 7)),
}


def trend_chart(table: dict, weeks: list[datetime], kind: str) -> dict:
    """An SVG line chart: the score per week, a line for "All" and one for each of the
    largest groups; a week without answers breaks the line."""
    low, high, grid = Y_AXIS[kind]
    width, height = CHART_W - PAD_L - PAD_R, CHART_H - PAD_T - PAD_B
    step = width / max(len(weeks) - 1, 1)

    def y(value: float) -> float:
        return round(PAD_T + height * (1 - (value - low) / (high - low)), 1)

    def line(name: str, colour: str, cell_of, all_line: bool = False) -> dict:
        points, segments, segment = [], [], []
        for i, start in enumerate(weeks):
            score = cell_of(start.date())
            if score is None or score.value is None:
                segments.append(segment)
                segment = []
                continue
            point = {
                "x": round(PAD_L + i * step, 1),
                "y": y(score.value),
                "few": score.n < SMALL_SAMPLE,
                "label": f"{name}, week of {start:%-d %b}: {score_text(score)} (n={score.n})",
            }
            points.append(point)
            segment.append(point)
        segments.append(segment)
        return {
            "name": name,
            "colour": colour,
            "all": all_line,
            "points": points,
            "paths": [" ".join(f"{p['x']},{p['y']}" for p in s) for s in segments if len(s) > 1],
        }

    by_week = table["by_week"]
    groups = table["groups"]
    lines = []
    if len(groups) > 1:
        lines.append(
            line(
                "All",
                INK,
                lambda day: _combined(kind, list(by_week.get(day, {}).values())),
                all_line=True,
            )
        )
    for index, group in enumerate(groups[:CHART_GROUPS]):
        lines.append(
            line(
                group,
                COLOURS[index % len(COLOURS)],
                lambda day, g=group: by_week.get(day, {}).get(g),
            )
        )
    every = max(1, -(-len(weeks) // 8))
    label = {"nps": signed, "csat": lambda v: f"{v}%", "ces": str}[kind]
    return {
        "width": CHART_W,
        "height": CHART_H,
        "left": PAD_L,
        "right": CHART_W - PAD_R,
        "grid": [{"y": y(v), "label": label(v), "zero": v == 0 and low < 0} for v in grid],
        "ticks": [
            {
                "x": round(PAD_L + i * step, 1),
                "label": f"{start:%-d %b}",
                "anchor": "end" if i == len(weeks) - 1 else "start" if i == 0 else "middle",
            }
            for i, start in enumerate(weeks)
            if (len(weeks) - 1 - i) % every == 0
        ],
        "label_y": CHART_H - 8,
        "lines": lines,
        "hidden_groups": max(0, len(groups) - CHART_GROUPS),
        "has_few": any(p["few"] for line in lines for p in line["points"]),
    }


def _scorecard_params(request: HttpRequest):
    form = ScorecardForm(request.GET or None)
    weeks, dimension, kind = form.values() if form.is_bound else (12, "channel", "nps")
    if not form.is_bound:
        form = ScorecardForm(initial={"weeks": weeks, "dimension": dimension, "kind": kind})
    now = timezone.now()
    starts = week_starts(weeks, now)
    return form, weeks, dimension, kind, starts, now


@login_required
@permission_required("feedback.view_response", raise_exception=True)
@require_GET
def scorecard_view(request: HttpRequest) -> HttpResponse:
    """NPS, CSAT and CES over the period (with the period before), the weekly trend by
    channel, team, region or survey, and the table behind it."""
    form, weeks, dimension, kind, starts, now = _scorecard_params(request)
    since = starts[0]
    period, previous_period, rows = scorecard_figures(
        actor=request.user, since=since, until=now, weeks=weeks, dimension=dimension, kind=kind
    )
    current = {s.kind: s for s in period}
    before = {s.kind: s for s in previous_period}
    tiles = []
    for value, label in KIND_LABELS.items():
        score, previous = current.get(value), before.get(value)
        change = None
        if score and previous and score.value is not None and previous.value is not None:
            change = round(score.value - previous.value, 2 if value == "ces" else 1)
        tiles.append(
            {
                "kind": value,
                "label": label,
                "text": score_text(score),
                "n": score.n if score else 0,
                "change": signed(change) if change is not None else "",
                "better": change is not None and change > 0,
                "worse": change is not None and change < 0,
                "active": value == kind,
            }
        )
    table = scorecard_table(rows, starts, dimension, kind)
    query = urlencode({"weeks": weeks, "dimension": dimension, "kind": kind})
    context = {
        "tabs": tabs(request.user, "scorecard"),
        "form": form,
        "tiles": tiles,
        "since": since,
        "weeks": weeks,
        "kind": kind,
        "kind_label": KIND_LABELS[kind],
        "dimension_label": DIMENSION_LABELS[dimension],
        "table": table,
        "chart": trend_chart(table, starts, kind) if rows else None,
        "csv_url": f"{reverse('feedback:scorecard_csv')}?{query}",
        "query": query,
        "small_sample": SMALL_SAMPLE,
    }
    return render(request, "feedback/scorecard.html", context)


CSV_HEADER = ["week_of", "measure", "score", "answers", "promoters", "detractors", "satisfied"]


def _csv_safe(value: str) -> str:
    """Text a spreadsheet will not run as a formula."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


@login_required
@permission_required("feedback.view_response", raise_exception=True)
@require_GET
def scorecard_csv_view(request: HttpRequest) -> HttpResponse:
    """The scorecard's cells as CSV: a row per week and group (the table's data)."""
    _form, weeks, dimension, kind, starts, now = _scorecard_params(request)
    rows = scorecard(actor=request.user, since=starts[0], until=now, dimension=dimension, kind=kind)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    filename = f"scorecard-{kind}-{dimension}-{timezone.localdate(now):%Y-%m-%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow(CSV_HEADER[:1] + [dimension] + CSV_HEADER[1:])
    for row in rows:
        score = row.score
        writer.writerow(
            [
                f"{timezone.localtime(row.week).date():%Y-%m-%d}",
                _csv_safe(group_label(dimension, row.group)),
                score.label,
                "" if score.value is None else score.value,
                score.n,
                score.promoters,
                score.detractors,
                score.satisfied,
            ]
        )
    return response


# --- Themes -------------------------------------------------------------------------------
#: A theme is rising when this week has at least this many times a usual week (or it is new).
RISING = 1.5


def is_rising(trend) -> bool:
    return trend.this_week > 0 and (trend.rise is None or trend.rise >= RISING)


def theme_chart(trends: list) -> dict | None:
    """Horizontal bars: each theme's count this week, with a mark at a usual week."""
    shown = sorted(trends, key=lambda t: (-t.this_week, -t.weekly_before, t.name))[:THEME_BARS]
    if not shown:
        return None
    label_w, bar_w, row_h, top = 170, 330, 28, 8
    most = max(max(t.this_week, t.weekly_before) for t in shown) or 1
    bars = []
    for i, t in enumerate(shown):
        y = top + i * row_h
        bars.append(
            {
                "name": t.name if len(t.name) <= 24 else t.name[:23] + "…",
                "full_name": t.name,
                "y": y,
                "text_y": y + 13,
                "width": round(bar_w * t.this_week / most, 1),
                "usual_x": round(label_w + bar_w * t.weekly_before / most, 1),
                "this_week": t.this_week,
                "usual": f"{t.weekly_before:g}",
                "n_x": label_w + bar_w + 10,
                "rising": is_rising(t),
            }
        )
    return {
        "width": label_w + bar_w + 70,
        "height": top * 2 + len(shown) * row_h,
        "label_w": label_w,
        "bars": bars,
    }


@login_required
@permission_required("feedback.view_theme", raise_exception=True)
@require_GET
def themes_view(request: HttpRequest) -> HttpResponse:
    """Which themes people raise more this week than in the four weeks before, with what
    they say about the fastest risers."""
    now = timezone.now()
    trends = theme_trends(now=now)
    risers = [t for t in trends if is_rising(t)][:RISERS_WITH_EXAMPLES]
    examples = theme_examples_by_theme(theme_ids=[t.theme_id for t in risers], limit=3)
    with_examples = [
        {"trend": t, "examples": list(dict.fromkeys(examples.get(t.theme_id, [])))} for t in risers
    ]
    context = {
        "tabs": tabs(request.user, "themes"),
        "trends": trends,
        "risers": with_examples,
        "chart": theme_chart(trends),
        "week_start": now - timedelta(days=7),
        "before_start": now - timedelta(days=35),
        "rising": RISING,
    }
    return render(request, "feedback/themes.html", context)


# --- The feedback inbox (mentions) -----------------------------------------------------------
INBOX_STATUSES = [("new", "New"), ("reviewed", "Reviewed"), ("", "All")]


def _decorate_mentions(mentions) -> list[Mention]:
    mentions = list(mentions)
    for mention in mentions:
        mention.sentiment_label = sentiment_label(mention.sentiment)
    return mentions


@login_required
@permission_required("feedback.view_mention", raise_exception=True)
@require_GET
def inbox_view(request: HttpRequest) -> HttpResponse:
    """Social posts, forum posts and call notes, newest first; "Show more" pages on."""
    status = request.GET.get("status", "new")
    if status not in dict(INBOX_STATUSES):
        status = "new"
    source = request.GET.get("source", "")
    if source not in Mention.Source.values:
        source = ""
    qs = feedback_inbox(actor=request.user, status=status)
    if source:
        qs = qs.filter(source=source)
    page = timeline_page(qs, cursor=request.GET.get("after"), size=settings.CXPORTAL_PAGE_SIZE)
    query = {"status": status, "source": source}
    context = {
        "mentions": _decorate_mentions(page.items),
        "more_url": "?" + urlencode({**query, "after": page.next_cursor})
        if page.next_cursor
        else "",
        "may_review": request.user.has_perm("feedback.change_mention"),
        "next": reverse("feedback:inbox") + "?" + urlencode(query),
    }
    if request.htmx:
        return render(request, "feedback/_inbox_rows.html", context)
    context.update(
        {
            "tabs": tabs(request.user, "inbox"),
            "status": status,
            "statuses": INBOX_STATUSES,
            "source": source,
            "sources": Mention.Source.choices,
        }
    )
    return render(request, "feedback/inbox.html", context)


@login_required
@permission_required("feedback.change_mention", raise_exception=True)
@require_POST
def mention_review_view(request: HttpRequest, mention_id: int) -> HttpResponse:
    mention = feedback_inbox(actor=request.user, status="").filter(pk=mention_id).first()
    if mention is None:
        raise Http404("No such mention.")
    mention = mention_review(actor=request.user, mention=mention)
    if request.htmx:
        context = {"mentions": _decorate_mentions([mention]), "may_review": True, "single": True}
        return render(request, "feedback/_inbox_rows.html", context)
    messages.success(request, "Marked as reviewed.")
    return redirect(next_url(request, reverse("feedback:inbox")))


# --- Answers ------------------------------------------------------------------------------
def _decorate_responses(responses) -> list[Response]:
    responses = list(responses)
    for response in responses:
        response.sentiment_label = sentiment_label(response.sentiment)
        response.kind_short = KIND_LABELS.get(response.kind, response.kind)
        response.channel_label = group_label("channel", response.channel).replace("—", "")
        response.is_low = response.category in (
            Response.Category.DETRACTOR,
            Response.Category.DISSATISFIED,
        )
    return responses


@login_required
@permission_required("feedback.view_response", raise_exception=True)
@require_GET
def response_list_view(request: HttpRequest) -> HttpResponse:
    """Survey answers, newest first, filtered; detractors stand out."""
    surveys = list(Survey.objects.restrict(request.user).order_by("name").only("pk", "name"))
    form = ResponseFilterForm(
        {k: v for k, v in request.GET.items() if k in ResponseFilterForm.base_fields} or None,
        surveys=surveys,
    )
    filters = form.filters()
    customer = request.GET.get("customer", "")
    if customer.isdigit():
        filters["customer"] = int(customer)
    qs = response_list(actor=request.user, filters=filters).prefetch_related("themes")
    page = keyset_page(qs, before=request.GET.get("before"), size=settings.CXPORTAL_PAGE_SIZE)
    query = urlencode({k: v for k, v in filters.items()})
    more_url = ""
    if page.next_before:
        more_url = f"?{query}{'&' if query else ''}before={page.next_before}"
    context = {
        "responses": _decorate_responses(page.items),
        "more_url": more_url,
        "may_see_customers": request.user.has_perm("customers.view_customer"),
    }
    if request.htmx:
        return render(request, "feedback/_response_rows.html", context)
    context.update(
        {"tabs": tabs(request.user, "responses"), "form": form, "filtered": bool(filters)}
    )
    return render(request, "feedback/responses.html", context)


def _response(request: HttpRequest, response_id: int) -> Response:
    try:
        return response_get(actor=request.user, response_id=response_id)
    except Response.DoesNotExist:
        raise Http404("No such answer.") from None


def _response_page(request, response: Response, form: FollowUpForm | None = None):
    (response,) = _decorate_responses([response])
    user = request.user
    may_follow_up = user.has_perm("feedback.change_response") and response.contact_allowed
    context = {
        "tabs": tabs(user, "responses"),
        "r": response,
        "themes": list(response.themes.all()),
        "form": form or FollowUpForm(initial={"outcome": response.follow_up_outcome}),
        "may_follow_up": may_follow_up,
        "may_see_customers": user.has_perm("customers.view_customer"),
        "may_see_flags": user.has_perm("cases.view_careflag"),
        "may_see_cases": user.has_perm("cases.view_case"),
    }
    return render(request, "feedback/response.html", context)


@login_required
@permission_required("feedback.view_response", raise_exception=True)
@require_GET
def response_detail_view(request: HttpRequest, response_id: int) -> HttpResponse:
    return _response_page(request, _response(request, response_id))


@login_required
@permission_required("feedback.change_response", raise_exception=True)
@require_POST
def response_follow_up_view(request: HttpRequest, response_id: int) -> HttpResponse:
    """Record what came of calling the customer back (clears their detractor flag)."""
    response = _response(request, response_id)
    if not response.contact_allowed:
        raise Http404("This customer did not allow contact about their answer.")
    form = FollowUpForm(request.POST)
    if form.is_valid():
        try:
            response_follow_up_record(
                actor=request.user, response=response, outcome=form.cleaned_data["outcome"]
            )
        except ValidationError as error:
            show_errors(form, error)
        else:
            messages.success(request, "Follow-up recorded.")
            return redirect("feedback:response", response.pk)
    return _response_page(request, response, form)


# --- Ideas --------------------------------------------------------------------------------
OPEN_IDEAS = (Idea.Status.SUBMITTED, Idea.Status.REVIEWING, Idea.Status.IMPLEMENTING)


def _decorate_ideas(ideas, user) -> list[Idea]:
    ideas = list(ideas)
    may_move = user.has_perm("feedback.change_idea")
    labels = dict(Idea.Status.choices)
    order = list(Idea.Status.values)
    now = timezone.now()
    for idea in ideas:
        nexts = sorted(Idea.TRANSITIONS[idea.status], key=order.index)
        idea.next_statuses = [(s, labels[s]) for s in nexts] if may_move else []
        idea.days_open = (now - idea.submitted_at).days
        idea.days_to_implement = (
            (idea.implemented_at - idea.submitted_at).days if idea.implemented_at else None
        )
    return ideas


def _ideas_context(request: HttpRequest, status: str) -> dict:
    board = ideas_board()
    page = keyset_page(
        idea_list(status=status or None).order_by("-id"),
        before=request.GET.get("before"),
        size=settings.CXPORTAL_PAGE_SIZE,
    )
    query = urlencode({"status": status}) if status else ""
    more_url = ""
    if page.next_before:
        more_url = f"?{query}{'&' if query else ''}before={page.next_before}"
    return {
        "board": board,
        "ideas": _decorate_ideas(page.items, request.user),
        "more_url": more_url,
        "next": reverse("feedback:ideas") + (f"?{query}" if query else ""),
    }


@login_required
@permission_required("feedback.view_idea", raise_exception=True)
@require_http_methods(["GET", "POST"])
def ideas_view(request: HttpRequest) -> HttpResponse:
    """The ideas board: counts by status, time to implementation, the ideas; anyone may
    submit one."""
    status = request.GET.get("status", "")
    if status not in Idea.Status.values:
        status = ""
    form = IdeaForm()
    if request.method == "POST":
        if not request.user.has_perm("feedback.add_idea"):
            raise PermissionDenied
        form = IdeaForm(request.POST)
        if form.is_valid():
            try:
                idea = idea_submit(
                    actor=request.user,
                    title=form.cleaned_data["title"],
                    description=form.cleaned_data["description"],
                    team=team_home_for_user(user=request.user),
                )
            except ValidationError as error:
                show_errors(form, error)
            else:
                messages.success(request, f"Thank you: “{idea.title}” is on the board.")
                return redirect("feedback:ideas")
    context = _ideas_context(request, status)
    if request.htmx and request.method == "GET":
        return render(request, "feedback/_idea_rows.html", context)
    board = context["board"]
    context.update(
        {
            "tabs": tabs(request.user, "ideas"),
            "form": form,
            "status": status,
            "statuses": [
                {
                    "value": value,
                    "label": label,
                    "count": board.by_status.get(value, 0),
                    "open": value in OPEN_IDEAS,
                }
                for value, label in Idea.Status.choices
            ],
            "open_count": sum(board.by_status.get(value, 0) for value in OPEN_IDEAS),
            "open_detail": " · ".join(
                f"{board.by_status.get(value, 0)} {Idea.Status(value).label.lower()}"
                for value in OPEN_IDEAS
            ),
            "total": sum(board.by_status.values()),
            "may_submit": request.user.has_perm("feedback.add_idea"),
            "may_move": request.user.has_perm("feedback.change_idea"),
        }
    )
    return render(request, "feedback/ideas.html", context)


@login_required
@permission_required("feedback.change_idea", raise_exception=True)
@require_POST
def idea_move_view(request: HttpRequest, idea_id: int) -> HttpResponse:
    """Move an idea on (a supervisor); declining needs a note for the person who had it."""
    idea = idea_list().filter(pk=idea_id).first()
    if idea is None:
        raise Http404("No such idea.")
    form = IdeaMoveForm(request.POST)
    error = ""
    if form.is_valid():
        try:
            idea = idea_move(
                actor=request.user,
                idea=idea,
                status=form.cleaned_data["status"],
                note=form.cleaned_data["note"],
            )
        except ValidationError as exc:
            error = " ".join(exc.messages)
    else:
        error = " ".join(m for errors in form.errors.values() for m in errors)
    back = next_url(request, reverse("feedback:ideas"))
    if request.htmx:
        idea = idea_list().get(pk=idea.pk)
        (idea,) = _decorate_ideas([idea], request.user)
        idea.error = error
        return render(request, "feedback/_idea.html", {"idea": idea, "next": back})
    if error:
        messages.error(request, f"“{idea.title}” was not moved: {error}")
    else:
        messages.success(request, f"“{idea.title}” is now {idea.get_status_display().lower()}.")
    return redirect(f"{back}#idea-{idea.pk}")


# --- Surveys ------------------------------------------------------------------------------
@login_required
@permission_required("feedback.view_survey", raise_exception=True)
@require_GET
def survey_list_view(request: HttpRequest) -> HttpResponse:
    """Every survey with how its invitations fared and why some were not sent."""
    surveys = list(survey_list(actor=request.user).order_by("-is_active", "name"))
    counts = survey_counts(survey_ids=[s.pk for s in surveys])
    context = {
        "tabs": tabs(request.user, "surveys"),
        "surveys": [(survey, counts[survey.pk]) for survey in surveys],
        "may_invite": request.user.has_perm("feedback.add_surveyinvitation"),
    }
    return render(request, "feedback/surveys.html", context)


@login_required
@permission_required("feedback.add_surveyinvitation", raise_exception=True)
@require_http_methods(["GET", "POST"])
def survey_invite_view(request: HttpRequest, survey_id: int) -> HttpResponse:
    """Invite a pasted list of customers (the manual trigger)."""
    survey = Survey.objects.restrict(request.user).filter(pk=survey_id).first()
    if survey is None:
        raise Http404("No such survey.")
    form = SurveyInviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        ids = form.cleaned_data["customer_ids"]
        customers = list(customer_list(actor=request.user).filter(pk__in=ids))
        missing = sorted(set(ids) - {c.pk for c in customers})
        if not customers:
            form.add_error("customer_ids", "None of these ids is a customer we can invite.")
        else:
            try:
                new = survey_invite_list(
                    actor=request.user,
                    survey=survey,
                    customers=customers,
                    label=form.cleaned_data["label"],
                )
            except ValidationError as error:
                show_errors(form, error)
            else:
                text = f"{new} of {len(customers)} customers invited to “{survey.name}”"
                if new < len(customers):
                    text += f" ({len(customers) - new} were already invited from this list)"
                text += ". They are sent after the survey's delay, unless a reason holds one back."
                messages.success(request, text)
                if missing:
                    shown = ", ".join(str(pk) for pk in missing[:20])
                    more = f" and {len(missing) - 20} more" if len(missing) > 20 else ""
                    messages.warning(request, f"Not found, so not invited: {shown}{more}.")
                return redirect("feedback:surveys")
    context = {"tabs": tabs(request.user, "surveys"), "survey": survey, "form": form}
    return render(request, "feedback/survey_invite.html", context)
