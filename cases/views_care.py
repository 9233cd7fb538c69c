"""Staff pages of proactive care: a team's care queue and the page where a flag is worked
(acknowledge, send the customer a message from a template, open a case, log a call back,
dismiss with a reason).

Thin: reads through ``cases.selectors``, writes through ``cases.care`` (which audits every
action). Only a flag ``care_flag_actionable`` finds for the user can be worked; any other
answers 404. A service's ValidationError ("no channel is set up to send") is shown on the
form it came from and the flag stays as it was. The queue costs a fixed number of queries
whatever it holds.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST

from cases.care import (
    care_flag_acknowledge,
    care_flag_call_back,
    care_flag_dismiss,
    care_flag_message,
    care_flag_open_case,
    message_fill,
)
from cases.forms_care import CareCallBackForm, CareCaseForm, CareDismissForm, CareMessageForm
from cases.models import CareFlag, Category
from cases.selectors import (
    care_flag_actionable,
    care_flag_counts,
    care_flag_queue,
    message_templates_for,
)
from cases.views import sla_clock, span
from cxportal.models import Team
from cxportal.pagination import keyset_page
from cxportal.selectors import team_list_for_user
from cxportal.web import next_url, show_errors

#: Teams whose members land on their own care queue; anyone else sees every team's.
CARE_TEAMS = (Team.Slug.SERVICE, Team.Slug.OPERATIONS)
#: The category a case opened from a flag starts with.
CASE_CATEGORY = {
    CareFlag.Kind.LATE_ORDER: Category.DELIVERY,
    CareFlag.Kind.DISRUPTION_IMPACT: Category.DISRUPTION,
    CareFlag.Kind.REPEAT_CONTACT: Category.COMPLAINT,
}
ACTIONS = ("message", "case", "call", "dismiss")


# --- Who may act on what (for showing buttons; the selector decides on every action) -------
def acting_team_ids(user) -> set[int] | None:
    """The teams whose flags the user may work: ``None`` for any team (supervisors), an
    empty set for nobody. Mirrors ``care_flag_actionable``; no query (the user's teams are
    cached for the request by the navigation)."""
    if not user.has_perm("cases.change_careflag"):
        return set()
    teams = team_list_for_user(user=user)
    if user.is_superuser or any(t.slug == Team.Slug.SUPERVISOR for t in teams):
        return None
    return {t.pk for t in teams}


def may_act(flag: CareFlag, team_ids: set[int] | None) -> bool:
    return flag.is_to_do and (team_ids is None or flag.team_id in team_ids)


def ago(when: datetime | None, now: datetime) -> str:
    if when is None:
        return ""
    if now - when < timedelta(minutes=1):
        return "just now"
    return f"{span(now - when)} ago"


def decorate_flags(flags, user, now: datetime | None = None) -> list[CareFlag]:
    """Attach ``raised_ago``, ``may_act`` and the case's SLA ``clock`` for the templates."""
    now = now or timezone.now()
    team_ids = acting_team_ids(user)
    flags = list(flags)
    for flag in flags:
        flag.raised_ago = ago(flag.raised_at, now)
        flag.may_act = may_act(flag, team_ids)
        flag.clock = sla_clock(flag.case, now) if flag.case_id and flag.case else None
    return flags


# --- The queue --------------------------------------------------------------------------------
def default_team_slug(user) -> str:
    """The queue a user lands on: their own (service or operations); everyone else, and
    supervisors, see every team's."""
    teams = team_list_for_user(user=user)
    if user.is_superuser or any(t.slug == Team.Slug.SUPERVISOR for t in teams):
        return ""
    return next((t.slug for t in teams if t.slug in CARE_TEAMS), "")


def _kind(request: HttpRequest) -> str:
    kind = request.GET.get("kind", "")
    return kind if kind in CareFlag.Kind.values else ""


@login_required
@permission_required("cases.view_careflag", raise_exception=True)
@require_GET
def care_queue_view(request: HttpRequest) -> HttpResponse:
    """A team's care queue, newest first; with htmx only the next rows ("Show more")."""
    user = request.user
    team_slug = request.GET["team"] if "team" in request.GET else default_team_slug(user)
    teams = list(Team.objects.order_by("name"))
    team = next((t for t in teams if t.slug == team_slug), None)
    kind = _kind(request)
    page = keyset_page(
        care_flag_queue(actor=user, team_id=team.pk if team else None, kind=kind or None),
        before=request.GET.get("before"),
        size=settings.CXPORTAL_PAGE_SIZE,
    )
    query = {"team": team.slug if team else "", "kind": kind}
    more_url = ""
    if page.next_before:
        more_url = "?" + urlencode({**query, "before": page.next_before})
    here = reverse("care:queue") + "?" + urlencode(query)
    context = {
        "flags": decorate_flags(page.items, user),
        "more_url": more_url,
        "next": here,
    }
    if request.htmx:
        return render(request, "cases/care/_queue_rows.html", context)
    counts = care_flag_counts(actor=user, team_id=team.pk if team else None)
    context.update(
        {
            "teams": teams,
            "team": team,
            "kind": kind,
            "kinds": [
                {"value": value, "label": label, "count": counts.get(value, 0)}
                for value, label in CareFlag.Kind.choices
            ],
            "total": sum(counts.values()),
            "may_act_anywhere": acting_team_ids(user) != set(),
        }
    )
    return render(request, "cases/care/queue.html", context)


# --- One flag: the page where it is worked ------------------------------------------------------
def _actionable(request: HttpRequest, flag_id: int) -> CareFlag:
    try:
        return care_flag_actionable(actor=request.user, flag_id=flag_id)
    except CareFlag.DoesNotExist:
        raise Http404("No such care flag in your queue.") from None


def _templates(flag: CareFlag) -> list:
    """The templates offered for the flag: those written for its kind first."""
    return sorted(message_templates_for(kind=flag.kind), key=lambda t: t.kind != flag.kind)


def _message_form(flag: CareFlag, templates: list, template_id: str | None) -> CareMessageForm:
    """The message form filled in from the chosen template (the first one offered when
    none was chosen)."""
    chosen = None
    if template_id is not None:
        chosen = next((t for t in templates if str(t.pk) == template_id), None)
    elif templates:
        chosen = templates[0]
    initial = {"template": str(chosen.pk) if chosen else ""}
    if chosen is not None:
        initial["subject"] = message_fill(chosen.subject, flag)
        initial["body"] = message_fill(chosen.body, flag)
    return CareMessageForm(templates=templates, initial=initial)


def _case_form(flag: CareFlag) -> CareCaseForm:
    subject = flag.summary
    if flag.order_id and flag.order:
        subject = f"Late express order {flag.order.external_id}"
    elif flag.disruption_id and flag.disruption:
        subject = f"Affected by: {flag.disruption.title}"
    return CareCaseForm(
        initial={
            "subject": subject[:200],
            "category": CASE_CATEGORY.get(flag.kind, Category.GENERAL),
            "priority": "high" if flag.severity == CareFlag.Severity.HIGH else "normal",
        }
    )


def _flag_context(
    request: HttpRequest,
    flag: CareFlag,
    *,
    forms: dict | None = None,
    open_action: str = "",
    template_id: str | None = None,
) -> dict:
    forms = forms or {}
    templates = _templates(flag)
    (flag,) = decorate_flags([flag], request.user)
    return {
        "flag": flag,
        "templates": templates,
        "message_form": forms.get("message") or _message_form(flag, templates, template_id),
        "case_form": forms.get("case") or _case_form(flag),
        "call_form": forms.get("call") or CareCallBackForm(),
        "dismiss_form": forms.get("dismiss") or CareDismissForm(),
        "open_action": open_action or "message",
        "failed_form": forms.get(open_action),
        "next": next_url(request),
        "queue_url": f"{reverse('care:queue')}?{urlencode({'team': flag.team.slug})}",
    }


@login_required
@require_GET
def care_flag_view(request: HttpRequest, flag_id: int) -> HttpResponse:
    """A flag with everything that can be done about it. ``?template=<id>`` fills the
    message in from that template (with htmx: just the message form)."""
    flag = _actionable(request, flag_id)
    template_id = request.GET.get("template")
    context = _flag_context(request, flag, template_id=template_id)
    if request.htmx and template_id is not None:
        return render(request, "cases/care/_message_form.html", context)
    return render(request, "cases/care/flag.html", context)


def _done(request: HttpRequest, flag: CareFlag, text: str) -> HttpResponse:
    messages.success(request, text)
    return redirect(next_url(request) or f"{reverse('care:queue')}?team={flag.team.slug}")


def _failed(request: HttpRequest, flag: CareFlag, action: str, form) -> HttpResponse:
    context = _flag_context(request, flag, forms={action: form}, open_action=action)
    return render(request, "cases/care/flag.html", context)


@login_required
@require_POST
def care_flag_acknowledge_view(request: HttpRequest, flag_id: int) -> HttpResponse:
    """Someone is on it. From the queue with htmx: the row comes back, acknowledged."""
    flag = _actionable(request, flag_id)
    error = ""
    try:
        care_flag_acknowledge(actor=request.user, flag=flag)
    except ValidationError as exc:
        error = " ".join(exc.messages)
    if request.htmx:
        flag = _actionable(request, flag_id)
        (flag,) = decorate_flags([flag], request.user)
        flag.error = error
        context = {"flags": [flag], "more_url": "", "next": next_url(request), "single": True}
        return render(request, "cases/care/_queue_rows.html", context)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, f"Acknowledged: {flag.summary}. It stays in the queue.")
    return redirect(next_url(request) or reverse("care:flag", args=[flag.pk]))


@login_required
@require_POST
def care_flag_message_view(request: HttpRequest, flag_id: int) -> HttpResponse:
    flag = _actionable(request, flag_id)
    form = CareMessageForm(request.POST, templates=_templates(flag))
    if form.is_valid():
        data = form.cleaned_data
        try:
            done = care_flag_message(
                actor=request.user,
                flag=flag,
                body=data["body"],
                subject=data["subject"],
                template=data["template"],
                channel=data["channel"] or None,
            )
        except ValidationError as error:
            show_errors(form, error)
        else:
            sent = done.action_interaction
            how = sent.get_channel_display().lower() if sent else "their channel"
            return _done(
                request, flag, f"Message to {flag.customer.display_name} queued to send by {how}."
            )
    return _failed(request, flag, "message", form)


@login_required
@require_POST
def care_flag_case_view(request: HttpRequest, flag_id: int) -> HttpResponse:
    flag = _actionable(request, flag_id)
    form = CareCaseForm(request.POST)
    if form.is_valid():
        try:
            done = care_flag_open_case(actor=request.user, flag=flag, **form.cleaned_data)
        except ValidationError as error:
            show_errors(form, error)
        else:
            case = done.action_case
            messages.success(request, f"Opened case #{case.pk} in the {case.team} queue.")
            return redirect("cases:detail", case.pk)
    return _failed(request, flag, "case", form)


@login_required
@require_POST
def care_flag_call_back_view(request: HttpRequest, flag_id: int) -> HttpResponse:
    flag = _actionable(request, flag_id)
    form = CareCallBackForm(request.POST)
    if form.is_valid():
        try:
            care_flag_call_back(actor=request.user, flag=flag, **form.cleaned_data)
        except ValidationError as error:
            show_errors(form, error)
        else:
            return _done(
                request, flag, f"Call back to {flag.customer.display_name} is on their timeline."
            )
    return _failed(request, flag, "call", form)


@login_required
@require_POST
def care_flag_dismiss_view(request: HttpRequest, flag_id: int) -> HttpResponse:
    flag = _actionable(request, flag_id)
    form = CareDismissForm(request.POST)
    if form.is_valid():
        try:
            care_flag_dismiss(actor=request.user, flag=flag, reason=form.cleaned_data["reason"])
        except ValidationError as error:
            show_errors(form, error)
        else:
            return _done(request, flag, f"Dismissed: {flag.summary}.")
    return _failed(request, flag, "dismiss", form)
