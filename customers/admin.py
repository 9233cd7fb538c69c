"""Supervisors' admin for the customers app.

Built for 1M customers / 10M interactions: no full COUNT(*) per page
(``show_full_result_count = False``), related rows fetched with the list
(``list_select_related``), lists ordered by the primary key (an index), no list filter that
loads a whole table, autocomplete instead of select boxes for customers and places, and no
unbounded inline (orders show the newest few, interactions are not inlined at all).

Writes go through services or not at all: editing a customer (``customer_update``),
adding a contact point (``contact_point_add``), merging, undoing a merge, erasing personal
data (``customer_erase``; a customer is never deleted: its orders and interactions are the
business's records). Consent, holdings, orders, places of customers and interactions are
read-only here (consent changes through ``consent_set`` in the UI and API, the rest arrives
through the API and the channels); history tables (consent history, merges, erased
identities) are read-only. The accessibility-needs filter shows only to those allowed to
see the restricted fields.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

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
from customers.services import (
    channel_sync_retry,
    contact_point_add,
    customer_create,
    customer_erase,
    customer_merge,
    customer_unmerge,
    customer_update,
)
from customers.services.core import EDITABLE_FIELDS
from cxportal.admin_base import ReadOnlyMixin

#: "Merge selected customers" works on a handful of duplicates, never a whole table.
MERGE_ACTION_MAX = 20
RECENT_ORDERS_INLINE = 5


class MergePermissionMixin:
    def has_merge_permission(self, request) -> bool:
        return request.user.has_perm("customers.merge_customer")


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


class HoldingInline(ReadOnlyMixin, admin.TabularInline):
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
    """Edits go through ``customer_update``; nothing is deleted (erase instead); an erased
    customer is read-only."""

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
    list_filter = (StateFilter, "lifecycle_stage", "preferred_channel")
    search_fields = ("display_name",)
    search_help_text = "Customer number, name, email, phone, @handle or order number"
    readonly_fields = ("merged_into", "erased_at", "personal_data", "created_at", "updated_at")
    ordering = ("-id",)
    show_full_result_count = False  # no COUNT(*) over a million rows on every page
    inlines = (ContactPointInline, ConsentInline, HoldingInline, RecentOrderInline)
    actions = ("merge_into_oldest", "erase_personal_data")

    def has_delete_permission(self, request, obj=None):
        return False  # a customer is erased (GDPR), never deleted: see "personal data"

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.erased_at is not None:
            return False  # nothing personal is written to an erased customer again
        return super().has_change_permission(request, obj)

    def has_erase_permission(self, request) -> bool:
        return request.user.has_perm("customers.erase_customer")

    def get_list_filter(self, request):
        if request.user.has_perm("customers.view_restricted_customer"):
            return (*self.list_filter, "accessibility_needs")
        return self.list_filter

    def lookup_allowed(self, lookup, value, request=None):
        """The admin allows any lookup on a local field by hand (``?accessibility_needs=1``);
        not on a restricted one for those who may not see it."""
        if lookup.split("__")[0] in Customer.RESTRICTED_FIELDS and not (
            request and request.user.has_perm("customers.view_restricted_customer")
        ):
            return False
        return super().lookup_allowed(lookup, value, request)

    @admin.display(description="Personal data")
    def personal_data(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        if obj.erased_at is not None:
            return f"Erased on {obj.erased_at:%Y-%m-%d}."
        return format_html(
            'Customers are not deleted. <a href="{}">Export or erase personal data (GDPR)</a>, '
            'or use the "Erase personal data" action on the list.',
            reverse("customers:erase", args=[obj.pk]),
        )

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
        description="Erase personal data of selected customers (GDPR, cannot be undone)",
        permissions=["erase"],
    )
    def erase_personal_data(self, request, queryset):
        """After a confirmation page, ``customer_erase`` for each (at most
        ``MERGE_ACTION_MAX``): the record stays as an anonymous aggregate."""
        customers = list(queryset.order_by("id")[: MERGE_ACTION_MAX + 1])
        if len(customers) > MERGE_ACTION_MAX:
            self.message_user(
                request, f"Select at most {MERGE_ACTION_MAX} customers to erase.", messages.ERROR
            )
            return
        if request.POST.get("post") != "yes":
            return TemplateResponse(
                request,
                "admin/customers/customer/erase_confirmation.html",
                {
                    **self.admin_site.each_context(request),
                    "opts": self.model._meta,
                    "customers": customers,
                    "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                },
            )
        erased = []
        for customer in customers:
            try:
                customer_erase(actor=request.user, customer=customer)
            except ValidationError as error:
                self.message_user(request, " ".join(error.messages), messages.ERROR)
            else:
                erased.append(f"#{customer.pk}")
        if erased:
            self.message_user(
                request, f"Personal data erased: {', '.join(erased)}.", messages.SUCCESS
            )

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
    """Adding a contact point: checked here so a refusal shows on the form; written by
    ``contact_point_add`` (``ContactPointAdmin.save_model``)."""

    class Meta:
        model = ContactPoint
        fields = ("customer", "kind", "network", "value", "is_primary")

    def clean(self):
        data = super().clean()
        customer = data.get("customer")
        if customer is not None and customer.erased_at is not None:
            raise ValidationError({"customer": [f"Customer #{customer.pk} was erased."]})
        if data.get("kind") and data.get("value"):
            try:
                normalized = normalize_contact(data["kind"], data["value"], data.get("network", ""))
            except ValidationError as error:
                raise ValidationError({"value": error.messages}) from None
            if ContactPoint.objects.filter(kind=data["kind"], normalized=normalized).exists():
                raise ValidationError(
                    {"value": ["This contact point already belongs to a customer."]}
                )
        return data


@admin.register(ContactPoint)
class ContactPointAdmin(admin.ModelAdmin):
    """Added through ``contact_point_add`` (normalized, audited); never changed or deleted
    here."""

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

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        point = contact_point_add(
            actor=request.user,
            customer=data["customer"],
            kind=data["kind"],
            value=data["value"],
            network=data.get("network", ""),
            is_primary=data.get("is_primary", False),
        )
        obj.pk = point.pk
        obj.refresh_from_db()


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
class HoldingAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("name", "kind", "customer", "warranty_ends_on", "renews_on", "is_active")
    list_filter = ("kind", "is_active")
    search_fields = ("=reference", "name")
    autocomplete_fields = ("customer",)
    list_select_related = ("customer",)
    ordering = ("-id",)
    show_full_result_count = False


@admin.register(Order)
class OrderAdmin(ReadOnlyMixin, admin.ModelAdmin):
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
class CustomerPlaceAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("customer", "place", "relation")
    list_filter = ("relation", "place__kind")
    search_fields = ("=customer__id", "=place__code")
    autocomplete_fields = ("customer", "place")
    list_select_related = ("customer", "place")
    ordering = ("-id",)
    show_full_result_count = False


@admin.register(Interaction)
class InteractionAdmin(ReadOnlyMixin, admin.ModelAdmin):
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
        "error_reason",
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
    actions = ["retry_sync"]

    @admin.display(description="Last error")
    def error_reason(self, obj: ChannelSource) -> str:
        failing = obj.last_error_at and (
            obj.last_success_at is None or obj.last_error_at > obj.last_success_at
        )
        return obj.last_error[:120] if failing else ""

    @admin.action(
        description="Retry now: sync and hand pending events to the worker",
        permissions=["change"],
    )
    def retry_sync(self, request, queryset) -> None:
        sources = list(queryset[:MERGE_ACTION_MAX])
        for source in sources:
            channel_sync_retry(actor=request.user, source=source)
        names = ", ".join(source.name for source in sources)
        self.message_user(request, f"Retrying {names}; see the Channels page for the result.")


@admin.register(InboundEvent)
class InboundEventAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = (
        "received_at",
        "source",
        "provider_event_id",
        "status",
        "attempts",
        "error_reason",
        "interaction_link",
    )
    list_filter = ("status", "source__kind", "source")
    search_fields = ("=provider_event_id", "=interaction__id")
    list_select_related = ("source",)
    ordering = ("-id",)
    show_full_result_count = False

    @admin.display(description="Why it failed")
    def error_reason(self, obj: InboundEvent) -> str:
        return obj.error[:120]

    @admin.display(description="Interaction")
    def interaction_link(self, obj: InboundEvent) -> str:
        if not obj.interaction_id:
            return ""
        url = reverse("admin:customers_interaction_change", args=[obj.interaction_id])
        return format_html('<a href="{}">#{}</a>', url, obj.interaction_id)
