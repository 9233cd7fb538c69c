"""Staff pages of campaigns and sales: the segment rule builder with a live count, the
campaigns by status, a new campaign, the campaign page (content, audience, status actions,
the service team's review, and after launch the report: suppressions by reason with
example customers, the funnel as an SVG chart, the variants compared), and the sales
pipeline with its opportunities.

Thin: reads through ``campaigns.selectors``, writes through ``campaigns.services``. A
service's ValidationError is shown where it belongs (a rule row, a form field) and nothing
is written; ``StaleVersion`` (someone changed the campaign meanwhile) shows the campaign as
it is now with a clear message. Each page costs a fixed number of queries whatever the
campaign's audience or the pipeline holds.
"""

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from campaigns.forms import (
    FIELD_SPECS,
    OP_LABELS,
    VARIANT_FIELDS,
    CampaignActionForm,
    CampaignContentForm,
    CampaignCreateForm,
    OpportunityForm,
    ReviewForm,
    RuleBuilder,
    RuleRow,
    SegmentForm,
)
from campaigns.gate import REASONS
from campaigns.models import Campaign, Opportunity, Segment
from campaigns.segments import MAX_RULES, segment_compile
from campaigns.selectors import (
    OPEN_STAGES,
    audience_sample,
    campaign_audience_rules,
    campaign_get,
    campaign_list,
    campaign_report,
    campaign_status_counts,
    opportunity_get,
    opportunity_list,
    opportunity_owners,
    opportunity_stage_totals,
    place_codes,
    segment_choices,
    segment_get,
    segment_list,
    segment_preview,
    suppressed_examples,
)
from campaigns.services import (
    campaign_cancel,
    campaign_content_update,
    campaign_create,
    campaign_launch,
    campaign_pause,
    campaign_resume,
    campaign_review,
    campaign_submit,
    opportunity_save,
    personalize,
    segment_count,
    segment_save,
)
from customers.models import Customer
from customers.views import customer_from_query
from cxportal.errors import StaleVersion
from cxportal.models import Team
from cxportal.pagination import keyset_page
from cxportal.selectors import team_home_for_user, team_list_for_user
from cxportal.web import next_url, query_id, show_errors

Status = Campaign.Status


# --- Small helpers ------------------------------------------------------------------------
def tabs(user, active: str) -> list[dict]:
    """The section's own tabs, those the user may open."""
    items = [
        ("campaigns", "Campaigns", "campaigns:list", "campaigns.view_campaign"),
        ("segments", "Segments", "campaigns:segments", "campaigns.view_segment"),
        ("pipeline", "Sales pipeline", "campaigns:pipeline", "campaigns.view_opportunity"),
    ]
    return [
        {"label": label, "url": reverse(name), "active": key == active}
        for key, label, name, perm in items
        if user.has_perm(perm)
    ]


def owner_team(user) -> Team | None:
    """The team that owns what the user creates: marketing for its members, else their
    first team."""
    teams = team_list_for_user(user=user)
    return next((t for t in teams if t.slug == Team.Slug.MARKETING), None) or team_home_for_user(
        user=user
    )


def in_owner_team(user, campaign: Campaign) -> bool:
    return any(t.pk == campaign.team_id for t in team_list_for_user(user=user))


def pct(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "—"


# --- Segments -----------------------------------------------------------------------------
@login_required
@permission_required("campaigns.view_segment", raise_exception=True)
@require_GET
def segment_list_view(request: HttpRequest) -> HttpResponse:
    segments = list(segment_list(actor=request.user))
    for segment in segments:
        segment.summary = rules_summary(segment.rules)
    context = {"segments": segments, "tabs": tabs(request.user, "segments")}
    return render(request, "campaigns/segments.html", context)


def rules_summary(rules) -> str:
    """A segment's rules in a line: "Region is North and Orders placed at least 2"."""
    builder = RuleBuilder.from_rules(rules)
    if builder.editor == "json":
        return "Nested rules (edited as JSON)"
    joiner = " and " if builder.match == "all" else " or "
    parts = []
    for row in builder.rows:
        spec = row.spec
        value = row.text
        if spec["kind"] == "choice":
            labels = dict(spec["choices"])
            value = ", ".join(str(labels.get(v, v)) for v in row.values)
        unit = f" {spec['unit']}" if spec.get("unit") else ""
        parts.append(f"{spec['label']} {OP_LABELS[row.op]} {value}{unit}")
    return joiner.join(parts)


def _visible_segment(request: HttpRequest, segment_id: int) -> Segment:
    try:
        return segment_get(actor=request.user, segment_id=segment_id)
    except Segment.DoesNotExist:
        raise Http404("No such segment.") from None


def _live_count(builder: RuleBuilder) -> int | None:
    """The rules' count now, or None with the problems put on the builder (a row's next to
    the row; a row not filled in yet is only noted, not flagged)."""
    try:
        rules = builder.current()
    except ValueError as exc:
        builder.json_errors.append(str(exc))
        return None
    try:
        return segment_preview(rules=rules)
    except ValidationError as exc:
        builder.show_errors(exc.message_dict, quiet_empty=True)
        return None


def _builder_action(builder: RuleBuilder, action: str) -> RuleBuilder:
    """Add or remove a row, or take over the rules typed as JSON."""
    if action == "add" and builder.editor == "rows" and len(builder.rows) < MAX_RULES:
        builder.rows.append(RuleRow())
    elif action.startswith("remove-") and action[7:].isdigit():
        index = int(action[7:])
        if index < len(builder.rows):
            del builder.rows[index]
    elif action == "use_json":
        typed = builder.json_text
        try:
            rules = builder.json_rules()
        except ValueError as exc:
            builder.editor = "json"
            builder.json_errors.append(str(exc))
            return builder
        builder = RuleBuilder.from_rules(rules)
        builder.json_text = typed
    return builder


@login_required
@permission_required("campaigns.view_segment", raise_exception=True)
@require_http_methods(["GET", "POST"])
def segment_edit_view(request: HttpRequest, segment_id: int | None = None) -> HttpResponse:
    """The rule builder: a new segment, or a saved one. Every button is a plain form post
    (add a row, remove one, count, save), so it works without JavaScript; with htmx the
    count follows each change (``segment_preview_view``) and rows are added in place."""
    segment = _visible_segment(request, segment_id) if segment_id else None
    may_save = request.user.has_perm(
        "campaigns.change_segment" if segment else "campaigns.add_segment"
    )
    if segment is None and not may_save:
        raise PermissionDenied("You may not build segments.")
    count, counted_at = None, None
    if request.method == "GET":
        form = SegmentForm(
            initial={"name": segment.name, "description": segment.description} if segment else {}
        )
        builder = RuleBuilder.from_rules(segment.rules) if segment else RuleBuilder()
        if segment is not None:
            count, counted_at = segment.last_count, segment.last_counted_at
    else:
        action = request.POST.get("action", "save")
        # The name is checked only when saving; other buttons just carry it along.
        form = (
            SegmentForm(request.POST)
            if action == "save"
            else SegmentForm(
                initial={
                    "name": request.POST.get("name", ""),
                    "description": request.POST.get("description", ""),
                }
            )
        )
        builder = _builder_action(RuleBuilder.from_post(request.POST), action)
        if action == "save":
            if not may_save:
                raise PermissionDenied("You may not save segments.")
            saved = _segment_save(request, form, builder, segment)
            if saved is not None:
                return redirect("campaigns:segment", saved.pk)
        else:
            count, counted_at = _live_count(builder), timezone.now()
    builder.sync_json()
    context = {
        "segment": segment,
        "form": form,
        "builder": builder,
        "count": count,
        "counted_at": counted_at,
        "may_save": may_save,
        "fields": [(name, spec["label"]) for name, spec in FIELD_SPECS.items()],
        "places": place_codes(),
        "max_rules": MAX_RULES,
        "tabs": tabs(request.user, "segments"),
    }
    return render(request, "campaigns/segment_form.html", context)


def _segment_save(request, form, builder: RuleBuilder, segment: Segment | None) -> Segment | None:
    """Save through ``segment_save``; None with the problems on the form and the rows."""
    form_ok = form.is_valid()
    try:
        rules = builder.current()
    except ValueError as exc:
        builder.json_errors.append(str(exc))
        return None
    try:
        segment_compile(rules)
    except ValidationError as exc:
        builder.show_errors(exc.message_dict)
        return None
    if not form_ok:
        return None
    team = owner_team(request.user)
    if team is None:
        raise PermissionDenied("You are in no team.")
    try:
        saved = segment_save(
            actor=request.user,
            name=form.cleaned_data["name"],
            description=form.cleaned_data["description"],
            rules=rules,
            team=segment.team if segment else team,
            segment=segment,
        )
    except ValidationError as exc:
        show_errors(form, exc)
        if "rules" in exc.message_dict:
            builder.errors += exc.message_dict["rules"]
        return None
    count = segment_count(segment=saved)
    messages.success(
        request, f"Saved “{saved.name}”: {count} customer{'s' if count != 1 else ''} now."
    )
    return saved


@login_required
@permission_required("campaigns.view_segment", raise_exception=True)
@require_POST
def segment_preview_view(request: HttpRequest) -> HttpResponse:
    """The live count of the rules as they stand in the builder (htmx): the count, and each
    row's problems swapped in next to the row (out of band)."""
    builder = RuleBuilder.from_post(request.POST)
    count = _live_count(builder)
    context = {"builder": builder, "count": count, "counted_at": timezone.now(), "oob": True}
    return render(request, "campaigns/_segment_count.html", context)


# --- Campaigns: the list and a new one ----------------------------------------------------
STATUS_TABS = [
    ("", "All"),
    (Status.DRAFT, "Drafts"),
    (Status.IN_REVIEW, "In review"),
    (Status.APPROVED, "Approved"),
    (Status.SCHEDULED, "Scheduled"),
    (Status.SENDING, "Sending"),
    (Status.PAUSED, "Paused"),
    (Status.SENT, "Sent"),
    (Status.CANCELLED, "Cancelled"),
]


@login_required
@permission_required("campaigns.view_campaign", raise_exception=True)
@require_GET
def campaign_list_view(request: HttpRequest) -> HttpResponse:
    """Campaigns by status, newest first; with htmx only the next rows ("Show more")."""
    status = request.GET.get("status", "")
    if status not in Status.values:
        status = ""
    page = keyset_page(
        campaign_list(actor=request.user, status=status or None),
        before=request.GET.get("before"),
        size=settings.CXPORTAL_PAGE_SIZE,
    )
    more_url = ""
    if page.next_before:
        more_url = f"?status={status}&before={page.next_before}"
    context = {"campaigns": page.items, "more_url": more_url, "status": status}
    if request.htmx:
        return render(request, "campaigns/_campaign_rows.html", context)
    counts = campaign_status_counts(actor=request.user)
    context.update(
        {
            "status_tabs": [
                {
                    "value": value,
                    "label": label,
                    "count": counts.get(value, 0) if value else sum(counts.values()),
                    "active": value == status,
                }
                for value, label in STATUS_TABS
            ],
            "tabs": tabs(request.user, "campaigns"),
        }
    )
    return render(request, "campaigns/list.html", context)


@login_required
@permission_required("campaigns.add_campaign", raise_exception=True)
@require_http_methods(["GET", "POST"])
def campaign_create_view(request: HttpRequest) -> HttpResponse:
    segments = segment_choices(actor=request.user)
    if request.method == "POST":
        form = CampaignCreateForm(request.POST, segments=segments)
        if form.is_valid():
            data = form.cleaned_data
            team = owner_team(request.user)
            if team is None:
                raise PermissionDenied("You are in no team.")
            try:
                campaign = campaign_create(
                    actor=request.user,
                    name=data["name"],
                    team=team,
                    channel=data["channel"],
                    segment=data["segment"],
                    variants=form.variants(),
                    eligible_for_service_follow_up=data["eligible_for_service_follow_up"],
                    follow_up_text=data["follow_up_text"],
                )
            except ValidationError as exc:
                show_errors(form, exc, VARIANT_FIELDS)
            else:
                messages.success(
                    request,
                    f"Created “{campaign.name}” as a draft. Submit it for the service "
                    "team's review when it is ready.",
                )
                return redirect("campaigns:detail", campaign.pk)
    else:
        initial = {}
        if (segment_id := query_id(request, "segment")) is not None:
            initial["segment"] = segment_id
        form = CampaignCreateForm(initial=initial, segments=segments)
    context = {"form": form, "tabs": tabs(request.user, "campaigns")}
    return render(request, "campaigns/new.html", context)


# --- The campaign page --------------------------------------------------------------------
#: What each status allows, in the order the buttons are shown.
ACTIONS = {
    Status.DRAFT: ("submit", "cancel"),
    Status.IN_REVIEW: ("cancel",),
    Status.APPROVED: ("launch", "cancel"),
    Status.SCHEDULED: ("launch", "pause", "cancel"),
    Status.SENDING: ("pause", "cancel"),
    Status.PAUSED: ("resume", "cancel"),
}
ACTION_SERVICES = {
    "submit": campaign_submit,
    "pause": campaign_pause,
    "resume": campaign_resume,
    "cancel": campaign_cancel,
}
LAUNCHED = (Status.SENDING, Status.SENT, Status.PAUSED, Status.CANCELLED)

# The funnel chart (horizontal bars), in SVG user units.
FUNNEL_W, ROW_H, LABEL_W, VALUE_W = 640, 34, 110, 130


@dataclass(frozen=True)
class FunnelBar:
    label: str
    count: int
    share: str  # of those sent
    y: float
    text_y: float
    width: float


def funnel_chart(report) -> dict:
    """Sent → opened → clicked → converted as horizontal bars, each as a share of sent."""
    steps = [
        ("Sent", report.sent),
        ("Opened", report.opened),
        ("Clicked", report.clicked),
        ("Converted", report.converted),
    ]
    top = max(report.sent, 1)
    track = FUNNEL_W - LABEL_W - VALUE_W
    bars = [
        FunnelBar(
            label=label,
            count=count,
            share="" if i == 0 else pct(count, report.sent),
            y=i * ROW_H + 4,
            text_y=i * ROW_H + 4 + (ROW_H - 12) / 2,
            width=round(max(track * count / top, 2 if count else 0), 1),
        )
        for i, (label, count) in enumerate(steps)
    ]
    return {
        "width": FUNNEL_W,
        "height": len(steps) * ROW_H + 4,
        "label_w": LABEL_W,
        "track": track,
        "bar_h": ROW_H - 12,
        "value_x": LABEL_W + track + 10,
        "bars": bars,
    }


def _visible_campaign(request: HttpRequest, campaign_id: int) -> Campaign:
    try:
        return campaign_get(actor=request.user, campaign_id=campaign_id)
    except Campaign.DoesNotExist:
        raise Http404("No such campaign.") from None


def _audience(campaign: Campaign) -> dict:
    """Before launch: how many customers the audience's rules select now (one COUNT query).
    Once submitted, those are the segment's rules as reviewed, even if it changed since."""
    rules = campaign_audience_rules(campaign)
    context = {"segment_changed": rules != campaign.segment.rules}
    try:
        return {**context, "segment_count": segment_preview(rules=rules)}
    except ValidationError:
        return {**context, "segment_count": None}


def _report(campaign: Campaign) -> dict:
    report = campaign_report(campaign=campaign)
    examples = suppressed_examples(campaign=campaign, reasons=[r.code for r in report.reasons])
    for reason in report.reasons:
        reason.examples = examples.get(reason.code, [])
    top = max((v.click_rate or 0 for v in report.variants), default=0) or 1
    for variant in report.variants:
        variant.bar = round(100 * (variant.click_rate or 0) / top)
    return {
        "report": report,
        "funnel": funnel_chart(report),
        "suppressed_share": pct(report.suppressed, report.audience),
    }


def _campaign_context(
    request: HttpRequest,
    campaign: Campaign,
    *,
    content_form: CampaignContentForm | None = None,
    review_form: ReviewForm | None = None,
    action_form: CampaignActionForm | None = None,
    stale: str = "",
) -> dict:
    user = request.user
    may_change = user.has_perm("campaigns.change_campaign")
    may_review = (
        user.has_perm("campaigns.review_campaign")
        and campaign.status == Status.IN_REVIEW
        and not in_owner_team(user, campaign)
    )
    editable = may_change and campaign.status == Status.DRAFT
    if editable and content_form is None:
        content_form = CampaignContentForm(
            initial={"version": campaign.version, **CampaignContentForm.variant_initial(campaign)}
        )
    context = {
        "campaign": campaign,
        "variants": list(campaign.variants.all()),
        "reviews": list(campaign.reviews.all()),
        "tabs": tabs(user, "campaigns"),
        "may_change": may_change,
        "actions": ACTIONS.get(campaign.status, ()) if may_change else (),
        "action_form": action_form or CampaignActionForm(initial={"version": campaign.version}),
        "content_form": content_form if editable else None,
        "may_review": may_review,
        "review_form": (review_form or ReviewForm(initial={"version": campaign.version}))
        if may_review
        else None,
        "own_team_reviewer": user.has_perm("campaigns.review_campaign")
        and campaign.status == Status.IN_REVIEW
        and in_owner_team(user, campaign),
        "stale": stale,
        "launched": campaign.audience_built_at is not None,
    }
    if campaign.audience_built_at is None:
        context.update(_audience(campaign))
    else:
        context.update(_report(campaign))
    if may_review:
        sample = audience_sample(campaign=campaign)
        for customer in sample:
            customer.gate_words = REASONS.get(customer.gate_reason, "")
        context["sample"] = sample
        if sample:  # the content as the first of them would read it
            context["preview_customer"] = sample[0]
            for variant in context["variants"]:
                variant.preview_subject = personalize(variant.subject, sample[0])
                variant.preview_body = personalize(variant.body, sample[0])
    return context


def _render_campaign(
    request: HttpRequest, campaign: Campaign, *, status: int = 200, **forms
) -> HttpResponse:
    context = _campaign_context(request, campaign, **forms)
    return render(request, "campaigns/detail.html", context, status=status)


def _stale(request: HttpRequest, campaign_id: int, error: StaleVersion) -> HttpResponse:
    """The campaign as it is now, with what happened: nothing was saved."""
    campaign = _visible_campaign(request, campaign_id)
    return _render_campaign(request, campaign, status=409, stale=str(error))


@login_required
@permission_required("campaigns.view_campaign", raise_exception=True)
@require_GET
def campaign_detail_view(request: HttpRequest, campaign_id: int) -> HttpResponse:
    return _render_campaign(request, _visible_campaign(request, campaign_id))


@login_required
@permission_required("campaigns.change_campaign", raise_exception=True)
@require_POST
def campaign_action_view(request: HttpRequest, campaign_id: int, action: str) -> HttpResponse:
    """Submit, launch (now or at a time), pause, resume or cancel, from the version seen."""
    campaign = _visible_campaign(request, campaign_id)
    if action not in (*ACTION_SERVICES, "launch"):
        raise Http404("No such action.")
    form = CampaignActionForm(request.POST)
    if not form.is_valid():
        if "version" in form.errors:
            messages.error(request, "This page was out of date; here is the campaign as it is now.")
            return redirect("campaigns:detail", campaign_id)
        return _render_campaign(request, campaign, action_form=form)
    version = form.cleaned_data["version"]
    if action == "launch" and request.POST.get("when") == "later":
        at = form.cleaned_data["at"]
        if at is None or at <= timezone.now():
            form.add_error("at", "Choose a time in the future, or launch it now.")
            return _render_campaign(request, campaign, action_form=form)
    try:
        if action == "launch":
            campaign = campaign_launch(
                actor=request.user, campaign=campaign, version=version, at=form.cleaned_data["at"]
            )
        else:
            campaign = ACTION_SERVICES[action](
                actor=request.user, campaign=campaign, version=version
            )
    except StaleVersion as error:
        return _stale(request, campaign_id, error)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("campaigns:detail", campaign_id)
    messages.success(request, _done_message(action, campaign))
    return redirect("campaigns:detail", campaign_id)


def _done_message(action: str, campaign: Campaign) -> str:
    if action == "launch" and campaign.status == Status.SCHEDULED:
        when = timezone.localtime(campaign.scheduled_at).strftime("%a %-d %b %Y at %H:%M")
        return f"Scheduled: “{campaign.name}” starts sending on {when}."
    if action == "launch":
        return (
            f"Launched: {campaign.audience_size} customers in the audience; the contact gate "
            "has set aside those it may not reach. Sending now."
        )
    return {
        "submit": "Sent to the service team for review.",
        "pause": "Paused: nothing more is sent until you resume.",
        "resume": "Resumed: sending again.",
        "cancel": "Cancelled: nothing more will be sent.",
    }[action]


@login_required
@permission_required("campaigns.change_campaign", raise_exception=True)
@require_POST
def campaign_content_view(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """New content for a draft (e.g. after the service team sent it back)."""
    campaign = _visible_campaign(request, campaign_id)
    form = CampaignContentForm(request.POST)
    if not form.is_valid():
        return _render_campaign(request, campaign, content_form=form)
    try:
        campaign_content_update(
            actor=request.user,
            campaign=campaign,
            version=form.cleaned_data["version"],
            variants=form.variants(),
        )
    except StaleVersion as error:
        return _stale(request, campaign_id, error)
    except ValidationError as error:
        show_errors(form, error, VARIANT_FIELDS)
        return _render_campaign(request, campaign, content_form=form)
    messages.success(request, "Saved the new content.")
    return redirect("campaigns:detail", campaign_id)


@login_required
@permission_required("campaigns.review_campaign", raise_exception=True)
@require_POST
def campaign_review_view(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """The service team comments, approves, or sends the campaign back (with a comment)."""
    campaign = _visible_campaign(request, campaign_id)
    form = ReviewForm(request.POST)
    if not form.is_valid():
        if "version" in form.errors:
            messages.error(request, "This page was out of date; here is the campaign as it is now.")
            return redirect("campaigns:detail", campaign_id)
        return _render_campaign(request, campaign, review_form=form)
    data = form.cleaned_data
    try:
        campaign_review(
            actor=request.user,
            campaign=campaign,
            version=data["version"],
            decision=data["decision"],
            comment=data["comment"],
        )
    except StaleVersion as error:
        return _stale(request, campaign_id, error)
    except ValidationError as error:
        problems = error.message_dict
        if set(problems) - {"comment"}:  # not a reviewer here, or not in review any more
            messages.error(request, " ".join(error.messages))
            return redirect("campaigns:detail", campaign_id)
        if data["decision"] == "sent_back" and not data["comment"].strip():
            form.add_error("comment", "Say what to change: the marketing team reads this.")
        else:
            show_errors(form, error)
        return _render_campaign(request, campaign, review_form=form)
    messages.success(
        request,
        {
            "approved": "Approved: marketing may launch it now.",
            "sent_back": "Sent back to marketing with your comment.",
            "comment": "Comment added.",
        }[data["decision"]],
    )
    return redirect("campaigns:detail", campaign_id)


# --- Sales: the pipeline ------------------------------------------------------------------
@login_required
@permission_required("campaigns.view_opportunity", raise_exception=True)
@require_GET
def pipeline_view(request: HttpRequest) -> HttpResponse:
    """Opportunities by stage: the count and value of each stage, and the open ones (or one
    stage's) newest first."""
    stage = request.GET.get("stage", "")
    if stage not in Opportunity.Stage.values:
        stage = ""
    page = keyset_page(
        opportunity_list(actor=request.user, stage=stage or None),
        before=request.GET.get("before"),
        size=settings.CXPORTAL_PAGE_SIZE,
    )
    more_url = f"?stage={stage}&before={page.next_before}" if page.next_before else ""
    context = {"opportunities": page.items, "more_url": more_url, "stage": stage}
    if request.htmx:
        return render(request, "campaigns/_opportunity_rows.html", context)
    totals = opportunity_stage_totals(actor=request.user)
    top = max((t.value for t in totals), default=Decimal("0")) or Decimal("1")
    for total in totals:
        total.pct = round(100 * total.value / top)
        total.open = total.stage in OPEN_STAGES
    open_totals = [t for t in totals if t.open]
    context.update(
        {
            "totals": totals,
            "open_count": sum(t.count for t in open_totals),
            "open_value": sum((t.value for t in open_totals), Decimal("0")),
            "stage_label": Opportunity.Stage(stage).label if stage else "",
            "tabs": tabs(request.user, "pipeline"),
        }
    )
    return render(request, "campaigns/pipeline.html", context)


def _opportunity_form_page(
    request: HttpRequest, customer: Customer, opportunity: Opportunity | None
) -> HttpResponse:
    owners = opportunity_owners()
    default_next = reverse("customers:detail", args=[customer.pk])
    if request.method == "POST":
        form = OpportunityForm(request.POST, owners=owners)
        if form.is_valid():
            data = form.cleaned_data
            try:
                saved = opportunity_save(
                    actor=request.user,
                    customer=customer,
                    title=data["title"],
                    stage=data["stage"],
                    value=data["value"],
                    owner=data["owner"],
                    opportunity=opportunity,
                )
            except ValidationError as error:
                show_errors(form, error)
            else:
                messages.success(
                    request,
                    f"Saved “{saved.title}” ({saved.get_stage_display().lower()}) for "
                    f"{customer.display_name}.",
                )
                return redirect(next_url(request, default_next))
    elif opportunity is not None:
        form = OpportunityForm(
            owners=owners,
            initial={
                "title": opportunity.title,
                "stage": opportunity.stage,
                "value": opportunity.value,
                "owner": opportunity.owner_id,
            },
        )
    else:
        form = OpportunityForm(owners=owners, initial={"owner": request.user.pk})
    context = {
        "form": form,
        "customer": customer,
        "opportunity": opportunity,
        "next": next_url(request, default_next),
        "tabs": tabs(request.user, "pipeline"),
    }
    return render(request, "campaigns/opportunity_form.html", context)


@login_required
@permission_required("campaigns.add_opportunity", raise_exception=True)
@require_http_methods(["GET", "POST"])
def opportunity_create_view(request: HttpRequest) -> HttpResponse:
    """A new opportunity on a customer (``?customer=<id>``)."""
    customer = customer_from_query(
        request,
        page="campaigns:opportunity_new",
        missing="Add an opportunity from the customer's page: find them first.",
    )
    if isinstance(customer, HttpResponse):
        return customer
    return _opportunity_form_page(request, customer, None)


@login_required
@permission_required("campaigns.change_opportunity", raise_exception=True)
@require_http_methods(["GET", "POST"])
def opportunity_edit_view(request: HttpRequest, opportunity_id: int) -> HttpResponse:
    try:
        opportunity = opportunity_get(actor=request.user, opportunity_id=opportunity_id)
    except Opportunity.DoesNotExist:
        raise Http404("No such opportunity.") from None
    return _opportunity_form_page(request, opportunity.customer, opportunity)
