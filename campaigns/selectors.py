"""Reads of campaigns for the staff pages: segments and their live count, campaigns by
status, one campaign's report (the funnel and the A/B comparison from one grouped query,
example customers per suppression reason from one more), and the sales pipeline.

Every function costs a fixed number of queries whatever the audience size."""

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from campaigns.gate import REASONS, gated
from campaigns.models import Campaign, Delivery, Opportunity, Segment
from campaigns.segments import segment_customers
from customers.models import Customer, Place

#: The A/B comparison names a winner only when every variant was sent at least this often.
WINNER_MIN_SENT = 30
#: Example customers shown per suppression reason.
EXAMPLES_PER_REASON = 3
#: Customers of the audience a service reviewer sees.
AUDIENCE_SAMPLE = 10
#: Opportunity stages still in play.
OPEN_STAGES = (Opportunity.Stage.PROSPECT, Opportunity.Stage.LEAD, Opportunity.Stage.OFFER)


# --- Segments ----------------------------------------------------------------------------
def segment_list(*, actor) -> QuerySet[Segment]:
    """Saved segments, by name, with how many campaigns use each."""
    return (
        Segment.objects.restrict(actor, "view")
        .select_related("team")
        .annotate(campaign_count=Count("campaigns"))
        .order_by("name", "id")
    )


def segment_get(*, actor, segment_id: int) -> Segment:
    return (
        Segment.objects.restrict(actor, "view")
        .select_related("team")
        .annotate(campaign_count=Count("campaigns"))
        .get(pk=segment_id)
    )


def segment_choices(*, actor) -> QuerySet[Segment]:
    return Segment.objects.restrict(actor, "view").order_by("name", "id")


def segment_preview(*, rules: Any) -> int:
    """How many live customers the (unsaved) rules select now: one COUNT query.
    ``ValidationError`` keyed by the rule's path (``all.2.value``) when they don't compile."""
    return segment_customers(rules).count()


def place_codes() -> list[tuple[str, str]]:
    """(code, name) of the places a rule can name (a short list: stations, lines, stores)."""
    return list(Place.objects.order_by("code").values_list("code", "name")[:500])


# --- Campaigns ---------------------------------------------------------------------------
def campaign_list(*, actor, status: str | None = None) -> QuerySet[Campaign]:
    """Campaigns the actor may see, newest first (keyset-paged by id)."""
    qs = Campaign.objects.restrict(actor, "view").select_related("team", "segment")
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-id")


def campaign_status_counts(*, actor) -> dict[str, int]:
    rows = (
        Campaign.objects.restrict(actor, "view")
        .order_by()
        .values_list("status")
        .annotate(n=Count("id"))
    )
    return dict(rows)


def campaign_get(*, actor, campaign_id: int) -> Campaign:
    """One campaign with its variants and review comments (three queries)."""
    return (
        Campaign.objects.restrict(actor, "view")
        .select_related("team", "segment")
        .prefetch_related("variants", "reviews")
        .get(pk=campaign_id)
    )


def campaigns_in_flight(*, actor, limit: int = 8) -> dict[str, list[Campaign]]:
    """For the marketing home page: campaigns in service review, and those scheduled or
    sending (two queries)."""
    qs = campaign_list(actor=actor)
    return {
        "in_review": list(qs.filter(status=Campaign.Status.IN_REVIEW)[:limit]),
        "sending": list(
            qs.filter(
                status__in=[
                    Campaign.Status.SENDING,
                    Campaign.Status.SCHEDULED,
                    Campaign.Status.PAUSED,
                ]
            )[:limit]
        ),
    }


def campaign_audience_rules(campaign: Campaign) -> Any:
    """The rules the audience is built from: the segment's as they were when the campaign
    went to review (what the reviewer approved), else the segment's now."""
    if campaign.audience_rules is not None:
        return campaign.audience_rules
    return campaign.segment.rules


def audience_sample(*, campaign: Campaign, limit: int = AUDIENCE_SAMPLE) -> list[Customer]:
    """The newest customers of the campaign's segment, each with ``gate_reason``: what the
    contact gate would say about sending them this campaign now ("" when allowed)."""
    customers = gated(
        segment_customers(campaign_audience_rules(campaign)),
        purpose="marketing",
        channel=campaign.channel,
    )
    return list(
        customers.only("id", "display_name", "lifecycle_stage", "region").order_by("-id")[:limit]
    )


@dataclass
class VariantResult:
    key: str
    weight: int
    subject: str
    sent: int = 0
    opened: int = 0
    clicked: int = 0
    converted: int = 0

    @property
    def click_rate(self) -> float | None:
        return self.clicked / self.sent if self.sent else None

    @property
    def open_rate(self) -> float | None:
        return self.opened / self.sent if self.sent else None


@dataclass
class SuppressedReason:
    code: str
    words: str
    count: int
    at_send: int = 0
    examples: list[Customer] = field(default_factory=list)


@dataclass
class CampaignReport:
    audience: int = 0
    queued: int = 0
    sent: int = 0
    failed: int = 0
    suppressed: int = 0
    opened: int = 0
    clicked: int = 0
    converted: int = 0
    value: Decimal = Decimal("0")
    follow_up_sent: int = 0
    follow_up_clicked: int = 0
    reasons: list[SuppressedReason] = field(default_factory=list)
    variants: list[VariantResult] = field(default_factory=list)
    winner: str | None = None
    winner_note: str = ""


def _groups(campaign_id: int) -> list[dict]:
    """The campaign's deliveries counted by variant, status, reason and route, with their
    engagement: one grouped query over the ``delivery_report`` index; a few dozen rows at
    most whatever the audience size."""
    return list(
        Delivery.objects.filter(campaign_id=campaign_id)
        .order_by()
        .values("variant", "status", "reason", "reason_at_send", "via_follow_up")
        .annotate(
            n=Count("id"),
            opened=Count("opened_at"),
            clicked=Count("clicked_at"),
            converted=Count("converted_at"),
            value=Sum("conversion_value"),
        )
    )


def _winner(variants: list[VariantResult]) -> tuple[str | None, str]:
    if len(variants) < 2:
        return None, "One variant: nothing to compare."
    if any(v.sent < WINNER_MIN_SENT for v in variants):
        return None, f"Not enough data: each variant needs at least {WINNER_MIN_SENT} sent."
    rates = {v.key: v.click_rate or 0.0 for v in variants}
    best = max(rates.values())
    leaders = [key for key, rate in rates.items() if rate == best]
    if len(leaders) > 1:
        return None, f"A tie between {' and '.join(leaders)}: no winner."
    return leaders[0], f"Variant {leaders[0]} has the highest click rate ({best:.1%})."


def campaign_report(*, campaign: Campaign) -> CampaignReport:
    """Audience, suppressed by reason, the sent → opened → clicked → converted funnel and
    the variants compared by click rate, from one grouped query (``campaign.variants`` is
    expected prefetched). Messages that rode along on service follow-ups are counted apart."""
    report = CampaignReport()
    variants = {
        v.key: VariantResult(key=v.key, weight=v.weight, subject=v.subject)
        for v in campaign.variants.all()
    }
    reasons: dict[str, SuppressedReason] = {}
    for group in _groups(campaign.pk):
        n, status = group["n"], group["status"]
        if group["via_follow_up"]:
            report.follow_up_sent += n if status == Delivery.Status.SENT else 0
            report.follow_up_clicked += group["clicked"]
            continue
        report.audience += n
        setattr(report, status, getattr(report, status) + n)
        report.opened += group["opened"]
        report.clicked += group["clicked"]
        report.converted += group["converted"]
        report.value += group["value"] or 0
        if status == Delivery.Status.SUPPRESSED:
            code = group["reason"]
            entry = reasons.setdefault(
                code, SuppressedReason(code=code, words=REASONS.get(code, code), count=0)
            )
            entry.count += n
            entry.at_send += n if group["reason_at_send"] else 0
        if status == Delivery.Status.SENT and group["variant"]:
            row = variants.setdefault(
                group["variant"], VariantResult(key=group["variant"], weight=0, subject="")
            )
            row.sent += n
            row.opened += group["opened"]
            row.clicked += group["clicked"]
            row.converted += group["converted"]
    order = list(REASONS)
    report.reasons = sorted(
        reasons.values(),
        key=lambda r: (-r.count, order.index(r.code) if r.code in order else len(order)),
    )
    report.variants = sorted(variants.values(), key=lambda v: v.key)
    report.winner, report.winner_note = _winner(report.variants)
    return report


def suppressed_examples(
    *, campaign: Campaign, reasons: list[str], per_reason: int = EXAMPLES_PER_REASON
) -> dict[str, list[Customer]]:
    """A few customers suppressed for each reason: one query (a ``LIMIT`` per reason inside
    it, each served by the ``delivery_report`` index), whatever the audience size."""
    if not reasons:
        return {}
    suppressed = Delivery.objects.filter(
        campaign=campaign, status=Delivery.Status.SUPPRESSED, via_follow_up=False
    ).order_by()
    wanted = Q()
    for code in reasons:
        wanted |= Q(pk__in=suppressed.filter(reason=code).values("pk")[:per_reason])
    rows = (
        Delivery.objects.filter(wanted)
        .select_related("customer")
        .only("id", "reason", "customer__id", "customer__display_name", "customer__erased_at")
        .order_by("reason", "id")
    )
    examples: dict[str, list[Customer]] = {}
    for delivery in rows:
        examples.setdefault(delivery.reason, []).append(delivery.customer)
    return examples


# --- Sales -------------------------------------------------------------------------------
@dataclass
class StageTotal:
    stage: str
    label: str
    count: int
    value: Decimal


def opportunity_stage_totals(*, actor) -> list[StageTotal]:
    """Count and value per stage, in the pipeline's order: one grouped query."""
    rows = {
        row["stage"]: row
        for row in Opportunity.objects.restrict(actor, "view")
        .order_by()
        .values("stage")
        .annotate(n=Count("id"), value=Sum("value"))
    }
    return [
        StageTotal(
            stage=value,
            label=label,
            count=rows.get(value, {}).get("n", 0),
            value=rows.get(value, {}).get("value") or Decimal("0"),
        )
        for value, label in Opportunity.Stage.choices
    ]


def opportunity_list(*, actor, stage: str | None = None) -> QuerySet[Opportunity]:
    """Opportunities with their customer and owner; the open ones unless a stage is given.
    Newest first by id (keyset-paged)."""
    qs = Opportunity.objects.restrict(actor, "view").select_related("customer", "owner")
    qs = qs.filter(stage=stage) if stage else qs.filter(stage__in=OPEN_STAGES)
    return qs.order_by("-id")


def opportunity_get(*, actor, opportunity_id: int) -> Opportunity:
    return (
        Opportunity.objects.restrict(actor, "view")
        .select_related("customer", "owner")
        .get(pk=opportunity_id)
    )


def customer_open_opportunities(*, actor, customer_id: int, limit: int) -> list[Opportunity]:
    return list(
        Opportunity.objects.restrict(actor, "view")
        .filter(customer_id=customer_id, stage__in=OPEN_STAGES)
        .select_related("owner")
        .order_by("-updated_at", "-id")[:limit]
    )


def opportunity_owners() -> QuerySet:
    """Who may own an opportunity: active users of the sales team (and supervisors)."""
    return (
        get_user_model()
        .objects.filter(is_active=True, groups__team__slug__in=["sales", "supervisor"])
        .distinct()
        .order_by("first_name", "last_name", "username")
    )


def open_opportunities_home(*, actor, limit: int = 8) -> dict:
    """For the sales home page: open opportunities, the latest changed first, and the
    pipeline's totals."""
    totals = opportunity_stage_totals(actor=actor)
    rows = list(
        opportunity_list(actor=actor).order_by("-updated_at", "-id")[:limit],
    )
    open_totals = [t for t in totals if t.stage in OPEN_STAGES]
    return {
        "rows": rows,
        "count": sum(t.count for t in open_totals),
        "value": sum((t.value for t in open_totals), Decimal("0")),
        "now": timezone.now(),
    }
