"""Disruptions for partner apps (journey planners) and staff: read-only public facts.

Partner keys need ``disruptions:read``; staff need ``cases.view_disruption``. Partners get
exactly what the webhooks send (``disruption_payload``); the updates' staff guidance is for
staff only. Declaring, updating and resolving are the staff pages' (``cases.disruptions``).
"""

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view

from cases.api.serializers_disruptions import (
    DisruptionDetailOutputSerializer,
    DisruptionOutputSerializer,
    DisruptionQuerySerializer,
)
from cases.models import Disruption
from cases.selectors import disruption_list
from cxportal.api.pagination import IdCursorPagination
from cxportal.api.viewsets import ScopedReadOnlyViewSet, validated_query

ERRORS = {
    400: OpenApiResponse(description="Invalid input: `{message, code, errors}` per field."),
    404: OpenApiResponse(description="No such disruption."),
}


@extend_schema_view(
    list=extend_schema(
        description="Disruptions, the latest declared first: scheduled and active ones "
        "unless `status` asks for another; `place` narrows them to a place (and the places "
        "above it). Public facts only, as the `disruption.*` webhooks send them; "
        "cursor-paginated.",
        parameters=[DisruptionQuerySerializer],
        responses={200: DisruptionOutputSerializer(many=True), 400: ERRORS[400]},
    ),
    retrieve=extend_schema(
        description="One disruption (resolved ones too) with its updates, the latest first. "
        "Staff also get each update's staff guidance; partner API keys never do.",
        responses={200: DisruptionDetailOutputSerializer, 404: ERRORS[404]},
    ),
)
class DisruptionViewSet(ScopedReadOnlyViewSet):
    """Disruptions: partner keys need ``disruptions:read``; staff ``cases.view_disruption``."""

    scope = "disruptions"
    model = Disruption
    serializer_class = DisruptionOutputSerializer
    pagination_class = IdCursorPagination
    filter_backends: list = []

    def select(self, actor):
        if self.action != "list":
            return disruption_list(actor=actor)  # one is found by its id, whatever its status
        query = validated_query(DisruptionQuerySerializer, self.request)
        status = query.get("status")
        return disruption_list(
            actor=actor, status=status, place_code=query.get("place"), live=status is None
        )

    def get_serializer_class(self):
        if self.action == "retrieve":
            return DisruptionDetailOutputSerializer
        return super().get_serializer_class()
