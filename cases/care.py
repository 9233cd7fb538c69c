"""Proactive care: the scans that raise and clear care flags, and the care-queue actions.

Scans (``care_scan``, from beat every minute; a full one nightly) are set-based SQL: per
active rule one ``INSERT … SELECT`` raises a flag for every row that shows the exception
and has none yet (the partial unique index on ``dedupe_key`` makes a rescan a no-op:
``ON CONFLICT DO NOTHING``), and one ``UPDATE`` clears the current flags whose cause is
gone (the order arrived, the case was resolved, the deadline moved). An incremental scan
only looks at rows that changed since the previous scan started, or whose threshold time
(promised_by, a risk or due time, a deadline window) passed since then; a full scan looks
at everything. Clearing always checks every current flag of the kind: there are few.

The queue actions (acknowledge, message, open a case, call back, dismiss) are services:
audited, each in one transaction.
"""

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import (
    CharField,
    Count,
    DateTimeField,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Cast, Coalesce, Concat
from django.utils import timezone

from cases.models import (
    ACTIVE_STATUSES,
    CareFlag,
    CareRule,
    CareScan,
    Case,
    Disruption,
    DisruptionCustomer,
    MessageTemplate,
)
from cases.services import case_open
from customers.models import Customer, Interaction, Order
from customers.services.core import interaction_log
from customers.services.outbound import customer_message_send
from cxportal.models import Team
from cxportal.services import actor_label, audit_record
from cxportal.sql import insert_select

Kind = CareRule.Kind

#: Defaults created on first use: (kind, team slug, severity).
DEFAULT_RULES = (
    (Kind.LATE_ORDER, Team.Slug.OPERATIONS, CareRule.Severity.HIGH),
    (Kind.SLA_AT_RISK, Team.Slug.SERVICE, CareRule.Severity.MEDIUM),
    (Kind.SLA_BREACHED, Team.Slug.SERVICE, CareRule.Severity.HIGH),
    (Kind.DEADLINE_AT_RISK, Team.Slug.SERVICE, CareRule.Severity.HIGH),
    (Kind.REPEAT_CONTACT, Team.Slug.SERVICE, CareRule.Severity.MEDIUM),
    (Kind.DISRUPTION_IMPACT, Team.Slug.OPERATIONS, CareRule.Severity.HIGH),
    (Kind.DETRACTOR, Team.Slug.SERVICE, CareRule.Severity.MEDIUM),
)
DEFAULT_HOURS = {Kind.REPEAT_CONTACT: 7 * 24}


def care_rules_ensure() -> dict[str, CareRule]:
    """Every rule, created with its defaults where missing (idempotent)."""
    rules = {rule.kind: rule for rule in CareRule.objects.all()}
    missing = [entry for entry in DEFAULT_RULES if entry[0] not in rules]
    if missing:
        teams = {t.slug: t for t in Team.objects.filter(slug__in=[m[1] for m in missing])}
        for kind, team_slug, severity in missing:
            if team_slug not in teams:
                continue  # teams are created by migrate; nothing to do before that
            rule, _ = CareRule.objects.get_or_create(
                kind=kind,
                defaults={
                    "team": teams[team_slug],
                    "severity": severity,
                    "hours": DEFAULT_HOURS.get(kind, 24),
                },
            )
            rules[kind] = rule
    return rules


# --- raising: INSERT … SELECT ----------------------------------------------------------------
def _text(value: str) -> Value:
    return Value(value, output_field=CharField())


def _key(prefix: str, field: str) -> Concat:
    return Concat(_text(prefix), Cast(field, CharField()), output_field=CharField())


def _null_id() -> Value:
    return Value(None, output_field=IntegerField())


def _insert_flags(
    qs: QuerySet,
    *,
    rule: CareRule,
    now: datetime,
    customer: Any,
    team: Any,
    dedupe_key: Any,
    summary: Any,
    case: Any = None,
    order: Any = None,
    disruption: Any = None,
) -> int:
    """Raise one flag per row of ``qs`` (expressions over its rows); rows whose flag is
    current already are skipped by the database. Returns how many were raised."""
    columns = {
        "kind": _text(rule.kind),
        "customer": customer,
        "team": team,
        "severity": _text(rule.severity),
        "status": _text(CareFlag.Status.OPEN),
        "dedupe_key": dedupe_key,
        "case": case if case is not None else _null_id(),
        "order": order if order is not None else _null_id(),
        "disruption": disruption if disruption is not None else _null_id(),
        "summary": summary,
        "raised_at": Value(now, output_field=DateTimeField()),
        "acknowledged_by": _text(""),
        "action": _text(""),
        "dismissed_reason": _text(""),
        "handled_by": _text(""),
    }
    return insert_select(CareFlag, columns, qs, skip_conflicts=True)


def _clear(qs: QuerySet, now: datetime) -> int:
    return qs.update(cleared_at=now)


def _current(kind: str) -> QuerySet:
    return CareFlag.objects.filter(kind=kind, cleared_at__isnull=True)


# --- the rules ---------------------------------------------------------------------------------
def _late_orders(now: datetime) -> QuerySet:
    return Order.objects.filter(
        shipping_method=Order.Shipping.EXPRESS,
        delivered_at__isnull=True,
        promised_by__lt=now,
    ).exclude(status=Order.Status.CANCELLED)


def _scan_late_orders(rule: CareRule, now: datetime, since: datetime | None) -> tuple[int, int]:
    late = _late_orders(now)
    cleared = _clear(_current(rule.kind).exclude(order__in=late.values("pk")), now)
    if not rule.is_active:
        return 0, cleared
    if since is not None:
        late = late.filter(Q(promised_by__gte=since) | Q(updated_at__gte=since))
    raised = _insert_flags(
        late,
        rule=rule,
        now=now,
        customer=F("customer_id"),
        team=Value(rule.team_id, output_field=IntegerField()),
        dedupe_key=_key("late_order:order:", "id"),
        summary=Concat(
            _text("Express order "), F("external_id"), _text(" is late"), output_field=CharField()
        ),
        order=F("id"),
    )
    return raised, cleared


def _at_risk_q(now: datetime) -> Q:
    return Q(status__in=ACTIVE_STATUSES, next_due_at__gte=now) & (
        Q(first_responded_at__isnull=True, first_response_risk_at__lte=now)
        | Q(first_responded_at__isnull=False, resolution_risk_at__lte=now)
    )


def _breached_q(now: datetime) -> Q:
    return Q(status__in=ACTIVE_STATUSES, next_due_at__lt=now)


def _deadline_q(now: datetime, hours: int) -> Q:
    return Q(status__in=ACTIVE_STATUSES, customer_deadline__lte=now + timedelta(hours=hours))


def _scan_cases(
    rule: CareRule, now: datetime, since: datetime | None, *, condition: Q, window: Q, label: str
) -> tuple[int, int]:
    showing = Case.objects.filter(condition)
    cleared = _clear(_current(rule.kind).exclude(case__in=showing.values("pk")), now)
    if not rule.is_active:
        return 0, cleared
    if since is not None:
        showing = showing.filter(window | Q(updated_at__gte=since))
    raised = _insert_flags(
        showing,
        rule=rule,
        now=now,
        customer=F("customer_id"),
        team=F("team_id"),
        dedupe_key=_key(f"{rule.kind}:case:", "id"),
        summary=Concat(
            _text("Case #"), Cast("id", CharField()), _text(label), output_field=CharField()
        ),
        case=F("id"),
    )
    return raised, cleared


def _scan_repeat_contacts(rule: CareRule, now: datetime, since: datetime | None) -> tuple[int, int]:
    start = now - timedelta(hours=rule.hours)
    inbound = Interaction.objects.filter(
        direction=Interaction.Direction.INBOUND, occurred_at__gte=start, occurred_at__lte=now
    )
    resolved = Case.objects.filter(customer=OuterRef("pk"), resolved_at__gte=start)
    # Clear: fewer contacts in the window now, or something was resolved since. Each flagged
    # customer's contacts are counted on their own (an index range per customer: the same
    # plan whatever the statistics say; one count over everyone's contacts was seconds at
    # 30k flags). An incremental scan recounts only the customers whose count can have
    # dropped since the previous scan: a contact of theirs left the window, or a case of
    # theirs was resolved. (A rule changed or a customer merged meanwhile: the nightly full
    # scan rechecks every flag.)
    current = _current(rule.kind)
    if since is not None:
        left_window = Interaction.objects.filter(
            direction=Interaction.Direction.INBOUND,
            occurred_at__gte=since - timedelta(hours=rule.hours),
            occurred_at__lt=start,
        ).values("customer_id")
        resolved_since = Case.objects.filter(resolved_at__gte=since).values("customer_id")
        # One IN over both (not an OR of two): PostgreSQL then expects a handful of rows,
        # and a costly-looking plan does not pay a second of JIT compilation every minute.
        current = current.filter(customer_id__in=left_window.union(resolved_since))
    contacts = (
        inbound.filter(customer_id=OuterRef("customer_id"))
        .order_by()
        .values("customer_id")
        .annotate(n=Count("*"))
        .values("n")
    )
    cleared = _clear(
        current.alias(contacts=Coalesce(Subquery(contacts), 0)).filter(
            Q(contacts__lt=rule.count)
            | Q(Exists(Case.objects.filter(customer=OuterRef("customer"), resolved_at__gte=start)))
        ),
        now,
    )
    if not rule.is_active:
        return 0, cleared
    counted = inbound
    if since is not None:
        recent = inbound.filter(occurred_at__gte=since).values("customer_id")
        counted = inbound.filter(customer_id__in=recent)
    repeaters = Customer.objects.filter(
        pk__in=counted.values("customer_id")
        .annotate(n=Count("id"))
        .filter(n__gte=rule.count)
        .values("customer_id")
    ).exclude(Exists(resolved))
    raised = _insert_flags(
        repeaters,
        rule=rule,
        now=now,
        customer=F("id"),
        team=Value(rule.team_id, output_field=IntegerField()),
        dedupe_key=_key("repeat_contact:customer:", "id"),
        summary=_text(
            f"{rule.count} or more contacts in {rule.hours // 24 or 1} day(s), nothing resolved"
        ),
    )
    return raised, cleared


def _scan_disruption_impact(
    rule: CareRule, now: datetime, since: datetime | None
) -> tuple[int, int]:
    """Customers a live disruption hits hardest: those with accessibility needs when it
    takes step-free access or a lift away, and those with a case open right now."""
    live = Disruption.objects.filter(status=Disruption.Status.ACTIVE)
    hurt = DisruptionCustomer.objects.filter(disruption__in=live).filter(
        Q(customer__accessibility_needs=True) & ~Q(disruption__accessibility_impact="")
        | Q(Exists(Case.objects.filter(customer=OuterRef("customer"), status__in=ACTIVE_STATUSES)))
    )
    current = _current(rule.kind)
    cleared = _clear(
        current.exclude(
            Exists(hurt.filter(disruption=OuterRef("disruption"), customer=OuterRef("customer")))
        ),
        now,
    )
    if not rule.is_active:
        return 0, cleared
    raised = _insert_flags(
        hurt,
        rule=rule,
        now=now,
        customer=F("customer_id"),
        team=Value(rule.team_id, output_field=IntegerField()),
        dedupe_key=Concat(
            _text("disruption_impact:"),
            Cast("disruption_id", CharField()),
            _text(":customer:"),
            Cast("customer_id", CharField()),
            output_field=CharField(),
        ),
        summary=Concat(_text("Affected by: "), F("disruption__title"), output_field=CharField()),
        disruption=F("disruption_id"),
    )
    return raised, cleared


@dataclass(frozen=True)
class ScanResult:
    scan_id: int
    full: bool
    raised: dict[str, int]
    cleared: dict[str, int]
    duration_ms: int


def care_scan(*, full: bool = False, now: datetime | None = None) -> ScanResult:
    """Run every rule once: raise what is new, clear what is gone. Incremental unless
    ``full`` or there was no finished scan before."""
    now = now or timezone.now()
    started = time.perf_counter()
    previous = CareScan.objects.filter(finished_at__isnull=False).order_by("-started_at").first()
    since = None if full or previous is None else previous.started_at
    rules = care_rules_ensure()
    scan = CareScan.objects.create(started_at=now, since=since)
    raised: dict[str, int] = {}
    cleared: dict[str, int] = {}
    steps = {
        Kind.LATE_ORDER: _scan_late_orders,
        Kind.SLA_BREACHED: lambda r, n, s: _scan_cases(
            r,
            n,
            s,
            condition=_breached_q(n),
            window=Q(next_due_at__gte=s, next_due_at__lt=n) if s else Q(),
            label=": SLA breached",
        ),
        Kind.SLA_AT_RISK: lambda r, n, s: _scan_cases(
            r,
            n,
            s,
            condition=_at_risk_q(n),
            window=(Q(first_response_risk_at__gte=s) | Q(resolution_risk_at__gte=s)) if s else Q(),
            label=": SLA at risk",
        ),
        Kind.DEADLINE_AT_RISK: lambda r, n, s: _scan_cases(
            r,
            n,
            s,
            condition=_deadline_q(n, r.hours),
            window=Q(customer_deadline__gte=s + timedelta(hours=r.hours)) if s else Q(),
            label=": the customer's deadline is close",
        ),
        Kind.REPEAT_CONTACT: _scan_repeat_contacts,
        Kind.DISRUPTION_IMPACT: _scan_disruption_impact,
    }
    for kind, step in steps.items():
        rule = rules.get(kind)
        if rule is None:
            continue
        with transaction.atomic():
            raised[kind], cleared[kind] = step(rule, now, since)
    duration = round((time.perf_counter() - started) * 1000)
    scan.raised, scan.cleared, scan.duration_ms = raised, cleared, duration
    scan.finished_at = timezone.now()
    scan.save(update_fields=["raised", "cleared", "duration_ms", "finished_at"])
    return ScanResult(scan.pk, since is None, raised, cleared, duration)


# --- the care queue ----------------------------------------------------------------------------
def _workable(flag_id: int) -> CareFlag:
    flag = CareFlag.objects.select_for_update().select_related("customer").get(pk=flag_id)
    if flag.cleared_at is not None:
        raise ValidationError(
            "Its cause is gone (the scan cleared it): there is nothing left to act on.",
            code="cleared",
        )
    if flag.status not in CareFlag.OPEN_STATUSES:
        raise ValidationError(
            f"This flag was {flag.get_status_display().lower()} already.", code="done"
        )
    return flag


def _done(flag: CareFlag, *, actor: Any, action: str = "", **fields: Any) -> CareFlag:
    now = timezone.now()
    flag.status = fields.pop("status", CareFlag.Status.ACTIONED)
    flag.action = action
    flag.actioned_at = now
    flag.handled_by = actor_label(actor)
    for name, value in fields.items():
        setattr(flag, name, value)
    flag.save()
    audit_record(
        actor=actor,
        action=f"careflag.{flag.status}",
        target=flag,
        after={"kind": flag.kind, "action": action, **{k: str(v) for k, v in fields.items()}},
    )
    return flag


@transaction.atomic
def care_flag_acknowledge(*, actor: Any, flag: CareFlag) -> CareFlag:
    """Someone is on it: it stays in the queue, marked with who and when."""
    flag = _workable(flag.pk)
    if flag.status == CareFlag.Status.ACKNOWLEDGED:
        return flag
    flag.status = CareFlag.Status.ACKNOWLEDGED
    flag.acknowledged_at = timezone.now()
    flag.acknowledged_by = actor_label(actor)
    flag.save(update_fields=["status", "acknowledged_at", "acknowledged_by"])
    audit_record(actor=actor, action="careflag.acknowledge", target=flag, after={"kind": flag.kind})
    return flag


@transaction.atomic
def care_flag_dismiss(*, actor: Any, flag: CareFlag, reason: str) -> CareFlag:
    """Nothing to do (the customer already knows, a false alarm): the reason is required."""
    reason = " ".join(str(reason or "").split())
    if not reason:
        raise ValidationError({"reason": ["Say why this needs no action."]})
    if len(reason) > 200:
        raise ValidationError({"reason": ["At most 200 characters."]})
    flag = _workable(flag.pk)
    return _done(flag, actor=actor, status=CareFlag.Status.DISMISSED, dismissed_reason=reason)


def message_fill(text: str, flag: CareFlag) -> str:
    """A template's text with the flag's facts filled in (unknown fields left as written)."""
    customer = flag.customer
    values = {
        "name": customer.display_name,
        "first_name": customer.display_name.split()[0] if customer.display_name else "",
        "order": getattr(flag.order, "external_id", ""),
        "promised_by": f"{flag.order.promised_by:%d %b %H:%M}"
        if flag.order and flag.order.promised_by
        else "",
        "case": f"#{flag.case_id}" if flag.case_id else "",
        "subject": getattr(flag.case, "subject", ""),
        "deadline": f"{flag.case.customer_deadline:%d %b %H:%M}"
        if flag.case and flag.case.customer_deadline
        else "",
        "disruption": getattr(flag.disruption, "title", ""),
    }
    for name, value in values.items():
        text = text.replace("{" + name + "}", value)
    return text


@transaction.atomic
def care_flag_message(
    *,
    actor: Any,
    flag: CareFlag,
    body: str,
    subject: str = "",
    template: MessageTemplate | None = None,
    channel: str | None = None,
) -> CareFlag:
    """Tell the customer before they chase: a service message on their preferred channel
    (consent respected, see ``customer_message_send``); from a template when given."""
    flag = _workable(flag.pk)
    if template is not None:
        subject = subject or message_fill(template.subject, flag)
        body = body or message_fill(template.body, flag)
    message = customer_message_send(
        actor=actor,
        customer=flag.customer,
        purpose="service",
        body=body,
        subject=subject,
        channel=channel,
    )
    return _done(flag, actor=actor, action=CareFlag.Action.MESSAGE, action_interaction=message)


@transaction.atomic
def care_flag_open_case(
    *, actor: Any, flag: CareFlag, subject: str, **case_fields: Any
) -> CareFlag:
    """Open a case for the customer about this exception."""
    flag = _workable(flag.pk)
    case = case_open(actor=actor, customer=flag.customer, subject=subject, **case_fields)
    if flag.disruption_id and case.disruption_id is None:
        # About the disruption: its updates can then go to this case with the others.
        case.disruption_id = flag.disruption_id
        case.save(update_fields=["disruption"])
    return _done(flag, actor=actor, action=CareFlag.Action.CASE, action_case=case)


@transaction.atomic
def care_flag_call_back(*, actor: Any, flag: CareFlag, summary: str, note: str = "") -> CareFlag:
    """We called the customer: the call goes on their timeline."""
    flag = _workable(flag.pk)
    call = interaction_log(
        actor=actor,
        customer=flag.customer,
        channel="phone",
        direction=Interaction.Direction.OUTBOUND,
        summary=summary,
        body=note,
    )
    return _done(flag, actor=actor, action=CareFlag.Action.CALL_BACK, action_interaction=call)


# --- flags raised on events (by higher layers: a detractor's answer) -------------------------
@transaction.atomic
def care_flag_raise(
    *, kind: str, customer: Customer, dedupe_key: str, summary: str, case: Case | None = None
) -> CareFlag | None:
    """Raise one flag now, for an event the scans cannot see (a detractor's survey
    answer). Uses the kind's rule (team, severity); None when the rule is switched off.
    Raising the same ``dedupe_key`` again returns the current flag."""
    rule = care_rules_ensure().get(kind)
    if rule is None or not rule.is_active:
        return None
    current = CareFlag.objects.filter(dedupe_key=dedupe_key, cleared_at__isnull=True).first()
    if current is not None:
        return current
    return CareFlag.objects.create(
        kind=kind,
        customer=customer,
        team_id=rule.team_id,
        severity=rule.severity,
        dedupe_key=dedupe_key,
        summary=summary[:200],
        case=case,
        raised_at=timezone.now(),
    )


def care_flag_clear(*, dedupe_key: str) -> int:
    """The cause of an event-raised flag is gone (the follow-up was recorded)."""
    return CareFlag.objects.filter(dedupe_key=dedupe_key, cleared_at__isnull=True).update(
        cleared_at=timezone.now()
    )
