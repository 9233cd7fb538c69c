"""Bulk endpoints for partner apps: ``POST /api/v1/interactions/bulk/`` and
``POST /api/v1/orders/bulk/``.

Validation lives in the services (``customers.services.ingest``), so the API and background
tasks share it; the serializers here only describe the payloads in the OpenAPI schema and
are not run on the (up to 1,000-item) input. The answer is 200 with one result per item
(created / updated / unchanged / rejected with its reasons) unless the batch itself is
malformed: not ``{"items": [...]}``, more than 1,000 items, an item with a field of the
wrong type or an unknown field, or a body over ``CXPORTAL_BULK_MAX_BODY_BYTES``: then 400,
``{message, code, errors}`` with per-item details, and nothing is written.
"""

import json

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.parsers import BaseParser
from rest_framework.response import Response

from customers.models import Channel, ContactPoint, Interaction, Order
from customers.normalize import SOCIAL_NETWORKS
from customers.services import interaction_bulk_ingest, order_bulk_upsert
from customers.services.ingest import (
    MAX_ITEMS,
    STATUSES,
    BulkInputError,
    ItemResult,
    result_counts,
)
from cxportal.api.exceptions import validation_error_response
from cxportal.api.serializers import StrictInputSerializer
from cxportal.api.viewsets import ScopedViewSet
from cxportal.validation import text_problem


class BodyTooLarge(exceptions.APIException):
    status_code = 400
    default_code = "too_large"
    default_detail = "The request body is too large."


class BoundedJSONParser(BaseParser):
    """JSON with this endpoint's own size limit, ``CXPORTAL_BULK_MAX_BODY_BYTES``.

    Not a ``JSONParser`` subclass on purpose: DRF reads ``request.body`` for those, which
    enforces Django's global ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (2.5 MB, right for every other
    endpoint). This parser reads the stream itself, and refuses an oversized body with a 400
    before reading it when the client sends Content-Length.
    """

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.CXPORTAL_BULK_MAX_BODY_BYTES
        request = (parser_context or {}).get("request")
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0) if request else 0
        except ValueError:
            declared = 0
        too_large = BodyTooLarge(
            f"The request body is over the {limit:,} bytes allowed; send fewer items per batch."
        )
        if declared > limit:
            raise too_large
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise too_large
        try:
            return json.loads(raw, parse_constant=_reject_constant)
        except ValueError as exc:
            raise exceptions.ParseError(f"JSON parse error: {exc}") from None


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


# --- Schema ---------------------------------------------------------------------------------
# Documentation only: the services check the items (and refuse unknown fields, hence strict).


class ContactRefSerializer(StrictInputSerializer):
    kind = serializers.ChoiceField(choices=ContactPoint.Kind.choices)
    value = serializers.CharField(max_length=254, help_text="As the customer gave it.")
    network = serializers.ChoiceField(
        choices=SOCIAL_NETWORKS, required=False, help_text="For social handles only."
    )


class _CustomerRefFields(StrictInputSerializer):
    customer_id = serializers.IntegerField(
        required=False, help_text="The customer; give this or `contact`."
    )
    contact = ContactRefSerializer(
        required=False,
        help_text="Find the customer by a contact point; an unknown one becomes a new prospect.",
    )


class InteractionBulkItemSerializer(_CustomerRefFields):
    channel = serializers.ChoiceField(choices=Channel.choices)
    direction = serializers.ChoiceField(choices=Interaction.Direction.choices)
    occurred_at = serializers.DateTimeField(help_text="ISO 8601, with its UTC offset.")
    summary = serializers.CharField(max_length=200, required=False, allow_blank=True)
    body = serializers.CharField(max_length=Interaction.BODY_MAX, required=False, allow_blank=True)
    external_id = serializers.CharField(
        max_length=200, help_text="Unique per channel: a replayed item is `unchanged`."
    )
    sentiment = serializers.FloatField(min_value=-1, max_value=1, required=False, allow_null=True)


class OrderBulkItemSerializer(_CustomerRefFields):
    external_id = serializers.CharField(max_length=64, help_text="The order number; upsert key.")
    placed_at = serializers.DateTimeField()
    shipping_method = serializers.ChoiceField(choices=Order.Shipping.choices)
    promised_by = serializers.DateTimeField(required=False, allow_null=True)
    delivered_at = serializers.DateTimeField(required=False, allow_null=True)
    status = serializers.ChoiceField(choices=Order.Status.choices, required=False)
    total = serializers.DecimalField(
        max_digits=12, decimal_places=2, required=False, allow_null=True
    )


class InteractionBulkInputSerializer(StrictInputSerializer):
    items = InteractionBulkItemSerializer(many=True, max_length=MAX_ITEMS)


class OrderBulkInputSerializer(StrictInputSerializer):
    items = OrderBulkItemSerializer(
        many=True,
        max_length=MAX_ITEMS,
        help_text="Each item is the order's full current state; absent optional fields are "
        "stored empty.",
    )


class BulkItemResultSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the item in `items`.")
    status = serializers.ChoiceField(choices=STATUSES)
    id = serializers.IntegerField(required=False, help_text="Not for rejected items.")
    customer_id = serializers.IntegerField(required=False, help_text="Not for rejected items.")
    errors = serializers.DictField(
        required=False, help_text="Rejected items only: field → messages."
    )


class BulkCountsSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    rejected = serializers.IntegerField()


class BulkOutputSerializer(serializers.Serializer):
    results = BulkItemResultSerializer(many=True)
    counts = BulkCountsSerializer()


BAD_BATCH = OpenApiResponse(
    description=(
        f"Malformed batch, nothing written: not `{{items: [...]}}`, more than {MAX_ITEMS} "
        "items, wrong types or unknown fields (`errors` keyed by item index), or a body over "
        "the size limit (`code: too_large`)."
    )
)


# --- Views ----------------------------------------------------------------------------------


def _result_body(result: ItemResult) -> dict:
    if result.errors is not None:
        return {"index": result.index, "status": result.status, "errors": result.errors}
    return {
        "index": result.index,
        "status": result.status,
        "id": result.id,
        "customer_id": result.customer_id,
    }


class _BulkViewSet(ScopedViewSet):
    """``POST`` a batch to ``self.service``; partners need ``<scope>:write``, staff the
    model's add permission."""

    parser_classes = [BoundedJSONParser]
    http_method_names = ["post", "options"]
    pagination_class = None
    filter_backends = []

    def select(self, actor):
        return self.model.objects.none()

    def run(self, request, service) -> Response:
        data = request.data
        if not isinstance(data, dict) or "items" not in data:
            return validation_error_response(
                {"items": ['This field is required: send {"items": [...]}.']},
                'Expected a JSON object {"items": [...]}.',
            )
        unknown = sorted(set(data) - {"items"})
        if unknown:
            return validation_error_response(
                {
                    ascii(name) if text_problem(name) else name: ["Unknown field."]
                    for name in unknown
                }
            )
        try:
            results = service(actor=request.user, items=data["items"])
        except BulkInputError as exc:
            return validation_error_response(exc.errors, exc.message)
        return Response(
            {"results": [_result_body(r) for r in results], "counts": result_counts(results)}
        )


class InteractionBulkViewSet(_BulkViewSet):
    scope = "interactions"
    model = Interaction

    @extend_schema(
        operation_id="interactions_bulk",
        summary="Add up to 1,000 interactions to customers' timelines",
        description=(
            "Idempotent on `(channel, external_id)`: a replayed item is `unchanged` and "
            "nothing is written twice. Each item names its customer by `customer_id` or by a "
            "`contact` point (an unknown one becomes a new prospect, once per batch); a merged "
            "customer resolves to the survivor. Items with bad values are `rejected` with "
            "their reasons and never block the others. Partner scope `interactions:write`."
        ),
        request=InteractionBulkInputSerializer,
        responses={200: BulkOutputSerializer, 400: BAD_BATCH},
    )
    def create(self, request):
        return self.run(request, interaction_bulk_ingest)


class OrderBulkViewSet(_BulkViewSet):
    scope = "orders"
    model = Order

    @extend_schema(
        operation_id="orders_bulk",
        summary="Create or update up to 1,000 orders by external id",
        description=(
            "Upserts by `external_id`: new orders are `created`, changed ones `updated`, "
            "equal ones `unchanged` (not written). Items with bad values are `rejected` with "
            "their reasons and never block the others. Partner scope `orders:write`."
        ),
        request=OrderBulkInputSerializer,
        responses={200: BulkOutputSerializer, 400: BAD_BATCH},
    )
    def create(self, request):
        return self.run(request, order_bulk_upsert)
