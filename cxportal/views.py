from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from customers.selectors import customer_list, customer_stage_counts
from cxportal.health import broker_check, database_check
from cxportal.selectors import audit_list, team_home_for_user, team_list_for_user


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    checks = {"database": database_check(), "broker": broker_check()}
    failed = {name: error for name, error in checks.items() if error}
    body = {
        "status": "fail" if failed else "ok",
        "checks": {name: error or "ok" for name, error in checks.items()},
    }
    return JsonResponse(body, status=503 if failed else 200)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    team = team_home_for_user(user=request.user)
    if team is None:
        return render(request, "cxportal/no_team.html", status=403)
    return redirect("team_home", slug=team.slug)


@login_required
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
    if user.has_perm("cxportal.view_auditevent"):
        context["recent_audit"] = list(audit_list()[:10])
    return render(request, "cxportal/team_home.html", context)
