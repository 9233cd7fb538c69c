"""Every write to cases: open, update, assign, change status (resolve, reopen), notes,
replies through the customer's channel, the customer's own deadline, linking interactions.

Each service locks the case row, checks the version the caller saw (optimistic locking:
``StaleVersion`` when someone saved in between; nothing is written), writes the change and
its ``CaseEvent`` and audit event in one transaction, and recomputes the SLA clocks from the
case's history. Resolving announces ``cases.signals.case_resolved`` after the commit; the
cases app knows nothing of who listens.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from cases.models import (
    DONE_STATUSES,
    TRANSITIONS,
    BusinessCalendar,
    CareRule,
    Case,
    CaseEvent,
    CaseInteraction,
    Category,
    Priority,
    RoutingRule,
    SlaPolicy,
    Status,
)
from cases.signals import case_resolved
from cases.sla import BusinessHours, sla_compute
from customers.models import Channel, Customer, Interaction
from customers.services.outbound import customer_message_send, interaction_reply_send
from cxportal.errors import StaleVersion
from cxportal.models import Team
from cxportal.services import actor_label, audit_record
from cxportal.validation import datetime_problem, text_field

SLA_RISK_SHARE = 0.8  # unless the "SLA at risk" care rule says otherwise
EDITABLE = ("subject", "description", "category", "priority", "team")
SLA_FIELDS = [
    "sla_policy",
    "first_response_due_at",
    "first_response_risk_at",
    "first_response_met",
    "resolution_due_at",
    "resolution_risk_at",
    "resolution_met",
    "next_due_at",
    "sla_paused",
]


# --- helpers -------------------------------------------------------------------------------
def _locked(case: Case, version: int | None) -> Case:
    """The case row, locked for this transaction; StaleVersion when ``version`` is given and
    is not the current one."""
    current = Case.objects.select_for_update().get(pk=case.pk)
    if version is not None and current.version != version:
        raise StaleVersion(
            f"Case #{case.pk} was changed by someone else while you were editing it "
            f"(you had version {version}, it is now {current.version}). Reload it, check "
            "what changed, and save again.",
            current_version=current.version,
        )
    return current


def _event(case: Case, *, actor: Any, kind: str, now: datetime, **fields: Any) -> CaseEvent:
    return CaseEvent.objects.create(
        case=case, kind=kind, occurred_at=now, actor_label=actor_label(actor), **fields
    )


def _save(case: Case, fields: list[str], *, now: datetime) -> None:
    case.version += 1
    case.updated_at = now
    case.save(update_fields=[*dict.fromkeys(fields), "version", "updated_at"])


def _choice(errors: dict, field: str, value: Any, choices) -> str:
    if value not in choices.values:
        allowed = ", ".join(choices.values)
        errors[field] = [f"{value!r} is not one of: {allowed}."]
    return value


def _future(errors: dict, field: str, value: Any, now: datetime) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime) or (problem := datetime_problem(value)):
        errors[field] = [
            "A date and time is needed." if not isinstance(value, datetime) else problem
        ]
        return None
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    if value <= now:
        errors[field] = ["This deadline is in the past: give a date and time still to come."]
        return None
    return value


def _assignable(errors: dict, assignee: Any) -> Any:
    if assignee is None:
        return None
    user_model = get_user_model()
    if not isinstance(assignee, user_model) or not assignee.is_active:
        errors["assignee"] = ["No such active staff member."]
    elif not assignee.has_perm("cases.change_case"):
        errors["assignee"] = [f"{assignee.get_username()} cannot work on cases."]
    return assignee


# --- routing and SLA -----------------------------------------------------------------------
def case_route(*, category: str, channel: str) -> Team:
    """The team a new case lands with: the first matching active routing rule, else the
    customer service team."""
    for rule in RoutingRule.objects.filter(is_active=True).select_related("team"):
        if rule.category in ("", category) and rule.channel in ("", channel):
            return rule.team
    return Team.objects.get(slug=Team.Slug.SERVICE)


def sla_policy_for(*, team_id: int, priority: str, category: str) -> SlaPolicy | None:
    """The most specific active policy of the team for this priority and category."""
    candidates = SlaPolicy.objects.filter(
        team_id=team_id,
        is_active=True,
        priority__in=["", priority],
        category__in=["", category],
    )
    return max(
        candidates,
        key=lambda p: (bool(p.category) and bool(p.priority), bool(p.priority), bool(p.category)),
        default=None,
    )


def sla_risk_share() -> float:
    """When a clock counts as at risk: the share of its target used, tuned by supervisors
    on the "SLA at risk" care rule."""
    share = (
        CareRule.objects.filter(kind=CareRule.Kind.SLA_AT_RISK)
        .values_list("share", flat=True)
        .first()
    )
    return share if share is not None and 0 < share <= 1 else SLA_RISK_SHARE


def _business_hours(team_id: int) -> BusinessHours | None:
    calendar = BusinessCalendar.objects.filter(team_id=team_id).first()
    if calendar is None:
        return None
    holidays = calendar.holidays.values_list("date", flat=True)
    return BusinessHours.parse(
        time_zone=calendar.time_zone, hours=calendar.hours, holidays=holidays
    )


@dataclass
class SlaLookups:
    """What the cases of one batch share, looked up once (``case_sla_recompute_team``):
    policies per (team, priority, category), calendars per team, the risk share, and the
    batch's status histories by case id."""

    policies: dict[tuple, SlaPolicy | None] = field(default_factory=dict)
    hours: dict[int, BusinessHours | None] = field(default_factory=dict)
    share: float | None = None
    histories: dict[int, list[tuple[datetime, str, str]]] | None = None

    def policy(self, case: Case) -> SlaPolicy | None:
        key = (case.team_id, case.priority, case.category)
        if key not in self.policies:
            self.policies[key] = sla_policy_for(
                team_id=case.team_id, priority=case.priority, category=case.category
            )
        return self.policies[key]

    def business_hours(self, team_id: int) -> BusinessHours | None:
        if team_id not in self.hours:
            self.hours[team_id] = _business_hours(team_id)
        return self.hours[team_id]

    def risk_share(self) -> float:
        if self.share is None:
            self.share = sla_risk_share()
        return self.share

    def history(self, case: Case) -> list[tuple[datetime, str, str]]:
        if self.histories is not None and case.pk in self.histories:
            return self.histories[case.pk]
        return list(_history(CaseEvent.objects.filter(case=case)))


def _history(events) -> Iterable[tuple[datetime, str, str]]:
    """(when, kind, new status) of the creation and status changes, oldest first."""
    return (
        events.filter(kind__in=[CaseEvent.Kind.CREATED, CaseEvent.Kind.STATUS])
        .order_by("occurred_at", "id")
        .values_list("occurred_at", "kind", "to_status")
    )


def case_sla_refresh(
    *, case: Case, choose_policy: bool = False, lookups: SlaLookups | None = None
) -> list[str]:
    """Recompute the case's SLA clocks from its history (and, with ``choose_policy``, pick
    its policy again). Sets the fields on ``case`` and returns their names; the caller
    saves them."""
    lookups = lookups or SlaLookups()
    if choose_policy:
        case.sla_policy = lookups.policy(case)
    policy = case.sla_policy
    if policy is None:
        for field_name in SLA_FIELDS[1:]:
            setattr(case, field_name, False if field_name == "sla_paused" else None)
        return SLA_FIELDS
    history = lookups.history(case)
    initial = next((status for _, kind, status in history if kind == "created"), "") or Status.NEW
    changes = [(when, status) for when, kind, status in history if kind == "status"]
    state = sla_compute(
        created_at=case.created_at,
        changes=changes,
        initial_status=initial,
        first_responded_at=case.first_responded_at,
        first_response_minutes=policy.first_response_minutes,
        resolution_minutes=policy.resolution_minutes,
        pause_statuses=frozenset(policy.pause_statuses or []),
        hours=lookups.business_hours(case.team_id),
        risk_share=lookups.risk_share(),
    )
    first, resolution = state.first_response, state.resolution
    paused_running = state.paused
    case.first_response_due_at = None if paused_running and first.met is None else first.due_at
    case.first_response_risk_at = None if paused_running and first.met is None else first.risk_at
    case.first_response_met = first.met
    case.resolution_due_at = None if paused_running else resolution.due_at
    case.resolution_risk_at = None if paused_running else resolution.risk_at
    case.resolution_met = resolution.met
    case.next_due_at = state.next_due_at
    case.sla_paused = state.paused
    return SLA_FIELDS


# --- services ------------------------------------------------------------------------------
@transaction.atomic
def case_open(
    *,
    actor: Any,
    customer: Customer,
    subject: str,
    description: str = "",
    category: str = Category.GENERAL,
    priority: str = Priority.NORMAL,
    origin_channel: str = "",
    team: Team | None = None,
    assignee: Any = None,
    interaction: Interaction | None = None,
    customer_deadline: datetime | None = None,
    customer_deadline_reason: str = "",
    now: datetime | None = None,
) -> Case:
    """Open a case for a customer (from their page, from one of their interactions, or
    through the API). Without a team it is routed by the routing rules."""
    now = now or timezone.now()
    errors: dict[str, list[str]] = {}
    if customer.merged_into_id or customer.erased_at:
        errors["customer"] = ["This customer was merged or erased: open the case on the live one."]
    subject = text_field(errors, "subject", subject, required=True, limit=200)
    description = text_field(errors, "description", description, required=False, limit=20_000)
    _choice(errors, "category", category, Category)
    _choice(errors, "priority", priority, Priority)
    if interaction is not None and not origin_channel:
        origin_channel = interaction.channel
    if origin_channel:
        _choice(errors, "origin_channel", origin_channel, Channel)
    if interaction is not None and interaction.customer_id != customer.pk:
        errors["interaction"] = ["That interaction belongs to another customer."]
    _assignable(errors, assignee)
    deadline = _future(errors, "customer_deadline", customer_deadline, now)
    reason = text_field(
        errors, "customer_deadline_reason", customer_deadline_reason, required=False, limit=200
    )
    if deadline and not reason:
        errors["customer_deadline_reason"] = ["Say why the customer needs it by then."]
    if errors:
        raise ValidationError(errors)
    case = Case(
        customer=customer,
        subject=subject,
        description=description,
        category=category,
        priority=priority,
        origin_channel=origin_channel,
        team=team or case_route(category=category, channel=origin_channel),
        assignee=assignee,
        customer_deadline=deadline,
        customer_deadline_reason=reason if deadline else "",
        created_by=actor_label(actor),
        created_at=now,
        updated_at=now,
    )
    case.save()
    _event(case, actor=actor, kind=CaseEvent.Kind.CREATED, now=now, to_status=case.status)
    if interaction is not None:
        CaseInteraction.objects.create(case=case, interaction=interaction)
    case_sla_refresh(case=case, choose_policy=True)
    case.save(update_fields=SLA_FIELDS)
    audit_record(
        actor=actor,
        action="case.open",
        target=case,
        after={
            "customer": customer.pk,
            "team": case.team.slug,
            "category": category,
            "priority": priority,
            "assignee": assignee.get_username() if assignee else None,
        },
    )
    return case


@transaction.atomic
def case_update(*, actor: Any, case: Case, version: int, **changes: Any) -> Case:
    """Change the subject, description, category, priority or team. A change of team,
    priority or category picks the SLA policy again and recomputes the clocks."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ValidationError({name: ["This field cannot be changed here."] for name in unknown})
    case = _locked(case, version)
    errors: dict[str, list[str]] = {}
    if "subject" in changes:
        changes["subject"] = text_field(
            errors, "subject", changes["subject"], required=True, limit=200
        )
    if "description" in changes:
        changes["description"] = text_field(
            errors, "description", changes["description"], required=False, limit=20_000
        )
    if "category" in changes:
        _choice(errors, "category", changes["category"], Category)
    if "priority" in changes:
        _choice(errors, "priority", changes["priority"], Priority)
    if "team" in changes and not isinstance(changes["team"], Team):
        errors["team"] = ["No such team."]
    if errors:
        raise ValidationError(errors)
    changed = {k: v for k, v in changes.items() if getattr(case, k) != v}
    if not changed:
        return case
    before = {k: _plain(getattr(case, k)) for k in changed}
    now = timezone.now()
    for name, value in changed.items():
        setattr(case, name, value)
    fields = list(changed)
    if changed.keys() & {"team", "priority", "category"}:
        fields += case_sla_refresh(case=case, choose_policy=True)
    _save(case, fields, now=now)
    after = {k: _plain(v) for k, v in changed.items()}
    _event(case, actor=actor, kind=CaseEvent.Kind.UPDATED, now=now, changes=after)
    audit_record(actor=actor, action="case.update", target=case, before=before, after=after)
    return case


def _plain(value: Any) -> Any:
    if isinstance(value, Team):
        return value.slug
    return value


@transaction.atomic
def case_assign(*, actor: Any, case: Case, version: int, assignee: Any) -> Case:
    """Give the case to a staff member (None: back to the team queue)."""
    errors: dict[str, list[str]] = {}
    _assignable(errors, assignee)
    if errors:
        raise ValidationError(errors)
    case = _locked(case, version)
    if case.assignee_id == (assignee.pk if assignee else None):
        return case
    before = case.assignee.get_username() if case.assignee else None
    after = assignee.get_username() if assignee else None
    now = timezone.now()
    case.assignee = assignee
    _save(case, ["assignee"], now=now)
    _event(case, actor=actor, kind=CaseEvent.Kind.ASSIGNED, now=now, changes={"assignee": after})
    audit_record(
        actor=actor,
        action="case.assign",
        target=case,
        before={"assignee": before},
        after={"assignee": after},
    )
    return case


@transaction.atomic
def case_status_change(
    *, actor: Any, case: Case, version: int, status: str, note: str = ""
) -> Case:
    """Move the case to another status, if that transition is allowed (``TRANSITIONS``).
    Resolving announces ``case_resolved`` after the commit."""
    errors: dict[str, list[str]] = {}
    note = text_field(errors, "note", note, required=False, limit=20_000)
    if status not in Status.values:
        errors["status"] = [f"{status!r} is not a status: {', '.join(Status.values)}."]
    if errors:
        raise ValidationError(errors)
    case = _locked(case, version)
    if status == case.status:
        raise ValidationError({"status": [f"The case is already {case.get_status_display()}."]})
    if status not in TRANSITIONS[case.status]:
        allowed = ", ".join(sorted(TRANSITIONS[case.status])) or "none (it is final)"
        raise ValidationError(
            {
                "status": [
                    f"A case that is {case.get_status_display()} cannot become "
                    f"{Status(status).label}. Allowed next: {allowed}."
                ]
            }
        )
    now = timezone.now()
    previous = case.status
    case.status = status
    fields = ["status"]
    if status == Status.RESOLVED:
        case.resolved_at = now
        fields.append("resolved_at")
    elif status == Status.CLOSED:
        case.closed_at = now
        fields.append("closed_at")
    elif previous in DONE_STATUSES:  # reopened
        case.resolved_at = None
        fields.append("resolved_at")
    _event(
        case,
        actor=actor,
        kind=CaseEvent.Kind.STATUS,
        now=now,
        from_status=previous,
        to_status=status,
        body=note,
    )
    fields += case_sla_refresh(case=case)
    _save(case, fields, now=now)
    audit_record(
        actor=actor,
        action="case.status",
        target=case,
        before={"status": previous},
        after={"status": status, **({"note": note} if note else {})},
    )
    if status == Status.RESOLVED:
        case_id, label = case.pk, actor_label(actor)
        transaction.on_commit(
            lambda: case_resolved.send(sender=Case, case_id=case_id, actor_label=label)
        )
    return case


def case_resolve(*, actor: Any, case: Case, version: int, note: str = "") -> Case:
    return case_status_change(
        actor=actor, case=case, version=version, status=Status.RESOLVED, note=note
    )


def case_reopen(*, actor: Any, case: Case, version: int, note: str = "") -> Case:
    if case.status != Status.RESOLVED:
        raise ValidationError(
            {"status": [f"Only a resolved case can be reopened; this one is {case.status}."]}
        )
    return case_status_change(
        actor=actor, case=case, version=version, status=Status.OPEN, note=note
    )


@transaction.atomic
def case_note_add(*, actor: Any, case: Case, body: str) -> CaseEvent:
    """An internal note: staff only, never sent to the customer. Notes only add, so they
    need no version."""
    errors: dict[str, list[str]] = {}
    body = text_field(errors, "body", body, required=True, limit=20_000)
    if errors:
        raise ValidationError(errors)
    case = _locked(case, None)
    now = timezone.now()
    event = _event(case, actor=actor, kind=CaseEvent.Kind.NOTE, now=now, body=body)
    Case.objects.filter(pk=case.pk).update(updated_at=now)
    audit_record(actor=actor, action="case.note", target=case, after={"event": event.pk})
    return event


def _reply_target(case: Case, channel: str | None) -> Interaction:
    """The customer's latest message a reply answers: on the case first, else on the
    customer's timeline; on ``channel`` when given, else on the case's origin channel."""
    wanted = channel or case.origin_channel or None
    inbound = Interaction.objects.filter(
        customer_id=case.customer_id,
        direction=Interaction.Direction.INBOUND,
        inbound_events__status="processed",
    )
    if wanted:
        inbound = inbound.filter(channel=wanted)
    on_case = inbound.filter(cases=case).order_by("-occurred_at", "-id").first()
    target = on_case or inbound.order_by("-occurred_at", "-id").first()
    if target is None:
        where = f"by {Channel(wanted).label.lower()}" if wanted else "on any channel"
        raise ValidationError(
            {
                "channel": [
                    f"This customer has not written to us {where} through a channel we can "
                    "answer on, so there is nothing to reply to. Choose another channel, or "
                    "call them and log the call."
                ]
            },
            code="no_channel",
        )
    return target


@transaction.atomic
def case_reply(
    *, actor: Any, case: Case, body: str, channel: str | None = None, subject: str | None = None
) -> Interaction:
    """Answer the customer through their channel (their latest message on the case, else
    on the chosen or origin channel). The reply is an outbound interaction on the timeline,
    linked to the case; the first one stops the first-response clock."""
    if channel is not None and channel not in Channel.values:
        raise ValidationError({"channel": [f"{channel!r} is not a channel."]})
    case = _locked(case, None)
    if case.status in DONE_STATUSES:
        raise ValidationError(
            {"status": [f"The case is {case.get_status_display()}: reopen it to reply."]}
        )
    target = _reply_target(case, channel)
    reply = interaction_reply_send(actor=actor, interaction=target, body=body, subject=subject)
    _reply_record(case, actor=actor, reply=reply, answering=target)
    return reply


@transaction.atomic
def case_message_send(*, actor: Any, case: Case, body: str, subject: str) -> Interaction:
    """Write to the customer about the case when there is nothing to answer on its channel
    (a disruption update to a case opened by phone): a new message on their preferred
    channel for service, recorded on the case as a reply (it stops the first-response clock
    like one)."""
    case = _locked(case, None)
    if case.status in DONE_STATUSES:
        raise ValidationError(
            {"status": [f"The case is {case.get_status_display()}: reopen it to write."]}
        )
    message = customer_message_send(
        actor=actor, customer=case.customer, purpose="service", subject=subject, body=body
    )
    _reply_record(case, actor=actor, reply=message)
    return message


def _reply_record(
    case: Case, *, actor: Any, reply: Interaction, answering: Interaction | None = None
) -> None:
    """What every message to the customer on a (locked) case records: the link, the reply
    event, the first response, New → Open, the clocks once, the audit."""
    now = timezone.now()
    if answering is not None:
        CaseInteraction.objects.get_or_create(case=case, interaction=answering)
    CaseInteraction.objects.create(case=case, interaction=reply)
    _event(case, actor=actor, kind=CaseEvent.Kind.REPLY, now=now, interaction=reply)
    fields = []
    if case.first_responded_at is None:
        case.first_responded_at = now
        fields.append("first_responded_at")
    if case.status == Status.NEW:
        # Answering a new case starts working on it.
        previous, case.status = case.status, Status.OPEN
        _event(
            case,
            actor=actor,
            kind=CaseEvent.Kind.STATUS,
            now=now,
            from_status=previous,
            to_status=case.status,
        )
        fields.append("status")
    if fields:  # the clocks change once, after both the response and the status
        fields += case_sla_refresh(case=case)
    _save(case, fields, now=now)
    audit_record(
        actor=actor,
        action="case.reply",
        target=case,
        after={"interaction": reply.pk, "channel": reply.channel},
    )


@transaction.atomic
def case_deadline_set(
    *, actor: Any, case: Case, version: int, deadline: datetime | None, reason: str = ""
) -> Case:
    """Record what the customer told us: "I need it by <deadline> because <reason>" (None
    clears it). Shown on the case, the queue and the 360 page, apart from the SLA."""
    now = timezone.now()
    errors: dict[str, list[str]] = {}
    deadline = _future(errors, "customer_deadline", deadline, now)
    reason = text_field(errors, "customer_deadline_reason", reason, required=False, limit=200)
    if deadline and not reason:
        errors["customer_deadline_reason"] = ["Say why the customer needs it by then."]
    if errors:
        raise ValidationError(errors)
    case = _locked(case, version)
    before = {
        "deadline": case.customer_deadline.isoformat() if case.customer_deadline else None,
        "reason": case.customer_deadline_reason,
    }
    case.customer_deadline, case.customer_deadline_reason = deadline, reason if deadline else ""
    _save(case, ["customer_deadline", "customer_deadline_reason"], now=now)
    after = {"deadline": deadline.isoformat() if deadline else None, "reason": reason}
    _event(case, actor=actor, kind=CaseEvent.Kind.DEADLINE, now=now, changes=after, body=reason)
    audit_record(actor=actor, action="case.deadline", target=case, before=before, after=after)
    return case


@transaction.atomic
def case_interaction_link(*, actor: Any, case: Case, interaction: Interaction) -> bool:
    """Attach one of the customer's interactions to the case; False when it already was."""
    if interaction.customer_id != case.customer_id:
        raise ValidationError({"interaction": ["That interaction belongs to another customer."]})
    case = _locked(case, None)
    _, created = CaseInteraction.objects.get_or_create(case=case, interaction=interaction)
    if created:
        now = timezone.now()
        _event(case, actor=actor, kind=CaseEvent.Kind.LINKED, now=now, interaction=interaction)
        # Linking adds, it overwrites nothing: no new version, so no one's edit is refused.
        Case.objects.filter(pk=case.pk).update(updated_at=now)
    return created


# --- after a policy or calendar change ----------------------------------------------------
SLA_RECOMPUTE_BATCH = 500


def case_sla_recompute_team(
    *, actor: Any, team: Team, batch_size: int = SLA_RECOMPUTE_BATCH
) -> int:
    """Recompute the SLA clocks of the team's active cases after a supervisor changed its
    SLA policies or business calendar (until then they keep their due times). The policy is
    chosen again; each batch of ``batch_size`` cases is locked, recomputed with
    ``case_sla_refresh`` and written with one ``bulk_update`` in its own transaction, so
    agents wait for one batch at most. Not an edit: versions are left alone. Returns how
    many cases were recomputed."""
    done, last_id = 0, 0
    lookups = SlaLookups()
    while True:
        with transaction.atomic():
            batch = list(
                Case.objects.active()
                .select_for_update()
                .filter(team=team, pk__gt=last_id)
                .order_by("pk")[:batch_size]
            )
            if not batch:
                break
            histories: dict[int, list[tuple[datetime, str, str]]] = {c.pk: [] for c in batch}
            for case_id, *entry in _history(CaseEvent.objects.filter(case__in=batch)).values_list(
                "case_id", "occurred_at", "kind", "to_status"
            ):
                histories[case_id].append(tuple(entry))
            lookups.histories = histories
            for case in batch:
                case_sla_refresh(case=case, choose_policy=True, lookups=lookups)
            Case.objects.bulk_update(batch, SLA_FIELDS)
        done += len(batch)
        last_id = batch[-1].pk
    audit_record(actor=actor, action="case.sla_recompute", target=team, after={"cases": done})
    return done
