"""Cases: a customer's request or problem, worked by a team against an SLA.

A case lands in a team's queue by ``RoutingRule``; its ``SlaPolicy`` (chosen by team,
priority and category) gives the first-response and resolution targets, counted in the
team's business hours (``BusinessCalendar``, ``Holiday``) with the clock paused in the
policy's pause statuses. The due times on ``Case`` are derived: ``cases.sla`` recomputes
them from the case's own history (its ``CaseEvent`` rows) on every change.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from customers.models import Channel, Customer, Interaction
from cxportal.models import Team
from cxportal.querysets import RestrictedQuerySet


class Priority(models.TextChoices):
    LOW = "low", "Low"
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"
    URGENT = "urgent", "Urgent"


class Category(models.TextChoices):
    GENERAL = "general", "General enquiry"
    DELIVERY = "delivery", "Delivery"
    BILLING = "billing", "Billing"
    TECHNICAL = "technical", "Technical problem"
    ACCOUNT = "account", "Account and cards"
    COMPLAINT = "complaint", "Complaint"
    ACCESSIBILITY = "accessibility", "Accessibility"
    DISRUPTION = "disruption", "Service disruption"


class Status(models.TextChoices):
    NEW = "new", "New"
    OPEN = "open", "Open"
    WAITING = "waiting", "Waiting on customer"
    ON_HOLD = "on_hold", "On hold"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"


# Which status may follow which. Reopening is resolved → open; closed is final.
TRANSITIONS: dict[str, frozenset[str]] = {
    Status.NEW: frozenset({Status.OPEN, Status.WAITING, Status.ON_HOLD, Status.RESOLVED}),
    Status.OPEN: frozenset({Status.WAITING, Status.ON_HOLD, Status.RESOLVED}),
    Status.WAITING: frozenset({Status.OPEN, Status.ON_HOLD, Status.RESOLVED}),
    Status.ON_HOLD: frozenset({Status.OPEN, Status.WAITING, Status.RESOLVED}),
    Status.RESOLVED: frozenset({Status.OPEN, Status.CLOSED}),
    Status.CLOSED: frozenset(),
}
ACTIVE_STATUSES = (Status.NEW, Status.OPEN, Status.WAITING, Status.ON_HOLD)
DONE_STATUSES = (Status.RESOLVED, Status.CLOSED)


class BusinessCalendar(models.Model):
    """A team's working hours, in its own time zone. A team without one works around the
    clock (SLA clocks run all the time)."""

    team = models.OneToOneField(Team, on_delete=models.CASCADE, related_name="calendar")
    time_zone = models.CharField(max_length=64, default="Europe/London")
    # Per weekday (0 = Monday): [start, end] as "HH:MM", or null when closed all day.
    hours = models.JSONField(
        default=list,
        help_text='Seven entries, Monday first: ["09:00", "17:00"] or null for a closed day.',
    )

    def __str__(self) -> str:
        return f"Business hours of {self.team}"


class Holiday(models.Model):
    calendar = models.ForeignKey(
        BusinessCalendar, on_delete=models.CASCADE, related_name="holidays"
    )
    date = models.DateField()
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["date"]
        constraints = [
            models.UniqueConstraint(fields=["calendar", "date"], name="holiday_calendar_date")
        ]

    def __str__(self) -> str:
        return f"{self.date:%Y-%m-%d} {self.name}"


class SlaPolicy(models.Model):
    """Targets for cases of a team; blank priority/category match any. The most specific
    active policy wins (category and priority, then priority, then category, then neither)."""

    name = models.CharField(max_length=100)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="sla_policies")
    priority = models.CharField(max_length=10, choices=Priority.choices, blank=True)
    category = models.CharField(max_length=20, choices=Category.choices, blank=True)
    first_response_minutes = models.PositiveIntegerField(help_text="Business minutes")
    resolution_minutes = models.PositiveIntegerField(help_text="Business minutes")
    pause_statuses = models.JSONField(
        default=list,
        blank=True,
        help_text='Statuses that stop the clock, e.g. ["waiting", "on_hold"]',
    )
    is_active = models.BooleanField(default=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["team_id", "name"]
        verbose_name = "SLA policy"
        verbose_name_plural = "SLA policies"
        constraints = [
            models.UniqueConstraint(
                fields=["team", "priority", "category"],
                condition=Q(is_active=True),
                name="slapolicy_one_active_per_match",
            )
        ]

    def __str__(self) -> str:
        return self.name


class RoutingRule(models.Model):
    """Where a new case lands: the first active rule (lowest ``position``) whose category
    and origin channel match (blank matches any). No match: the customer service team."""

    position = models.PositiveIntegerField(default=100)
    category = models.CharField(max_length=20, choices=Category.choices, blank=True)
    channel = models.CharField(max_length=20, choices=Channel.choices, blank=True)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="routing_rules")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        what = " / ".join(filter(None, [self.category, self.channel])) or "anything"
        return f"{what} → {self.team}"


class CaseQuerySet(RestrictedQuerySet):
    def active(self) -> "CaseQuerySet":
        return self.filter(status__in=ACTIVE_STATUSES)


class Case(models.Model):
    Status = Status
    Priority = Priority
    Category = Category

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="cases")
    subject = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    category = models.CharField(max_length=20, choices=Category.choices, default=Category.GENERAL)
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.NEW)
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="cases")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_cases",
    )
    origin_channel = models.CharField(max_length=20, choices=Channel.choices, blank=True)
    interactions = models.ManyToManyField(
        Interaction, through="CaseInteraction", related_name="cases", blank=True
    )
    # SLA, derived by cases.sla from the policy and the case's history.
    sla_policy = models.ForeignKey(
        SlaPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="cases"
    )
    first_response_due_at = models.DateTimeField(null=True, blank=True)
    first_response_risk_at = models.DateTimeField(null=True, blank=True)
    first_responded_at = models.DateTimeField(null=True, blank=True)
    resolution_due_at = models.DateTimeField(null=True, blank=True)
    resolution_risk_at = models.DateTimeField(null=True, blank=True)
    # The clock that matters now (first response, else resolution); NULL while paused or
    # done. Queues sort on it.
    next_due_at = models.DateTimeField(null=True, blank=True)
    sla_paused = models.BooleanField(default=False)
    first_response_met = models.BooleanField(null=True, blank=True)
    resolution_met = models.BooleanField(null=True, blank=True)
    # What the customer told us they need, apart from the SLA.
    customer_deadline = models.DateTimeField(null=True, blank=True)
    customer_deadline_reason = models.CharField(max_length=200, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # The disruption the case is about: its updates can go to every linked case at once.
    disruption = models.ForeignKey(
        "Disruption", null=True, blank=True, on_delete=models.SET_NULL, related_name="cases"
    )
    created_by = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)
    # Optimistic locking: every change bumps it; a save with an older one is refused.
    version = models.PositiveIntegerField(default=1)

    objects = CaseQuerySet.as_manager()

    # What a GDPR erasure blanks (customers.services.privacy); the rest stays as aggregates.
    PERSONAL_FIELDS = ("subject", "description", "customer_deadline_reason")

    class Meta:
        ordering = ["-id"]
        permissions = [
            ("view_internal_note", "Can read internal notes on cases"),
            ("reply_case", "Can reply to the customer from a case"),
        ]
        indexes = [
            models.Index(fields=["team", "status", "-id"], name="case_team_status"),
            models.Index(fields=["customer", "-id"], name="case_customer"),
            models.Index(fields=["assignee", "status", "-id"], name="case_assignee_status"),
            # Team queues, most urgent first; only active cases.
            models.Index(
                fields=["team", "next_due_at", "id"],
                name="case_queue_due",
                condition=Q(status__in=ACTIVE_STATUSES),
            ),
            # Every team's queue at once (supervisors, operations): most urgent first.
            models.Index(
                fields=["next_due_at", "id"],
                name="case_queue_due_all",
                condition=Q(status__in=ACTIVE_STATUSES),
            ),
            # The SLA report: cases resolved in a period.
            models.Index(fields=["resolved_at", "team"], name="case_resolved"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.subject}"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES


class CaseInteraction(models.Model):
    """An interaction (email, call, reply, ...) that belongs to a case."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="links")
    interaction = models.ForeignKey(Interaction, on_delete=models.CASCADE, related_name="+")
    linked_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["case", "interaction"], name="caseinteraction_unique")
        ]
        indexes = [models.Index(fields=["interaction"], name="caseinteraction_interaction")]

    def __str__(self) -> str:
        return f"case {self.case_id} ↔ interaction {self.interaction_id}"


class CaseEvent(models.Model):
    """The case's history: what changed, when, by whom. Status changes are what the SLA
    clocks are computed from; notes are internal (masked for roles without
    ``cases.view_internal_note``); replies point at the outbound interaction."""

    class Kind(models.TextChoices):
        CREATED = "created", "Created"
        STATUS = "status", "Status changed"
        ASSIGNED = "assigned", "Assigned"
        UPDATED = "updated", "Updated"
        NOTE = "note", "Internal note"
        REPLY = "reply", "Reply to customer"
        DEADLINE = "deadline", "Customer deadline"
        LINKED = "linked", "Interaction linked"

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    occurred_at = models.DateTimeField()
    actor_label = models.CharField(max_length=200)
    from_status = models.CharField(max_length=10, choices=Status.choices, blank=True)
    to_status = models.CharField(max_length=10, choices=Status.choices, blank=True)
    body = models.TextField(blank=True)
    interaction = models.ForeignKey(
        Interaction, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changes = models.JSONField(default=dict, blank=True)

    PERSONAL_FIELDS = ("body", "changes")

    class Meta:
        ordering = ["occurred_at", "id"]
        indexes = [models.Index(fields=["case", "occurred_at", "id"], name="caseevent_case")]

    def __str__(self) -> str:
        return f"case {self.case_id} {self.kind} {self.occurred_at:%Y-%m-%d %H:%M}"


# --- Proactive care: service exceptions flagged before the customer chases -----------------
class CareRule(models.Model):
    """One kind of service exception the scans look for; supervisors switch rules on and
    off and tune them in admin. Which thresholds a kind uses is in ``help_text``."""

    class Kind(models.TextChoices):
        LATE_ORDER = "late_order", "Late express order"
        SLA_AT_RISK = "sla_at_risk", "SLA at risk"
        SLA_BREACHED = "sla_breached", "SLA breached"
        DEADLINE_AT_RISK = "deadline_at_risk", "Customer deadline at risk"
        REPEAT_CONTACT = "repeat_contact", "Repeat contact"
        DISRUPTION_IMPACT = "disruption_impact", "Affected by a disruption"
        DETRACTOR = "detractor", "Detractor feedback"

    class Severity(models.TextChoices):
        LOW = "low", "Low"
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High"

    kind = models.CharField(max_length=20, choices=Kind.choices, unique=True)
    is_active = models.BooleanField(default=True)
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.MEDIUM)
    team = models.ForeignKey(
        Team, on_delete=models.PROTECT, related_name="+", help_text="Whose care queue it joins"
    )
    share = models.FloatField(
        default=0.8, help_text="SLA at risk: the share of the target used (0.8 = 80%)"
    )
    hours = models.PositiveIntegerField(
        default=24,
        help_text="Deadline at risk: hours before the customer's deadline. "
        "Repeat contact: the window in hours (168 = 7 days).",
    )
    count = models.PositiveIntegerField(
        default=3, help_text="Repeat contact: inbound contacts within the window"
    )

    class Meta:
        ordering = ["kind"]

    def __str__(self) -> str:
        return self.get_kind_display()


class CareFlagQuerySet(RestrictedQuerySet):
    def current(self) -> "CareFlagQuerySet":
        """Flags whose cause is still there."""
        return self.filter(cleared_at__isnull=True)

    def to_do(self) -> "CareFlagQuerySet":
        """What a care queue shows: cause still there, not actioned or dismissed."""
        return self.current().filter(status__in=CareFlag.OPEN_STATUSES)


class CareFlag(models.Model):
    """A service exception about one customer: raised by a scan, worked in a team's care
    queue (acknowledge, act, dismiss), cleared by the scan when its cause is gone.

    ``dedupe_key`` (``"late_order:order:42"``) is unique among flags whose cause is still
    there (``cleared_at`` NULL): a rescan never raises it twice; once cleared, the same
    cause coming back raises a new flag."""

    Kind = CareRule.Kind
    Severity = CareRule.Severity

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        ACTIONED = "actioned", "Actioned"
        DISMISSED = "dismissed", "Dismissed"

    class Action(models.TextChoices):
        MESSAGE = "message", "Sent the customer a message"
        CASE = "case", "Opened a case"
        CALL_BACK = "call_back", "Called the customer back"

    OPEN_STATUSES = (Status.OPEN, Status.ACKNOWLEDGED)

    kind = models.CharField(max_length=20, choices=CareRule.Kind.choices)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="care_flags")
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="care_flags")
    severity = models.CharField(max_length=10, choices=CareRule.Severity.choices)
    status = models.CharField(max_length=15, choices=Status.choices, default=Status.OPEN)
    dedupe_key = models.CharField(max_length=100)
    # What it is about (one of these, by kind).
    case = models.ForeignKey(
        Case, null=True, blank=True, on_delete=models.CASCADE, related_name="care_flags"
    )
    order = models.ForeignKey(
        "customers.Order", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    disruption = models.ForeignKey(
        "Disruption", null=True, blank=True, on_delete=models.CASCADE, related_name="care_flags"
    )
    summary = models.CharField(max_length=200)
    raised_at = models.DateTimeField()
    cleared_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.CharField(max_length=200, blank=True)
    actioned_at = models.DateTimeField(null=True, blank=True)
    action = models.CharField(max_length=10, choices=Action.choices, blank=True)
    action_interaction = models.ForeignKey(
        Interaction, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action_case = models.ForeignKey(
        Case, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    dismissed_reason = models.CharField(max_length=200, blank=True)
    handled_by = models.CharField(max_length=200, blank=True)

    objects = CareFlagQuerySet.as_manager()

    PERSONAL_FIELDS = ("summary", "dismissed_reason")

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["dedupe_key"],
                condition=Q(cleared_at__isnull=True),
                name="careflag_one_current_per_cause",
            )
        ]
        indexes = [
            # A team's care queue: current, to do, newest first.
            models.Index(
                fields=["team", "-id"],
                name="careflag_queue",
                condition=Q(cleared_at__isnull=True, status__in=["open", "acknowledged"]),
            ),
            models.Index(fields=["customer", "-id"], name="careflag_customer"),
            # Clearing: the current flags of a kind.
            models.Index(
                fields=["kind", "id"], name="careflag_current", condition=Q(cleared_at__isnull=True)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.summary}"

    @property
    def is_to_do(self) -> bool:
        return self.cleared_at is None and self.status in self.OPEN_STATUSES


class MessageTemplate(models.Model):
    """A proactive message staff send from a care flag ("Your order is running late").
    ``{first_name}``, ``{name}``, ``{order}``, ``{promised_by}``, ``{case}``, ``{subject}``,
    ``{deadline}`` and ``{disruption}`` are filled in where known."""

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(
        max_length=20, choices=CareRule.Kind.choices, blank=True, help_text="Offered for"
    )
    subject = models.CharField(max_length=200)
    body = models.TextField()
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


# --- Disruptions ---------------------------------------------------------------------------
class Disruption(models.Model):
    """Planned works or an incident on places (stations, lines, stores, services, regions).

    Affected customers are computed (``DisruptionCustomer``) from the places they use or
    follow and what they hold, including places under the ones named (a line's stations)."""

    class Kind(models.TextChoices):
        PLANNED = "planned", "Planned works"
        INCIDENT = "incident", "Incident"

    class Severity(models.TextChoices):
        MINOR = "minor", "Minor"
        MAJOR = "major", "Major"
        SEVERE = "severe", "Severe"

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        ACTIVE = "active", "Active"
        RESOLVED = "resolved", "Resolved"

    class Accessibility(models.TextChoices):
        NONE = "", "No accessibility impact"
        STEP_FREE_LOST = "step_free_lost", "Step-free access lost"
        LIFT_OUT = "lift_out", "Lift out of service"
        OTHER = "other", "Other accessibility impact"

    title = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.MAJOR)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SCHEDULED)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True, help_text="Blank: until resolved")
    places = models.ManyToManyField("customers.Place", related_name="disruptions")
    accessibility_impact = models.CharField(
        max_length=20, choices=Accessibility.choices, blank=True
    )
    accessibility_note = models.CharField(max_length=300, blank=True)
    public_message = models.TextField(help_text="What customers and partners are told")
    staff_guidance = models.TextField(blank=True, help_text="What staff should say and do")
    affected_count = models.PositiveIntegerField(default=0)
    affected_computed_at = models.DateTimeField(null=True, blank=True)
    created_by = models.CharField(max_length=200)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["-starts_at", "-id"]
        indexes = [models.Index(fields=["status", "starts_at"], name="disruption_status")]

    def __str__(self) -> str:
        return self.title

    @property
    def affects_accessibility(self) -> bool:
        return bool(self.accessibility_impact)


class DisruptionUpdate(models.Model):
    """What was said, and when: the declaration, each update, the resolution. Customers
    are notified once per update that asks for it."""

    class Kind(models.TextChoices):
        PUBLISHED = "published", "Published"
        UPDATED = "updated", "Updated"
        RESOLVED = "resolved", "Resolved"

    disruption = models.ForeignKey(Disruption, on_delete=models.CASCADE, related_name="updates")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    public_message = models.TextField()
    staff_guidance = models.TextField(blank=True)
    notify_customers = models.BooleanField(default=True)
    posted_at = models.DateTimeField()
    posted_by = models.CharField(max_length=200)
    notified_count = models.PositiveIntegerField(default=0)
    notify_done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["posted_at", "id"]

    def __str__(self) -> str:
        return f"{self.disruption_id} {self.kind} {self.posted_at:%Y-%m-%d %H:%M}"


class DisruptionCustomer(models.Model):
    """A customer a disruption affects, and why (the place they use, follow or hold)."""

    disruption = models.ForeignKey(
        Disruption, on_delete=models.CASCADE, related_name="affected_links"
    )
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    place = models.ForeignKey("customers.Place", on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["disruption", "customer"], name="disruptioncustomer_unique"
            )
        ]
        indexes = [models.Index(fields=["customer"], name="disruptioncustomer_customer")]

    def __str__(self) -> str:
        return f"disruption {self.disruption_id} affects customer {self.customer_id}"


class DisruptionNotice(models.Model):
    """One customer told about one update: (update, customer) is unique, so a redelivered
    or re-run notify batch never tells anyone twice. ``interaction`` is the message sent;
    ``skipped_reason`` says why none was (no consent, no address, ...)."""

    update = models.ForeignKey(DisruptionUpdate, on_delete=models.CASCADE, related_name="notices")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    interaction = models.ForeignKey(
        Interaction, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    skipped_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["update", "customer"], name="disruptionnotice_unique")
        ]

    def __str__(self) -> str:
        return f"update {self.update_id} → customer {self.customer_id}"


class CareScan(models.Model):
    """One run of the care scans: the next incremental run reads what changed since this
    one started. Kept as a log (how long, how many raised and cleared)."""

    started_at = models.DateTimeField()
    since = models.DateTimeField(null=True, blank=True, help_text="Blank: a full scan")
    finished_at = models.DateTimeField(null=True, blank=True)
    raised = models.JSONField(default=dict, blank=True)
    cleared = models.JSONField(default=dict, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        kind = "full" if self.since is None else "incremental"
        return f"{kind} care scan at {self.started_at:%Y-%m-%d %H:%M:%S}"
