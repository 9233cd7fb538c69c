from datetime import timedelta

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_safe

from campaigns.selectors import campaigns_in_flight, open_opportunities_home
from cases.models import CareFlag
from cases.selectors import (
    care_flag_counts,
    case_at_risk,
    case_breached,
    case_list,
    case_queue,
    case_queue_counts_shared,
)
from cases.views import decorate
from customers.selectors import customer_list, customer_stage_counts
from cxportal.api.exceptions import json_server_error
from cxportal.health import broker_check, database_check
from cxportal.selectors import audit_list, team_home_for_user, team_list_for_user


@require_GET
@never_cache
def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: partners get the API's JSON error shape, staff the 500 page."""
    if request.path.startswith("/api/"):
        return json_server_error(request)
    return defaults.server_error(request)


@require_safe  # GET and HEAD, as load balancers ask
def healthz(request: HttpRequest) -> JsonResponse:
    checks = {"database": database_check(), "broker": broker_check()}
    failed = {name: error for name, error in checks.items() if error}
    body = {
        "status": "fail" if failed else "ok",
        "checks": {name: error or "ok" for name, error in checks.items()},
    }
    return JsonResponse(body, status=503 if failed else 200)


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    team = team_home_for_user(user=request.user)
    if team is None:
        return render(request, "cxportal/no_team.html", status=403)
    return redirect("team_home", slug=team.slug)


@login_required
@require_GET
def team_home(request: HttpRequest, slug: str) -> HttpResponse:
    teams = team_list_for_user(user=request.user)
    team = next((t for t in teams if t.slug == slug), None)
    if team is None:
        raise Http404("No such team home for you.")
    user = request.user
    context = {"team": team, "teams": teams}
    if user.has_perm("customers.view_customer"):
        stages = customer_stage_counts(actor=user)
        top = max((s["count"] for s in stages), default=0) or 1
        for s in stages:
            s["pct"] = round(100 * s["count"] / top)
        context["stages"] = stages
        context["total_customers"] = sum(s["count"] for s in stages)
        focus = {
            "sales": {"lifecycle_stage": "prospect"},
            "service": {"lifecycle_stage": "at_risk"},
        }
        context["focus_title"] = {
            "sales": "Newest prospects",
            "service": "Customers at risk",
        }.get(slug, "Newest customers")
        context["focus_customers"] = list(
            customer_list(actor=user, filters=focus.get(slug, {}))[:8]
        )
    if user.has_perm("cases.view_case"):
        context["cases"] = _cases_home(user, team)
    if user.has_perm("cases.view_careflag") and team.slug in CARE_HOME_TEAMS:
        context["care"] = _care_home(user, team)
    if user.has_perm("cxportal.view_auditevent"):
        context["recent_audit"] = list(audit_list()[:10])
    if user.has_perm("campaigns.view_campaign") and team.slug == "marketing":
        context["campaigns_home"] = campaigns_in_flight(actor=user)
    if user.has_perm("campaigns.view_opportunity") and team.slug == "sales":
        context["sales_home"] = open_opportunities_home(actor=user)
    return render(request, "cxportal/team_home.html", context)


HOME_CASES = 6


def _cases_home(user, team) -> dict:
    """Cases on a team's home page. Who works cases (service; a supervisor over every
    team) sees their queue, what is at risk, what breached and customer deadlines within a
    day; other teams see the counts only."""
    team_id = team.pk if team.slug == "service" else None
    now = timezone.now()
    home = {"counts": case_queue_counts_shared(actor=user, team_id=team_id)}
    if not user.has_perm("cases.change_case"):
        return home
    soon = (now + timedelta(days=1)).isoformat()
    deadlines = case_list(actor=user, filters={"state": "active", "deadline_before": soon})
    if team_id:
        deadlines = deadlines.filter(team_id=team_id)
    home.update(
        full=True,
        team_filter=team.slug if team_id else "",
        mine=decorate(
            case_queue(actor=user, filters={"assignee": user.get_username()})[:HOME_CASES], now
        ),
        at_risk=decorate(case_at_risk(actor=user, now=now, team_id=team_id)[:HOME_CASES], now),
        breached=decorate(case_breached(actor=user, now=now, team_id=team_id)[:HOME_CASES], now),
        deadlines=decorate(deadlines.order_by("customer_deadline", "id")[:HOME_CASES], now),
    )
    return home


#: Team homes that show open care flags: the teams that work a care queue, and supervisors
#: (every team's).
CARE_HOME_TEAMS = ("service", "operations", "supervisor")


def _care_home(user, team) -> dict:
    """Open care flags per kind for the team (every team's for supervisors): one query."""
    scoped = team if team.slug != "supervisor" else None
    counts = care_flag_counts(actor=user, team_id=scoped.pk if scoped else None)
    top = max(counts.values(), default=0) or 1
    kinds = [
        {
            "value": value,
            "label": label,
            "count": counts[value],
            "pct": round(100 * counts[value] / top),
        }
        for value, label in CareFlag.Kind.choices
        if counts.get(value)
    ]
    return {"team": scoped, "kinds": kinds, "total": sum(counts.values())}
