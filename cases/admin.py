"""Supervisors' admin for the cases app.

Configuration (SLA policies, routing rules, business calendars with their holidays) is
edited here: each save and delete leaves an audit event (``audit_record``) with the values
before and after. Open cases keep their due times until their next change; the action
"Recompute SLA clocks" applies a changed policy or calendar to the team's active cases now
(``case_sla_recompute_team``, in batches).

Cases change only through the services, so every change is validated, versioned and
audited: a new case through ``case_open``; subject, description, category, priority and
team through ``case_update``; the assignee through ``case_assign``; the status through
``case_status_change`` (the form offers only the allowed next statuses); the actions
"Reassign to…" and "Resolve" through ``case_assign`` and ``case_resolve``. A case is never
deleted (its history is the business's record). The SLA fields are derived and read-only.
Its history (``CaseEvent``) is read-only; internal notes are left out for those who may not
read them.

Built for 500k cases: no full COUNT(*) per page, related rows fetched with the list,
lists ordered by the primary key, search by number or indexed name, bounded inlines.
"""

import re
from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.forms.models import BaseInlineFormSet
from django.template.defaultfilters import linebreaks_filter
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from cases.care import care_flag_dismiss, care_rules_ensure, message_fill
from cases.models import (
    ACTIVE_STATUSES,
    DONE_STATUSES,
    TRANSITIONS,
    BusinessCalendar,
    CareFlag,
    CareRule,
    CareScan,
    Case,
    CaseEvent,
    CaseInteraction,
    Disruption,
    DisruptionUpdate,
    Holiday,
    MessageTemplate,
    RoutingRule,
    SlaPolicy,
    Status,
)
from cases.selectors import can_read_notes, case_assignees
from cases.services import (
    EDITABLE,
    case_assign,
    case_open,
    case_resolve,
    case_status_change,
    case_update,
)
from cases.sla import calendar_problems
from cases.tasks import SLA_RECOMPUTE_TASK
from customers.models import Customer, Order
from cxportal.admin_base import AuditedConfigAdmin, ReadOnlyMixin
from cxportal.broker import publish
from cxportal.errors import StaleVersion
from cxportal.models import Team
from cxportal.services import audit_record
from cxportal.validation import text_problem

#: Bulk actions work on a page of cases at most, never a whole queue.
CASE_ACTION_MAX = 100
RECENT_EVENTS_INLINE = 20
RECOMPUTE_HINT = (
    "Open cases keep their due times until their next change: use the action "
    '"Recompute SLA clocks" to apply this to the active cases of {team} now.'
)


class RecomputeSlaMixin:
    """The action "Recompute SLA clocks" for configuration rows that belong to a team."""

    def sla_recompute_teams(self, queryset):
        """The teams whose clocks the selected configuration rows set."""
        return Team.objects.filter(pk__in=queryset.values("team_id"))

    @admin.action(
        description="Recompute SLA clocks of the active cases of these teams",
        permissions=["change"],
    )
    def recompute_sla_clocks(self, request, queryset):
        # A big team has tens of thousands of active cases: minutes of work, so it runs in
        # the worker, in batches, and never in this request.
        teams = list(self.sla_recompute_teams(queryset).order_by("id"))
        for team in teams:
            audit_record(actor=request.user, action="case.sla_recompute_requested", target=team)
        sent = publish(SLA_RECOMPUTE_TASK, [team.pk for team in teams])
        names = ", ".join(str(team) for team in teams if team.pk in sent)
        if names:
            self.message_user(
                request,
                f"Recomputing the SLA clocks of the active cases of {names} in the "
                "background; it takes a few minutes for a large team.",
                messages.SUCCESS,
            )
        if len(sent) < len(teams):
            self.message_user(
                request,
                "The task queue is not reachable right now; try again in a minute.",
                messages.ERROR,
            )


# --- SLA policies ---------------------------------------------------------------------------


class SlaPolicyForm(forms.ModelForm):
    """``pause_statuses`` as tick boxes of the case statuses that may pause a clock (resolved
    and closed stop it for good, so they are not offered)."""

    pause_statuses = forms.MultipleChoiceField(
        choices=[(s.value, s.label) for s in ACTIVE_STATUSES],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="While a case is in one of these statuses, its SLA clocks stop.",
    )

    class Meta:
        model = SlaPolicy
        fields = (
            "name",
            "team",
            "priority",
            "category",
            "first_response_minutes",
            "resolution_minutes",
            "pause_statuses",
            "is_active",
        )

    def clean_pause_statuses(self):
        values = self.cleaned_data["pause_statuses"]
        if set(values) & set(DONE_STATUSES):
            raise ValidationError(
                "Resolved and closed stop the clock for good; they cannot pause it."
            )
        unknown = [v for v in values if v not in Status.values]
        if unknown:
            raise ValidationError(f"Not case statuses: {', '.join(unknown)}.")
        return [s for s in Status.values if s in values]  # in the workflow's order

    def clean(self):
        data = super().clean()
        first, resolution = data.get("first_response_minutes"), data.get("resolution_minutes")
        if first is not None and first < 1:
            self.add_error("first_response_minutes", "Give at least one minute.")
        if resolution is not None and resolution < 1:
            self.add_error("resolution_minutes", "Give at least one minute.")
        if first and resolution and first > resolution:
            self.add_error(
                "first_response_minutes",
                "The first response cannot be due after the resolution.",
            )
        return data


@admin.register(SlaPolicy)
class SlaPolicyAdmin(RecomputeSlaMixin, AuditedConfigAdmin):
    form = SlaPolicyForm
    audit_name = "sla_policy"
    audit_fields = SlaPolicyForm.Meta.fields
    list_display = (
        "name",
        "team",
        "priority",
        "category",
        "first_response_minutes",
        "resolution_minutes",
        "pauses",
        "is_active",
    )
    list_filter = ("team", "priority", "category", "is_active")
    search_fields = ("name",)
    list_select_related = ("team",)
    actions = ("recompute_sla_clocks",)

    @admin.display(description="Paused in")
    def pauses(self, obj: SlaPolicy) -> str:
        labels = dict(Status.choices)
        return ", ".join(labels.get(s, s) for s in obj.pause_statuses or []) or "—"

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        self.message_user(request, RECOMPUTE_HINT.format(team=form.instance.team), messages.INFO)


# --- Routing --------------------------------------------------------------------------------


@admin.register(RoutingRule)
class RoutingRuleAdmin(AuditedConfigAdmin):
    """The first active rule (lowest position) whose category and channel match wins."""

    audit_name = "routing_rule"
    audit_fields = ("position", "category", "channel", "team", "is_active")
    fields = audit_fields
    list_display = ("rule", "position", "category", "channel", "team", "is_active")
    list_display_links = ("rule",)
    list_editable = ("position", "is_active")
    list_filter = ("team", "category", "channel", "is_active")
    list_select_related = ("team",)
    ordering = ("position", "id")

    @admin.display(description="Rule")
    def rule(self, obj: RoutingRule) -> str:
        return str(obj)


# --- Business hours -------------------------------------------------------------------------


class BusinessCalendarForm(forms.ModelForm):
    class Meta:
        model = BusinessCalendar
        fields = ("team", "time_zone", "hours")

    def clean(self):
        data = super().clean()
        if "time_zone" not in data or "hours" not in data:
            return data  # the field's own error says what is wrong
        for problem in calendar_problems(time_zone=data["time_zone"], hours=data["hours"]):
            self.add_error(
                "time_zone" if problem.startswith("Unknown time zone") else "hours", problem
            )
        return data


class HolidayInline(admin.TabularInline):
    model = Holiday
    fields = ("date", "name")
    extra = 1


@admin.register(BusinessCalendar)
class BusinessCalendarAdmin(RecomputeSlaMixin, AuditedConfigAdmin):
    """A team's opening hours and holidays, checked with ``calendar_problems``."""

    form = BusinessCalendarForm
    audit_name = "business_calendar"
    audit_fields = BusinessCalendarForm.Meta.fields
    list_display = ("team", "time_zone", "opening_hours", "holiday_count")
    list_select_related = ("team",)
    inlines = (HolidayInline,)
    actions = ("recompute_sla_clocks",)

    def audit_snapshot(self, obj) -> dict:
        holidays = [f"{h.date:%Y-%m-%d} {h.name}" for h in obj.holidays.order_by("date")]
        return {**super().audit_snapshot(obj), "holidays": holidays}

    @admin.display(description="Hours (Mon–Sun)")
    def opening_hours(self, obj: BusinessCalendar) -> str:
        hours = obj.hours if isinstance(obj.hours, list) else []
        return ", ".join("–".join(day) if day else "closed" for day in hours)

    @admin.display(description="Holidays")
    def holiday_count(self, obj: BusinessCalendar) -> int:
        return obj.holidays.count()

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        self.message_user(request, RECOMPUTE_HINT.format(team=form.instance.team), messages.INFO)


@admin.register(Holiday)
class HolidayAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Listed here; added and changed on their calendar's page (audited with it)."""

    list_display = ("date", "name", "calendar")
    list_filter = ("calendar",)
    list_select_related = ("calendar__team",)
    ordering = ("-date",)


# --- Cases ----------------------------------------------------------------------------------


class SlaStateFilter(admin.SimpleListFilter):
    title = "SLA"
    parameter_name = "sla"

    def lookups(self, request, model_admin):
        return [
            ("breached", "Breached (running clock past due)"),
            ("at_risk", "At risk (80% used)"),
            ("paused", "Paused"),
        ]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "breached":
            return queryset.filter(status__in=ACTIVE_STATUSES, next_due_at__lt=now)
        if self.value() == "at_risk":
            return queryset.filter(status__in=ACTIVE_STATUSES, next_due_at__gte=now).filter(
                Q(first_responded_at__isnull=True, first_response_risk_at__lte=now)
                | Q(first_responded_at__isnull=False, resolution_risk_at__lte=now)
            )
        if self.value() == "paused":
            return queryset.filter(status__in=ACTIVE_STATUSES, sla_paused=True)
        return queryset


class CaseForm(forms.ModelForm):
    """Checked here so a refusal shows on the form; written by the services
    (``CaseAdmin.save_model``). ``version`` is the one the supervisor saw: a save after
    someone else's change is refused."""

    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = Case
        fields = (
            "customer",
            "subject",
            "description",
            "category",
            "priority",
            "team",
            "assignee",
            "status",
            "origin_channel",
            "customer_deadline",
            "customer_deadline_reason",
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        case = self.instance
        if case.pk:
            self.fields["version"].initial = case.version
            if "status" in self.fields:
                allowed = {case.status, *TRANSITIONS[case.status]}
                self.fields["status"].choices = [c for c in Status.choices if c[0] in allowed]
        if "team" in self.fields and not case.pk:
            self.fields["team"].required = False
            self.fields["team"].help_text = "Leave empty to route it by the routing rules."

    def clean(self):
        data = super().clean()
        case = self.instance
        if case.pk:
            current = Case.objects.filter(pk=case.pk).values_list("version", flat=True).first()
            if data.get("version") != current:
                raise ValidationError(
                    f"Case #{case.pk} was changed by someone else while you were editing it. "
                    "Reload the page, check what changed, and save again."
                )
            return data
        customer = data.get("customer")
        if customer is not None and (customer.merged_into_id or customer.erased_at):
            self.add_error(
                "customer", "This customer was merged or erased: open the case on the live one."
            )
        deadline = data.get("customer_deadline")
        if deadline is not None and deadline <= timezone.now():
            self.add_error("customer_deadline", "This deadline is in the past.")
        if deadline is not None and not data.get("customer_deadline_reason", "").strip():
            self.add_error("customer_deadline_reason", "Say why the customer needs it by then.")
        return data

    def clean_assignee(self):
        assignee = self.cleaned_data.get("assignee")
        if assignee is not None and not assignee.has_perm("cases.change_case"):
            raise ValidationError(f"{assignee.get_username()} cannot work on cases.")
        return assignee


class RecentEventsFormSet(BaseInlineFormSet):
    """Only the newest events: a long case may have hundreds (all under Case events)."""

    def get_queryset(self):
        if not hasattr(self, "_queryset"):
            self._queryset = (
                super().get_queryset().order_by("-occurred_at", "-id")[:RECENT_EVENTS_INLINE]
            )
        return self._queryset


class CaseEventInline(ReadOnlyMixin, admin.TabularInline):
    model = CaseEvent
    formset = RecentEventsFormSet
    fields = ("occurred_at", "kind", "actor_label", "from_status", "to_status", "body", "changes")
    verbose_name_plural = f"History (newest {RECENT_EVENTS_INLINE}; all under Case events)"
    extra = 0

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return qs if can_read_notes(request.user) else qs.exclude(kind=CaseEvent.Kind.NOTE)


SLA_READONLY = (
    "sla_policy",
    "first_response_due_at",
    "first_response_risk_at",
    "first_responded_at",
    "first_response_met",
    "resolution_due_at",
    "resolution_risk_at",
    "resolution_met",
    "next_due_at",
    "sla_paused",
)
RECORD_READONLY = ("resolved_at", "closed_at", "created_by", "created_at", "updated_at")


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin):
    form = CaseForm
    list_display = (
        "id",
        "subject",
        "customer",
        "team",
        "status",
        "priority",
        "assignee",
        "next_due_at",
        "customer_deadline",
        "created_at",
    )
    list_display_links = ("id", "subject")
    list_filter = ("team", "status", "priority", SlaStateFilter, "category")
    search_fields = ("subject",)  # see get_search_results
    search_help_text = "Case or customer number, words of the subject, or the customer's name"
    list_select_related = ("customer", "team", "assignee")
    autocomplete_fields = ("customer", "assignee")
    ordering = ("-id",)
    show_full_result_count = False  # no COUNT(*) over 500k cases on every page
    inlines = (CaseEventInline,)
    actions = ("reassign", "resolve")

    def has_delete_permission(self, request, obj=None):
        return False  # a case is resolved or closed, never deleted: it is the record

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            main = (
                "customer",
                "subject",
                "description",
                "category",
                "priority",
                "origin_channel",
                "team",
                "assignee",
                "customer_deadline",
                "customer_deadline_reason",
            )
            return [(None, {"fields": main})]
        main = ("customer", *EDITABLE, "assignee", "status", "origin_channel", "version")
        deadline = ("customer_deadline", "customer_deadline_reason")
        return [
            (None, {"fields": main}),
            ("Customer deadline", {"fields": deadline}),
            ("SLA (derived from the policy and the case's history)", {"fields": SLA_READONLY}),
            ("Record", {"fields": RECORD_READONLY}),
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return (
            "customer",
            "origin_channel",
            "customer_deadline",
            "customer_deadline_reason",
            *SLA_READONLY,
            *RECORD_READONLY,
        )

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else ()

    def get_search_results(self, request, queryset, search_term):
        """A number finds the case or the customer with it; words find subjects and names
        (the customer's name through its trigram index on PostgreSQL)."""
        term = search_term.strip().lstrip("#")
        if not term:
            return queryset, False
        if term.isdigit() and len(term) < 19:
            return queryset.filter(Q(pk=int(term)) | Q(customer_id=int(term))), False
        by_name = Customer.objects.filter(display_name__icontains=term).values("pk")
        return queryset.filter(Q(subject__icontains=term) | Q(customer_id__in=by_name)), False

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if not change:
            case = case_open(
                actor=request.user,
                customer=data["customer"],
                subject=data["subject"],
                description=data.get("description", ""),
                category=data["category"],
                priority=data["priority"],
                origin_channel=data.get("origin_channel", ""),
                team=data.get("team"),
                assignee=data.get("assignee"),
                customer_deadline=data.get("customer_deadline"),
                customer_deadline_reason=data.get("customer_deadline_reason", ""),
            )
            obj.pk = case.pk
            obj.refresh_from_db()
            return
        case = Case.objects.get(pk=obj.pk)
        version = data["version"]
        try:
            changes = {f: data[f] for f in EDITABLE if f in form.changed_data}
            if changes:
                case = case_update(actor=request.user, case=case, version=version, **changes)
                version = case.version
            if "assignee" in form.changed_data:
                case = case_assign(
                    actor=request.user, case=case, version=version, assignee=data["assignee"]
                )
                version = case.version
            if "status" in form.changed_data:
                case_status_change(
                    actor=request.user, case=case, version=version, status=data["status"]
                )
        except (ValidationError, StaleVersion) as error:
            # Checked on the form already; this is someone saving in the same instant.
            text = " ".join(error.messages) if isinstance(error, ValidationError) else str(error)
            self.message_user(request, text, messages.ERROR)
        obj.refresh_from_db()

    def _selected(self, request, queryset) -> list[Case] | None:
        cases = list(queryset.select_related("assignee").order_by("id")[: CASE_ACTION_MAX + 1])
        if len(cases) > CASE_ACTION_MAX:
            self.message_user(
                request, f"Select at most {CASE_ACTION_MAX} cases at a time.", messages.ERROR
            )
            return None
        return cases

    @admin.action(description="Reassign to…", permissions=["change"])
    def reassign(self, request, queryset):
        """A page to pick the new assignee (or the team queue), then ``case_assign`` for each."""
        cases = self._selected(request, queryset)
        if cases is None:
            return None
        form = ReassignForm(request.POST if request.POST.get("post") == "yes" else None)
        if not form.is_bound or not form.is_valid():
            return TemplateResponse(
                request,
                "admin/cases/case/reassign.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Reassign cases",
                    "opts": self.model._meta,
                    "cases": cases,
                    "form": form,
                    "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                },
            )
        assignee = form.cleaned_data["assignee"]
        done = []
        for case in cases:
            try:
                case_assign(actor=request.user, case=case, version=case.version, assignee=assignee)
            except (ValidationError, StaleVersion) as error:
                text = (
                    " ".join(error.messages) if isinstance(error, ValidationError) else str(error)
                )
                self.message_user(request, f"#{case.pk}: {text}", messages.ERROR)
            else:
                done.append(f"#{case.pk}")
        if done:
            who = assignee.get_username() if assignee else "the team queue"
            self.message_user(request, f"Reassigned {', '.join(done)} to {who}.", messages.SUCCESS)
        return None

    @admin.action(description="Resolve", permissions=["change"])
    def resolve(self, request, queryset):
        done = []
        for case in self._selected(request, queryset) or []:
            try:
                case_resolve(actor=request.user, case=case, version=case.version)
            except (ValidationError, StaleVersion) as error:
                text = (
                    " ".join(error.messages) if isinstance(error, ValidationError) else str(error)
                )
                self.message_user(request, f"#{case.pk}: {text}", messages.ERROR)
            else:
                done.append(f"#{case.pk}")
        if done:
            self.message_user(request, f"Resolved {', '.join(done)}.", messages.SUCCESS)


class ReassignForm(forms.Form):
    assignee = forms.ModelChoiceField(
        queryset=None,
        required=False,
        empty_label="Nobody: back to the team queue",
        label="New assignee",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = case_assignees()


@admin.register(CaseEvent)
class CaseEventAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """The history of every case; notes only for those who may read them."""

    list_display = ("occurred_at", "case", "kind", "actor_label", "from_status", "to_status")
    list_filter = ("kind",)
    search_fields = ("=case__id", "actor_label")
    search_help_text = "Case number or who did it"
    list_select_related = ("case",)
    ordering = ("-id",)
    show_full_result_count = False

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return qs if can_read_notes(request.user) else qs.exclude(kind=CaseEvent.Kind.NOTE)


@admin.register(CaseInteraction)
class CaseInteractionAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("case", "interaction", "linked_at")
    search_fields = ("=case__id", "=interaction__id")
    search_help_text = "Case or interaction number"
    list_select_related = ("case", "interaction")
    ordering = ("-id",)
    show_full_result_count = False


# --- Proactive care -------------------------------------------------------------------------
# Rules and message templates are configuration: edited here, audited. Flags and scans are
# records the scans keep: listed here, never added, edited or deleted by hand; a flag is
# worked in its team's care queue, or dismissed here with a reason (``care_flag_dismiss``).

#: A care rule's window: a deadline or a repeat-contact window longer than this is not "at risk".
CARE_RULE_MAX_HOURS = 90 * 24
SHARE_HINT = (
    'The "SLA at risk" share also sets when open cases count as at risk: they keep their '
    "risk times until their next change. Select the rule and use the action "
    '"Recompute SLA clocks" to apply it to every team\'s active cases now.'
)


class CareRuleForm(forms.ModelForm):
    """Thresholds in range: a share of (0, 1], a window of at least an hour, a repeat of at
    least two contacts. Used by the change page and the editable list."""

    class Meta:
        model = CareRule
        fields = ("kind", "is_active", "severity", "team", "share", "hours", "count")
        help_texts = {
            "is_active": "Off: the scans raise no new flags of this kind (current ones still "
            "clear themselves when their cause is gone).",
            "severity": "How its flags rank in the care queue.",
            "team": "Whose care queue its flags join.",
            "share": "SLA at risk: the share of an SLA target used before a case counts as at "
            "risk, more than 0 and at most 1 (0.8 = 80%). After a change, recompute the SLA "
            "clocks.",
            "hours": "Deadline at risk: hours before the customer's deadline. Repeat contact: "
            f"the window in hours (168 = 7 days). From 1 to {CARE_RULE_MAX_HOURS}.",
            "count": "Repeat contact: inbound contacts within the window; at least 2.",
        }

    def clean_share(self):
        share = self.cleaned_data["share"]
        if not 0 < share <= 1:
            raise ValidationError("A share more than 0 and at most 1 (0.8 = 80%).")
        return share

    def clean_hours(self):
        hours = self.cleaned_data["hours"]
        if not 1 <= hours <= CARE_RULE_MAX_HOURS:
            raise ValidationError(f"From 1 to {CARE_RULE_MAX_HOURS} hours.")
        return hours

    def clean_count(self):
        count = self.cleaned_data["count"]
        if count < 2:
            raise ValidationError("At least 2: one contact is not a repeat.")
        return count


@admin.register(CareRule)
class CareRuleAdmin(RecomputeSlaMixin, AuditedConfigAdmin):
    """One rule per kind of service exception, made with its defaults by
    ``care_rules_ensure`` (on opening this list too): switched on and off and tuned here,
    never added or deleted. The scans read the rules on every run."""

    form = CareRuleForm
    audit_name = "care_rule"
    audit_fields = CareRuleForm.Meta.fields
    list_display = ("kind", "team", "is_active", "severity", "share", "hours", "count")
    list_editable = ("is_active", "severity", "share", "hours", "count")
    list_filter = ("is_active", "team")
    list_select_related = ("team",)
    ordering = ("kind",)
    actions = ("recompute_sla_clocks",)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # switch it off instead: care_rules_ensure would make it again

    def get_readonly_fields(self, request, obj=None):
        return ("kind",)

    def get_changelist_form(self, request, **kwargs):
        return super().get_changelist_form(request, **{"form": CareRuleForm, **kwargs})

    def changelist_view(self, request, extra_context=None):
        care_rules_ensure()
        return super().changelist_view(request, extra_context)

    def sla_recompute_teams(self, queryset):
        return Team.objects.all()  # the share applies to every team's cases

    @admin.action(
        description="Recompute SLA clocks of every team's active cases (SLA at risk share)",
        permissions=["change"],
    )
    def recompute_sla_clocks(self, request, queryset):
        if not queryset.filter(kind=CareRule.Kind.SLA_AT_RISK).exists():
            self.message_user(
                request,
                'Only the "SLA at risk" rule\'s share changes SLA clocks: select that rule.',
                messages.WARNING,
            )
            return None
        return super().recompute_sla_clocks(request, queryset)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if form.instance.kind == CareRule.Kind.SLA_AT_RISK and "share" in form.changed_data:
            self.message_user(request, SHARE_HINT, messages.INFO)


PLACEHOLDERS = (
    "first_name",
    "name",
    "order",
    "promised_by",
    "case",
    "subject",
    "deadline",
    "disruption",
)
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
PLACEHOLDER_HELP = "Placeholders: " + ", ".join("{" + name + "}" for name in PLACEHOLDERS)


def _unknown_placeholders(text: str) -> list[str]:
    return sorted({name for name in _PLACEHOLDER.findall(text) if name not in PLACEHOLDERS})


def _preview_flag() -> CareFlag:
    """A flag with made-up facts (nothing saved) for ``message_fill`` to fill a preview."""
    now = timezone.now()
    flag = CareFlag(kind=CareRule.Kind.LATE_ORDER, summary="")
    flag.customer = Customer(display_name="Ada Lovelace")
    flag.order = Order(external_id="ORD-10428", promised_by=now - timedelta(hours=3))
    flag.case = Case(
        pk=1234,
        subject="Replacement card needed before travelling",
        customer_deadline=now + timedelta(hours=20),
    )
    flag.disruption = Disruption(pk=1, title="Victoria: lift out of service")
    return flag


class MessageTemplateForm(forms.ModelForm):
    class Meta:
        model = MessageTemplate
        fields = ("name", "kind", "subject", "body", "is_active")
        help_texts = {
            "kind": "The care flags it is offered for (blank: every kind).",
            "subject": f"For email. {PLACEHOLDER_HELP}.",
            "body": f"{PLACEHOLDER_HELP}; each is filled in where the flag knows it.",
        }

    def clean(self):
        data = super().clean()
        for field in ("name", "subject", "body"):
            value = data.get(field)
            if not isinstance(value, str):
                continue
            if problem := text_problem(value):
                self.add_error(field, problem)
            elif field != "name" and (unknown := _unknown_placeholders(value)):
                self.add_error(
                    field,
                    f"Unknown placeholder(s): {', '.join('{' + u + '}' for u in unknown)}. "
                    f"{PLACEHOLDER_HELP}.",
                )
        return data


@admin.register(MessageTemplate)
class MessageTemplateAdmin(AuditedConfigAdmin):
    """The proactive messages staff send from a care flag; the preview fills the
    placeholders with made-up facts exactly as ``message_fill`` fills them for a flag."""

    form = MessageTemplateForm
    audit_name = "message_template"
    audit_fields = MessageTemplateForm.Meta.fields
    list_display = ("name", "kind", "subject", "is_active")
    list_filter = ("kind", "is_active")
    search_fields = ("name", "subject")
    readonly_fields = ("preview",)
    fields = (*MessageTemplateForm.Meta.fields, "preview")

    @admin.display(description="Preview")
    def preview(self, obj: MessageTemplate | None) -> str:
        if obj is None or not obj.pk:
            return "Save (and continue editing) to see it with the placeholders filled in."
        flag = _preview_flag()
        return format_html(
            "<strong>{}</strong><br>{}<p class='help'>Made-up facts: {}</p>",
            message_fill(obj.subject, flag),
            linebreaks_filter(message_fill(obj.body, flag)),
            "Ada Lovelace, order ORD-10428, case #1234, the disruption "
            '"Victoria: lift out of service".',
        )


class ClearedFilter(admin.SimpleListFilter):
    title = "cause"
    parameter_name = "cleared"

    def lookups(self, request, model_admin):
        return (("no", "Still there"), ("yes", "Gone (cleared by the scan)"))

    def queryset(self, request, queryset):
        if self.value() == "no":
            return queryset.filter(cleared_at__isnull=True)
        if self.value() == "yes":
            return queryset.filter(cleared_at__isnull=False)
        return queryset


class DismissForm(forms.Form):
    reason = forms.CharField(
        max_length=200,
        help_text="Why these need no action (the customer already knows, a false alarm ...).",
    )


FLAG_FIELDSETS = (
    (None, {"fields": ("kind", "status", "severity", "team", "customer", "summary")}),
    ("About", {"fields": ("case", "order", "disruption", "dedupe_key")}),
    (
        "Handling",
        {
            "fields": (
                "raised_at",
                "acknowledged_at",
                "acknowledged_by",
                "actioned_at",
                "action",
                "action_interaction",
                "action_case",
                "dismissed_reason",
                "handled_by",
                "cleared_at",
            )
        },
    ),
)


@admin.register(CareFlag)
class CareFlagAdmin(admin.ModelAdmin):
    """Every care flag, read-only: worked in the teams' care queues. The action
    "Dismiss…" closes flags with a reason through ``care_flag_dismiss`` (audited). Never
    added or deleted by hand. (Change permission is kept for the list, where the action
    needs it; a flag's own page is read-only.)"""

    list_display = (
        "id",
        "kind",
        "summary",
        "customer",
        "team",
        "severity",
        "status",
        "raised_at",
        "cleared_at",
    )
    list_display_links = ("id", "summary")
    list_filter = ("kind", "status", "team", ClearedFilter)
    search_fields = ("summary",)  # see get_search_results
    search_help_text = "Flag or customer number, words of the summary, or the customer's name"
    list_select_related = ("customer", "team")
    ordering = ("-id",)
    show_full_result_count = False
    fieldsets = FLAG_FIELDSETS
    readonly_fields = [name for _title, box in FLAG_FIELDSETS for name in box["fields"]]
    actions = ("dismiss",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request, obj=None):
        return False

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip().lstrip("#")
        if not term:
            return queryset, False
        if term.isdigit() and len(term) < 19:
            return queryset.filter(Q(pk=int(term)) | Q(customer_id=int(term))), False
        by_name = Customer.objects.filter(display_name__icontains=term).values("pk")
        return queryset.filter(Q(summary__icontains=term) | Q(customer_id__in=by_name)), False

    @admin.action(description="Dismiss…", permissions=["change"])
    def dismiss(self, request, queryset):
        """A page asking why, then ``care_flag_dismiss`` for each flag."""
        flags = list(queryset.select_related("customer").order_by("id")[: CASE_ACTION_MAX + 1])
        if len(flags) > CASE_ACTION_MAX:
            self.message_user(
                request, f"Select at most {CASE_ACTION_MAX} flags at a time.", messages.ERROR
            )
            return None
        form = DismissForm(request.POST if request.POST.get("post") == "yes" else None)
        if not form.is_bound or not form.is_valid():
            return TemplateResponse(
                request,
                "admin/cases/careflag/dismiss.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Dismiss care flags",
                    "opts": self.model._meta,
                    "flags": flags,
                    "form": form,
                    "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                },
            )
        done = []
        for flag in flags:
            try:
                care_flag_dismiss(actor=request.user, flag=flag, reason=form.cleaned_data["reason"])
            except ValidationError as error:
                self.message_user(
                    request, f"#{flag.pk}: {' '.join(error.messages)}", messages.ERROR
                )
            else:
                done.append(f"#{flag.pk}")
        if done:
            self.message_user(request, f"Dismissed {', '.join(done)}.", messages.SUCCESS)
        return None


class ScanKindFilter(admin.SimpleListFilter):
    title = "scan"
    parameter_name = "full"

    def lookups(self, request, model_admin):
        return (("yes", "Full"), ("no", "Incremental"))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(since__isnull=True)
        if self.value() == "no":
            return queryset.filter(since__isnull=False)
        return queryset


def _per_kind(counts: dict) -> str:
    labels = dict(CareRule.Kind.choices)
    parts = [f"{labels.get(k, k)}: {n}" for k, n in sorted((counts or {}).items()) if n]
    return ", ".join(parts) or "—"


@admin.register(CareScan)
class CareScanAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """The log of the care scans: when, since when, how long, how many flags raised and
    cleared (per kind on the scan's page)."""

    list_display = ("started_at", "scan", "since", "duration", "raised_total", "cleared_total")
    list_filter = (ScanKindFilter,)
    ordering = ("-id",)
    show_full_result_count = False
    fields = ("started_at", "since", "finished_at", "duration", "raised_by_kind", "cleared_by_kind")
    readonly_fields = fields

    @admin.display(description="Scan")
    def scan(self, obj: CareScan) -> str:
        return "full" if obj.since is None else "incremental"

    @admin.display(description="Duration")
    def duration(self, obj: CareScan) -> str:
        if obj.duration_ms is None:
            return "running" if obj.finished_at is None else "—"
        return f"{obj.duration_ms / 1000:.2f} s"

    @admin.display(description="Raised")
    def raised_total(self, obj: CareScan) -> int:
        return sum((obj.raised or {}).values())

    @admin.display(description="Cleared")
    def cleared_total(self, obj: CareScan) -> int:
        return sum((obj.cleared or {}).values())

    @admin.display(description="Raised, per kind")
    def raised_by_kind(self, obj: CareScan) -> str:
        return _per_kind(obj.raised)

    @admin.display(description="Cleared, per kind")
    def cleared_by_kind(self, obj: CareScan) -> str:
        return _per_kind(obj.cleared)


# --- Disruptions ----------------------------------------------------------------------------


class DisruptionUpdateInline(ReadOnlyMixin, admin.TabularInline):
    """What was said and when, with how many customers each update reached (one grouped
    query for all of them)."""

    model = DisruptionUpdate
    fields = (
        "posted_at",
        "kind",
        "posted_by",
        "public_message",
        "notify_customers",
        "notices",
        "notify_done_at",
    )
    readonly_fields = fields
    extra = 0

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                told=Count("notices", filter=Q(notices__interaction__isnull=False)),
                not_told=Count("notices", filter=Q(notices__interaction__isnull=True)),
            )
        )

    @admin.display(description="Customers told")
    def notices(self, obj: DisruptionUpdate) -> str:
        if not obj.notify_customers:
            return "not notified"
        told, not_told = getattr(obj, "told", 0), getattr(obj, "not_told", 0)
        return f"{told} told, {not_told} not reachable" if not_told else f"{told} told"


@admin.register(Disruption)
class DisruptionAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Read-only here: operations declare, update and resolve disruptions on the staff
    pages (``/disruptions/<id>/``), where customers are notified and partners told."""

    list_display = (
        "title",
        "kind",
        "severity",
        "status",
        "starts_at",
        "ends_at",
        "accessibility_impact",
        "affected_count",
        "staff_page",
    )
    list_filter = ("status", "kind", "severity", "accessibility_impact")
    search_fields = ("title",)
    ordering = ("-starts_at", "-id")
    show_full_result_count = False
    inlines = (DisruptionUpdateInline,)
    fields = (
        "staff_page",
        "title",
        "kind",
        "severity",
        "status",
        "starts_at",
        "ends_at",
        "resolved_at",
        "place_list",
        "accessibility_impact",
        "accessibility_note",
        "public_message",
        "staff_guidance",
        "affected_count",
        "affected_computed_at",
        "created_by",
        "created_at",
        "updated_at",
        "version",
    )
    readonly_fields = fields

    @admin.display(description="Staff page")
    def staff_page(self, obj: Disruption) -> str:
        url = reverse("disruptions:detail", args=[obj.pk])
        return format_html('<a href="{}">Open on the staff page</a>', url)

    @admin.display(description="Places")
    def place_list(self, obj: Disruption) -> str:
        return ", ".join(str(place) for place in obj.places.order_by("kind", "name")) or "—"
