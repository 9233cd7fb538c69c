"""Every write of campaigns: segments, campaigns through service review to launch, the
audience built with the gate in SQL, sending in kill-safe batches, tracking, service
follow-ups that carry campaign content, and the sales pipeline.

Life of a campaign: draft → (submit) in review → (a reviewer outside the owner team
approves, or sends it back to draft) approved → (launch: now, or scheduled) scheduled /
sending → sent; paused and cancelled on the way. Launching builds the audience: one
``INSERT … SELECT`` writes a ``Delivery`` per segment customer, ``queued`` or
``suppressed`` with the gate's first reason. Sending takes queued deliveries in batches:
the gate is asked again (what changed since launch suppresses, ``reason_at_send``), the
message is written on the customer's timeline (sent after the commit by the outbound
worker), and the delivery marked sent — one transaction per batch, ``(campaign, customer)``
unique, so a killed or repeated batch never sends twice.
"""

import re
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Case, CharField, DateTimeField, F, IntegerField, Value, When
from django.db.models.functions import Mod
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from campaigns.gate import contact_gate, gated
from campaigns.models import (
    Campaign,
    Delivery,
    FollowUp,
    Opportunity,
    ReviewComment,
    Segment,
    Variant,
)
from campaigns.segments import segment_compile, segment_customers
from cases.models import Case as SupportCase
from customers.models import ContactPoint, Customer
from customers.selectors import is_erased_identity
from customers.services.outbound import customer_message_send
from cxportal.broker import publish
from cxportal.errors import StaleVersion
from cxportal.models import Team
from cxportal.services import actor_label, audit_record
from cxportal.sql import insert_select
from cxportal.validation import text_field

SEND_BATCH = 200
SEND_TASK = "outbound.campaign_send_batch"
TRACK_SALT = "campaigns.track"
LINK = re.compile(r"https?://[^\s<>\"')]+")
Status = Campaign.Status


# --- segments --------------------------------------------------------------------------------
@transaction.atomic
def segment_save(
    *,
    actor: Any,
    name: str,
    rules: Any,
    team: Team,
    segment: Segment | None = None,
    description: str = "",
) -> Segment:
    errors: dict[str, list[str]] = {}
    name = text_field(errors, "name", name, required=True, limit=100)
    description = text_field(errors, "description", description, required=False, limit=300)
    try:
        segment_compile(rules)
    except ValidationError as exc:
        errors["rules"] = [f"{path}: {'; '.join(msgs)}" for path, msgs in exc.message_dict.items()]
    if errors:
        raise ValidationError(errors)
    if segment is None:
        segment = Segment(created_by=actor_label(actor), team=team)
    segment.name, segment.description, segment.rules = name, description, rules
    segment.last_count = None
    segment.save()
    audit_record(actor=actor, action="segment.save", target=segment, after={"rules": rules})
    return segment


def segment_count(*, segment: Segment) -> int:
    """The live count preview (one COUNT query), remembered on the segment."""
    count = segment_customers(segment.rules).count()
    Segment.objects.filter(pk=segment.pk).update(last_count=count, last_counted_at=timezone.now())
    return count


# --- campaigns -------------------------------------------------------------------------------
def _locked(campaign: Campaign, version: int | None) -> Campaign:
    current = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if version is not None and current.version != version:
        raise StaleVersion(
            f"“{current.name}” was changed by someone else meanwhile (you had version "
            f"{version}, it is now {current.version}). Reload it and try again.",
            current_version=current.version,
        )
    return current


def _move(campaign: Campaign, status: str, *, actor: Any, allowed: tuple[str, ...], **fields):
    if campaign.status not in allowed:
        raise ValidationError(
            {
                "status": [
                    f"A campaign that is {campaign.get_status_display().lower()} cannot be "
                    f"{Campaign.Status(status).label.lower()} now."
                ]
            }
        )
    before = campaign.status
    now = timezone.now()
    campaign.status = status
    for name, value in fields.items():
        setattr(campaign, name, value)
    campaign.version += 1
    campaign.updated_at = now
    campaign.save()
    audit_record(
        actor=actor,
        action=f"campaign.{status}",
        target=campaign,
        before={"status": before},
        after={"status": status},
    )
    return campaign


def _variants_check(variants: list[dict], channel: str) -> list[Variant]:
    errors: dict[str, list[str]] = {}
    if not isinstance(variants, list) or not 1 <= len(variants) <= 4:
        raise ValidationError({"variants": ["One to four variants (A, B, ...)."]})
    built = []
    for i, data in enumerate(variants):
        key = "ABCD"[i]
        body = text_field(
            errors, f"variants.{i}.body", data.get("body"), required=True, limit=10000
        )
        subject = text_field(
            errors,
            f"variants.{i}.subject",
            data.get("subject", ""),
            required=channel == "email",
            limit=200,
        )
        even = 100 // len(variants) + (1 if i < 100 % len(variants) else 0)
        weight = data.get("weight", even)
        if not isinstance(weight, int) or isinstance(weight, bool) or not 0 <= weight <= 100:
            errors[f"variants.{i}.weight"] = ["A share from 0 to 100."]
            weight = 0
        built.append(Variant(key=key, subject=subject, body=body, weight=weight))
    if not errors and sum(v.weight for v in built) != 100:
        errors["variants"] = ["The variants' shares must add up to 100."]
    if errors:
        raise ValidationError(errors)
    return built


@transaction.atomic
def campaign_create(
    *,
    actor: Any,
    name: str,
    team: Team,
    channel: str,
    segment: Segment,
    variants: list[dict],
    eligible_for_service_follow_up: bool = False,
    follow_up_text: str = "",
) -> Campaign:
    errors: dict[str, list[str]] = {}
    name = text_field(errors, "name", name, required=True, limit=150)
    follow_up_text = text_field(errors, "follow_up_text", follow_up_text, required=False, limit=300)
    if channel not in Campaign.Channel.values:
        errors["channel"] = [f"One of: {', '.join(Campaign.Channel.values)}."]
    if eligible_for_service_follow_up and not follow_up_text:
        errors["follow_up_text"] = ["Write the short text a service follow-up would carry."]
    if errors:
        raise ValidationError(errors)
    built = _variants_check(variants, channel)
    now = timezone.now()
    campaign = Campaign.objects.create(
        name=name,
        team=team,
        channel=channel,
        segment=segment,
        eligible_for_service_follow_up=eligible_for_service_follow_up,
        follow_up_text=follow_up_text,
        created_by=actor_label(actor),
        created_at=now,
        updated_at=now,
    )
    for variant in built:
        variant.campaign = campaign
    Variant.objects.bulk_create(built)
    audit_record(actor=actor, action="campaign.create", target=campaign, after={"name": name})
    return campaign


@transaction.atomic
def campaign_content_update(
    *, actor: Any, campaign: Campaign, version: int, variants: list[dict]
) -> Campaign:
    """New content: only while a draft (a reviewed campaign goes back to review)."""
    campaign = _locked(campaign, version)
    if campaign.status != Status.DRAFT:
        raise ValidationError(
            {"status": ["Content can change only in a draft: send it back to draft first."]}
        )
    built = _variants_check(variants, campaign.channel)
    Variant.objects.filter(campaign=campaign).delete()
    for variant in built:
        variant.campaign = campaign
    Variant.objects.bulk_create(built)
    campaign.version += 1
    campaign.updated_at = timezone.now()
    campaign.save(update_fields=["version", "updated_at"])
    audit_record(actor=actor, action="campaign.content", target=campaign, after={})
    return campaign


@transaction.atomic
def campaign_submit(*, actor: Any, campaign: Campaign, version: int) -> Campaign:
    """Ask the service team to review the content and the audience."""
    campaign = _locked(campaign, version)
    return _move(
        campaign,
        Status.IN_REVIEW,
        actor=actor,
        allowed=(Status.DRAFT,),
        submitted_at=timezone.now(),
        audience_rules=campaign.segment.rules,
    )


def _reviewer_check(actor: Any, campaign: Campaign) -> None:
    if not actor.has_perm("campaigns.review_campaign"):
        raise ValidationError({"reviewer": ["Only the service team reviews campaigns."]})
    owner_group = campaign.team.group_id
    if actor.groups.filter(pk=owner_group).exists():
        raise ValidationError(
            {
                "reviewer": [
                    f"{campaign.team} cannot approve its own campaign: the service team reviews it."
                ]
            }
        )


@transaction.atomic
def campaign_review(
    *, actor: Any, campaign: Campaign, version: int | None, decision: str, comment: str = ""
) -> Campaign:
    """The service team comments, approves, or sends it back to draft (with a comment)."""
    errors: dict[str, list[str]] = {}
    comment = text_field(errors, "comment", comment, required=decision != "approved", limit=5000)
    if decision not in ReviewComment.Decision.values:
        errors["decision"] = [f"One of: {', '.join(ReviewComment.Decision.values)}."]
    if errors:
        raise ValidationError(errors)
    campaign = _locked(campaign, version if decision != "comment" else None)
    _reviewer_check(actor, campaign)
    if campaign.status != Status.IN_REVIEW:
        raise ValidationError({"status": ["This campaign is not waiting for a review."]})
    ReviewComment.objects.create(
        campaign=campaign,
        author=actor_label(actor),
        decision=decision,
        body=comment,
        created_at=timezone.now(),
    )
    if decision == "approved":
        return _move(
            campaign,
            Status.APPROVED,
            actor=actor,
            allowed=(Status.IN_REVIEW,),
            reviewed_by=actor_label(actor),
            reviewed_at=timezone.now(),
        )
    if decision == "sent_back":
        return _move(campaign, Status.DRAFT, actor=actor, allowed=(Status.IN_REVIEW,))
    return campaign


@transaction.atomic
def campaign_launch(
    *, actor: Any, campaign: Campaign, version: int, at: datetime | None = None
) -> Campaign:
    """Launch now (build the audience, start sending) or schedule it for ``at``."""
    campaign = _locked(campaign, version)
    now = timezone.now()
    if at is not None and at > now:
        return _move(
            campaign, Status.SCHEDULED, actor=actor, allowed=(Status.APPROVED,), scheduled_at=at
        )
    campaign = _move(
        campaign,
        Status.SENDING,
        actor=actor,
        allowed=(Status.APPROVED, Status.SCHEDULED),
        started_at=now,
    )
    audience_build(campaign=campaign)
    campaign_id = campaign.pk
    transaction.on_commit(lambda: publish(SEND_TASK, [campaign_id]))
    return campaign


def campaigns_start_due(*, now: datetime | None = None) -> int:
    """Scheduled campaigns whose time has come start sending (beat, every minute)."""
    now = now or timezone.now()
    started = 0
    for campaign in Campaign.objects.filter(status=Status.SCHEDULED, scheduled_at__lte=now):
        try:
            campaign_launch(actor=None, campaign=campaign, version=campaign.version)
            started += 1
        except (ValidationError, StaleVersion):
            continue
    return started


@transaction.atomic
def campaign_pause(*, actor: Any, campaign: Campaign, version: int) -> Campaign:
    campaign = _locked(campaign, version)
    return _move(campaign, Status.PAUSED, actor=actor, allowed=(Status.SENDING, Status.SCHEDULED))


@transaction.atomic
def campaign_resume(*, actor: Any, campaign: Campaign, version: int) -> Campaign:
    campaign = _locked(campaign, version)
    campaign = _move(campaign, Status.SENDING, actor=actor, allowed=(Status.PAUSED,))
    if campaign.audience_built_at is None:
        audience_build(campaign=campaign)
    campaign_id = campaign.pk
    transaction.on_commit(lambda: publish(SEND_TASK, [campaign_id]))
    return campaign


@transaction.atomic
def campaign_cancel(*, actor: Any, campaign: Campaign, version: int) -> Campaign:
    campaign = _locked(campaign, version)
    return _move(
        campaign,
        Status.CANCELLED,
        actor=actor,
        allowed=(
            Status.DRAFT,
            Status.IN_REVIEW,
            Status.APPROVED,
            Status.SCHEDULED,
            Status.PAUSED,
            Status.SENDING,
        ),
    )


# --- the audience ----------------------------------------------------------------------------
def _variant_expression(campaign: Campaign):
    """A stable A/B split by customer id and the variants' weights, in SQL."""
    variants = list(campaign.variants.order_by("key").values_list("key", "weight"))
    bucket = Mod(F("id") * Value(7919) + Value(campaign.pk * 31), Value(100))
    whens, upto = [], 0
    for key, weight in variants[:-1]:
        upto += weight
        whens.append(When(**{"_bucket__lt": upto}, then=Value(key)))
    last = variants[-1][0] if variants else "A"
    return bucket, Case(*whens, default=Value(last), output_field=CharField())


def audience_build(*, campaign: Campaign, now: datetime | None = None) -> int:
    """One ``Delivery`` per customer of the segment, ``queued`` or ``suppressed`` with the
    gate's first reason: one ``INSERT … SELECT``. Repeating adds nothing. Returns the
    audience size (queued + suppressed)."""
    now = now or timezone.now()
    rules = campaign.audience_rules
    customers = gated(
        segment_customers(rules if rules is not None else campaign.segment.rules),
        purpose="marketing",
        channel=campaign.channel,
        now=now,
    )
    bucket, variant = _variant_expression(campaign)
    customers = customers.annotate(_bucket=bucket)
    insert_select(
        Delivery,
        {
            "campaign": Value(campaign.pk, output_field=IntegerField()),
            "customer": F("id"),
            "variant": variant,
            "status": Case(
                When(gate_reason="", then=Value(Delivery.Status.QUEUED)),
                default=Value(Delivery.Status.SUPPRESSED),
                output_field=CharField(),
            ),
            "reason": F("gate_reason"),
            "reason_at_send": Value(False),
            "via_follow_up": Value(False),
            "created_at": Value(now, output_field=DateTimeField()),
        },
        customers,
        skip_conflicts=True,
    )
    size = Delivery.objects.filter(campaign=campaign, via_follow_up=False).count()
    Campaign.objects.filter(pk=campaign.pk).update(audience_built_at=now, audience_size=size)
    campaign.audience_built_at, campaign.audience_size = now, size
    return size


# --- sending ---------------------------------------------------------------------------------
def track_token(delivery_id: int, url: str = "") -> str:
    return signing.dumps([delivery_id, url], salt=TRACK_SALT, compress=True)


def track_decode(token: str) -> tuple[int, str] | None:
    try:
        delivery_id, url = signing.loads(token, salt=TRACK_SALT)
        return int(delivery_id), str(url)
    except (signing.BadSignature, TypeError, ValueError):
        return None


def personalize(text: str, customer: Customer) -> str:
    first = customer.display_name.split()[0] if customer.display_name else ""
    for name, value in (
        ("first_name", first),
        ("name", customer.display_name),
        ("region", customer.region),
    ):
        text = text.replace("{" + name + "}", value)
    return text


def _tracked(body: str, delivery: Delivery, base: str) -> str:
    """Links become signed click redirects; email gets an open pixel line."""
    body = LINK.sub(
        lambda m: base + reverse("track_click", args=[track_token(delivery.pk, m.group(0))]), body
    )
    return body


def _html(body: str, delivery: Delivery, base: str) -> str:
    """The email's HTML version: the text (links clickable) and the open pixel."""
    paragraphs = []
    for block in body.split("\n\n"):
        escaped = escape(block)
        linked = LINK.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', escaped)
        paragraphs.append(f"<p>{linked.replace(chr(10), '<br>')}</p>")
    pixel = base + reverse("track_open", args=[track_token(delivery.pk)])
    return "".join(paragraphs) + f'<img src="{pixel}" width="1" height="1" alt="">'


def _erased_addresses(customer_ids: list[int]) -> set[int]:
    """Customers whose email or phone is on the erased list (a person who asked to be
    forgotten, back under a new record): never marketed to."""
    hit = set()
    points = ContactPoint.objects.filter(
        customer_id__in=customer_ids, kind__in=["email", "phone"]
    ).values_list("customer_id", "kind", "normalized")
    for customer_id, kind, normalized in points:
        if is_erased_identity(kind=kind, normalized=normalized):
            hit.add(customer_id)
    return hit


def campaign_send_batch(*, campaign_id: int, limit: int = SEND_BATCH) -> int:
    """Send up to ``limit`` queued deliveries; re-enqueues itself while more are queued and
    marks the campaign sent when none are left. Returns how many were handled."""
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None or campaign.status != Status.SENDING:
        return 0
    variants = {v.key: v for v in campaign.variants.all()}
    base = settings.CXPORTAL_PUBLIC_URL.rstrip("/")
    with transaction.atomic():
        queued = Delivery.objects.filter(campaign=campaign, status=Delivery.Status.QUEUED)
        if connection.vendor == "postgresql":
            queued = queued.select_for_update(skip_locked=True)
        batch = list(queued.select_related("customer").order_by("id")[:limit])
        ids = [d.customer_id for d in batch]
        now = timezone.now()
        reasons = dict(
            gated(
                Customer.objects.filter(pk__in=ids),
                purpose="marketing",
                channel=campaign.channel,
                now=now,
            ).values_list("pk", "gate_reason")
        )
        erased = _erased_addresses(ids)
        for delivery in batch:
            reason = (
                "erased"
                if delivery.customer_id in erased
                else reasons.get(delivery.customer_id, "erased")
            )
            if reason:
                delivery.status, delivery.reason, delivery.reason_at_send = (
                    Delivery.Status.SUPPRESSED,
                    reason,
                    True,
                )
                delivery.save(update_fields=["status", "reason", "reason_at_send"])
                continue
            variant = variants.get(delivery.variant) or next(iter(variants.values()))
            body = personalize(variant.body, delivery.customer)
            html = ""
            if campaign.channel == "email":
                body = _tracked(body, delivery, base)
                html = _html(body, delivery, base)
            try:
                with transaction.atomic():
                    message = customer_message_send(
                        actor=None,
                        customer=delivery.customer,
                        purpose="marketing",
                        channel=campaign.channel,
                        subject=personalize(variant.subject, delivery.customer),
                        body=body,
                        html=html,
                    )
            except ValidationError:
                delivery.status, delivery.reason = Delivery.Status.FAILED, "no_route"
                delivery.save(update_fields=["status", "reason"])
                continue
            delivery.status, delivery.interaction, delivery.sent_at = (
                Delivery.Status.SENT,
                message,
                now,
            )
            delivery.save(update_fields=["status", "interaction", "sent_at"])
        more = len(batch) == limit
        # An empty batch may only mean another worker holds the last rows (skip_locked):
        # the campaign is sent when no delivery is queued at all, locked or not.
        if (
            not batch
            and not Delivery.objects.filter(
                campaign=campaign, status=Delivery.Status.QUEUED
            ).exists()
        ):
            Campaign.objects.filter(pk=campaign.pk, status=Status.SENDING).update(
                status=Status.SENT, finished_at=now, version=F("version") + 1, updated_at=now
            )
    if more:
        transaction.on_commit(lambda: publish(SEND_TASK, [campaign_id]))
    elif batch:
        # Nothing more was queued when this batch began: one more pass marks it sent.
        transaction.on_commit(lambda: publish(SEND_TASK, [campaign_id]))
    return len(batch)


def campaigns_send_sweep() -> int:
    """Campaigns sending with queued deliveries: hand them to the broker again (a batch
    that died with its worker, a broker outage)."""
    ids = list(Campaign.objects.filter(status=Status.SENDING).values_list("pk", flat=True)[:100])
    return len(publish(SEND_TASK, ids)) if ids else 0


# --- tracking --------------------------------------------------------------------------------
def delivery_opened(*, token: str) -> bool:
    decoded = track_decode(token)
    if decoded is None:
        return False
    return bool(
        Delivery.objects.filter(pk=decoded[0], opened_at__isnull=True).update(
            opened_at=timezone.now()
        )
    )


def delivery_clicked(*, token: str) -> str | None:
    """The URL to redirect to (only one we signed), recording the first click (a click
    implies an open)."""
    decoded = track_decode(token)
    if decoded is None or not decoded[1]:
        return None
    delivery_id, url = decoded
    now = timezone.now()
    Delivery.objects.filter(pk=delivery_id, clicked_at__isnull=True).update(clicked_at=now)
    Delivery.objects.filter(pk=delivery_id, opened_at__isnull=True).update(opened_at=now)
    return url


@transaction.atomic
def delivery_convert(*, actor: Any, delivery: Delivery, value: Any = None) -> Delivery:
    """A conversion reported by a partner app (an order placed from the campaign)."""
    amount = None
    if value is not None:
        try:
            amount = Decimal(str(value))
            if not Decimal("0") <= amount < Decimal("1e10"):
                raise InvalidOperation
        except (InvalidOperation, ValueError):
            raise ValidationError({"value": ["An amount from 0 up to 9,999,999,999.99."]}) from None
    delivery = Delivery.objects.select_for_update().get(pk=delivery.pk)
    if delivery.status != Delivery.Status.SENT:
        raise ValidationError({"delivery": ["Only a sent message can convert."]})
    if delivery.converted_at is None:
        delivery.converted_at = timezone.now()
        delivery.conversion_value = amount
        delivery.save(update_fields=["converted_at", "conversion_value"])
        audit_record(
            actor=actor,
            action="delivery.convert",
            target=delivery.campaign,
            after={"delivery": delivery.pk, "value": str(amount) if amount is not None else None},
        )
    return delivery


# --- the service follow-up -------------------------------------------------------------------
def follow_up_campaign(*, customer_id: int, channel: str) -> Campaign | None:
    """The one campaign whose content may ride along on a service follow-up to this
    customer now: eligible, approved or running, and the gate allows marketing."""
    campaign = (
        Campaign.objects.filter(
            eligible_for_service_follow_up=True,
            status__in=[Status.APPROVED, Status.SCHEDULED, Status.SENDING, Status.SENT],
        )
        .exclude(deliveries__customer_id=customer_id)
        .order_by("-id")
        .first()
    )
    if campaign is None:
        return None
    if not contact_gate(customer_id=customer_id, purpose="marketing", channel=channel).allowed:
        return None
    return campaign


@transaction.atomic
def case_follow_up_send(*, case_id: int) -> Delivery | None:
    """After a case is resolved: tell the customer (a service message), and carry one
    eligible campaign's short content only when the gate allows marketing to them. Decided
    once per case (``FollowUp``, under the case's row lock): a redelivered or swept task
    sends nothing more."""
    case = (
        SupportCase.objects.select_for_update(of=("self",))
        .select_related("customer")
        .filter(pk=case_id)
        .first()
    )
    if case is None or case.status not in ("resolved", "closed"):
        return None
    if FollowUp.objects.filter(case_id=case.pk).exists():
        return None
    delivery = _follow_up_deliver(case)
    FollowUp.objects.create(case=case, delivery=delivery, decided_at=timezone.now())
    return delivery


def _follow_up_deliver(case: SupportCase) -> Delivery | None:
    channel = case.origin_channel if case.origin_channel in ("email", "sms") else "email"
    campaign = follow_up_campaign(customer_id=case.customer_id, channel=channel)
    if campaign is None:
        return None
    body = (
        f"Hello {personalize('{first_name}', case.customer)}, your case #{case.pk} "
        f"(“{case.subject}”) is resolved. Reply to this message if anything is still wrong."
        f"\n\n{campaign.follow_up_text}"
    )
    try:
        with transaction.atomic():
            message = customer_message_send(
                actor=None,
                customer=case.customer,
                purpose="service",
                channel=channel,
                subject=f"Your case #{case.pk} is resolved",
                body=body,
            )
    except ValidationError:
        return None
    delivery, _ = Delivery.objects.get_or_create(
        campaign=campaign,
        customer=case.customer,
        defaults={
            "status": Delivery.Status.SENT,
            "interaction": message,
            "via_follow_up": True,
            "created_at": timezone.now(),
            "sent_at": timezone.now(),
        },
    )
    return delivery


FOLLOW_UP_TASK = "outbound.case_follow_up"
#: Resolved this long ago without a follow-up decided: its task was lost (or never sent).
FOLLOW_UP_LOST_AFTER = timedelta(minutes=5)
FOLLOW_UP_WINDOW = timedelta(days=1)


def case_follow_ups_sweep(*, limit: int = 500) -> int:
    """Resolved cases of the last day with no follow-up decided, resolved at least five
    minutes ago: hand them to the broker again. Returns how many."""
    now = timezone.now()
    ids = list(
        SupportCase.objects.filter(
            resolved_at__gte=now - FOLLOW_UP_WINDOW,
            resolved_at__lte=now - FOLLOW_UP_LOST_AFTER,
            status__in=("resolved", "closed"),
        )
        .exclude(pk__in=FollowUp.objects.values("case_id"))
        .order_by("resolved_at")
        .values_list("pk", flat=True)[:limit]
    )
    return len(publish(FOLLOW_UP_TASK, ids)) if ids else 0


# --- sales -----------------------------------------------------------------------------------
@transaction.atomic
def opportunity_save(
    *,
    actor: Any,
    customer: Customer,
    title: str,
    stage: str = "prospect",
    value: Any = None,
    owner: Any = None,
    opportunity: Opportunity | None = None,
) -> Opportunity:
    errors: dict[str, list[str]] = {}
    title = text_field(errors, "title", title, required=True, limit=200)
    if stage not in Opportunity.Stage.values:
        errors["stage"] = [f"One of: {', '.join(Opportunity.Stage.values)}."]
    amount = None
    if value not in (None, ""):
        try:
            amount = Decimal(str(value))
            if not Decimal("0") <= amount < Decimal("1e10"):
                raise InvalidOperation
        except (InvalidOperation, ValueError):
            errors["value"] = ["An amount from 0 up to 9,999,999,999.99."]
    if customer.erased_at or customer.merged_into_id:
        errors["customer"] = ["This customer was erased or merged."]
    if errors:
        raise ValidationError(errors)
    now = timezone.now()
    if opportunity is None:
        opportunity = Opportunity(customer=customer, created_at=now)
    before = opportunity.stage if opportunity.pk else None
    opportunity.title, opportunity.stage, opportunity.value = title, stage, amount
    opportunity.owner = owner if owner is not None else opportunity.owner
    opportunity.updated_at = now
    opportunity.closed_at = now if stage in ("won", "lost") else None
    opportunity.save()
    audit_record(
        actor=actor,
        action="opportunity.save",
        target=opportunity,
        before={"stage": before},
        after={"stage": stage},
    )
    return opportunity
