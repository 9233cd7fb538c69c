"""Feedback: surveys (NPS, CSAT, CES) and their answers, mentions from the channels, themes
and sentiment, closing the loop with detractors, and staff ideas.

An answer is always counted (``Response`` keeps score, survey, channel, team, region and
time); it is kept against the customer (``Response.customer``) only when they agreed to
be contacted about it."""

from django.db import models
from django.db.models import Q

from cases.models import CareFlag, Case
from customers.models import Channel, Customer, Interaction
from cxportal.models import Team
from cxportal.querysets import RestrictedQuerySet


class Survey(models.Model):
    class Kind(models.TextChoices):
        NPS = "nps", "NPS (0–10)"
        CSAT = "csat", "CSAT (1–5)"
        CES = "ces", "CES (1–7)"

    class Trigger(models.TextChoices):
        CASE_RESOLVED = "case_resolved", "A case is resolved"
        ORDER_DELIVERED = "order_delivered", "An order is delivered"
        INTERACTION = "interaction", "An interaction of a chosen kind"
        MANUAL = "manual", "A manual list"

    SCALE = {Kind.NPS: (0, 10), Kind.CSAT: (1, 5), Kind.CES: (1, 7)}

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    question = models.CharField(max_length=300)
    trigger = models.CharField(max_length=20, choices=Trigger.choices)
    # For the interaction trigger: which interactions (channel and a word in the summary).
    trigger_channel = models.CharField(max_length=20, choices=Channel.choices, blank=True)
    trigger_keyword = models.CharField(
        max_length=100, blank=True, help_text='e.g. "technician visit" (in the summary)'
    )
    delay_hours = models.PositiveIntegerField(default=2, help_text="Wait before inviting")
    sampling_rate = models.FloatField(default=1.0, help_text="Share of triggers invited (0–1)")
    quiet_period_days = models.PositiveIntegerField(
        default=30, help_text="No second survey to the same customer within this many days"
    )
    channel = models.CharField(
        max_length=20, choices=[("email", "Email"), ("sms", "SMS")], default="email"
    )
    fallback_channel = models.CharField(
        max_length=20, choices=[("", "None"), ("sms", "SMS"), ("email", "Email")], blank=True
    )
    fallback_after_days = models.PositiveIntegerField(default=3)
    valid_days = models.PositiveIntegerField(default=14, help_text="How long a link works")
    team = models.ForeignKey(
        Team, on_delete=models.PROTECT, related_name="+", help_text="Who closes the loop"
    )
    open_case_for_detractors = models.BooleanField(
        default=False, help_text="Also open a case for the team when a detractor allows contact"
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def scale(self) -> tuple[int, int]:
        return self.SCALE[self.kind]


class SurveyInvitation(models.Model):
    """One customer asked once. The link carries a signed token naming this row; it works
    until ``expires_at`` and only once. ``(survey, trigger_key)`` is unique: the same case
    or order never invites twice, whatever replays."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        SENT = "sent", "Sent"
        ANSWERED = "answered", "Answered"
        EXPIRED = "expired", "Expired"
        SUPPRESSED = "suppressed", "Not sent"

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="invitations")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    trigger_key = models.CharField(max_length=100, help_text='e.g. "case:42", "manual:7:2026"')
    case = models.ForeignKey(
        Case, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.SCHEDULED)
    suppressed_reason = models.CharField(max_length=300, blank=True)
    send_after = models.DateTimeField()
    expires_at = models.DateTimeField()
    channel = models.CharField(max_length=20, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    fallback_sent_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    interaction = models.ForeignKey(
        Interaction, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["survey", "trigger_key"], name="surveyinvitation_once_per_trigger"
            )
        ]
        indexes = [
            models.Index(
                fields=["send_after"],
                name="invitation_due",
                condition=Q(status="scheduled"),
            ),
            models.Index(
                fields=["sent_at"],
                name="invitation_awaiting",
                condition=Q(status="sent", fallback_sent_at__isnull=True),
            ),
            models.Index(fields=["customer", "-created_at"], name="invitation_customer"),
        ]

    def __str__(self) -> str:
        return f"{self.survey_id}:{self.trigger_key} ({self.status})"


class Theme(models.Model):
    """A topic people talk about, found by keywords and phrases (supervisor-edited)."""

    name = models.CharField(max_length=100, unique=True)
    keywords = models.JSONField(
        default=list, help_text='Words and phrases, e.g. ["late", "delivery", "never arrived"]'
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Response(models.Model):
    class Category(models.TextChoices):
        PROMOTER = "promoter", "Promoter"
        PASSIVE = "passive", "Passive"
        DETRACTOR = "detractor", "Detractor"
        SATISFIED = "satisfied", "Satisfied"
        NEUTRAL = "neutral", "Neutral"
        DISSATISFIED = "dissatisfied", "Dissatisfied"
        EASY = "easy", "Easy"
        HARD = "hard", "Hard"

    survey = models.ForeignKey(Survey, on_delete=models.PROTECT, related_name="responses")
    kind = models.CharField(max_length=10, choices=Survey.Kind.choices)
    invitation = models.OneToOneField(
        SurveyInvitation, null=True, blank=True, on_delete=models.SET_NULL, related_name="response"
    )
    # Only when the customer allowed us to contact them about their answer.
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="feedback"
    )
    contact_allowed = models.BooleanField(default=False)
    score = models.PositiveSmallIntegerField()
    comment = models.TextField(blank=True)
    category = models.CharField(max_length=15, choices=Category.choices)
    sentiment = models.FloatField(null=True, blank=True)
    themes = models.ManyToManyField(Theme, blank=True, related_name="responses")
    # Counted either way: where it came from, kept without the person.
    channel = models.CharField(max_length=20, blank=True)
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    region = models.CharField(max_length=100, blank=True)
    answered_at = models.DateTimeField()
    # Closing the loop with a detractor.
    care_flag = models.ForeignKey(
        CareFlag, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    follow_up_case = models.ForeignKey(
        Case, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    follow_up_outcome = models.CharField(max_length=300, blank=True)
    follow_up_at = models.DateTimeField(null=True, blank=True)
    follow_up_by = models.CharField(max_length=200, blank=True)

    objects = RestrictedQuerySet.as_manager()

    PERSONAL_FIELDS = ("comment", "follow_up_outcome")

    class Meta:
        ordering = ["-answered_at", "-id"]
        indexes = [
            # The scorecard: by week, survey kind, and a dimension.
            models.Index(fields=["answered_at", "kind"], name="response_answered"),
            models.Index(fields=["customer", "-answered_at"], name="response_customer"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.score}"


class Mention(models.Model):
    """Feedback that is not a survey answer: a social or forum post, a call note."""

    class Source(models.TextChoices):
        SOCIAL = "social", "Social post"
        FORUM = "forum", "Forum post"
        CALL_NOTE = "call_note", "Call note"

    class Status(models.TextChoices):
        NEW = "new", "New"
        REVIEWED = "reviewed", "Reviewed"

    source = models.CharField(max_length=10, choices=Source.choices)
    interaction = models.OneToOneField(
        Interaction, null=True, blank=True, on_delete=models.CASCADE, related_name="mention"
    )
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="mentions"
    )
    text = models.TextField()
    sentiment = models.FloatField(null=True, blank=True)
    themes = models.ManyToManyField(Theme, blank=True, related_name="mentions")
    occurred_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.NEW)

    PERSONAL_FIELDS = ("text",)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["occurred_at"], name="mention_occurred")]

    def __str__(self) -> str:
        return f"{self.source} {self.occurred_at:%Y-%m-%d}"


class Idea(models.Model):
    """A staff member's suggestion, moved through review to implementation."""

    class Status(models.TextChoices):
        SUBMITTED = "submitted", "Submitted"
        REVIEWING = "reviewing", "Reviewing"
        IMPLEMENTING = "implementing", "Implementing"
        IMPLEMENTED = "implemented", "Implemented"
        DECLINED = "declined", "Declined"

    TRANSITIONS = {
        Status.SUBMITTED: {Status.REVIEWING, Status.DECLINED},
        Status.REVIEWING: {Status.IMPLEMENTING, Status.DECLINED},
        Status.IMPLEMENTING: {Status.IMPLEMENTED, Status.DECLINED},
        Status.IMPLEMENTED: set(),
        Status.DECLINED: {Status.REVIEWING},
    }

    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    submitted_by = models.CharField(max_length=200)
    submitted_at = models.DateTimeField()
    status = models.CharField(max_length=15, choices=Status.choices, default=Status.SUBMITTED)
    status_changed_at = models.DateTimeField()
    implemented_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.CharField(max_length=300, blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["-submitted_at", "-id"]

    def __str__(self) -> str:
        return self.title
