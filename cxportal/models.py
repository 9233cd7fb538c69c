"""Core: teams, audit events and partner API clients. Every other app builds on these."""

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from rest_framework_api_key.crypto import KeyGenerator


class Team(models.Model):
    """A team of staff. Membership and permissions live on the team's Django group."""

    class Slug(models.TextChoices):
        SERVICE = "service", "Customer service"
        MARKETING = "marketing", "Marketing"
        SALES = "sales", "Sales"
        OPERATIONS = "operations", "Operations"
        SUPERVISOR = "supervisor", "Supervisors"

    slug = models.SlugField(max_length=40, unique=True, choices=Slug.choices)
    name = models.CharField(max_length=100)
    group = models.OneToOneField(Group, on_delete=models.PROTECT, related_name="team")
    # Default permissions already granted once; a supervisor's later removal sticks, and
    # defaults for models added by later releases are still granted (see services).
    applied_defaults = models.JSONField(default=list, blank=True, editable=False)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class AuditEvent(models.Model):
    """Who changed what, when, with the values before and after."""

    occurred_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    actor_api_client = models.ForeignKey(
        "cxportal.APIClient", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=200, help_text="Who acted, kept if they are deleted")
    action = models.CharField(max_length=100, db_index=True)
    target_type = models.CharField(max_length=100)
    target_id = models.CharField(max_length=64)
    target_label = models.CharField(max_length=200, blank=True)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["target_type", "target_id", "-id"], name="audit_target")]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M} {self.actor_label} {self.action}"


class APIClient(models.Model):
    """A partner app. Its key is shown once at creation and stored only as a SHA-512 hash."""

    key_generator = KeyGenerator(prefix_length=8, secret_key_length=40)

    name = models.CharField(max_length=100, unique=True)
    prefix = models.CharField(max_length=8, unique=True, editable=False)
    hashed_key = models.CharField(max_length=150, editable=False)
    scopes = models.JSONField(default=list, help_text="e.g. customers:read, customers:write")
    rate = models.CharField(
        max_length=20,
        blank=True,
        help_text="Throttle as N/second|minute|hour|day; blank uses the default.",
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "API client"

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from cxportal.roles import API_SCOPES

        if not isinstance(self.scopes, list):
            raise ValidationError({"scopes": 'A list of scopes, e.g. ["customers:read"].'})
        unknown = sorted(set(self.scopes) - set(API_SCOPES))
        if unknown:
            raise ValidationError({"scopes": f"Unknown scope(s): {', '.join(unknown)}."})

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


class WebhookSubscription(models.Model):
    """A partner's endpoint for our events (``disruption.published`` ...). Each delivery is
    signed: ``X-CX-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`` with
    ``secret``; ``X-CX-Event`` and ``X-CX-Delivery`` (an id to dedupe on) name it."""

    EVENTS = ("disruption.published", "disruption.updated", "disruption.resolved")

    name = models.CharField(max_length=100)
    api_client = models.ForeignKey(
        APIClient, null=True, blank=True, on_delete=models.CASCADE, related_name="webhooks"
    )
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=100, help_text="Shared HMAC secret")
    events = models.JSONField(default=list, help_text='e.g. ["disruption.published"]')
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if not isinstance(self.events, list) or not self.events:
            raise ValidationError({"events": f"A list of events from: {', '.join(self.EVENTS)}."})
        unknown = sorted(set(self.events) - set(self.EVENTS))
        if unknown:
            raise ValidationError({"events": f"Unknown event(s): {', '.join(unknown)}."})


class WebhookDelivery(models.Model):
    """One event for one subscription: tried until the partner answers 2xx, with backoff;
    the log supervisors read."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Gave up"

    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.CharField(max_length=50)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="webhookdelivery_due",
                condition=models.Q(status="pending"),
            )
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.subscription_id} ({self.status})"
