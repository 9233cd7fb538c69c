from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction

from cxportal.admin_base import ReadOnlyMixin
from cxportal.models import APIClient, AuditEvent, Team, WebhookDelivery, WebhookSubscription
from cxportal.outbound_webhooks import (
    RETRY_MAX,
    SUBSCRIPTION_FIELDS,
    event_scope,
    webhook_delivery_retry,
    webhook_subscription_create,
    webhook_subscription_delete,
    webhook_subscription_update,
    webhook_url_problem,
)
from cxportal.services import api_client_create


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "group")
    readonly_fields = ("slug",)
    fields = ("name", "slug", "group")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("occurred_at", "actor_label", "action", "target_type", "target_label")
    list_filter = ("action", "target_type")
    search_fields = ("actor_label", "target_label", "target_id")
    date_hierarchy = "occurred_at"
    show_full_result_count = False
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(APIClient)
class APIClientAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "scopes", "rate", "is_active", "last_used_at")
    list_filter = ("is_active",)
    search_fields = ("name", "prefix")
    readonly_fields = ("prefix", "created_at", "last_used_at")
    fields = ("name", "scopes", "rate", "is_active", "prefix", "created_at", "last_used_at")

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        client, key = api_client_create(
            name=obj.name, scopes=obj.scopes, rate=obj.rate, actor=request.user
        )
        obj.pk = client.pk
        messages.warning(request, f"API key for {client.name} (shown once, copy it now): {key}")


# --- Webhooks to partners ---------------------------------------------------------------------

SECRET_MASK = "•••••••• (shown once, when the subscription was made)"  # noqa: S105 - a mask


class WebhookSubscriptionForm(forms.ModelForm):
    """The events as tick boxes; the URL checked as deliveries would be
    (``webhook_url_problem``: http(s), public addresses only outside DEBUG), the events by
    the model's ``clean`` and, for a partner's subscription, against its client's scopes."""

    events = forms.MultipleChoiceField(
        choices=[(event, event) for event in WebhookSubscription.EVENTS],
        widget=forms.CheckboxSelectMultiple,
        help_text="The events this endpoint receives.",
    )

    class Meta:
        model = WebhookSubscription
        fields = ("name", "api_client", "url", "events", "is_active")
        help_texts = {
            "api_client": "The partner it belongs to (it receives only events its scopes may "
            "read, and stops receiving when its key is revoked). Blank: our own endpoint.",
            "url": "Where the events are POSTed, signed with the subscription's secret.",
        }

    def clean_url(self):
        url = self.cleaned_data.get("url", "")
        if problem := webhook_url_problem(url):
            raise ValidationError(problem)
        return url

    def clean(self):
        data = super().clean()
        client = data.get("api_client") or self.instance.api_client
        events = data.get("events") or []
        if client is not None and events:
            missing = sorted(
                {event_scope(e) for e in events if e in WebhookSubscription.EVENTS}
                - set(client.scopes)
            )
            if missing:
                self.add_error(
                    "events",
                    f"{client.name} lacks the scope(s) these events need: {', '.join(missing)}.",
                )
        return data


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    """Made, changed and deleted through the services (audited, never logging the secret).
    The signing secret is made by ``webhook_subscription_create`` and shown once, in the
    message after saving; afterwards it is masked. Deleting a subscription deletes its
    delivery log too: switch it off to keep the log."""

    form = WebhookSubscriptionForm
    list_display = ("name", "api_client", "url", "event_list", "is_active", "created_at")
    list_filter = ("is_active", "api_client")
    search_fields = ("name", "url")
    list_select_related = ("api_client",)

    def get_readonly_fields(self, request, obj=None):
        return ("api_client", "secret_masked", "created_at") if obj else ()

    def get_fields(self, request, obj=None):
        fields = ["name", "api_client", "url", "events", "is_active"]
        return [*fields, "secret_masked", "created_at"] if obj else fields

    @admin.display(description="Events")
    def event_list(self, obj: WebhookSubscription) -> str:
        return ", ".join(obj.events or []) or "—"

    @admin.display(description="Signing secret")
    def secret_masked(self, obj: WebhookSubscription) -> str:
        return SECRET_MASK

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        try:
            if change:
                subscription = WebhookSubscription.objects.get(pk=obj.pk)
                changes = {f: data[f] for f in SUBSCRIPTION_FIELDS if f in form.changed_data}
                webhook_subscription_update(
                    actor=request.user, subscription=subscription, **changes
                )
                return
            subscription = webhook_subscription_create(
                actor=request.user,
                api_client=data.get("api_client"),
                name=data["name"],
                url=data["url"],
                events=data["events"],
            )
            if not data.get("is_active", True):
                webhook_subscription_update(
                    actor=request.user, subscription=subscription, is_active=False
                )
        except ValidationError as error:
            # Checked on the form already; this is the host changing its addresses meanwhile.
            self.message_user(request, " ".join(error.messages), messages.ERROR)
            return
        obj.pk = subscription.pk
        messages.warning(
            request,
            f"Signing secret for {subscription.name} (shown once, copy it now): "
            f"{subscription.secret}",
        )

    def delete_model(self, request, obj):
        webhook_subscription_delete(actor=request.user, subscription=obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for subscription in queryset:
                webhook_subscription_delete(actor=request.user, subscription=subscription)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """The delivery log: read-only, never deleted by hand. "Retry now" sends pending and
    given-up deliveries again at once (``webhook_delivery_retry``, audited); it is offered
    to those who may manage the subscriptions."""

    list_display = (
        "id",
        "created_at",
        "event",
        "subscription",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "delivered_at",
    )
    list_filter = ("status", "event", "subscription")
    search_fields = ("=id",)
    search_help_text = "Delivery number (the X-CX-Delivery header)"
    list_select_related = ("subscription",)
    ordering = ("-id",)
    show_full_result_count = False
    actions = ("retry_now",)
    fields = (
        "subscription",
        "event",
        "status",
        "attempts",
        "created_at",
        "last_attempt_at",
        "last_status_code",
        "last_error",
        "next_attempt_at",
        "delivered_at",
        "payload",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).defer("payload")

    def has_retry_permission(self, request) -> bool:
        return request.user.has_perm("cxportal.change_webhooksubscription")

    @admin.action(description="Retry now", permissions=["retry"])
    def retry_now(self, request, queryset):
        selected = list(
            queryset.select_related(None).only("id", "status").order_by("id")[: RETRY_MAX + 1]
        )
        if len(selected) > RETRY_MAX:
            self.message_user(
                request, f"Select at most {RETRY_MAX} deliveries at a time.", messages.ERROR
            )
            return
        retried = webhook_delivery_retry(actor=request.user, deliveries=selected)
        if retried:
            self.message_user(
                request,
                f"Retrying {len(retried)} delivery(ies) now: "
                f"{', '.join(f'#{pk}' for pk in retried)}.",
                messages.SUCCESS,
            )
        left = len(selected) - len(retried)
        if left:
            self.message_user(request, f"{left} delivered already: left alone.", messages.WARNING)
