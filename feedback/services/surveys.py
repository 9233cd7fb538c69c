"""Surveys: invite (on a trigger, sampled, once per trigger), send (fatigue guard, consent,
fallback channel), answer (signed single-use link), close the loop with detractors.

Life of an invitation: ``survey_invite`` writes it ``scheduled`` (after the survey's delay);
beat's ``invitations_send_due`` sends the due ones (``invitation_send``): suppressed with a
reason when the customer has an open case, was surveyed within the quiet period, or cannot
be reached for feedback (no consent, no address); otherwise a message with the link goes out
on the survey's channel, or its fallback. ``invitations_fallback_due`` re-asks on the
fallback channel when there is no answer after N days. The customer answers on the public
page (``response_submit``); the answer is counted either way and kept against the customer
only when they allowed contact. A detractor (NPS 0–6, CSAT 1–2) who allowed contact gets a
care flag and, when the survey says so, a case for its team.
"""

import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from cases.care import care_flag_clear, care_flag_raise
from cases.models import ACTIVE_STATUSES, Case
from cases.services import case_open
from customers.models import Customer, Interaction, Order
from customers.services.outbound import customer_message_send
from cxportal.services import actor_label, audit_record
from cxportal.validation import text_problem
from feedback.analysis import ThemeMatcher, sentiment_of
from feedback.models import Response, Survey, SurveyInvitation, Theme

TOKEN_SALT = "feedback.invitation"  # noqa: S105 (a namespace for signing, not a secret)
COMMENT_MAX = 5000
SEND_BATCH = 200


# --- scores ----------------------------------------------------------------------------------
def score_category(kind: str, score: int) -> str:
    C = Response.Category
    if kind == Survey.Kind.NPS:
        return C.PROMOTER if score >= 9 else C.PASSIVE if score >= 7 else C.DETRACTOR
    if kind == Survey.Kind.CSAT:
        return C.SATISFIED if score >= 4 else C.NEUTRAL if score == 3 else C.DISSATISFIED
    return C.EASY if score >= 5 else C.NEUTRAL if score == 4 else C.HARD


def is_detractor(kind: str, score: int) -> bool:
    return (kind == Survey.Kind.NPS and score <= 6) or (kind == Survey.Kind.CSAT and score <= 2)


# --- inviting --------------------------------------------------------------------------------
def sampled(survey: Survey, trigger_key: str) -> bool:
    """Whether this trigger is in the sample: decided by a hash, so a replay decides alike."""
    if survey.sampling_rate >= 1:
        return True
    digest = hashlib.sha256(f"{survey.pk}:{trigger_key}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < survey.sampling_rate


def survey_invite(
    *,
    survey: Survey,
    customer: Customer,
    trigger_key: str,
    case: Case | None = None,
    now: datetime | None = None,
) -> SurveyInvitation | None:
    """Schedule one invitation for this trigger (None when not sampled). Idempotent: the
    same trigger returns the invitation it made before."""
    existing = SurveyInvitation.objects.filter(survey=survey, trigger_key=trigger_key).first()
    if existing is not None:
        return existing
    if not survey.is_active or not sampled(survey, trigger_key):
        return None
    now = now or timezone.now()
    send_after = now + timedelta(hours=survey.delay_hours)
    try:
        with transaction.atomic():
            return SurveyInvitation.objects.create(
                survey=survey,
                customer=customer,
                trigger_key=trigger_key,
                case=case,
                send_after=send_after,
                expires_at=send_after + timedelta(days=survey.valid_days),
                created_at=now,
            )
    except IntegrityError:  # a concurrent replay made it first
        return SurveyInvitation.objects.get(survey=survey, trigger_key=trigger_key)


def surveys_for_case_resolved(*, case_id: int) -> list[SurveyInvitation]:
    """The case-resolved trigger (from ``cases.signals.case_resolved``, via a task)."""
    case = Case.objects.select_related("customer").filter(pk=case_id).first()
    if case is None:
        return []
    invited = []
    for survey in Survey.objects.filter(is_active=True, trigger=Survey.Trigger.CASE_RESOLVED):
        invitation = survey_invite(
            survey=survey, customer=case.customer, trigger_key=f"case:{case.pk}", case=case
        )
        if invitation is not None:
            invited.append(invitation)
    return invited


def survey_invite_list(*, actor: Any, survey: Survey, customers: list[Customer], label: str) -> int:
    """The manual trigger: invite a list of customers; ``label`` names the list, so the same
    list sent twice invites nobody twice. Returns how many invitations are new."""
    label = " ".join(str(label or "").split())[:40]
    if not label:
        raise ValidationError({"label": ["Name this list (e.g. 'Technician visits May')."]})
    before = SurveyInvitation.objects.filter(survey=survey).count()
    for customer in customers:
        survey_invite(survey=survey, customer=customer, trigger_key=f"manual:{label}:{customer.pk}")
    new = SurveyInvitation.objects.filter(survey=survey).count() - before
    audit_record(
        actor=actor,
        action="survey.invite_list",
        target=survey,
        after={"label": label, "customers": len(customers), "new": new},
    )
    return new


# --- sending ---------------------------------------------------------------------------------
def invitation_token(invitation: SurveyInvitation) -> str:
    return signing.dumps({"i": invitation.pk}, salt=TOKEN_SALT, compress=True)


def invitation_url(invitation: SurveyInvitation) -> str:
    path = reverse("survey_answer", args=[invitation_token(invitation)])
    return f"{settings.CXPORTAL_PUBLIC_URL.rstrip('/')}{path}"


# The contact gate lives above feedback (campaigns/gate.py): it registers itself here when
# the apps load, so surveys go through the same gate as campaigns without an upward import.
# ``ContactGate(customer_id=, purpose=, channel=, now=)`` returns an answer with ``reasons``
# as ``[(code, words)]``.
ContactGate = Callable[..., Any]
_contact_gate: ContactGate | None = None
#: Reasons the send loop handles itself, channel by channel (with the fallback channel).
CHANNEL_REASONS = {"no_consent", "no_address"}
QUIET_RETRY = timedelta(minutes=30)


def survey_contact_gate_register(gate: ContactGate | None) -> None:
    global _contact_gate
    _contact_gate = gate


def gate_reasons(invitation: SurveyInvitation, now: datetime) -> list[tuple[str, str]]:
    """What the contact gate says against surveying this customer now (channel-specific
    reasons left to the send loop)."""
    if _contact_gate is None:
        return []
    answer = _contact_gate(
        customer_id=invitation.customer_id,
        purpose="feedback",
        channel=invitation.survey.channel,
        now=now,
    )
    return [(code, words) for code, words in answer.reasons if code not in CHANNEL_REASONS]


def fatigue_reason(invitation: SurveyInvitation, now: datetime) -> str:
    """Why this customer should not be surveyed now, or ""."""
    customer = invitation.customer
    if customer.erased_at or customer.merged_into_id:
        return "The customer was erased or merged."
    if Case.objects.filter(customer=customer, status__in=ACTIVE_STATUSES).exists():
        return "The customer has an open case: no survey while we are still helping them."
    quiet = now - timedelta(days=invitation.survey.quiet_period_days)
    last = (
        SurveyInvitation.objects.filter(customer=customer, sent_at__gte=quiet)
        .exclude(pk=invitation.pk)
        .order_by("-sent_at")
        .values_list("sent_at", flat=True)
        .first()
    )
    if last is not None:
        days = invitation.survey.quiet_period_days
        return f"Surveyed on {last:%d %b %Y}: inside the {days}-day quiet period."
    return ""


def _message(invitation: SurveyInvitation, channel: str):
    survey = invitation.survey
    body = (
        f"{survey.question}\n\nIt takes a few seconds: {invitation_url(invitation)}\n\n"
        f"The link works until {invitation.expires_at:%d %b %Y}."
    )
    return customer_message_send(
        actor=None,
        customer=invitation.customer,
        purpose="feedback",
        channel=channel,
        subject=f"{survey.name}: how did we do?",
        body=body,
    )


@transaction.atomic
def invitation_send(*, invitation_id: int, now: datetime | None = None) -> str:
    """Send one due invitation (or suppress it, with the reason). Idempotent: returns the
    status it ends with."""
    invitation = (
        SurveyInvitation.objects.select_for_update(of=("self",))
        .select_related("survey", "customer")
        .filter(pk=invitation_id)
        .first()
    )
    if invitation is None:
        return "gone"
    now = now or timezone.now()
    if invitation.status != SurveyInvitation.Status.SCHEDULED or invitation.send_after > now:
        return invitation.status
    reason = fatigue_reason(invitation, now)
    if not reason:
        gate = gate_reasons(invitation, now)
        if [code for code, _ in gate] == ["quiet_hours"]:
            # Not at night: try again later, the invitation stays scheduled.
            invitation.send_after = now + QUIET_RETRY
            invitation.save(update_fields=["send_after"])
            return invitation.status
        reason = " ".join(words for _, words in gate)
    if not reason:
        survey = invitation.survey
        for channel in filter(None, [survey.channel, survey.fallback_channel]):
            try:
                with transaction.atomic():
                    message = _message(invitation, channel)
            except ValidationError as exc:
                reason = " ".join(exc.messages)
                continue
            invitation.status = SurveyInvitation.Status.SENT
            invitation.sent_at, invitation.channel, invitation.interaction = now, channel, message
            if channel != survey.channel:
                invitation.fallback_sent_at = now  # the fallback was the only way
            invitation.save()
            return invitation.status
    invitation.status = SurveyInvitation.Status.SUPPRESSED
    invitation.suppressed_reason = reason[:300]
    invitation.save(update_fields=["status", "suppressed_reason"])
    return invitation.status


def invitations_send_due(*, now: datetime | None = None, limit: int = SEND_BATCH) -> int:
    """Send (or suppress) invitations whose delay is over, oldest first; returns how many
    were handled. Beat calls it every minute; a batch that is full asks for another."""
    now = now or timezone.now()
    ids = list(
        SurveyInvitation.objects.filter(
            status=SurveyInvitation.Status.SCHEDULED, send_after__lte=now
        )
        .order_by("send_after")
        .values_list("pk", flat=True)[:limit]
    )
    for invitation_id in ids:
        invitation_send(invitation_id=invitation_id, now=now)
    return len(ids)


def invitations_fallback_due(*, now: datetime | None = None, limit: int = SEND_BATCH) -> int:
    """No answer after ``fallback_after_days``: ask once more on the fallback channel."""
    now = now or timezone.now()
    handled = 0
    candidates = (
        SurveyInvitation.objects.filter(
            status=SurveyInvitation.Status.SENT,
            fallback_sent_at__isnull=True,
            expires_at__gt=now,
        )
        .exclude(survey__fallback_channel="")
        .select_related("survey")
        .order_by("sent_at")[: limit * 5]
    )
    for candidate in candidates:
        survey = candidate.survey
        if candidate.sent_at > now - timedelta(days=survey.fallback_after_days):
            continue
        with transaction.atomic():
            invitation = (
                SurveyInvitation.objects.select_for_update(of=("self",))
                .select_related("survey", "customer")
                .get(pk=candidate.pk)
            )
            if invitation.status != SurveyInvitation.Status.SENT or invitation.fallback_sent_at:
                continue
            invitation.fallback_sent_at = now
            try:
                with transaction.atomic():
                    _message(invitation, survey.fallback_channel)
            except ValidationError as exc:
                invitation.suppressed_reason = f"Fallback not sent: {' '.join(exc.messages)}"[:300]
            invitation.save(update_fields=["fallback_sent_at", "suppressed_reason"])
        handled += 1
        if handled >= limit:
            break
    return handled


def invitations_expire(*, now: datetime | None = None) -> int:
    now = now or timezone.now()
    return SurveyInvitation.objects.filter(
        status__in=[SurveyInvitation.Status.SENT, SurveyInvitation.Status.SCHEDULED],
        expires_at__lte=now,
    ).update(status=SurveyInvitation.Status.EXPIRED)


# --- answering -------------------------------------------------------------------------------
class LinkProblem(Exception):
    """Why a survey link cannot be answered, in words for the customer. ``code`` says which
    case it is ("invalid", "gone", "answered", "expired"), for the page's HTTP status."""

    def __init__(self, message: str, *, code: str = "invalid") -> None:
        super().__init__(message)
        self.code = code


def invitation_from_token(token: str, *, now: datetime | None = None) -> SurveyInvitation:
    """The invitation a link names, if it can still be answered; LinkProblem otherwise."""
    try:
        data = signing.loads(token, salt=TOKEN_SALT)
        invitation_id = int(data["i"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise LinkProblem(
            "This link is not valid. It may have been cut off: please open it again from "
            "the message we sent you."
        ) from None
    invitation = (
        SurveyInvitation.objects.select_related("survey", "customer")
        .filter(pk=invitation_id)
        .first()
    )
    if invitation is None:
        raise LinkProblem("This survey is no longer available.", code="gone")
    now = now or timezone.now()
    if invitation.status == SurveyInvitation.Status.ANSWERED:
        raise LinkProblem("You have already answered this survey. Thank you!", code="answered")
    if invitation.expires_at <= now or invitation.status == SurveyInvitation.Status.EXPIRED:
        raise LinkProblem(
            f"This survey closed on {invitation.expires_at:%d %B %Y}. Thank you all the same.",
            code="expired",
        )
    return invitation


def _themes_of(text: str) -> list[int]:
    if not text:
        return []
    matcher = ThemeMatcher.build(Theme.objects.filter(is_active=True).values_list("pk", "keywords"))
    return matcher.matches(text)


@transaction.atomic
def response_submit(
    *,
    token: str,
    score: Any,
    comment: str = "",
    contact_allowed: bool = False,
    now: datetime | None = None,
) -> Response:
    """Record an answer from the public page. ValidationError for a score outside the
    survey's scale or an unusable comment; LinkProblem for a bad, expired or used link.
    ``now`` (the time of the answer) is for data made after the fact, like the demo's."""
    invitation = invitation_from_token(token, now=now)
    invitation = (
        SurveyInvitation.objects.select_for_update(of=("self",))
        .select_related("survey", "customer", "case")
        .get(pk=invitation.pk)
    )
    if invitation.status == SurveyInvitation.Status.ANSWERED:
        raise LinkProblem("You have already answered this survey. Thank you!", code="answered")
    survey = invitation.survey
    low, high = survey.scale
    errors: dict[str, list[str]] = {}
    try:
        score = int(score)
        if not low <= score <= high:
            raise ValueError
    except (TypeError, ValueError):
        errors["score"] = [f"Choose a score from {low} to {high}."]
    comment = (comment or "").strip() if isinstance(comment, str) else ""
    if len(comment) > COMMENT_MAX:
        errors["comment"] = [f"At most {COMMENT_MAX} characters, please."]
    elif problem := text_problem(comment):
        errors["comment"] = [problem]
    if errors:
        raise ValidationError(errors)
    now = now or timezone.now()
    customer = invitation.customer
    response = Response.objects.create(
        survey=survey,
        kind=survey.kind,
        invitation=invitation,
        customer=customer if contact_allowed else None,
        contact_allowed=bool(contact_allowed),
        score=score,
        comment=comment,
        category=score_category(survey.kind, score),
        sentiment=sentiment_of(comment),
        channel=invitation.channel,
        team_id=invitation.case.team_id if invitation.case else survey.team_id,
        region=customer.region,
        answered_at=now,
    )
    themes = _themes_of(comment)
    if themes:
        response.themes.set(themes)
    invitation.status, invitation.answered_at = SurveyInvitation.Status.ANSWERED, now
    invitation.save(update_fields=["status", "answered_at"])
    if contact_allowed and is_detractor(survey.kind, score):
        _close_the_loop(response, invitation)
    return response


def _close_the_loop(response: Response, invitation: SurveyInvitation) -> None:
    survey = invitation.survey
    label = f"{survey.get_kind_display().split(' ')[0]} {response.score}"
    flag = care_flag_raise(
        kind="detractor",
        customer=invitation.customer,
        dedupe_key=f"detractor:response:{response.pk}",
        summary=f"Detractor: {label} on “{survey.name}”"
        + (f" — “{response.comment[:80]}”" if response.comment else ""),
        case=invitation.case,
    )
    fields = []
    if flag is not None:
        response.care_flag = flag
        fields.append("care_flag")
    if survey.open_case_for_detractors:
        case = case_open(
            actor=None,
            customer=invitation.customer,
            subject=f"Follow up a detractor ({label}, {survey.name})",
            description=response.comment,
            category="complaint",
            priority="high",
            team=survey.team,
        )
        response.follow_up_case = case
        fields.append("follow_up_case")
    if fields:
        response.save(update_fields=fields)


@transaction.atomic
def response_follow_up_record(*, actor: Any, response: Response, outcome: str) -> Response:
    """What came of calling the detractor back; clears their care flag."""
    outcome = " ".join(str(outcome or "").split())
    if not outcome:
        raise ValidationError({"outcome": ["Say what came of the follow-up."]})
    if len(outcome) > 300:
        raise ValidationError({"outcome": ["At most 300 characters."]})
    response = Response.objects.select_for_update().get(pk=response.pk)
    response.follow_up_outcome = outcome
    response.follow_up_at = timezone.now()
    response.follow_up_by = actor_label(actor)
    response.save(update_fields=["follow_up_outcome", "follow_up_at", "follow_up_by"])
    care_flag_clear(dedupe_key=f"detractor:response:{response.pk}")
    audit_record(actor=actor, action="response.follow_up", target=response, after={})
    return response


TRIGGER_WINDOW = timedelta(days=1)
TRIGGER_LIMIT = 2000


def surveys_triggers_scan(*, now: datetime | None = None, limit: int = TRIGGER_LIMIT) -> int:
    """The triggers' sweeper (beat, every few minutes): cases resolved, orders delivered and
    matching interactions of the last day that have no invitation yet. Cases resolved are
    also invited at once through ``case_resolved``; this catches the ones whose task was
    lost with the broker. Returns how many invitations were made."""
    now = now or timezone.now()
    made = 0
    for survey in Survey.objects.filter(
        is_active=True,
        trigger__in=[
            Survey.Trigger.CASE_RESOLVED,
            Survey.Trigger.ORDER_DELIVERED,
            Survey.Trigger.INTERACTION,
        ],
    ):
        taken = SurveyInvitation.objects.filter(survey=survey)
        if survey.trigger == Survey.Trigger.CASE_RESOLVED:
            rows = Case.objects.filter(
                resolved_at__gte=now - TRIGGER_WINDOW, resolved_at__lte=now
            ).values_list("pk", "customer_id")
            prefix = "case"
        elif survey.trigger == Survey.Trigger.ORDER_DELIVERED:
            rows = Order.objects.filter(
                delivered_at__gte=now - TRIGGER_WINDOW, delivered_at__lte=now
            ).values_list("pk", "customer_id")
            prefix = "order"
        else:
            interactions = Interaction.objects.filter(created_at__gte=now - TRIGGER_WINDOW)
            if survey.trigger_channel:
                interactions = interactions.filter(channel=survey.trigger_channel)
            if survey.trigger_keyword:
                interactions = interactions.filter(summary__icontains=survey.trigger_keyword)
            rows = interactions.values_list("pk", "customer_id")
            prefix = "interaction"
        # trigger key -> (customer id, the case it follows or None)
        found = {
            f"{prefix}:{pk}": (customer_id, pk if prefix == "case" else None)
            for pk, customer_id in rows.order_by("pk")[:limit]
        }
        done = set(taken.filter(trigger_key__in=list(found)).values_list("trigger_key", flat=True))
        todo = {key: ids for key, ids in found.items() if key not in done}
        customers = Customer.objects.in_bulk([c for c, _ in todo.values()])
        cases = Case.objects.in_bulk([case for _, case in todo.values() if case])
        for key, (customer_id, case_id) in todo.items():
            if customer_id not in customers:
                continue
            if survey_invite(
                survey=survey,
                customer=customers[customer_id],
                trigger_key=key,
                case=cases.get(case_id),
                now=now,
            ):
                made += 1
    return made
