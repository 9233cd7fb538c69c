"""Supervisors' admin for campaigns.

The contact gate's settings (contact-pressure budget, quiet periods after a complaint or a
detractor answer, quiet hours) are edited here, one row, every save audited with the values
before and after. Campaigns, segments, reviews, deliveries and opportunities are records the
marketing, service and sales pages keep through their services (review rules, frozen
audiences, versions): listed with filters and viewed here, never edited by hand.

Built for millions of deliveries: no full COUNT(*) per page, related rows fetched with the
list, filters on indexed or small columns.
"""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from campaigns.models import (
    Campaign,
    Delivery,
    GateSettings,
    Opportunity,
    ReviewComment,
    Segment,
    Variant,
)
from cxportal.admin_base import AuditedConfigAdmin, ReadOnlyAdmin, ReadOnlyMixin


@admin.register(GateSettings)
class GateSettingsAdmin(AuditedConfigAdmin):
    audit_name = "gate_settings"
    audit_fields = (
        "pressure_budget",
        "complaint_days",
        "detractor_days",
        "quiet_hours_start",
        "quiet_hours_end",
    )
    list_display = ("__str__", *audit_fields)
    fieldsets = (
        ("Contact pressure", {"fields": ("pressure_budget",)}),
        ("After a problem", {"fields": ("complaint_days", "detractor_days")}),
        (
            "Quiet hours (local time; no marketing or surveys sent inside them)",
            {"fields": ("quiet_hours_start", "quiet_hours_end")},
        ),
    )

    def has_add_permission(self, request):
        # One row: the gate reads the first; until it exists the defaults apply.
        return super().has_add_permission(request) and not GateSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False


class VariantInline(ReadOnlyMixin, admin.TabularInline):
    model = Variant
    fields = ("key", "subject", "weight")
    extra = 0


class ReviewInline(ReadOnlyMixin, admin.TabularInline):
    model = ReviewComment
    fields = ("created_at", "author", "decision", "body")
    extra = 0


@admin.register(Campaign)
class CampaignAdmin(ReadOnlyAdmin):
    list_display = (
        "name",
        "team",
        "channel",
        "status",
        "audience_size",
        "started_at",
        "finished_at",
        "page",
    )
    list_filter = ("status", "channel", "team")
    list_select_related = ("team", "segment")
    search_fields = ("name",)
    inlines = (VariantInline, ReviewInline)

    @admin.display(description="Staff page")
    def page(self, obj: Campaign) -> str:
        return format_html(
            '<a href="{}">open</a>', reverse("campaigns:detail", kwargs={"campaign_id": obj.pk})
        )


@admin.register(Segment)
class SegmentAdmin(ReadOnlyAdmin):
    list_display = ("name", "team", "last_count", "last_counted_at", "updated_at")
    list_filter = ("team",)
    list_select_related = ("team",)
    search_fields = ("name",)


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ("id", "campaign", "customer", "variant", "status", "reason", "sent_at")
    list_filter = ("status", "reason", "via_follow_up")
    list_select_related = ("campaign", "customer")
    raw_id_fields = ("campaign", "customer", "interaction")
    search_fields = ("=campaign__id", "=customer__id")
    search_help_text = "A campaign's or a customer's id."


@admin.register(Opportunity)
class OpportunityAdmin(ReadOnlyAdmin):
    list_display = ("title", "customer", "stage", "value", "owner", "updated_at")
    list_filter = ("stage",)
    list_select_related = ("customer", "owner")
    raw_id_fields = ("customer", "owner")
    search_fields = ("title",)
