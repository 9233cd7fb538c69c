"""Staff pages for cases: the team queue, the case page (edit, reply, internal notes,
resolve/reopen, history, the customer's timeline beside it), a new case, the SLA report.

Thin: reads through ``cases.selectors`` (and ``customers.selectors`` for the customer),
writes through ``cases.services``. A service's ValidationError is shown on the form it came
from; ``StaleVersion`` (someone else saved the case meanwhile) shows the case as it is now,
and nothing is written. Each page costs a fixed number of queries whatever the queue or the
case holds.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.forms.utils import pretty_name
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from cases.filtersets import CaseFilterSet
from cases.forms import CaseCreateForm, CaseEditForm, CaseNoteForm, CaseReplyForm, CaseStatusForm
from cases.models import DONE_STATUSES, Case, Category, Priority, Status
from cases.selectors import (
    case_assignees,
    case_events,
    case_get,
    case_list,
    case_queue,
    sla_report,
)
from cases.services import (
    case_assign,
    case_deadline_set,
    case_note_add,
    case_open,
    case_reopen,
    case_reply,
    case_resolve,
    case_status_change,
    case_update,
)
from customers.models import Customer
from customers.panels import timeline_actions
from customers.selectors import customer_timeline
from customers.views import customer_from_query
from cxportal.errors import StaleVersion
from cxportal.models import Team
from cxportal.pagination import keyset_page, timeline_page
from cxportal.selectors import team_home_for_user
from cxportal.validation import datetime_problem, id_problem
from cxportal.web import query_id, show_errors

TIMELINE_SIZE = 15
#: A customer deadline closer than this is flagged on the queue, the case and the 360 page.
DEADLINE_SOON = timedelta(hours=24)
#: Filters of the queue page that are not ``CaseFilterSet`` fields.
PAGE_PARAMS = ("after", "before", "mine")


# --- SLA clocks and deadlines, in words --------------------------------------------------
def span(delta: timedelta) -> str:
    """A duration as an agent says it: "35 min", "2 h", "2 h 10 min", "3 days"."""
    minutes = int(abs(delta.total_seconds()) // 60)
    if minutes < 1:
        return "less than a minute"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} days"


@dataclass(frozen=True)
class SlaClock:
    text: str
    # running, risk (80% of the target used), breached, paused, met, missed, none
    state: str


def sla_clock(case: Case, now: datetime) -> SlaClock:
    """The clock that matters now, e.g. "First response due in 35 min", "Resolution overdue
    by 2 h", "Paused"; from the case's derived SLA fields, no query."""
    if case.status in DONE_STATUSES:
        if case.resolution_met is True:
            return SlaClock("Resolved within target", "met")
        if case.resolution_met is False:
            return SlaClock("Resolved late", "missed")
        return SlaClock(case.get_status_display(), "none")
    if case.sla_paused:
        return SlaClock(f"Paused while {case.get_status_display().lower()}", "paused")
    due = case.next_due_at
    if due is None:
        return SlaClock("No SLA", "none")
    first = case.first_response_met is None and case.first_responded_at is None
    which = "First response" if first else "Resolution"
    risk_at = case.first_response_risk_at if first else case.resolution_risk_at
    if due < now:
        return SlaClock(f"{which} overdue by {span(now - due)}", "breached")
    state = "risk" if risk_at is not None and risk_at <= now else "running"
    return SlaClock(f"{which} due in {span(due - now)}", state)


@dataclass(frozen=True)
class ClockTile:
    title: str
    state: str
    text: str
    detail: str = ""


def _when(value: datetime | None) -> str:
    return timezone.localtime(value).strftime("%a %-d %b, %H:%M") if value else ""


def _tile(title: str, *, met, due, risk_at, done_at, paused: bool, now: datetime) -> ClockTile:
    if met is True:
        return ClockTile(title, "met", "Met", f"done {_when(done_at)}, target {_when(due)}")
    if met is False:
        return ClockTile(title, "missed", "Missed", f"done {_when(done_at)}, target {_when(due)}")
    if paused:
        return ClockTile(title, "paused", "Paused", "the clock stops while we wait")
    if due is None:
        return ClockTile(title, "none", "No target", "")
    if due < now:
        return ClockTile(
            title, "breached", f"Overdue by {span(now - due)}", f"was due {_when(due)}"
        )
    state = "risk" if risk_at is not None and risk_at <= now else "running"
    return ClockTile(title, state, f"Due in {span(due - now)}", _when(due))


def clock_tiles(case: Case, now: datetime) -> list[ClockTile]:
    """The case page's SLA clocks (first response, resolution) and the customer deadline."""
    if case.sla_policy_id is None:
        tiles = [ClockTile("SLA", "none", "No SLA policy", "no target applies to this case")]
    else:
        tiles = [
            _tile(
                "First response",
                met=case.first_response_met,
                due=case.first_response_due_at,
                risk_at=case.first_response_risk_at,
                done_at=case.first_responded_at or case.resolved_at,
                paused=case.sla_paused,
                now=now,
            ),
            _tile(
                "Resolution",
                met=case.resolution_met,
                due=case.resolution_due_at,
                risk_at=case.resolution_risk_at,
                done_at=case.resolved_at,
                paused=case.sla_paused,
                now=now,
            ),
        ]
    if case.customer_deadline:
        state = deadline_state(case, now)
        text = (
            f"{'Was due' if state == 'passed' else 'Needs it by'} {_when(case.customer_deadline)}"
        )
        tiles.append(ClockTile("Customer deadline", state, text, case.customer_deadline_reason))
    return tiles


def deadline_state(case: Case, now: datetime) -> str:
    """ "passed", "soon" (within a day) or "later"; "" without a customer deadline."""
    deadline = case.customer_deadline
    if deadline is None:
        return ""
    if case.status in DONE_STATUSES:
        return "later"
    if deadline < now:
        return "passed"
    return "soon" if deadline - now < DEADLINE_SOON else "later"


def decorate(cases, now: datetime | None = None) -> list[Case]:
    """Attach ``clock`` and ``deadline_state`` to each case for the templates."""
    now = now or timezone.now()
    cases = list(cases)
    for case in cases:
        case.clock = sla_clock(case, now)
        case.deadline_state = deadline_state(case, now)
    return cases


# --- Keyset page of the queue: (next_due_at, id), paused cases (NULL) last ---------------
@dataclass
class QueuePage:
    items: list
    next_cursor: str | None


def _queue_cursor(case: Case) -> str:
    due = case.next_due_at
    return f"{due.isoformat() if due else 'none'}_{case.pk}"


def _queue_cursor_decode(cursor: str | None) -> tuple[datetime | None, int] | None:
    """``(next_due_at or None, id)``; None for a missing or malformed cursor."""
    if not cursor:
        return None
    stamp, _, pk = cursor.rpartition("_")
    if not pk.isdigit() or id_problem(int(pk)):
        return None
    if stamp == "none":
        return None, int(pk)
    try:
        when = parse_datetime(stamp) if stamp else None
    except ValueError:
        return None
    if when is None or when.tzinfo is None or datetime_problem(when):
        return None
    return when, int(pk)


def queue_page(qs: QuerySet, *, after: str | None, size: int) -> QueuePage:
    """``qs`` ordered by ``next_due_at`` (NULLs last), then ``id``: the ``size`` rows after
    the cursor ``"<iso next_due_at or none>_<id>"``. A malformed cursor starts at the top.

    After a cursor with a due time, the rows still due come from one index range
    (``next_due_at >= due``) and, when they run out, the paused ones (NULL) from a second
    query, rather than one OR that would make PostgreSQL scan the queue from its start."""
    key = _queue_cursor_decode(after)
    if key is None:
        rows = list(qs[: size + 1])
    elif key[0] is None:
        rows = list(qs.filter(next_due_at__isnull=True, pk__gt=key[1])[: size + 1])
    else:
        due, pk = key
        rows = list(
            qs.filter(next_due_at__gte=due).filter(Q(next_due_at__gt=due) | Q(pk__gt=pk))[
                : size + 1
            ]
        )
        if len(rows) <= size:
            rows += list(qs.filter(next_due_at__isnull=True)[: size + 1 - len(rows)])
    more = len(rows) > size
    rows = rows[:size]
    return QueuePage(items=rows, next_cursor=_queue_cursor(rows[-1]) if more else None)


# --- The queue ----------------------------------------------------------------------------
def _default_team(user) -> str:
    """The queue a user lands on: their own team's for who works cases; every team for a
    supervisor and for teams that only read cases (sales, operations, marketing)."""
    team = team_home_for_user(user=user)
    if team is None or team.slug == Team.Slug.SUPERVISOR or not user.has_perm("cases.change_case"):
        return ""
    return team.slug


def _queue_filters(request: HttpRequest) -> QueryDict:
    """The ``CaseFilterSet`` data of the page: the query string without paging, "mine" as
    the user's own name, and the user's team when the page is opened without filters."""
    filters = request.GET.copy()
    for name in PAGE_PARAMS:
        filters.pop(name, None)
    if request.GET.get("mine"):
        filters["assignee"] = request.user.get_username()
        filters.pop("unassigned", None)
    if "team" not in request.GET:
        filters["team"] = _default_team(request.user)
    for key in [k for k, v in filters.lists() if not any(v)]:
        del filters[key]
    return filters


def _done_mode(filters: QueryDict) -> bool:
    """Resolved and closed cases are listed newest first, not in queue order."""
    statuses = set(filters.getlist("status"))
    return filters.get("state") == "done" or (bool(statuses) and statuses <= set(DONE_STATUSES))


@login_required
@permission_required("cases.view_case", raise_exception=True)
@require_GET
def case_queue_view(request: HttpRequest) -> HttpResponse:
    """A team queue, most urgent SLA clock first (paused cases last); with htmx only the
    next rows ("Show more")."""
    filters = _queue_filters(request)
    size = settings.CXPORTAL_PAGE_SIZE
    done = _done_mode(filters)
    if done:
        page = keyset_page(
            case_list(actor=request.user, filters=filters),
            before=request.GET.get("before"),
            size=size,
        )
        cursor_name, cursor = "before", page.next_before
    else:
        page = queue_page(
            case_queue(actor=request.user, filters=filters),
            after=request.GET.get("after"),
            size=size,
        )
        cursor_name, cursor = "after", page.next_cursor
    query = request.GET.copy()
    query.pop("after", None)
    query.pop("before", None)
    if "team" not in query:
        query["team"] = filters.get("team", "")
    more_url = ""
    if cursor:
        more_query = query.copy()
        more_query[cursor_name] = cursor
        more_url = f"?{more_query.urlencode()}"
    context = {
        "cases": decorate(page.items),
        "more_url": more_url,
        "done": done,
        "show_team": not filters.get("team"),
    }
    if request.htmx:
        return render(request, "cases/_queue_rows.html", context)
    filterset = CaseFilterSet(data=filters, queryset=Case.objects.none())
    form_errors = [] if filterset.is_valid() else filterset.errors
    context.update(
        {
            "filters": filters,
            "form_errors": form_errors,
            "mine": bool(request.GET.get("mine")),
            "teams": list(Team.objects.order_by("name")),
            "assignees": list(case_assignees()),
            "statuses": Status.choices,
            "priorities": Priority.choices,
            "categories": Category.choices,
            "selected_statuses": filters.getlist("status"),
            "selected_priorities": filters.getlist("priority"),
        }
    )
    return render(request, "cases/queue.html", context)


# --- The case page ------------------------------------------------------------------------
def _visible_case(request: HttpRequest, case_id: int) -> Case:
    try:
        return case_get(actor=request.user, case_id=case_id)
    except Case.DoesNotExist:
        raise Http404("No such case.") from None


def _timeline(request: HttpRequest, customer: Customer) -> dict:
    """The customer's latest interactions beside the case; "Show more" loads the customers
    app's timeline fragment."""
    if not request.user.has_perm("customers.view_customer"):
        return {}
    page = timeline_page(customer_timeline(customer=customer), cursor=None, size=TIMELINE_SIZE)
    more = urlencode({"cursor": page.next_cursor}) if page.next_cursor else ""
    return {
        "timeline": page,
        "customer_url": reverse("customers:detail", args=[customer.pk]),
        "more_page_url": f"{reverse('customers:detail', args=[customer.pk])}?{more}",
        "more_fragment_url": f"{reverse('customers:timeline', args=[customer.pk])}?{more}",
        "timeline_actions": timeline_actions(request, customer),
    }


def _case_context(
    request: HttpRequest,
    case: Case,
    *,
    edit_form: CaseEditForm | None = None,
    reply_form: CaseReplyForm | None = None,
    note_form: CaseNoteForm | None = None,
    stale: dict | None = None,
) -> dict:
    user = request.user
    now = timezone.now()
    decorate([case], now)
    may_change = user.has_perm("cases.change_case")
    may_reply = user.has_perm("cases.reply_case") and case.status not in DONE_STATUSES
    may_note = user.has_perm("cases.view_internal_note")
    if may_change and edit_form is None:
        edit_form = CaseEditForm(case=case)
    if may_reply and reply_form is None:
        reply_form = CaseReplyForm()
    if may_note and note_form is None:
        note_form = CaseNoteForm()
    show_history = user.has_perm("cases.view_caseevent") or user.has_perm("cases.change_case")
    return {
        "case": case,
        "customer": case.customer,
        "tiles": clock_tiles(case, now),
        "edit_form": edit_form if may_change else None,
        "reply_form": reply_form if may_reply else None,
        "note_form": note_form if may_note else None,
        "may_change": may_change,
        "status_form": CaseStatusForm(initial={"version": case.version}),
        "events": _history(user, case) if show_history else None,
        "stale": stale,
        **_timeline(request, case.customer),
    }


FIELD_LABELS = {
    "subject": "subject",
    "description": "description",
    "category": "category",
    "priority": "priority",
    "team": "team",
}


def describe_event(event) -> str:
    """One line of the case history in words (the body, a note or a reply, comes apart)."""
    kind, changes = event.kind, event.changes or {}
    if kind == "created":
        return f"Opened as {Status(event.to_status).label.lower()}" if event.to_status else "Opened"
    if kind == "status":
        return f"{Status(event.from_status).label} → {Status(event.to_status).label}"
    if kind == "assigned":
        who = changes.get("assignee")
        return f"Assigned to {who}" if who else "Given back to the team queue"
    if kind == "updated":
        parts = [f"{FIELD_LABELS.get(k, k)} → {_shown(v)}" for k, v in changes.items()]
        return "Changed " + ", ".join(parts) if parts else "Updated"
    if kind == "deadline":
        when = parse_datetime(changes["deadline"]) if changes.get("deadline") else None
        return f"Customer needs it by {_when(when)}" if when else "Customer deadline cleared"
    if kind == "reply":
        return (
            f"Replied by {event.interaction.get_channel_display().lower()}"
            if (event.interaction)
            else "Replied"
        )
    if kind == "linked":
        return "Linked an interaction"
    if kind == "note":
        return "Internal note"
    return event.get_kind_display()


def _history(user, case: Case) -> list:
    events = list(case_events(actor=user, case=case))
    for event in events:
        event.line = describe_event(event)
    return events


def _render_case(request: HttpRequest, case: Case, *, status: int = 200, **forms) -> HttpResponse:
    return render(
        request, "cases/detail.html", _case_context(request, case, **forms), status=status
    )


@login_required
@permission_required("cases.view_case", raise_exception=True)
@require_GET
def case_detail_view(request: HttpRequest, case_id: int) -> HttpResponse:
    return _render_case(request, _visible_case(request, case_id))


def _stale(request: HttpRequest, case_id: int, error: StaleVersion, mine: dict) -> HttpResponse:
    """The case as it is now, what the agent tried to save beside it, nothing written."""
    case = _visible_case(request, case_id)
    now = {
        **CaseEditForm.initial_for(case),
        "team": case.team,
        "assignee": case.assignee,
        "customer_deadline_reason": case.customer_deadline_reason,
    }
    labels = {
        name: field.label or pretty_name(name) for name, field in CaseEditForm.base_fields.items()
    }
    differences = [
        {"label": labels[name], "mine": _shown(mine[name]), "now": _shown(now[name])}
        for name in mine
        if name in now and name != "version" and _shown(mine[name]) != _shown(now[name])
    ]
    stale = {"message": str(error), "yours": mine.get("version"), "differences": differences}
    return _render_case(request, case, status=409, stale=stale)


def _shown(value) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, datetime):
        return timezone.localtime(value).strftime("%a %-d %b %Y %H:%M")
    if isinstance(value, Team):
        return value.name
    if hasattr(value, "get_username"):
        return value.get_username()
    for choices in (Status, Category, Priority):
        if value in choices.values:
            return str(choices(value).label)
    return str(value)


@login_required
@permission_required("cases.change_case", raise_exception=True)
@require_POST
def case_edit_view(request: HttpRequest, case_id: int) -> HttpResponse:
    """Save the edit form: details, assignee, a status transition and the customer's
    deadline, all from the version the agent saw — all of it or none of it."""
    case = _visible_case(request, case_id)
    form = CaseEditForm(request.POST, case=case)
    if not form.is_valid():
        return _render_case(request, case, edit_form=form)
    data = form.cleaned_data
    try:
        with transaction.atomic():
            saved = case_update(
                actor=request.user,
                case=case,
                version=data["version"],
                subject=data["subject"],
                category=data["category"],
                priority=data["priority"],
                team=data["team"],
            )
            if saved.assignee_id != (data["assignee"].pk if data["assignee"] else None):
                saved = case_assign(
                    actor=request.user, case=saved, version=saved.version, assignee=data["assignee"]
                )
            if data["status"] != saved.status:
                saved = case_status_change(
                    actor=request.user, case=saved, version=saved.version, status=data["status"]
                )
            deadline = data["customer_deadline"]
            reason = data["customer_deadline_reason"].strip() if deadline else ""
            if (_minute(deadline), reason) != (
                _minute(saved.customer_deadline),
                saved.customer_deadline_reason,
            ):
                saved = case_deadline_set(
                    actor=request.user,
                    case=saved,
                    version=saved.version,
                    deadline=deadline,
                    reason=reason,
                )
    except StaleVersion as error:
        return _stale(request, case_id, error, data)
    except ValidationError as error:
        show_errors(form, error)
        return _render_case(request, _visible_case(request, case_id), edit_form=form)
    if saved.version == data["version"]:
        messages.info(request, "Nothing changed.")
    else:
        messages.success(request, f"Saved case #{case_id}.")
    return redirect("cases:detail", case_id)


def _minute(when: datetime | None) -> datetime | None:
    """The form edits deadlines to the minute: seconds the API stored are no change."""
    return when.replace(second=0, microsecond=0) if when else None


def _status_view(request: HttpRequest, case_id: int, service, done: str) -> HttpResponse:
    case = _visible_case(request, case_id)
    form = CaseStatusForm(request.POST)
    if not form.is_valid():
        messages.error(request, "This page was out of date; here is the case as it is now.")
        return redirect("cases:detail", case_id)
    try:
        service(
            actor=request.user,
            case=case,
            version=form.cleaned_data["version"],
            note=form.cleaned_data["note"],
        )
    except StaleVersion as error:
        return _stale(request, case_id, error, {"version": form.cleaned_data["version"]})
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("cases:detail", case_id)
    messages.success(request, f"Case #{case_id} {done}.")
    return redirect("cases:detail", case_id)


@login_required
@permission_required("cases.change_case", raise_exception=True)
@require_POST
def case_resolve_view(request: HttpRequest, case_id: int) -> HttpResponse:
    return _status_view(request, case_id, case_resolve, "resolved")


@login_required
@permission_required("cases.change_case", raise_exception=True)
@require_POST
def case_reopen_view(request: HttpRequest, case_id: int) -> HttpResponse:
    return _status_view(request, case_id, case_reopen, "reopened")


@login_required
@permission_required("cases.reply_case", raise_exception=True)
@require_POST
def case_reply_view(request: HttpRequest, case_id: int) -> HttpResponse:
    """Answer the customer through their channel; what stops it (no channel to answer on,
    a resolved case) is shown on the reply form."""
    case = _visible_case(request, case_id)
    form = CaseReplyForm(request.POST)
    if form.is_valid():
        try:
            reply = case_reply(
                actor=request.user,
                case=case,
                body=form.cleaned_data["body"],
                channel=form.cleaned_data["channel"] or None,
            )
        except ValidationError as error:
            show_errors(form, error)
        else:
            messages.success(
                request,
                f"Reply queued to send by {reply.get_channel_display().lower()}; "
                "it is on the customer's timeline.",
            )
            return redirect("cases:detail", case_id)
    return _render_case(request, _visible_case(request, case_id), reply_form=form)


@login_required
@permission_required("cases.view_internal_note", raise_exception=True)
@require_POST
def case_note_view(request: HttpRequest, case_id: int) -> HttpResponse:
    case = _visible_case(request, case_id)
    form = CaseNoteForm(request.POST)
    if form.is_valid():
        try:
            case_note_add(actor=request.user, case=case, body=form.cleaned_data["body"])
        except ValidationError as error:
            show_errors(form, error)
        else:
            messages.success(request, "Internal note added.")
            return redirect("cases:detail", case_id)
    return _render_case(request, case, note_form=form)


# --- A new case ---------------------------------------------------------------------------
@login_required
@permission_required("cases.add_case", raise_exception=True)
@require_http_methods(["GET", "POST"])
def case_create_view(request: HttpRequest) -> HttpResponse:
    """Open a case for a customer (``?customer=<id>``), optionally from one of their
    interactions (``&interaction=<id>``), which is linked to the case."""
    customer = customer_from_query(
        request,
        page="cases:new",
        missing="Open a case from the customer's page: find the customer first.",
    )
    if isinstance(customer, HttpResponse):
        return customer
    interaction = None
    if (interaction_id := query_id(request, "interaction")) is not None:
        interaction = customer_timeline(customer=customer).filter(pk=interaction_id).first()
        if interaction is None:
            raise Http404("No such interaction of this customer.")
    if request.method == "POST":
        form = CaseCreateForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                case = case_open(
                    actor=request.user,
                    customer=customer,
                    subject=data["subject"],
                    description=data["description"],
                    category=data["category"],
                    priority=data["priority"],
                    team=data["team"],
                    interaction=interaction,
                    customer_deadline=data["customer_deadline"],
                    customer_deadline_reason=data["customer_deadline_reason"],
                )
            except ValidationError as error:
                show_errors(form, error)
            else:
                messages.success(request, f"Opened case #{case.pk} in the {case.team} queue.")
                return redirect("cases:detail", case.pk)
    else:
        initial = {}
        if interaction is not None:
            initial = {"subject": interaction.summary[:200]}
        form = CaseCreateForm(initial=initial)
    context = {"customer": customer, "interaction": interaction, "form": form}
    return render(request, "cases/new.html", context)


# --- The SLA report -----------------------------------------------------------------------
PERIODS = {"week": 12, "month": 6}  # how many of each are shown
CHART_W, CHART_H = 560, 200
PAD_L, PAD_R, PAD_T, PAD_B = 40, 20, 10, 26
COLOURS = ["#2f5bd3", "#067647", "#b45309", "#a8255f", "#0f6f7c", "#6b3fb5", "#4a5565"]


def _period_starts(period: str, now: datetime) -> list[datetime]:
    """The starts of the last N weeks (Mondays) or months, oldest first, local midnight."""
    today = timezone.localdate(now)
    starts = []
    if period == "month":
        year, month = today.year, today.month
        for _ in range(PERIODS["month"]):
            starts.append((year, month, 1))
            year, month = (year - 1, 12) if month == 1 else (year, month - 1)
        days = [today.replace(year=y, month=m, day=d) for y, m, d in starts]
    else:
        monday = today - timedelta(days=today.weekday())
        days = [monday - timedelta(weeks=i) for i in range(PERIODS["week"])]
    tz = timezone.get_current_timezone()
    return [datetime.combine(day, datetime.min.time(), tz) for day in reversed(days)]


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    pct: float
    label: str


def _chart(periods: list[datetime], series: dict[str, dict], measure: str, period: str) -> dict:
    """An SVG line chart (one line per team) of one attainment measure, 0–100%."""
    width = CHART_W - PAD_L - PAD_R
    height = CHART_H - PAD_T - PAD_B
    period_word = "month" if period == "month" else "week"
    step = width / max(len(periods) - 1, 1)

    def y(pct: float) -> float:
        return round(PAD_T + height * (1 - pct / 100), 1)

    lines = []
    for index, (team, rows) in enumerate(series.items()):
        points, segments, segment = [], [], []
        for i, start in enumerate(periods):
            row = rows.get(start.date())
            pct = getattr(row, measure) if row else None
            if pct is None:  # no data that period: the line breaks
                segments.append(segment)
                segment = []
                continue
            label = f"{team}, {period_word} of {start:%-d %b}: {pct:g}% of {row.resolved}"
            point = Point(x=round(PAD_L + i * step, 1), y=y(pct), pct=pct, label=label)
            points.append(point)
            segment.append(point)
        segments.append(segment)
        lines.append(
            {
                "team": team,
                "colour": COLOURS[index % len(COLOURS)],
                "points": points,
                "paths": [" ".join(f"{p.x},{p.y}" for p in s) for s in segments if len(s) > 1],
            }
        )
    every = max(1, len(periods) // 6)
    return {
        "width": CHART_W,
        "height": CHART_H,
        "left": PAD_L,
        "right": CHART_W - PAD_R,
        "grid": [{"y": y(pct), "label": f"{pct}%"} for pct in (0, 25, 50, 75, 100)],
        "ticks": [
            {
                "x": round(PAD_L + i * step, 1),
                "label": f"{start:%b %Y}" if period == "month" else f"{start:%-d %b}",
                "anchor": "end" if i == len(periods) - 1 else "middle",
            }
            for i, start in enumerate(periods)
            if (len(periods) - 1 - i) % every == 0  # evenly, ending on the latest
        ],
        "label_y": CHART_H - 6,
        "lines": lines,
    }


@login_required
@permission_required("cases.view_slapolicy", raise_exception=True)
@require_GET
def sla_report_view(request: HttpRequest) -> HttpResponse:
    """SLA attainment of resolved cases per team and week (or month): a table and a chart."""
    period = request.GET.get("period", "week")
    if period not in PERIODS:
        period = "week"
    now = timezone.now()
    periods = _period_starts(period, now)
    rows = sla_report(actor=request.user, since=periods[0], until=now, period=period)
    series: dict[str, dict] = {}
    for row in rows:
        series.setdefault(row.team, {})[timezone.localtime(row.period).date()] = row
    table = [
        {"start": start, "rows": [row for row in rows if _same_period(row.period, start)]}
        for start in reversed(periods)
    ]
    context = {
        "period": period,
        "periods": PERIODS,
        "table": [entry for entry in table if entry["rows"]],
        "charts": [
            ("First response within target", _chart(periods, series, "first_response_pct", period)),
            ("Resolved within target", _chart(periods, series, "resolution_pct", period)),
        ],
        "teams": list(series),
        "since": periods[0],
    }
    return render(request, "cases/sla_report.html", context)


def _same_period(when: datetime, start: datetime) -> bool:
    return timezone.localtime(when).date() == start.date()
