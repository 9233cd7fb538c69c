from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.response import Response

from customers.api.privacy import CustomerPrivacyActions
from customers.api.serializers import CustomerInputSerializer, CustomerOutputSerializer
from customers.filtersets import CustomerFilterSet
from customers.models import Customer
from customers.selectors import customer_list
from customers.services import customer_create, customer_update
from cxportal.api.viewsets import ScopedViewSet


class CustomerViewSet(
    CustomerPrivacyActions, mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet
):
    """Customers. Restricted fields (accessibility) appear only for roles allowed to see them."""

    scope = "customers"
    model = Customer
    serializer_class = CustomerOutputSerializer
    filterset_class = CustomerFilterSet
    http_method_names = ["get", "post", "patch", "head", "options"]

    def select(self, actor):
        return customer_list(actor=actor)

    @extend_schema(request=CustomerInputSerializer, responses={201: CustomerOutputSerializer})
    def create(self, request):
        serializer = CustomerInputSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        customer = customer_create(actor=request.user, **serializer.validated_data)
        output = CustomerOutputSerializer(customer, context={"request": request})
        return Response(output.data, status=status.HTTP_201_CREATED)

    @extend_schema(request=CustomerInputSerializer, responses={200: CustomerOutputSerializer})
    def partial_update(self, request, pk=None):
        customer = self.get_object()
        serializer = CustomerInputSerializer(
            customer, data=request.data, partial=True, context={"request": request}
        )
        serializer.is_valid(raise_exception=True)
        customer = customer_update(
            actor=request.user, customer=customer, **serializer.validated_data
        )
        return Response(CustomerOutputSerializer(customer, context={"request": request}).data)
