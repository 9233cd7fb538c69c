"""Supervisors' admin for feedback.

Configuration is edited here and every save or delete leaves an audit event with the values
before and after: surveys (checked: a sampling rate from 0 to 1, a fallback channel other
than the first one and used before the link expires, a keyword for the interaction trigger)
and themes (keywords: a JSON list of words and phrases, checked by
``theme_keywords_clean``). A change to a theme's keywords re-themes the answers and mentions
of the last five weeks in the worker (``scans.themes_recompute``); the action "Re-theme the
last 5 weeks" asks for it again.

Invitations, answers and mentions are records the services keep: listed with filters, never
edited or deleted here (an answer is counted for good; closing the loop happens on the
feedback pages). Ideas change status only through ``idea_move`` (the form offers the allowed
next statuses; a decline needs a note), and new ones are made through ``idea_submit``.

Built for a million answers: no full COUNT(*) per page, related rows fetched with the list,
filters on indexed or small columns.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.html import format_html

from cxportal.admin_base import AuditedConfigAdmin, ReadOnlyAdmin, audit_plain
from cxportal.broker import publish
from cxportal.services import audit_record
from feedback.models import Idea, Mention, Response, Survey, SurveyInvitation, Theme
from feedback.services.ideas import idea_move, idea_submit
from feedback.services.mentions import mention_review
from feedback.services.themes import theme_keywords_clean
from feedback.tasks import THEMES_RECOMPUTE_TASK, THEMES_RECOMPUTE_WEEKS

QUEUE_DOWN = "The task queue is not reachable right now; use the action “{action}” in a minute."
RECOMPUTE_ACTION = f"Re-theme the last {THEMES_RECOMPUTE_WEEKS} weeks of answers and mentions"


# --- Surveys ---------------------------------------------------------------------------------


class SurveyForm(forms.ModelForm):
    class Meta:
        model = Survey
        fields = (
            "name",
            "kind",
            "question",
            "trigger",
            "trigger_channel",
            "trigger_keyword",
            "delay_hours",
            "sampling_rate",
            "quiet_period_days",
            "channel",
            "fallback_channel",
            "fallback_after_days",
            "valid_days",
            "team",
            "open_case_for_detractors",
            "is_active",
        )

    def clean_sampling_rate(self):
        rate = self.cleaned_data["sampling_rate"]
        if rate is not None and not 0 <= rate <= 1:
            raise ValidationError(
                "A share from 0 to 1 (0.25 invites one trigger in four; 1 invites all)."
            )
        return rate

    def clean_valid_days(self):
        days = self.cleaned_data["valid_days"]
        if days is not None and days < 1:
            raise ValidationError("A link must work for at least one day.")
        return days

    def clean(self):
        data = super().clean()
        trigger = data.get("trigger")
        keyword = " ".join((data.get("trigger_keyword") or "").split())
        data["trigger_keyword"] = keyword
        if trigger == Survey.Trigger.INTERACTION and not keyword:
            self.add_error(
                "trigger_keyword",
                "Say which interactions invite (a word in their summary, e.g. “technician "
                "visit”): without it every interaction would.",
            )
        if trigger and trigger != Survey.Trigger.INTERACTION:
            for name in ("trigger_channel", "trigger_keyword"):
                if data.get(name):
                    self.add_error(name, "Only the interaction trigger uses this; leave it empty.")
        channel, fallback = data.get("channel"), data.get("fallback_channel")
        if fallback and fallback == channel:
            self.add_error(
                "fallback_channel", "The fallback must be another channel than the first one."
            )
        after, valid = data.get("fallback_after_days"), data.get("valid_days")
        if fallback and after is not None and valid and after >= valid:
            self.add_error(
                "fallback_after_days",
                f"The link works for {valid} days: ask again on the fallback before that.",
            )
        return data


@admin.register(Survey)
class SurveyAdmin(AuditedConfigAdmin):
    form = SurveyForm
    audit_name = "survey"
    audit_fields = SurveyForm.Meta.fields
    list_display = (
        "name",
        "kind",
        "trigger",
        "channel",
        "fallback_channel",
        "sampling_rate",
        "quiet_period_days",
        "team",
        "is_active",
    )
    list_filter = ("kind", "trigger", "is_active", "team")
    search_fields = ("name",)
    list_select_related = ("team",)
    fieldsets = (
        (None, {"fields": ("name", "kind", "question", "team", "is_active")}),
        (
            "When to ask",
            {
                "fields": (
                    "trigger",
                    "trigger_channel",
                    "trigger_keyword",
                    "delay_hours",
                    "sampling_rate",
                    "quiet_period_days",
                )
            },
        ),
        (
            "How to ask",
            {"fields": ("channel", "fallback_channel", "fallback_after_days", "valid_days")},
        ),
        ("Closing the loop", {"fields": ("open_case_for_detractors",)}),
    )


# --- Themes ----------------------------------------------------------------------------------


class ThemeForm(forms.ModelForm):
    class Meta:
        model = Theme
        fields = ("name", "keywords", "is_active")

    def clean_keywords(self):
        return theme_keywords_clean(self.cleaned_data.get("keywords"))


@admin.register(Theme)
class ThemeAdmin(AuditedConfigAdmin):
    """Keywords match as whole words, ignoring case: list the forms people write ("refund",
    "refunds", "refunded"). ``manage.py feedback_themes_validate`` shows what a taxonomy
    finds in real posts and the words of the posts it misses."""

    form = ThemeForm
    audit_name = "theme"
    audit_fields = ThemeForm.Meta.fields
    list_display = ("name", "keyword_list", "is_active")
    list_filter = ("is_active",)
    search_fields = ("name",)
    actions = ("recompute_recent",)

    @admin.display(description="Keywords")
    def keyword_list(self, obj: Theme) -> str:
        words = obj.keywords if isinstance(obj.keywords, list) else []
        shown = ", ".join(words[:12])
        return f"{shown} … (+{len(words) - 12})" if len(words) > 12 else shown

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if form.instance._audit_changed & {"keywords", "is_active"}:
            self._recompute(request, [form.instance])

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        self.message_user(
            request,
            "Its links to answers and mentions are gone; to keep them in the trends, "
            "switch a theme off instead of deleting it.",
            messages.INFO,
        )

    def _recompute(self, request, themes: list[Theme]) -> None:
        # Weeks of answers and mentions (up to hundreds of thousands on a big brand): the
        # worker does it in batches, never this request.
        for theme in themes:
            audit_record(actor=request.user, action="theme.recompute_requested", target=theme)
        sent = publish(THEMES_RECOMPUTE_TASK, [theme.pk for theme in themes])
        if sent:
            self.message_user(
                request,
                f"Re-theming the answers and mentions of the last {THEMES_RECOMPUTE_WEEKS} "
                "weeks in the background; the themes page shows the result in a few minutes.",
                messages.SUCCESS,
            )
        else:
            self.message_user(request, QUEUE_DOWN.format(action=RECOMPUTE_ACTION), messages.ERROR)

    @admin.action(description=RECOMPUTE_ACTION, permissions=["change"])
    def recompute_recent(self, request, queryset):
        # One run re-themes everything recent with the whole taxonomy: one task is enough.
        self._recompute(request, list(queryset.order_by("pk")[:1]))


# --- Records the services keep ---------------------------------------------------------------


@admin.register(SurveyInvitation)
class SurveyInvitationAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "survey",
        "customer",
        "trigger_key",
        "status",
        "channel",
        "send_after",
        "sent_at",
        "answered_at",
        "suppressed_reason",
    )
    list_filter = ("status", "survey", "channel")
    search_fields = ("=id", "=customer__id", "trigger_key")
    list_select_related = ("survey", "customer")
    raw_id_fields = ("customer", "case", "interaction")
    ordering = ("-id",)


class FollowUpFilter(admin.SimpleListFilter):
    title = "closing the loop"
    parameter_name = "loop"

    def lookups(self, request, model_admin):
        return [
            ("waiting", "Detractor flagged, no follow-up yet"),
            ("done", "Followed up"),
        ]

    def queryset(self, request, queryset):
        if self.value() == "waiting":
            return queryset.filter(care_flag__isnull=False, follow_up_at__isnull=True)
        if self.value() == "done":
            return queryset.filter(follow_up_at__isnull=False)
        return queryset


@admin.register(Response)
class ResponseAdmin(ReadOnlyAdmin):
    """Answers are counted for good: never edited or deleted here. The customer shows only
    when they allowed contact (otherwise the answer was kept without them)."""

    list_display = (
        "id",
        "answered_at",
        "survey",
        "kind",
        "score",
        "category",
        "comment_start",
        "sentiment",
        "channel",
        "team",
        "region",
        "customer",
        "follow_up_at",
    )
    list_filter = (
        "kind",
        "category",
        "survey",
        "channel",
        "team",
        "contact_allowed",
        FollowUpFilter,
        "themes",
    )
    search_fields = ("=id", "=customer__id")
    list_select_related = ("survey", "team", "customer")
    raw_id_fields = ("customer", "invitation", "care_flag", "follow_up_case")
    ordering = ("-id",)

    @admin.display(description="Comment")
    def comment_start(self, obj: Response) -> str:
        return obj.comment[:80] + ("…" if len(obj.comment) > 80 else "")


@admin.register(Mention)
class MentionAdmin(ReadOnlyAdmin):
    list_display = ("id", "occurred_at", "source", "text_start", "sentiment", "customer", "status")
    list_filter = ("source", "status", "themes")
    search_fields = ("=id", "=customer__id")
    list_select_related = ("customer",)
    raw_id_fields = ("customer", "interaction")
    ordering = ("-id",)
    actions = ("mark_reviewed",)

    @admin.display(description="Text")
    def text_start(self, obj: Mention) -> str:
        return obj.text[:80] + ("…" if len(obj.text) > 80 else "")

    def has_review_permission(self, request) -> bool:
        return request.user.has_perm("feedback.change_mention")

    @admin.action(description="Mark as reviewed", permissions=["review"])
    def mark_reviewed(self, request, queryset):
        done = 0
        for mention in queryset.filter(status=Mention.Status.NEW)[:500]:
            mention_review(actor=request.user, mention=mention)
            done += 1
        self.message_user(request, f"{done} mention(s) marked as reviewed.", messages.SUCCESS)


# --- Ideas -----------------------------------------------------------------------------------


class IdeaForm(forms.ModelForm):
    """Title, description and team are edited in place (audited); the status moves only
    through ``idea_move``: ``move_to`` offers the allowed next statuses."""

    move_to = forms.ChoiceField(label="Move to", required=False)
    note = forms.CharField(
        label="Decision note",
        required=False,
        max_length=300,
        help_text="Shown to the person who had the idea; needed to decline it.",
    )

    class Meta:
        model = Idea
        fields = ("title", "description", "team")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        idea = self.instance
        if idea.pk:
            labels = dict(Idea.Status.choices)
            nexts = sorted(Idea.TRANSITIONS[idea.status], key=Idea.Status.values.index)
            self.fields["move_to"].choices = [
                ("", f"— stays {labels[idea.status].lower()} —"),
                *[(s, labels[s]) for s in nexts],
            ]
        else:
            del self.fields["move_to"]
            del self.fields["note"]

    def clean(self):
        data = super().clean()
        if data.get("move_to") == Idea.Status.DECLINED and not data.get("note"):
            self.add_error("note", "Say why it is declined: the person who had it reads this.")
        return data


@admin.register(Idea)
class IdeaAdmin(admin.ModelAdmin):
    form = IdeaForm
    list_display = (
        "title",
        "status",
        "team",
        "submitted_by",
        "submitted_at",
        "status_changed_at",
        "implemented_at",
    )
    list_filter = ("status", "team")
    search_fields = ("title", "submitted_by")
    list_select_related = ("team",)
    readonly_fields = (
        "status_label",
        "submitted_by",
        "submitted_at",
        "status_changed_at",
        "implemented_at",
        "decision_note",
    )
    actions = ("move_to_reviewing", "move_to_implementing", "move_to_implemented")
    show_full_result_count = False

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("title", "description", "team")
        return (
            "title",
            "description",
            "team",
            "status_label",
            "move_to",
            "note",
            "decision_note",
            "submitted_by",
            "submitted_at",
            "status_changed_at",
            "implemented_at",
        )

    @admin.display(description="Status")
    def status_label(self, obj: Idea) -> str:
        return format_html("<strong>{}</strong>", obj.get_status_display())

    def has_delete_permission(self, request, obj=None):
        return False  # the board's figures count every idea; decline one instead

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if not change:
            idea = idea_submit(
                actor=request.user,
                title=data["title"],
                description=data.get("description", ""),
                team=data.get("team"),
            )
            obj.pk = idea.pk
            return
        with transaction.atomic():
            before = Idea.objects.select_for_update().get(pk=obj.pk)
            edited = {
                name: audit_plain(getattr(obj, name))
                for name in ("title", "description", "team")
                if getattr(before, name) != getattr(obj, name)
            }
            if edited:
                Idea.objects.filter(pk=obj.pk).update(
                    title=obj.title, description=obj.description, team=obj.team
                )
                audit_record(
                    actor=request.user,
                    action="idea.update",
                    target=obj,
                    before={name: audit_plain(getattr(before, name)) for name in edited},
                    after=edited,
                )
            if data.get("move_to"):
                idea_move(
                    actor=request.user, idea=obj, status=data["move_to"], note=data.get("note", "")
                )

    def _move(self, request, queryset, status: str) -> None:
        moved, refused = 0, []
        for idea in queryset.order_by("pk")[:200]:
            try:
                idea_move(actor=request.user, idea=idea, status=status)
                moved += 1
            except ValidationError as error:
                refused.append(f"“{idea.title}”: {' '.join(error.messages)}")
        if moved:
            label = dict(Idea.Status.choices)[status].lower()
            self.message_user(request, f"{moved} idea(s) now {label}.", messages.SUCCESS)
        for problem in refused[:10]:
            self.message_user(request, problem, messages.ERROR)

    @admin.action(description="Move to reviewing", permissions=["change"])
    def move_to_reviewing(self, request, queryset):
        self._move(request, queryset, Idea.Status.REVIEWING)

    @admin.action(description="Move to implementing", permissions=["change"])
    def move_to_implementing(self, request, queryset):
        self._move(request, queryset, Idea.Status.IMPLEMENTING)

    @admin.action(description="Mark as implemented", permissions=["change"])
    def move_to_implemented(self, request, queryset):
        self._move(request, queryset, Idea.Status.IMPLEMENTED)
