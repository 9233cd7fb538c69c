"""Reads of cases, shared by the staff UI, the API, the 360 panel and the home pages."""

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db.models import Count, F, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce, TruncMonth, TruncWeek
from django.utils import timezone

from cases.filtersets import CaseFilterSet
from cases.models import (
    CareFlag,
    Case,
    CaseEvent,
    Disruption,
    DisruptionCustomer,
    DisruptionNotice,
    DisruptionUpdate,
    MessageTemplate,
    SlaPolicy,
)
from customers.models import Place
from cxportal.dashboards import dashboard_figure


def can_read_notes(actor) -> bool:
    return bool(actor and actor.has_perm("cases.view_internal_note"))


def _filtered(qs: QuerySet, filters: dict | None) -> QuerySet:
    if filters:
        filterset = CaseFilterSet(data=filters, queryset=qs)
        qs = filterset.qs if filterset.is_valid() else qs.none()
    return qs


def case_list(*, actor, filters: dict | None = None) -> QuerySet[Case]:
    """Cases the actor may see, newest first, filtered with ``CaseFilterSet``."""
    qs = (
        Case.objects.restrict(actor, "view")
        .select_related("customer", "team", "assignee")
        .order_by("-id")
    )
    return _filtered(qs, filters)


def case_queue(*, actor, filters: dict | None = None) -> QuerySet[Case]:
    """A team queue: active cases, the most urgent SLA clock first (paused ones last),
    served by the ``case_queue_due`` index. Filters as ``case_list``."""
    qs = (
        Case.objects.restrict(actor, "view")
        .active()
        .select_related("customer", "team", "assignee")
        .order_by(F("next_due_at").asc(nulls_last=True), "id")
    )
    return _filtered(qs, filters)


def case_get(*, actor, case_id: int) -> Case:
    return (
        Case.objects.restrict(actor, "view")
        .select_related("customer", "team", "assignee", "sla_policy")
        .get(pk=case_id)
    )


def case_events(*, actor, case: Case) -> QuerySet[CaseEvent]:
    """The case's history, oldest first; internal notes only for roles that may read them."""
    qs = (
        CaseEvent.objects.filter(case=case)
        .select_related("interaction")
        .order_by("occurred_at", "id")
    )
    if not can_read_notes(actor):
        qs = qs.exclude(kind=CaseEvent.Kind.NOTE)
    return qs


def case_list_open_for_customer(*, actor, customer_id: int, limit: int = 5) -> list[Case]:
    return list(
        Case.objects.restrict(actor, "view")
        .active()
        .filter(customer_id=customer_id)
        .select_related("team", "assignee")
        .order_by("-id")[:limit]
    )


def case_interaction_ids(*, case: Case) -> list[int]:
    return list(case.links.values_list("interaction_id", flat=True))


def case_assignees() -> QuerySet:
    """Active staff who may work on cases (directly or through their team)."""
    perm = Permission.objects.get(content_type__app_label="cases", codename="change_case")
    return (
        get_user_model()
        .objects.filter(is_active=True)
        .filter(Q(user_permissions=perm) | Q(groups__permissions=perm) | Q(is_superuser=True))
        .distinct()
        .order_by("username")
    )


@dataclass(frozen=True)
class QueueCounts:
    mine: int
    at_risk: int
    breached: int
    deadline_soon: int


def case_queue_counts(*, actor, team_id: int | None = None, now: datetime | None = None):
    """How many active cases are mine, at risk (80% of an SLA used), breached, or with a
    customer deadline in the next 24 hours: one query."""
    now = now or timezone.now()
    qs = Case.objects.restrict(actor, "view").active()
    if team_id is not None:
        qs = qs.filter(team_id=team_id)
    counts = qs.aggregate(
        mine=Count("id", filter=Q(assignee_id=getattr(actor, "pk", None))),
        at_risk=Count(
            "id",
            filter=Q(next_due_at__gte=now)
            & (
                Q(first_responded_at__isnull=True, first_response_risk_at__lte=now)
                | Q(first_responded_at__isnull=False, resolution_risk_at__lte=now)
            ),
        ),
        breached=Count("id", filter=Q(next_due_at__lt=now)),
        deadline_soon=Count(
            "id", filter=Q(customer_deadline__gte=now, customer_deadline__lt=now + timedelta(1))
        ),
    )
    return QueueCounts(**counts)


def case_queue_counts_shared(*, actor, team_id: int | None = None) -> QueueCounts:
    """``case_queue_counts`` for home pages: the team's figures scan every active case, so
    they are shared by everyone who may see cases, up to a minute old; mine is counted live
    (an index per assignee)."""
    counts = dashboard_figure(
        f"case-counts:{team_id}",
        lambda: case_queue_counts(actor=actor, team_id=team_id),
        actor=actor,
        perm="cases.view_case",
    )
    mine = (
        Case.objects.restrict(actor, "view").active().filter(assignee_id=getattr(actor, "pk", None))
    )
    if team_id is not None:
        mine = mine.filter(team_id=team_id)
    return replace(counts, mine=mine.count())


def case_at_risk(*, actor, now: datetime | None = None, team_id: int | None = None) -> QuerySet:
    """Active cases whose clock is past its risk point but not yet due, most urgent first."""
    now = now or timezone.now()
    qs = (
        case_queue(actor=actor)
        .filter(next_due_at__gte=now)
        .filter(
            Q(first_responded_at__isnull=True, first_response_risk_at__lte=now)
            | Q(first_responded_at__isnull=False, resolution_risk_at__lte=now)
        )
    )
    return qs.filter(team_id=team_id) if team_id else qs


def case_breached(*, actor, now: datetime | None = None, team_id: int | None = None) -> QuerySet:
    """Active cases whose running SLA clock is past due, longest overdue first."""
    now = now or timezone.now()
    qs = case_queue(actor=actor).filter(next_due_at__lt=now)
    return qs.filter(team_id=team_id) if team_id else qs


def sla_policy_list(*, actor) -> QuerySet[SlaPolicy]:
    return (
        SlaPolicy.objects.restrict(actor, "view").select_related("team").order_by("team_id", "id")
    )


@dataclass(frozen=True)
class SlaReportRow:
    period: datetime
    team: str
    resolved: int
    first_response_met: int
    first_response_known: int
    resolution_met: int

    @property
    def first_response_pct(self) -> float | None:
        known = self.first_response_known
        return round(100 * self.first_response_met / known, 1) if known else None

    @property
    def resolution_pct(self) -> float | None:
        return round(100 * self.resolution_met / self.resolved, 1) if self.resolved else None


def sla_report(
    *, actor, since: datetime, until: datetime, period: str = "week", team_id: int | None = None
) -> list[SlaReportRow]:
    """SLA attainment of the cases resolved in [since, until), per team and week or month:
    one grouped query on the ``case_resolved`` index. Cases without a policy are left out."""
    trunc = TruncMonth if period == "month" else TruncWeek
    qs = Case.objects.restrict(actor, "view").filter(
        resolved_at__gte=since, resolved_at__lt=until, sla_policy__isnull=False
    )
    if team_id is not None:
        qs = qs.filter(team_id=team_id)
    rows = (
        qs.annotate(period=trunc("resolved_at"))
        .values("period", "team__name")
        .annotate(
            n_resolved=Count("id"),
            n_first_met=Count("id", filter=Q(first_response_met=True)),
            n_first_known=Count("id", filter=Q(first_response_met__isnull=False)),
            n_resolution_met=Count("id", filter=Q(resolution_met=True)),
        )
        .order_by("period", "team__name")
    )
    return [
        SlaReportRow(
            period=r["period"],
            team=r["team__name"],
            resolved=r["n_resolved"],
            first_response_met=r["n_first_met"],
            first_response_known=r["n_first_known"],
            resolution_met=r["n_resolution_met"],
        )
        for r in rows
    ]


# --- care flags ------------------------------------------------------------------------------
def care_flag_queue(*, actor, team_id: int | None = None, kind: str | None = None) -> QuerySet:
    """A care queue: flags still to do (cause there, not actioned or dismissed), newest
    first (the ``careflag_queue`` index)."""
    qs = (
        CareFlag.objects.restrict(actor, "view")
        .to_do()
        .select_related("customer", "team", "order", "case", "disruption")
        .order_by("-id")
    )
    if team_id is not None:
        qs = qs.filter(team_id=team_id)
    if kind:
        qs = qs.filter(kind=kind)
    return qs


def care_flags_for_customer(*, actor, customer_id: int, limit: int = 10) -> list[CareFlag]:
    return list(
        CareFlag.objects.restrict(actor, "view")
        .to_do()
        .filter(customer_id=customer_id)
        .select_related("team", "order", "case", "disruption")
        .order_by("-id")[:limit]
    )


def care_flag_actionable(*, actor, flag_id: int) -> CareFlag:
    """A flag the actor may act on: their own team's (any team's for supervisors).
    DoesNotExist otherwise, which views answer with 404."""
    qs = CareFlag.objects.restrict(actor, "change").select_related(
        "customer", "team", "order", "case", "disruption"
    )
    if (
        not getattr(actor, "is_superuser", False)
        and not actor.groups.filter(team__slug="supervisor").exists()
    ):
        qs = qs.filter(team__group__user=actor)
    return qs.get(pk=flag_id)


def care_flag_counts(*, actor, team_id: int | None = None) -> dict[str, int]:
    """Flags to do per kind: one grouped query."""
    qs = CareFlag.objects.restrict(actor, "view").to_do()
    if team_id is not None:
        qs = qs.filter(team_id=team_id)
    return dict(qs.values("kind").annotate(n=Count("id")).values_list("kind", "n"))


def message_templates_for(*, kind: str) -> QuerySet[MessageTemplate]:
    return MessageTemplate.objects.filter(is_active=True).filter(Q(kind=kind) | Q(kind=""))


# --- disruptions -----------------------------------------------------------------------------
def disruption_list(
    *, actor, status: str | None = None, place_code: str | None = None, live: bool = False
) -> QuerySet[Disruption]:
    """Disruptions, the latest first; ``live`` = scheduled or active; by place code (the
    named place or a place above it: a station's line)."""
    qs = (
        Disruption.objects.restrict(actor, "view")
        .prefetch_related("places")
        .order_by("-starts_at", "-id")
    )
    if live:
        qs = qs.exclude(status=Disruption.Status.RESOLVED)
    if status:
        qs = qs.filter(status=status)
    if place_code:
        codes = [place_code]
        parent = Place.objects.filter(code=place_code).values_list("parent__code", flat=True)
        codes += [code for code in parent if code]
        qs = qs.filter(places__code__in=codes).distinct()
    return qs


def disruption_get(*, actor, disruption_id: int) -> Disruption:
    return (
        Disruption.objects.restrict(actor, "view").prefetch_related("places").get(pk=disruption_id)
    )


#: The banner on every staff page (``cxportal.context_processors.disruptions_banner``) is
#: cached this long under this key, for every user alike; disruption services drop it.
BANNER_CACHE_KEY = "cases:disruptions-banner"
BANNER_SECONDS = 15


def disruptions_for_banner(*, now: datetime | None = None) -> list[Disruption]:
    """What every staff page shows: active disruptions, and scheduled ones starting within
    a day; accessibility-impacting ones first. One query."""
    now = now or timezone.now()
    qs = Disruption.objects.filter(
        Q(status=Disruption.Status.ACTIVE)
        | Q(status=Disruption.Status.SCHEDULED, starts_at__lte=now + timedelta(days=1))
    )
    # Where, in the same query: the first place by name and how many there are
    # ("Step-free access lost at Bank", "… at Bank and 2 more").
    places = Place.objects.filter(disruptions=OuterRef("pk"))
    qs = qs.annotate(
        first_place=Subquery(places.order_by("name").values("name")[:1]),
        place_count=Coalesce(
            Subquery(
                places.order_by().values("disruptions").annotate(n=Count("pk")).values("n")[:1],
                output_field=IntegerField(),
            ),
            0,
        ),
    )
    rows = list(qs.order_by("-starts_at", "-id")[:20])
    rows.sort(key=lambda d: (not d.accessibility_impact, d.status != "active"))
    return rows


def disruption_affected(*, disruption: Disruption) -> QuerySet[DisruptionCustomer]:
    """The affected customers and the place that makes them so, by customer id."""
    return (
        DisruptionCustomer.objects.filter(disruption=disruption)
        .select_related("customer", "place")
        .order_by("customer_id")
    )


def disruption_updates(*, disruption: Disruption) -> QuerySet[DisruptionUpdate]:
    return DisruptionUpdate.objects.filter(disruption=disruption).order_by("-posted_at", "-id")


def customer_disruptions(*, actor, customer_id: int) -> list[Disruption]:
    """Scheduled and active disruptions that affect the customer."""
    return list(
        Disruption.objects.restrict(actor, "view")
        .exclude(status=Disruption.Status.RESOLVED)
        .filter(affected_links__customer_id=customer_id)
        .order_by("-starts_at")[:5]
    )


def disruption_notice_counts(*, disruption: Disruption) -> dict[int, tuple[int, int]]:
    """Per update of the disruption: (customers notified, skipped). One grouped query."""
    rows = (
        DisruptionNotice.objects.filter(update__disruption=disruption)
        .values("update_id")
        .annotate(
            sent=Count("id", filter=Q(interaction__isnull=False)),
            skipped=Count("id", filter=Q(interaction__isnull=True)),
        )
        .values_list("update_id", "sent", "skipped")
    )
    return {update_id: (sent, skipped) for update_id, sent, skipped in rows}


def disruption_affected_by_place(*, disruption: Disruption, limit: int = 8) -> list[dict]:
    """The places that make the most customers affected: ``{"place", "count"}``, largest
    first. One grouped query."""
    rows = list(
        DisruptionCustomer.objects.filter(disruption=disruption)
        .values("place_id", "place__name", "place__kind")
        .annotate(count=Count("id"))
        .order_by("-count", "place__name")[:limit]
    )
    return [
        {"place": row["place__name"], "kind": row["place__kind"], "count": row["count"]}
        for row in rows
    ]


def disruption_cases(*, actor, disruption: Disruption, limit: int = 50) -> list[Case]:
    """Cases linked to the disruption that the actor may see, active ones first."""
    return list(
        Case.objects.restrict(actor, "view")
        .filter(disruption=disruption)
        .select_related("customer", "team", "assignee")
        .order_by(F("resolved_at").asc(nulls_first=True), "-id")[:limit]
    )
