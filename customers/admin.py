"""Supervisors' admin for the customers app.

Built for 1M customers / 10M interactions: no full COUNT(*) per page
(``show_full_result_count = False``), related rows fetched with the list
(``list_select_related``), lists ordered by the primary key (an index), no list filter that
loads a whole table, autocomplete instead of select boxes for customers and places, and no
unbounded inline (orders show the newest few, interactions are not inlined at all).

Writes with business rules go through services: editing a customer, merging, undoing a
merge. History tables (consent history, merges, erased identities) are read-only.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet

from customers.filtersets import CustomerFilterSet
from customers.models import (
    ChannelSource,
    Consent,
    ConsentEvent,
    ContactPoint,
    Customer,
    CustomerMerge,
    CustomerPlace,
    ErasedIdentity,
    Holding,
    InboundEvent,
    Interaction,
    Order,
    Place,
)
from customers.normalize import normalize_contact
from customers.services import customer_create, customer_merge, customer_unmerge, customer_update
from customers.services.core import EDITABLE_FIELDS

#: "Merge selected customers" works on a handful of duplicates, never a whole table.
MERGE_ACTION_MAX = 20
RECENT_ORDERS_INLINE = 5


class MergePermissionMixin:
    def has_merge_permission(self, request) -> bool:
        return request.user.has_perm("customers.merge_customer")


class ReadOnlyMixin:
    """History and records kept by services: viewable, never edited by hand."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- Customer -------------------------------------------------------------------------------


class StateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("live", "Live"), ("merged", "Merged away"), ("erased", "Erased")]

    def queryset(self, request, queryset):
        if self.value() == "live":
            return queryset.filter(merged_into__isnull=True)
        if self.value() == "merged":
            return queryset.filter(merged_into__isnull=False)
        if self.value() == "erased":
            return queryset.filter(erased_at__isnull=False)
        return queryset


class ContactPointInline(ReadOnlyMixin, admin.TabularInline):
    model = ContactPoint
    fields = ("kind", "network", "value", "normalized", "is_primary", "created_at")
    readonly_fields = ("created_at",)
    show_change_link = True
    extra = 0


class ConsentInline(ReadOnlyMixin, admin.TabularInline):
    model = Consent
    fields = ("channel", "purpose", "status", "source", "updated_at")
    extra = 0


class HoldingInline(admin.TabularInline):
    model = Holding
    fields = ("kind", "name", "reference", "started_on", "warranty_ends_on", "renews_on")
    extra = 0
    show_change_link = True


class RecentOrdersFormSet(BaseInlineFormSet):
    """Only the newest few orders: a business customer may have thousands."""

    def get_queryset(self):
        if not hasattr(self, "_queryset"):
            self._queryset = (
                super().get_queryset().order_by("-placed_at", "-id")[:RECENT_ORDERS_INLINE]
            )
        return self._queryset


class RecentOrderInline(ReadOnlyMixin, admin.TabularInline):
    model = Order
    formset = RecentOrdersFormSet
    fields = ("external_id", "placed_at", "shipping_method", "promised_by", "status")
    verbose_name_plural = f"Recent orders (newest {RECENT_ORDERS_INLINE}; all in Orders)"
    show_change_link = True
    extra = 0


@admin.register(Customer)
class CustomerAdmin(MergePermissionMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "display_name",
        "lifecycle_stage",
        "region",
        "preferred_channel",
        "merged_into_id",
        "erased_at",
        "created_at",
    )
    list_display_links = ("id", "display_name")
    list_filter = (StateFilter, "lifecycle_stage", "preferred_channel", "accessibility_needs")
    search_fields = ("display_name",)
    search_help_text = "Customer number, name, email, phone, @handle or order number"
    readonly_fields = ("merged_into", "erased_at", "created_at", "updated_at")
    ordering = ("-id",)
    show_full_result_count = False  # no COUNT(*) over a million rows on every page
    inlines = (ContactPointInline, ConsentInline, HoldingInline, RecentOrderInline)
    actions = ("merge_into_oldest",)

    def get_exclude(self, request, obj=None):
        if request.user.has_perm("customers.view_restricted_customer"):
            return ()
        return Customer.RESTRICTED_FIELDS

    def get_search_results(self, request, queryset, search_term):
        """The staff search (``CustomerFilterSet.q``: exact contact point or order number,
        else the name), plus a customer number: indexed, never a scan of joined tables."""
        term = search_term.strip()
        if not term:
            return queryset, False
        if term.lstrip("#").isdigit():
            by_id = queryset.filter(pk=int(term.lstrip("#")))
            return by_id | CustomerFilterSet(data={"q": term}, queryset=queryset).qs, False
        return CustomerFilterSet(data={"q": term}, queryset=queryset).qs, False

    def save_model(self, request, obj, form, change):
        """Through the services, so the change is validated and audited."""
        fields = {f: form.cleaned_data[f] for f in EDITABLE_FIELDS if f in form.cleaned_data}
        if change:
            current = Customer.objects.get(pk=obj.pk)
            customer_update(actor=request.user, customer=current, **fields)
        else:
            created = customer_create(actor=request.user, **fields)
            obj.pk = created.pk
        obj.refresh_from_db()

    @admin.action(
        description="Merge selected customers into the oldest of them", permissions=["merge"]
    )
    def merge_into_oldest(self, request, queryset):
        customers = list(queryset.order_by("created_at", "id")[: MERGE_ACTION_MAX + 1])
        if len(customers) > MERGE_ACTION_MAX:
            self.message_user(
                request, f"Select at most {MERGE_ACTION_MAX} customers to merge.", messages.ERROR
            )
            return
        if len(customers) < 2:
            self.message_user(request, "Select at least two customers to merge.", messages.ERROR)
            return
        survivor, *others = customers
        merged = []
        for other in others:
            try:
                customer_merge(actor=request.user, survivor=survivor, merged=other)
            except ValidationError as error:
                self.message_user(request, " ".join(error.messages), messages.ERROR)
            else:
                merged.append(f"#{other.pk}")
        if merged:
            self.message_user(
                request,
                f"Merged {', '.join(merged)} into #{survivor.pk} ({survivor.display_name}).",
                messages.SUCCESS,
            )


# --- Customer data --------------------------------------------------------------------------


class ContactPointForm(forms.ModelForm):
    class Meta:
        model = ContactPoint
        fields = ("customer", "kind", "network", "value", "is_primary")

    def clean(self):
        data = super().clean()
        if data.get("kind") and data.get("value"):
            try:
                self.instance.normalized = normalize_contact(
                    data["kind"], data["value"], data.get("network", "")
                )
            except ValidationError as error:
                raise ValidationError({"value": error.messages}) from None
            self.instance.network = (
                data.get("network", "").strip().lower() if data["kind"] == "social" else ""
            )
            data["network"] = self.instance.network
        return data


@admin.register(ContactPoint)
class ContactPointAdmin(admin.ModelAdmin):
    form = ContactPointForm
    list_display = ("value", "kind", "network", "customer", "is_primary", "created_at")
    list_filter = ("kind", "is_primary")
    search_fields = ("=normalized", "=value")
    search_help_text = "Exact normalized value: lower-case email, +E.164 phone, network:handle"
    autocomplete_fields = ("customer",)
    list_select_related = ("customer",)
    readonly_fields = ("normalized", "created_at")
    ordering = ("-id",)
    show_full_result_count = False


@admin.register(Consent)
class ConsentAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("customer", "channel", "purpose", "status", "source", "updated_at")
    list_filter = ("channel", "purpose", "status")
    search_fields = ("=customer__id",)
    list_select_related = ("customer",)
    ordering = ("-id",)
    show_full_result_count = False


@admin.register(ConsentEvent)
class ConsentEventAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("occurred_at", "customer", "channel", "purpose", "status", "actor_label")
    list_filter = ("channel", "purpose", "status")
    search_fields = ("=customer__id", "actor_label")
    list_select_related = ("customer",)
    ordering = ("-id",)
    show_full_result_count = False


@admin.register(Holding)
class HoldingAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "customer", "warranty_ends_on", "renews_on", "is_active")
    list_filter = ("kind", "is_active")
    search_fields = ("=reference", "name")
    autocomplete_fields = ("customer",)
    list_select_related = ("customer",)
    ordering = ("-id",)
    show_full_result_count = False


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = (
        "external_id",
        "customer",
        "placed_at",
        "shipping_method",
        "promised_by",
        "delivered_at",
        "status",
    )
    list_filter = ("status", "shipping_method")
    search_fields = ("=external_id",)
    search_help_text = "Exact order number"
    autocomplete_fields = ("customer",)
    list_select_related = ("customer",)
    ordering = ("-id",)
    show_full_result_count = False


@admin.register(Place)
class PlaceAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "code", "parent", "step_free")
    list_filter = ("kind", "step_free")
    search_fields = ("name", "=code")
    autocomplete_fields = ("parent",)
    list_select_related = ("parent",)
    show_full_result_count = False


@admin.register(CustomerPlace)
class CustomerPlaceAdmin(admin.ModelAdmin):
    list_display = ("customer", "place", "relation")
    list_filter = ("relation", "place__kind")
    search_fields = ("=customer__id", "=place__code")
    autocomplete_fields = ("customer", "place")
    list_select_related = ("customer", "place")
    ordering = ("-id",)
    show_full_result_count = False


@admin.register(Interaction)
class InteractionAdmin(admin.ModelAdmin):
    list_display = ("occurred_at", "customer", "channel", "direction", "summary", "recorded_by")
    list_filter = ("channel", "direction")
    search_fields = ("=external_id", "=customer__id")
    search_help_text = "Exact external id or customer number"
    autocomplete_fields = ("customer",)
    list_select_related = ("customer",)
    readonly_fields = ("created_at",)
    ordering = ("-id",)  # the primary key index: no sort of 10M rows
    show_full_result_count = False


# --- Merges and erasure ---------------------------------------------------------------------


@admin.register(CustomerMerge)
class CustomerMergeAdmin(MergePermissionMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("id", "merged", "survivor", "performed_at", "performed_by", "undone_at")
    list_filter = (("undone_at", admin.EmptyFieldListFilter),)
    search_fields = ("=survivor__id", "=merged__id", "performed_by")
    list_select_related = ("survivor", "merged")
    ordering = ("-id",)
    show_full_result_count = False
    actions = ("undo_merge",)

    @admin.action(description="Undo merge", permissions=["merge"])
    def undo_merge(self, request, queryset):
        # Newest first: a later merge must be undone before the one it built on.
        for merge in queryset.order_by("-id")[:MERGE_ACTION_MAX]:
            try:
                customer_unmerge(actor=request.user, merge=merge)
            except ValidationError as error:
                self.message_user(request, " ".join(error.messages), messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"Merge #{merge.pk} undone: #{merge.merged_id} is separate again.",
                    messages.SUCCESS,
                )


@admin.register(ErasedIdentity)
class ErasedIdentityAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("kind", "digest", "erased_at")
    list_filter = ("kind",)
    search_fields = ("=digest",)
    ordering = ("-id",)
    show_full_result_count = False


# --- Channels -------------------------------------------------------------------------------


class ChannelSourceForm(forms.ModelForm):
    """The secret is write-only: never rendered back; left blank, the stored one stays."""

    secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Webhook signing secret, or password / API token. Blank keeps the current one.",
    )

    class Meta:
        model = ChannelSource
        fields = (
            "name",
            "slug",
            "kind",
            "channel",
            "is_active",
            "settings",
            "secret",
            "poll_interval_seconds",
        )

    def clean_secret(self):
        return self.cleaned_data["secret"] or (self.instance.secret if self.instance.pk else "")


@admin.register(ChannelSource)
class ChannelSourceAdmin(admin.ModelAdmin):
    form = ChannelSourceForm
    list_display = (
        "name",
        "kind",
        "channel",
        "is_active",
        "last_success_at",
        "last_error_at",
    )
    list_filter = ("kind", "channel", "is_active")
    search_fields = ("name", "=slug")
    show_full_result_count = False
    readonly_fields = (
        "cursor",
        "last_sync_started_at",
        "last_success_at",
        "last_error_at",
        "last_error",
        "created_at",
    )


@admin.register(InboundEvent)
class InboundEventAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("received_at", "source", "provider_event_id", "status", "attempts")
    list_filter = ("status", "source__kind")
    search_fields = ("=provider_event_id", "=interaction__id")
    list_select_related = ("source",)
    ordering = ("-id",)
    show_full_result_count = False
