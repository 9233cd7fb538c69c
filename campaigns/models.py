"""Campaigns and sales: segments, campaigns with variants and a service review, one
delivery per customer (sent, or suppressed with a reason), engagement tracking, the contact
gate's settings, and the sales pipeline."""

from datetime import time

from django.conf import settings
from django.db import models
from django.db.models import Q

from customers.models import Customer, Interaction
from cxportal.models import Team
from cxportal.querysets import RestrictedQuerySet


class Segment(models.Model):
    """A saved rule over customer attributes (``campaigns.segments``), compiled to one SQL
    query."""

    name = models.CharField(max_length=100)
    description = models.CharField(max_length=300, blank=True)
    rules = models.JSONField(help_text='e.g. {"all": [{"field": "region", "op": "eq", ...}]}')
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="+")
    created_by = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_count = models.PositiveIntegerField(null=True, blank=True)
    last_counted_at = models.DateTimeField(null=True, blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Campaign(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        IN_REVIEW = "in_review", "In service review"
        APPROVED = "approved", "Approved"
        SCHEDULED = "scheduled", "Scheduled"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        PAUSED = "paused", "Paused"
        CANCELLED = "cancelled", "Cancelled"

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        SMS = "sms", "SMS"
        APP = "app", "App"

    name = models.CharField(max_length=150)
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="campaigns")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    segment = models.ForeignKey(Segment, on_delete=models.PROTECT, related_name="campaigns")
    # The segment's rules as they were when the campaign went to review: the audience
    # the reviewer approved, whatever the segment becomes later.
    audience_rules = models.JSONField(null=True, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.DRAFT)
    scheduled_at = models.DateTimeField(null=True, blank=True)
    eligible_for_service_follow_up = models.BooleanField(
        default=False, help_text="Its content may ride along on a resolved case's follow-up"
    )
    follow_up_text = models.CharField(
        max_length=300, blank=True, help_text="The short content a service follow-up carries"
    )
    created_by = models.CharField(max_length=200)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    submitted_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.CharField(max_length=200, blank=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    audience_built_at = models.DateTimeField(null=True, blank=True)
    audience_size = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        permissions = [("review_campaign", "Can review campaigns for the service team")]
        indexes = [
            models.Index(
                fields=["scheduled_at"], name="campaign_due", condition=Q(status="scheduled")
            )
        ]

    def __str__(self) -> str:
        return self.name


class Variant(models.Model):
    """A version of the content for an A/B test. ``{first_name}``, ``{name}`` and
    ``{region}`` are filled in per customer; links in an email are tracked."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="variants")
    key = models.CharField(max_length=1, help_text="A, B, ...")
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField()
    weight = models.PositiveSmallIntegerField(default=50, help_text="Share of the audience, %")

    class Meta:
        ordering = ["campaign", "key"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "key"], name="variant_unique_key")
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}/{self.key}"


class ReviewComment(models.Model):
    """The service team's review: comments, and the decision (approve, send back)."""

    class Decision(models.TextChoices):
        COMMENT = "comment", "Comment"
        APPROVED = "approved", "Approved"
        SENT_BACK = "sent_back", "Sent back"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="reviews")
    author = models.CharField(max_length=200)
    decision = models.CharField(max_length=10, choices=Decision.choices)
    body = models.TextField(blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.campaign_id} {self.decision}"


class Delivery(models.Model):
    """One campaign to one customer: (campaign, customer) is unique, so a retried or
    redelivered batch never sends twice. Suppressed ones say why (a gate reason code)."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SUPPRESSED = "suppressed", "Suppressed"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="deliveries")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    variant = models.CharField(max_length=1, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices)
    reason = models.CharField(max_length=30, blank=True, help_text="Gate reason code")
    reason_at_send = models.BooleanField(
        default=False, help_text="Suppressed when it was about to be sent (not at build)"
    )
    interaction = models.ForeignKey(
        Interaction, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    via_follow_up = models.BooleanField(default=False)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    clicked_at = models.DateTimeField(null=True, blank=True)
    converted_at = models.DateTimeField(null=True, blank=True)
    conversion_value = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "customer"], name="delivery_once")
        ]
        indexes = [
            models.Index(
                fields=["campaign", "id"], name="delivery_queued", condition=Q(status="queued")
            ),
            models.Index(fields=["campaign", "status", "reason"], name="delivery_report"),
            # The contact-pressure budget: what a customer was sent lately.
            models.Index(
                fields=["customer", "sent_at"], name="delivery_pressure", condition=Q(status="sent")
            ),
        ]
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return f"{self.campaign_id} → {self.customer_id} ({self.status})"


class FollowUp(models.Model):
    """A resolved case's follow-up, decided once: sent (with the campaign content it
    carried) or not (no eligible campaign, the gate, no route). The sweeper hands the broker
    resolved cases that have none yet, so a task lost with the broker is decided anyway."""

    case = models.OneToOneField(
        "cases.Case", on_delete=models.CASCADE, related_name="+", primary_key=True
    )
    delivery = models.ForeignKey(
        Delivery, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"case {self.case_id}: {'sent' if self.delivery_id else 'none'}"


def quiet_hours_default_start() -> time:
    return time.fromisoformat(settings.CXPORTAL_QUIET_HOURS[0])


def quiet_hours_default_end() -> time:
    return time.fromisoformat(settings.CXPORTAL_QUIET_HOURS[1])


class GateSettings(models.Model):
    """The contact gate's knobs (one row, edited by supervisors in admin)."""

    pressure_budget = models.PositiveSmallIntegerField(
        default=3, help_text="Marketing messages and surveys a customer gets in 7 days, at most"
    )
    complaint_days = models.PositiveSmallIntegerField(
        default=30, help_text="No marketing this many days after a complaint case"
    )
    detractor_days = models.PositiveSmallIntegerField(
        default=60, help_text="No marketing this many days after a detractor answer"
    )
    quiet_hours_start = models.TimeField(default=quiet_hours_default_start)
    quiet_hours_end = models.TimeField(
        default=quiet_hours_default_end, help_text="The same as the start: no quiet hours"
    )

    class Meta:
        verbose_name = "contact gate settings"
        verbose_name_plural = "contact gate settings"

    def __str__(self) -> str:
        return "Contact gate settings"


class Opportunity(models.Model):
    """The sales pipeline: what might be sold to a customer."""

    class Stage(models.TextChoices):
        PROSPECT = "prospect", "Prospect"
        LEAD = "lead", "Lead"
        OFFER = "offer", "Offer"
        WON = "won", "Won"
        LOST = "lost", "Lost"

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="opportunities")
    title = models.CharField(max_length=200)
    stage = models.CharField(max_length=10, choices=Stage.choices, default=Stage.PROSPECT)
    value = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)

    objects = RestrictedQuerySet.as_manager()

    PERSONAL_FIELDS = ("title",)

    class Meta:
        ordering = ["-updated_at", "-id"]
        verbose_name_plural = "opportunities"
        indexes = [models.Index(fields=["stage", "-updated_at"], name="opportunity_stage")]

    def __str__(self) -> str:
        return self.title
