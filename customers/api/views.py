from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from customers.api.pagination import TimelineCursorPagination
from customers.api.privacy import (
    PRIVACY_ACTION_PERMS,
    PRIVACY_ACTION_SCOPES,
    CustomerPrivacyActions,
)
from customers.api.serializers import (
    ConsentInputSerializer,
    ConsentOutputSerializer,
    ConsentOverviewSerializer,
    ContactPointCreateInputSerializer,
    ContactPointOutputSerializer,
    CustomerCreateInputSerializer,
    CustomerDetailOutputSerializer,
    CustomerInputSerializer,
    CustomerOutputSerializer,
    InteractionOutputSerializer,
    TimelineQuerySerializer,
)
from customers.filtersets import CustomerFilterSet
from customers.models import Customer
from customers.selectors import (
    customer_consent_history,
    customer_consents,
    customer_contact_points,
    customer_detail_list,
    customer_list,
    customer_timeline,
)
from customers.services import consent_set, contact_point_add, customer_create, customer_update
from customers.services.core import ContactInput
from cxportal.api.viewsets import ScopedViewSet

RESTRICTED_NOTE = (
    " The restricted fields (`accessibility_needs`, `accessibility_note`) appear only for "
    "staff roles allowed to see them: never for marketing, and never for partner API keys "
    "(a key with `customers:read` does not see them, and `customers:write` may not set them). "
    "The one exception is the GDPR export (`/customers/{id}/export/`, scope `customers:erase`): "
    "it answers the person's own subject-access request, so it is complete, restricted "
    "fields included."
)
ERRORS = {
    400: OpenApiResponse(description="Invalid input: `{message, code, errors}` per field."),
    404: OpenApiResponse(description="No such customer, or not one the caller may see."),
}


@extend_schema_view(
    list=extend_schema(
        description="Customers, newest first, with search (`q`: name, email, phone, @handle or "
        "order number) and filters; cursor-paginated." + RESTRICTED_NOTE
    ),
    retrieve=extend_schema(
        description="One customer with their contact points and current consent." + RESTRICTED_NOTE,
        responses={200: CustomerDetailOutputSerializer, 404: ERRORS[404]},
    ),
)
class CustomerViewSet(
    CustomerPrivacyActions, mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet
):
    """Customers, their timeline, contact points and consent.

    Partner keys need ``customers:read`` for reads and ``customers:write`` for writes; staff
    need the model permission the action names in ``action_perms`` (or the customer one).
    """

    scope = "customers"
    model = Customer
    serializer_class = CustomerOutputSerializer
    filterset_class = CustomerFilterSet
    http_method_names = ["get", "post", "patch", "head", "options"]
    # Partner scopes beyond "<scope>:read" for GET and "<scope>:write" otherwise.
    action_scopes: dict[str, str] = {**PRIVACY_ACTION_SCOPES}
    # Staff permissions for actions that are not about the customer row itself.
    action_perms: dict[str, str] = {
        "timeline": "customers.view_interaction",
        "contact_points": "customers.view_contactpoint",
        "add_contact_point": "customers.add_contactpoint",
        "consent": "customers.view_consent",
        "set_consent": "customers.add_consent",
        **PRIVACY_ACTION_PERMS,
    }

    def select(self, actor):
        if self.action in ("retrieve", "partial_update"):
            return customer_detail_list(actor=actor)
        # The list and search leave erased customers out; one found by its id is there (its
        # writes are refused by the services with a 400).
        return customer_list(actor=actor, include_erased=self.action != "list")

    def filter_queryset(self, queryset):
        # Search and filters are for the list; one customer is found by id alone.
        return super().filter_queryset(queryset) if self.action == "list" else queryset

    def get_serializer_class(self):
        if self.action == "retrieve":
            return CustomerDetailOutputSerializer
        return super().get_serializer_class()

    @extend_schema(
        description="Create a customer, optionally with contact points "
        "(`[{kind, value, network}]`, validated and normalized)." + RESTRICTED_NOTE,
        request=CustomerCreateInputSerializer,
        responses={201: CustomerDetailOutputSerializer, 400: ERRORS[400]},
    )
    def create(self, request):
        serializer = CustomerCreateInputSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        points = [
            ContactInput(kind=p["kind"], value=p["value"], network=p["network"])
            for p in fields.pop("contact_points", [])
        ]
        customer = customer_create(actor=request.user, contact_points=points, **fields)
        output = CustomerDetailOutputSerializer(customer, context={"request": request})
        return Response(output.data, status=status.HTTP_201_CREATED)

    @extend_schema(
        description="Change some of a customer's fields." + RESTRICTED_NOTE,
        request=CustomerInputSerializer,
        responses={200: CustomerDetailOutputSerializer, **ERRORS},
    )
    def partial_update(self, request, pk=None):
        customer = self.get_object()
        serializer = CustomerInputSerializer(
            customer, data=request.data, partial=True, context={"request": request}
        )
        serializer.is_valid(raise_exception=True)
        customer = customer_update(
            actor=request.user, customer=customer, **serializer.validated_data
        )
        return Response(CustomerDetailOutputSerializer(customer, context={"request": request}).data)

    @extend_schema(
        description="The customer's interactions across every channel, newest first "
        "(ordered by `occurred_at`, then `id`). Keyset cursor pagination: follow `next`; "
        "every page costs the same at any depth.",
        parameters=[TimelineQuerySerializer],
        responses={200: InteractionOutputSerializer(many=True), **ERRORS},
    )
    @action(
        detail=True,
        methods=["get"],
        filter_backends=[],
        pagination_class=TimelineCursorPagination,
    )
    def timeline(self, request, pk=None):
        customer = self.get_object()
        query = TimelineQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        interactions = customer_timeline(
            customer=customer,
            channel=query.validated_data.get("channel") or None,
            include_internal=getattr(request.user, "api_client", None) is None,
        )
        page = self.paginate_queryset(interactions)
        return self.get_paginated_response(InteractionOutputSerializer(page, many=True).data)

    @extend_schema(
        description="The customer's contact points.",
        responses={200: ContactPointOutputSerializer(many=True), 404: ERRORS[404]},
    )
    @action(
        detail=True,
        methods=["get"],
        url_path="contact-points",
        filter_backends=[],
        pagination_class=None,
    )
    def contact_points(self, request, pk=None):
        customer = self.get_object()
        points = customer_contact_points(customer=customer)
        return Response(ContactPointOutputSerializer(points, many=True).data)

    @extend_schema(
        description="Add a contact point (validated and normalized). One that already "
        "belongs to another customer is a 400; adding one the customer already has returns it.",
        request=ContactPointCreateInputSerializer,
        responses={201: ContactPointOutputSerializer, **ERRORS},
    )
    @contact_points.mapping.post
    def add_contact_point(self, request, pk=None):
        customer = self.get_object()
        serializer = ContactPointCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        point = contact_point_add(
            actor=request.user,
            customer=customer,
            kind=data["kind"],
            value=data["value"],
            network=data["network"],
            is_primary=data["is_primary"],
        )
        return Response(ContactPointOutputSerializer(point).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        description="Consent per channel and purpose now, and its history (the latest 100 "
        "changes, newest first). `history` is omitted for staff without permission to view "
        "consent history (`customers.view_consentevent`, e.g. operations); partner keys with "
        "`customers:read` get it.",
        responses={200: ConsentOverviewSerializer, 404: ERRORS[404]},
    )
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def consent(self, request, pk=None):
        customer = self.get_object()
        overview = {"current": customer_consents(customer=customer)}
        user = request.user
        if getattr(user, "api_client", None) is not None or user.has_perm(
            "customers.view_consentevent"
        ):
            overview["history"] = customer_consent_history(customer=customer)
        return Response(ConsentOverviewSerializer(overview).data)

    @extend_schema(
        description="Grant or withdraw consent for one channel and purpose; the history keeps "
        "every change. Answers the consent as it now stands.",
        request=ConsentInputSerializer,
        responses={200: ConsentOutputSerializer, **ERRORS},
    )
    @consent.mapping.post
    def set_consent(self, request, pk=None):
        customer = self.get_object()
        serializer = ConsentInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        consent = consent_set(actor=request.user, customer=customer, **serializer.validated_data)
        return Response(ConsentOutputSerializer(consent).data)
