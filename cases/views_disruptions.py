"""Staff pages of disruptions: the list (live and recently resolved), declaring one
(operations), and the disruption page: facts, accessibility impact, staff guidance, the
updates with how many customers each reached, the affected customers, linked cases, and
the forms to post an update, resolve it, and update every linked case at once.

Thin: reads through ``cases.selectors``, writes through ``cases.disruptions``. A stale
version (someone posted meanwhile) shows a clear message and writes nothing. Each page
costs a fixed number of queries whatever the disruption affects.
"""

from datetime import datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from cases.disruptions import (
    disruption_cases_update,
    disruption_declare,
    disruption_resolve,
    disruption_update,
)
from cases.forms_care import (
    DisruptionCasesUpdateForm,
    DisruptionDeclareForm,
    DisruptionResolveForm,
    DisruptionUpdateForm,
    place_options,
)
from cases.models import Disruption
from cases.selectors import (
    disruption_affected,
    disruption_affected_by_place,
    disruption_cases,
    disruption_get,
    disruption_list,
    disruption_notice_counts,
    disruption_updates,
)
from cases.views import decorate, span
from customers.selectors import can_see_restricted
from cxportal.errors import StaleVersion
from cxportal.validation import id_problem
from cxportal.web import show_errors

AFFECTED_PAGE = 50
RESOLVED_SHOWN = 10
LIVE_SHOWN = 100


def window(disruption: Disruption, now: datetime) -> str:
    """When, in words: "since Tue 14 Jan, 09:00", "from … until …", "ended …"."""

    def when(value: datetime) -> str:
        return timezone.localtime(value).strftime("%a %-d %b, %H:%M")

    if disruption.status == Disruption.Status.RESOLVED:
        return f"{when(disruption.starts_at)} – resolved {when(disruption.resolved_at or now)}"
    start = "since" if disruption.starts_at <= now else "from"
    text = f"{start} {when(disruption.starts_at)}"
    if disruption.ends_at:
        text += f" until {when(disruption.ends_at)}"
    return text


def decorate_disruptions(disruptions, now: datetime | None = None) -> list[Disruption]:
    now = now or timezone.now()
    disruptions = list(disruptions)
    for disruption in disruptions:
        disruption.window = window(disruption, now)
        if disruption.status == Disruption.Status.SCHEDULED:
            disruption.starts_in = span(disruption.starts_at - now)
    return disruptions


# --- The list ---------------------------------------------------------------------------------
@login_required
@permission_required("cases.view_disruption", raise_exception=True)
@require_GET
def disruption_list_view(request: HttpRequest) -> HttpResponse:
    user = request.user
    live = list(disruption_list(actor=user, live=True)[:LIVE_SHOWN])
    live.sort(key=lambda d: (d.status != Disruption.Status.ACTIVE, not d.accessibility_impact))
    resolved = disruption_list(actor=user, status=Disruption.Status.RESOLVED)[:RESOLVED_SHOWN]
    context = {
        "live": decorate_disruptions(live),
        "resolved": decorate_disruptions(resolved),
    }
    return render(request, "cases/disruptions/list.html", context)


# --- Declaring --------------------------------------------------------------------------------
@login_required
@permission_required("cases.add_disruption", raise_exception=True)
@require_http_methods(["GET", "POST"])
def disruption_declare_view(request: HttpRequest) -> HttpResponse:
    """Declare planned works or an incident; its affected customers are computed at once."""
    places = place_options()
    if request.method == "POST":
        form = DisruptionDeclareForm(request.POST, places=places)
        if form.is_valid():
            data = dict(form.cleaned_data)
            notify = data.pop("notify")
            try:
                disruption = disruption_declare(actor=request.user, notify=notify, **data)
            except ValidationError as error:
                show_errors(form, error)
            else:
                told = " Telling them now." if notify and disruption.affected_count else ""
                messages.success(
                    request,
                    f"Declared “{disruption.title}”: {disruption.affected_count} "
                    f"customer{'s' if disruption.affected_count != 1 else ''} affected.{told}",
                )
                return redirect("disruptions:detail", disruption.pk)
    else:
        start = timezone.localtime().replace(second=0, microsecond=0)
        form = DisruptionDeclareForm(places=places, initial={"starts_at": start})
    return render(request, "cases/disruptions/new.html", {"form": form})


# --- The disruption page -------------------------------------------------------------------------
def _visible(request: HttpRequest, disruption_id: int) -> Disruption:
    try:
        return disruption_get(actor=request.user, disruption_id=disruption_id)
    except Disruption.DoesNotExist:
        raise Http404("No such disruption.") from None


def _after(request: HttpRequest) -> int | None:
    value = request.GET.get("after", "")
    if value.isdigit() and not id_problem(int(value)):
        return int(value)
    return None


def _affected_page(request: HttpRequest, disruption: Disruption) -> dict:
    """Affected customers by customer id, ``AFFECTED_PAGE`` at a time, and the place that
    makes each affected."""
    qs = disruption_affected(disruption=disruption)
    after = _after(request)
    if after is not None:
        qs = qs.filter(customer_id__gt=after)
    rows = list(qs[: AFFECTED_PAGE + 1])
    more = len(rows) > AFFECTED_PAGE
    rows = rows[:AFFECTED_PAGE]
    more_url = ""
    if more:
        more_url = (
            f"{reverse('disruptions:affected', args=[disruption.pk])}?after={rows[-1].customer_id}"
        )
    return {
        "affected": rows,
        "affected_more_url": more_url,
        "show_restricted": can_see_restricted(request.user),
    }


CHART_W, BAR_H, LABEL_W = 520, 22, 170


def _place_chart(rows: list[dict]) -> dict | None:
    """A horizontal SVG bar chart of affected customers per place."""
    if not rows:
        return None
    top = max(row["count"] for row in rows) or 1
    width = CHART_W - LABEL_W - 50
    bars = [
        {
            "y": i * (BAR_H + 8),
            "label": row["place"],
            "kind": row["kind"],
            "count": row["count"],
            "w": max(2, round(width * row["count"] / top)),
        }
        for i, row in enumerate(rows)
    ]
    return {
        "width": CHART_W,
        "height": len(bars) * (BAR_H + 8),
        "label_w": LABEL_W,
        "bar_h": BAR_H,
        "text_y": BAR_H // 2 + 5,
        "bars": bars,
    }


def _progress(disruption: Disruption, updates, counts: dict) -> list:
    """Each update with its notification progress: notified, skipped, done or not."""
    for update in updates:
        sent, skipped = counts.get(update.pk, (0, 0))
        update.sent, update.skipped = sent, skipped
        told = sent + skipped
        total = max(disruption.affected_count, told)
        update.pct = round(100 * told / total) if total else 100
        update.done = bool(update.notify_done_at)
    return updates


def _detail_context(
    request: HttpRequest,
    disruption: Disruption,
    *,
    update_form: DisruptionUpdateForm | None = None,
    resolve_form: DisruptionResolveForm | None = None,
    cases_form: DisruptionCasesUpdateForm | None = None,
    stale: str = "",
    open_form: str = "",
) -> dict:
    user = request.user
    now = timezone.now()
    (disruption,) = decorate_disruptions([disruption], now)
    live = disruption.status != Disruption.Status.RESOLVED
    may_change = user.has_perm("cases.change_disruption")
    updates = _progress(
        disruption,
        list(disruption_updates(disruption=disruption)),
        disruption_notice_counts(disruption=disruption),
    )
    context = {
        "disruption": disruption,
        "places": sorted(disruption.places.all(), key=lambda p: (p.kind, p.name)),
        "place_names": sorted(p.name for p in disruption.places.all()),
        "updates": updates,
        "may_change": may_change and live,
        "stale": stale,
        "open_form": open_form,
    }
    if may_change and live:
        context["update_form"] = update_form or DisruptionUpdateForm(
            initial=DisruptionUpdateForm.initial_for(disruption)
        )
        context["resolve_form"] = resolve_form or DisruptionResolveForm(
            initial={"version": disruption.version}
        )
    if user.has_perm("cases.view_disruptioncustomer"):
        context.update(_affected_page(request, disruption))
        context["may_see_affected"] = True
        context["chart"] = _place_chart(disruption_affected_by_place(disruption=disruption))
    if user.has_perm("cases.view_case"):
        cases = decorate(disruption_cases(actor=user, disruption=disruption), now)
        context["cases"] = cases
        context["active_cases"] = sum(1 for case in cases if case.is_active)
        if may_change:
            context["cases_form"] = cases_form or DisruptionCasesUpdateForm()
    return context


def _render(request: HttpRequest, disruption: Disruption, *, status: int = 200, **kw):
    return render(
        request,
        "cases/disruptions/detail.html",
        _detail_context(request, disruption, **kw),
        status=status,
    )


@login_required
@permission_required("cases.view_disruption", raise_exception=True)
@require_GET
def disruption_detail_view(request: HttpRequest, disruption_id: int) -> HttpResponse:
    return _render(request, _visible(request, disruption_id))


@login_required
@permission_required("cases.view_disruptioncustomer", raise_exception=True)
@require_GET
def disruption_affected_view(request: HttpRequest, disruption_id: int) -> HttpResponse:
    """The next page of affected customers (htmx "Show more"; the page itself without)."""
    disruption = _visible(request, disruption_id)
    if not request.htmx:
        return _render(request, disruption)
    context = _affected_page(request, disruption)
    return render(request, "cases/disruptions/_affected_rows.html", context)


def _changed(disruption: Disruption, data: dict) -> dict:
    """The editable facts the form changes (the public message is always new)."""
    fields = {"public_message": data["public_message"]}
    for name in ("staff_guidance", "severity", "ends_at", "accessibility_impact"):
        if data[name] != getattr(disruption, name):
            fields[name] = data[name]
    if data["accessibility_note"] != disruption.accessibility_note:
        fields["accessibility_note"] = data["accessibility_note"]
    return fields


def _resolved_already(request: HttpRequest, disruption: Disruption) -> HttpResponse | None:
    if disruption.status != Disruption.Status.RESOLVED:
        return None
    messages.info(request, f"“{disruption.title}” is resolved already: nothing was changed.")
    return redirect("disruptions:detail", disruption.pk)


def _stale_text(error: StaleVersion) -> str:
    return (
        f"{error} Nothing was posted. The page now shows the disruption as it is; "
        "your text is kept below."
    )


@login_required
@permission_required("cases.view_disruption", raise_exception=True)
@permission_required("cases.change_disruption", raise_exception=True)
@require_POST
def disruption_update_view(request: HttpRequest, disruption_id: int) -> HttpResponse:
    disruption = _visible(request, disruption_id)
    if done := _resolved_already(request, disruption):
        return done
    form = DisruptionUpdateForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            disruption = disruption_update(
                actor=request.user,
                disruption=disruption,
                version=data["version"],
                notify=data["notify"],
                **_changed(disruption, data),
            )
        except StaleVersion as error:
            current = _visible(request, disruption_id)
            mine = request.POST.copy()
            mine["version"] = str(current.version)
            form = DisruptionUpdateForm(mine)
            form.is_valid()
            return _render(
                request,
                current,
                status=409,
                update_form=form,
                stale=_stale_text(error),
                open_form="update",
            )
        except ValidationError as error:
            show_errors(form, error)
        else:
            told = " Telling the affected customers." if data["notify"] else ""
            messages.success(request, f"Update posted.{told}")
            return redirect("disruptions:detail", disruption.pk)
    elif "version" in form.errors:
        form.add_error(None, "This page is out of date: reload it and post again.")
    return _render(request, disruption, update_form=form, open_form="update")


@login_required
@permission_required("cases.view_disruption", raise_exception=True)
@permission_required("cases.change_disruption", raise_exception=True)
@require_POST
def disruption_resolve_view(request: HttpRequest, disruption_id: int) -> HttpResponse:
    disruption = _visible(request, disruption_id)
    if done := _resolved_already(request, disruption):
        return done
    form = DisruptionResolveForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            disruption = disruption_resolve(
                actor=request.user,
                disruption=disruption,
                version=data["version"],
                public_message=data["public_message"],
                notify=data["notify"],
            )
        except StaleVersion as error:
            current = _visible(request, disruption_id)
            return _render(
                request, current, status=409, stale=_stale_text(error), open_form="resolve"
            )
        except ValidationError as error:
            show_errors(form, error)
        else:
            messages.success(request, f"“{disruption.title}” is resolved.")
            return redirect("disruptions:detail", disruption.pk)
    return _render(request, disruption, resolve_form=form, open_form="resolve")


@login_required
@permission_required("cases.view_disruption", raise_exception=True)
@permission_required("cases.change_disruption", raise_exception=True)
@require_POST
def disruption_cases_update_view(request: HttpRequest, disruption_id: int) -> HttpResponse:
    """One update to the customer of every active linked case, recorded on each case."""
    disruption = _visible(request, disruption_id)
    form = DisruptionCasesUpdateForm(request.POST)
    if form.is_valid():
        try:
            written = disruption_cases_update(
                actor=request.user, disruption=disruption, body=form.cleaned_data["body"]
            )
        except ValidationError as error:
            show_errors(form, error)
        else:
            messages.success(
                request,
                f"Update sent on {written} linked case{'s' if written != 1 else ''}; "
                "any case whose customer could not be reached has a note saying so.",
            )
            return redirect("disruptions:detail", disruption.pk)
    return _render(request, disruption, cases_form=form, open_form="cases")
