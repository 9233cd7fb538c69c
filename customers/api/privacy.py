"""Supervisor-grade actions on one customer: GDPR export and erase, merge and unmerge.

Mixed into ``CustomerViewSet`` so they live at ``/api/v1/customers/{id}/<action>/``.
Who may call them is set on the viewset (``action_perms`` / ``action_scopes``): staff need
``customers.erase_customer`` (export, erase) or ``customers.merge_customer`` (merge, unmerge);
partner apps need the ``customers:erase`` scope for export and erase and can never merge.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from customers.api.serializers import CustomerOutputSerializer
from customers.models import Customer, CustomerMerge
from customers.selectors import customer_get, customer_merge_get
from customers.services import customer_erase, customer_export, customer_merge, customer_unmerge
from customers.services.merge import NOT_RELATIONS
from cxportal.api.exceptions import validation_error_response

#: A scope no partner client can hold (``api_scopes_validate`` refuses unknown scopes):
#: merging is for staff supervisors only.
STAFF_ONLY = "staff-only"

PRIVACY_ACTION_PERMS = {
    "export": "customers.erase_customer",
    "erase": "customers.erase_customer",
    "merge": "customers.merge_customer",
    "unmerge": "customers.merge_customer",
}
PRIVACY_ACTION_SCOPES = {
    "export": "customers:erase",
    "erase": "customers:erase",
    "merge": STAFF_ONLY,
    "unmerge": STAFF_ONLY,
}


class MergeInputSerializer(serializers.Serializer):
    merged_id = serializers.IntegerField(
        min_value=1, help_text="The customer to merge into this one (it is merged away)."
    )


class UnmergeInputSerializer(serializers.Serializer):
    merge_id = serializers.IntegerField(min_value=1, help_text="The merge to undo.")


class CustomerMergeSerializer(serializers.ModelSerializer):
    moved = serializers.SerializerMethodField(help_text='Rows moved: {"app.model.field": n}.')

    class Meta:
        model = CustomerMerge
        fields = [
            "id",
            "survivor_id",
            "merged_id",
            "moved",
            "performed_at",
            "performed_by",
            "undone_at",
        ]
        read_only_fields = fields

    def get_moved(self, merge: CustomerMerge) -> dict[str, int]:
        return {
            f"{label}.{field}": len(ids)
            for label, fields in merge.moved.items()
            if label not in NOT_RELATIONS
            for field, ids in fields.items()
        }


class CustomerPrivacyActions:
    @extend_schema(
        summary="Export all data held about the customer (GDPR)",
        description="Everything held about the customer, as JSON, for the person's own "
        "subject-access request. It is complete: the restricted fields (`accessibility_needs`, "
        "`accessibility_note`) are included, also for a partner key (scope `customers:erase`) "
        "and for roles that never see them elsewhere. Audited (section counts only).",
        responses={200: OpenApiTypes.OBJECT},
    )
    @action(detail=True, methods=["get"])
    def export(self, request, pk=None):
        customer = self.get_object()
        return Response(customer_export(actor=request.user, customer=customer))

    @extend_schema(
        summary="Erase the customer's personal data (GDPR)",
        request=None,
        responses={200: CustomerOutputSerializer},
    )
    @action(detail=True, methods=["post"])
    def erase(self, request, pk=None):
        customer = customer_erase(actor=request.user, customer=self.get_object())
        return Response(CustomerOutputSerializer(customer, context={"request": request}).data)

    @extend_schema(
        summary="Merge another customer into this one",
        request=MergeInputSerializer,
        responses={201: CustomerMergeSerializer},
    )
    @action(detail=True, methods=["post"])
    def merge(self, request, pk=None):
        survivor = self.get_object()
        data = MergeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        merged_id = data.validated_data["merged_id"]
        try:
            merged = customer_get(actor=request.user, customer_id=merged_id)
        except Customer.DoesNotExist:
            merged = None
        if merged is None:
            return validation_error_response({"merged_id": [f"No customer #{merged_id}."]})
        merge = customer_merge(actor=request.user, survivor=survivor, merged=merged)
        return Response(CustomerMergeSerializer(merge).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Undo a merge into this customer",
        request=UnmergeInputSerializer,
        responses={200: CustomerMergeSerializer},
    )
    @action(detail=True, methods=["post"])
    def unmerge(self, request, pk=None):
        survivor = self.get_object()
        data = UnmergeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        merge_id = data.validated_data["merge_id"]
        merge = customer_merge_get(customer=survivor, merge_id=merge_id, as_survivor=True)
        if merge is None:
            return validation_error_response(
                {"merge_id": [f"No merge #{merge_id} into customer #{survivor.pk}."]}
            )
        customer_unmerge(actor=request.user, merge=merge)
        merge.refresh_from_db()
        return Response(CustomerMergeSerializer(merge).data)
