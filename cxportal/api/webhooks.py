"""Partners' own webhook subscriptions (scope ``webhooks:manage``) and their delivery log.

A partner key sees and changes only its own client's subscriptions (another client's answers
404). Staff get 403: supervisors manage every subscription in the admin. The secret that
signs deliveries is made by the server and shown once, in the answer to the create.
Writes go through ``cxportal.outbound_webhooks`` (checked, audited).
"""

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from cxportal.api.pagination import IdCursorPagination
from cxportal.api.permissions import ActorPermission
from cxportal.api.serializers import StrictInputSerializer
from cxportal.api.viewsets import ScopedViewSet
from cxportal.models import WebhookDelivery, WebhookSubscription
from cxportal.outbound_webhooks import (
    MAX_SUBSCRIPTIONS_PER_CLIENT,
    webhook_delivery_list,
    webhook_subscription_create,
    webhook_subscription_delete,
    webhook_subscription_list,
    webhook_subscription_update,
)

SCOPE = "webhooks:manage"
ERRORS = {
    400: OpenApiResponse(description="Invalid input: `{message, code, errors}` per field."),
    404: OpenApiResponse(description="No such subscription of this API client."),
}
URL_HELP = (
    "Where deliveries are POSTed: http or https, at a public address (loopback, private and "
    "link-local addresses are refused). Redirects are not followed."
)
EVENTS_HELP = (
    "The events to receive. Disruption events carry the same public facts as "
    "`/disruptions/` and need the `disruptions:read` scope."
)
SIGNATURE_NOTE = (
    " Each delivery is a POST of `{id, event, data}` with `X-CX-Event`, `X-CX-Delivery` (the "
    "delivery id: the same on every retry, to dedupe on) and `X-CX-Signature: t=<unix time>,"
    'v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`; anything but a 2xx is retried with '
    "backoff."
)


class PartnerKeyOnly(BasePermission):
    """Only partner API keys manage subscriptions here; staff use the admin."""

    message = "Webhook subscriptions are managed with a partner API key; staff use the admin."

    def has_permission(self, request, view) -> bool:
        return getattr(request.user, "api_client", None) is not None


def events_field(**kwargs) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookSubscription.EVENTS),
        min_length=1,
        max_length=len(WebhookSubscription.EVENTS),
        help_text=EVENTS_HELP,
        **kwargs,
    )


# --- Output -------------------------------------------------------------------------------


class WebhookSubscriptionOutputSerializer(serializers.ModelSerializer):
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookSubscription.EVENTS), read_only=True
    )

    class Meta:
        model = WebhookSubscription
        fields = ["id", "name", "url", "events", "is_active", "created_at"]
        read_only_fields = fields


class WebhookSubscriptionCreatedOutputSerializer(WebhookSubscriptionOutputSerializer):
    secret = serializers.CharField(
        read_only=True,
        help_text="The shared secret that signs every delivery (`X-CX-Signature`). Shown in "
        "this answer only: keep it now, it is never shown again.",
    )

    class Meta(WebhookSubscriptionOutputSerializer.Meta):
        fields = [*WebhookSubscriptionOutputSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class WebhookDeliveryOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "event",
            "status",
            "attempts",
            "last_status_code",
            "last_error",
            "created_at",
            "delivered_at",
            "next_attempt_at",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "id": {"help_text": "The delivery id, sent as `X-CX-Delivery`."},
            "last_status_code": {"help_text": "Your endpoint's last answer; null if none came."},
            "last_error": {"help_text": "Why the last attempt failed; blank if it did not."},
            "next_attempt_at": {"help_text": "When a pending delivery is tried next."},
        }


# --- Input --------------------------------------------------------------------------------


class WebhookSubscriptionCreateInputSerializer(StrictInputSerializer):
    name = serializers.CharField(max_length=100)
    url = serializers.URLField(max_length=500, help_text=URL_HELP)
    events = events_field()


class WebhookSubscriptionUpdateInputSerializer(StrictInputSerializer):
    """Any subset of the fields (PATCH)."""

    name = serializers.CharField(max_length=100, required=False)
    url = serializers.URLField(max_length=500, required=False, help_text=URL_HELP)
    events = events_field(required=False)
    is_active = serializers.BooleanField(
        required=False, help_text="False pauses deliveries (new events are not queued)."
    )


# --- Views --------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        description="This API client's webhook subscriptions, newest first; cursor-paginated."
    ),
    retrieve=extend_schema(
        description="One of this API client's subscriptions (the secret is not shown).",
        responses={200: WebhookSubscriptionOutputSerializer, 404: ERRORS[404]},
    ),
)
class WebhookSubscriptionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """A partner's own subscriptions: every action needs ``webhooks:manage``; staff get 403."""

    scope = "webhooks"
    model = WebhookSubscription
    permission_classes = [ActorPermission, PartnerKeyOnly]
    action_scopes: dict[str, str] = {
        name: SCOPE
        for name in ("list", "retrieve", "create", "partial_update", "destroy", "deliveries")
    }
    serializer_class = WebhookSubscriptionOutputSerializer
    pagination_class = IdCursorPagination
    filter_backends: list = []
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def select(self, actor):
        return webhook_subscription_list(actor=actor)

    def _input(self, serializer_class) -> dict:
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    @extend_schema(
        description="Subscribe an endpoint to events. The answer carries the `secret` that "
        "signs the deliveries, this once only. A client holds at most "
        f"{MAX_SUBSCRIPTIONS_PER_CLIENT} subscriptions." + SIGNATURE_NOTE,
        request=WebhookSubscriptionCreateInputSerializer,
        responses={201: WebhookSubscriptionCreatedOutputSerializer, 400: ERRORS[400]},
    )
    def create(self, request):
        data = self._input(WebhookSubscriptionCreateInputSerializer)
        subscription = webhook_subscription_create(
            actor=request.user, api_client=request.user.api_client, **data
        )
        output = WebhookSubscriptionCreatedOutputSerializer(subscription)
        return Response(output.data, status=status.HTTP_201_CREATED)

    @extend_schema(
        description="Change the name, URL or events, or pause (`is_active: false`) and resume "
        "deliveries. The secret stays the same.",
        request=WebhookSubscriptionUpdateInputSerializer,
        responses={200: WebhookSubscriptionOutputSerializer, **ERRORS},
    )
    def partial_update(self, request, pk=None):
        subscription = self.get_object()
        data = self._input(WebhookSubscriptionUpdateInputSerializer)
        subscription = webhook_subscription_update(
            actor=request.user, subscription=subscription, **data
        )
        return Response(WebhookSubscriptionOutputSerializer(subscription).data)

    @extend_schema(
        description="Delete the subscription and its delivery log; pending deliveries are "
        "not sent.",
        responses={204: None, 404: ERRORS[404]},
    )
    def destroy(self, request, pk=None):
        subscription = self.get_object()
        webhook_subscription_delete(actor=request.user, subscription=subscription)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        description="The subscription's delivery log, newest first: each event sent (or "
        "being retried), its status, attempts and your endpoint's last answer. "
        "Cursor-paginated.",
        responses={200: WebhookDeliveryOutputSerializer(many=True), 404: ERRORS[404]},
    )
    @action(detail=True, methods=["get"])
    def deliveries(self, request, pk=None):
        subscription = self.get_object()
        page = self.paginate_queryset(webhook_delivery_list(subscription=subscription))
        return self.get_paginated_response(WebhookDeliveryOutputSerializer(page, many=True).data)


router = SimpleRouter()
router.register(
    "webhook-subscriptions", WebhookSubscriptionViewSet, basename="webhook-subscription"
)
urlpatterns = router.urls
