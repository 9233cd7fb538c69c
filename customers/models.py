"""Customers and everything the brand knows about them: how to reach them (contact points),
what they allowed (consent), what they have (holdings, orders), where they go (places) and
what happened (interactions, one timeline across channels)."""

from django.db import models
from django.db.models import Q
from django.db.models.functions import Now

from cxportal.querysets import RestrictedQuerySet


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"
    APP = "app", "App"
    PHONE = "phone", "Phone"
    SOCIAL = "social", "Social media"
    STORE = "store", "Store"
    WEB = "web", "Web"


class Purpose(models.TextChoices):
    SERVICE = "service", "Service"
    MARKETING = "marketing", "Marketing"
    FEEDBACK = "feedback", "Feedback research"


class CustomerQuerySet(RestrictedQuerySet):
    def live(self) -> "CustomerQuerySet":
        """Customers that were not merged into another one."""
        return self.filter(merged_into__isnull=True)


class Customer(models.Model):
    class Lifecycle(models.TextChoices):
        PROSPECT = "prospect", "Prospect"
        NEW = "new", "New"
        ACTIVE = "active", "Active"
        AT_RISK = "at_risk", "At risk"
        LAPSED = "lapsed", "Lapsed"

    Channel = Channel

    display_name = models.CharField(max_length=200)
    lifecycle_stage = models.CharField(
        max_length=20, choices=Lifecycle.choices, default=Lifecycle.PROSPECT
    )
    region = models.CharField(max_length=100, blank=True)
    preferred_channel = models.CharField(max_length=20, choices=Channel.choices, blank=True)
    language = models.CharField(max_length=10, default="en")
    # Restricted: only roles with customers.view_restricted_customer see these.
    accessibility_needs = models.BooleanField(default=False)
    accessibility_note = models.TextField(blank=True)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="merged_customers"
    )
    erased_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CustomerQuerySet.as_manager()

    RESTRICTED_FIELDS = ("accessibility_needs", "accessibility_note")

    class Meta:
        ordering = ["-id"]
        permissions = [
            ("view_restricted_customer", "Can see restricted customer fields"),
            ("merge_customer", "Can merge and unmerge customers"),
            ("erase_customer", "Can export and erase a customer's personal data"),
        ]
        indexes = [
            models.Index(fields=["lifecycle_stage", "-id"], name="customer_stage"),
            models.Index(fields=["region", "-id"], name="customer_region"),
        ]

    def __str__(self) -> str:
        return self.display_name


class ContactPoint(models.Model):
    """How inbound traffic finds its customer: one normalized address per (kind, value)."""

    class Kind(models.TextChoices):
        EMAIL = "email", "Email"
        PHONE = "phone", "Phone"
        SOCIAL = "social", "Social handle"
        APP = "app", "App user id"
        LOYALTY = "loyalty", "Loyalty / store card"

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="contact_points")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # Social network for handles ("twitter", "facebook", ...); blank for other kinds.
    network = models.CharField(max_length=30, blank=True)
    value = models.CharField(max_length=254, help_text="As the customer gave it")
    # Lower-cased email, E.164 phone, "network:handle", trimmed ids.
    normalized = models.CharField(max_length=300)
    is_primary = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kind", "id"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "normalized"], name="contactpoint_unique")
        ]
        indexes = [models.Index(fields=["customer", "kind"], name="contactpoint_customer")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.value}"


class Consent(models.Model):
    """The current answer per customer × channel × purpose; ConsentEvent keeps the history."""

    class Status(models.TextChoices):
        GRANTED = "granted", "Granted"
        WITHDRAWN = "withdrawn", "Withdrawn"

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="consents")
    channel = models.CharField(max_length=20, choices=Channel.choices)
    purpose = models.CharField(max_length=20, choices=Purpose.choices)
    status = models.CharField(max_length=10, choices=Status.choices)
    source = models.CharField(max_length=100, blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["channel", "purpose"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "channel", "purpose"], name="consent_unique"
            )
        ]
        indexes = [
            # Segments ("granted email marketing") and the contact gate read who granted a
            # channel and purpose from this index alone: a range scan, or one probe each.
            models.Index(
                fields=["channel", "purpose", "customer"],
                name="consent_granted",
                condition=Q(status="granted"),
            )
        ]

    def __str__(self) -> str:
        return f"{self.channel}/{self.purpose}: {self.status}"


class ConsentEvent(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="consent_events")
    channel = models.CharField(max_length=20, choices=Channel.choices)
    purpose = models.CharField(max_length=20, choices=Purpose.choices)
    status = models.CharField(max_length=10, choices=Consent.Status.choices)
    source = models.CharField(max_length=100, blank=True)
    actor_label = models.CharField(max_length=200, blank=True)
    occurred_at = models.DateTimeField()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["customer", "-occurred_at"], name="consentevent_customer")]

    def __str__(self) -> str:
        return f"{self.channel}/{self.purpose} {self.status} at {self.occurred_at:%Y-%m-%d %H:%M}"


class Holding(models.Model):
    """A product or plan the customer has."""

    class Kind(models.TextChoices):
        PRODUCT = "product", "Product"
        PLAN = "plan", "Plan / subscription"

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="holdings")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.PRODUCT)
    name = models.CharField(max_length=200)
    reference = models.CharField(max_length=100, blank=True)
    started_on = models.DateField(null=True, blank=True)
    warranty_ends_on = models.DateField(null=True, blank=True)
    renews_on = models.DateField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    # The line, service or region the holding is for (a season ticket on a line, a plan in a
    # region): a disruption there affects the customer.
    place = models.ForeignKey(
        "Place", null=True, blank=True, on_delete=models.SET_NULL, related_name="holdings"
    )

    class Meta:
        ordering = ["-started_on", "-id"]
        indexes = [models.Index(fields=["customer"], name="holding_customer")]

    def __str__(self) -> str:
        return self.name


class Order(models.Model):
    class Shipping(models.TextChoices):
        EXPRESS = "express", "Express"
        STANDARD = "standard", "Standard"

    class Status(models.TextChoices):
        PLACED = "placed", "Placed"
        SHIPPED = "shipped", "Shipped"
        DELIVERED = "delivered", "Delivered"
        CANCELLED = "cancelled", "Cancelled"

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="orders")
    external_id = models.CharField(max_length=64, unique=True)
    placed_at = models.DateTimeField()
    shipping_method = models.CharField(max_length=10, choices=Shipping.choices)
    promised_by = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PLACED)
    total = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    # When the row last changed: incremental care scans read what changed since their last run.
    updated_at = models.DateTimeField(auto_now=True, db_default=Now())

    class Meta:
        ordering = ["-placed_at", "-id"]
        indexes = [
            models.Index(fields=["customer", "-placed_at"], name="order_customer"),
            models.Index(fields=["updated_at"], name="order_updated"),
            # Surveys after delivery: orders delivered in the last day.
            models.Index(
                fields=["delivered_at"],
                name="order_delivered",
                condition=Q(delivered_at__isnull=False),
            ),
            # The late-order scan: promised, not delivered, not cancelled.
            models.Index(
                fields=["promised_by"],
                name="order_open_promised",
                condition=Q(delivered_at__isnull=True) & ~Q(status="cancelled"),
            ),
        ]

    def __str__(self) -> str:
        return self.external_id

    def is_late(self, now) -> bool:
        if self.status == self.Status.CANCELLED:
            return False
        if self.delivered_at is not None:
            return bool(self.promised_by and self.delivered_at > self.promised_by)
        return bool(self.promised_by and now > self.promised_by)


class Place(models.Model):
    """What a disruption can hit: stations, lines, stores, regions, services."""

    class Kind(models.TextChoices):
        STATION = "station", "Station"
        LINE = "line", "Line"
        STORE = "store", "Store"
        REGION = "region", "Region"
        SERVICE = "service", "Service"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    code = models.CharField(max_length=50, unique=True)
    name = models.CharField(max_length=200)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    step_free = models.BooleanField(default=True, help_text="Step-free access normally")

    class Meta:
        ordering = ["kind", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"


class CustomerPlace(models.Model):
    class Relation(models.TextChoices):
        USES = "uses", "Uses"
        FOLLOWS = "follows", "Follows"
        HOME = "home", "Home store / station"

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="places")
    place = models.ForeignKey(Place, on_delete=models.CASCADE, related_name="customer_links")
    relation = models.CharField(max_length=10, choices=Relation.choices, default=Relation.USES)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["customer", "place"], name="customerplace_unique")
        ]
        indexes = [models.Index(fields=["place", "customer"], name="customerplace_place")]

    def __str__(self) -> str:
        return f"{self.get_relation_display()} {self.place_id}"


class Interaction(models.Model):
    """One timeline entry. ``(channel, external_id)`` is unique: replays never duplicate."""

    class Direction(models.TextChoices):
        INBOUND = "inbound", "From the customer"
        OUTBOUND = "outbound", "To the customer"
        INTERNAL = "internal", "Staff note"

    class DeliveryStatus(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="interactions")
    channel = models.CharField(max_length=20, choices=Channel.choices)
    direction = models.CharField(max_length=10, choices=Direction.choices)
    occurred_at = models.DateTimeField()
    summary = models.CharField(max_length=200, blank=True)
    body = models.TextField(blank=True)
    external_id = models.CharField(max_length=200, null=True, blank=True)
    sentiment = models.FloatField(null=True, blank=True)
    recorded_by = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Threading: the message this one answers, by its external id on the same channel.
    # ``in_reply_to`` is linked as soon as both are on a timeline, whichever came first.
    in_reply_to = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replies"
    )
    in_reply_to_external_id = models.CharField(max_length=200, null=True, blank=True)
    # Replies we send (services.outbound): queued until the channel's provider took the
    # message (sent, its provider id in external_id) or refused it for good (failed).
    # Empty for everything else (a database default too: the seed's COPY leaves them out).
    delivery_status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, blank=True, default="", db_default=""
    )
    delivery_error = models.TextField(blank=True, default="", db_default="")
    # A message we start (not a reply): the channel source that sends it and the address.
    outbound_source = models.ForeignKey(
        "ChannelSource", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    outbound_to = models.CharField(max_length=254, blank=True, default="", db_default="")
    # An HTML version of a message we start by email (a campaign's, with its open pixel).
    body_html = models.TextField(blank=True, default="", db_default="")

    objects = RestrictedQuerySet.as_manager()

    BODY_MAX = 65_536

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "external_id"],
                name="interaction_channel_external_id",
                condition=Q(external_id__isnull=False),
            )
        ]
        indexes = [
            models.Index(fields=["customer", "-occurred_at", "-id"], name="interaction_timeline"),
            models.Index(
                fields=["customer", "channel", "-occurred_at", "-id"], name="interaction_channel"
            ),
            # Replies that arrived before what they answer, waiting to be linked.
            models.Index(
                fields=["channel", "in_reply_to_external_id"],
                name="interaction_unlinked_reply",
                condition=Q(in_reply_to__isnull=True, in_reply_to_external_id__isnull=False),
            ),
            # Repeat-contact scans: recent inbound contacts, across customers.
            models.Index(
                fields=["occurred_at", "customer"],
                name="interaction_inbound_recent",
                condition=Q(direction="inbound"),
            ),
            # The outbound sweeper: replies still waiting to be sent.
            models.Index(
                fields=["occurred_at"],
                name="interaction_delivery_queued",
                condition=Q(delivery_status="queued"),
            ),
            # Scans of what arrived lately (mentions, interaction-triggered surveys): without
            # it they read the whole table every few minutes.
            models.Index(fields=["created_at"], name="interaction_created"),
        ]

    def __str__(self) -> str:
        return f"{self.channel} {self.direction} {self.occurred_at:%Y-%m-%d}"


class CustomerMerge(models.Model):
    """An audited merge: which rows moved from ``merged`` to ``survivor``, so unmerge can move
    exactly those back."""

    survivor = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+")
    merged = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+")
    moved = models.JSONField(default=dict, help_text='{"app.model": {"field": [ids]}}')
    performed_at = models.DateTimeField(auto_now_add=True)
    performed_by = models.CharField(max_length=200)
    undone_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"#{self.merged_id} merged into #{self.survivor_id}"


class ErasedIdentity(models.Model):
    """A one-way hash of an erased person's contact point: never market to them again."""

    kind = models.CharField(max_length=10, choices=ContactPoint.Kind.choices)
    digest = models.CharField(max_length=64)
    erased_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "digest"], name="erasedidentity_unique")
        ]
        verbose_name_plural = "erased identities"

    def __str__(self) -> str:
        return f"{self.kind}:{self.digest[:12]}…"


class ChannelSource(models.Model):
    """A configured channel: where messages come from (a mailbox, an SMS provider, a social
    webhook or feed, a CSV drop) and, for polled kinds, how far the sync has read (``cursor``).

    ``secret`` holds the webhook HMAC secret or the mailbox / API password; it never leaves
    the server (no serializer or export includes it)."""

    class Kind(models.TextChoices):
        EMAIL_IMAP = "email_imap", "Email (IMAP mailbox)"
        SMS = "sms", "SMS provider"
        SOCIAL_WEBHOOK = "social_webhook", "Social network (webhook)"
        SOCIAL_FEED = "social_feed", "Social / forum feed (polled)"
        CSV_DROP = "csv_drop", "CSV drop (call logs, store visits)"
        EMAIL_MAILDIR = "email_maildir", "Email (local Maildir)"

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=50, unique=True, help_text="Webhook URL: /webhooks/<slug>/")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    channel = models.CharField(
        max_length=20, choices=Channel.choices, help_text="Timeline channel of its messages"
    )
    is_active = models.BooleanField(default=True)
    settings = models.JSONField(
        default=dict, blank=True, help_text="Per kind: host, port, username, mailbox, url, path…"
    )
    secret = models.CharField(
        max_length=500, blank=True, help_text="Webhook signing secret, or password / API token"
    )
    poll_interval_seconds = models.PositiveIntegerField(
        default=60, help_text="Polled kinds: how often beat starts a sync"
    )
    cursor = models.JSONField(default=dict, blank=True, help_text="Sync checkpoint (polled kinds)")
    last_sync_started_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"


class InboundEvent(models.Model):
    """The inbox: a raw webhook or polled payload, stored before it is processed, so nothing
    is lost while a worker or the broker is down. ``(source, provider_event_id)`` is unique:
    a replayed delivery is stored once."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PROCESSED = "processed", "Processed"
        FAILED = "failed", "Failed"
        IGNORED = "ignored", "Ignored"

    source = models.ForeignKey(ChannelSource, on_delete=models.PROTECT, related_name="events")
    provider_event_id = models.CharField(max_length=200)
    received_at = models.DateTimeField()
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    # Set once a processing task was handed to the broker; NULL means it never was (the
    # broker was down), so the sweeper enqueues it soon.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    interaction = models.ForeignKey(
        Interaction,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="inbound_events",
    )

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "provider_event_id"], name="inboundevent_source_event"
            )
        ]
        indexes = [
            # The sweeper and the backlog: only pending rows, oldest first.
            models.Index(
                fields=["received_at"],
                name="inboundevent_pending",
                condition=Q(status="pending"),
            ),
            # Channel health: events per minute per source.
            models.Index(fields=["source", "received_at"], name="inboundevent_source_received"),
        ]

    def __str__(self) -> str:
        return f"{self.source_id}:{self.provider_event_id} ({self.status})"
