from rest_framework import serializers

from customers.models import Customer
from customers.selectors import can_see_restricted


class CustomerOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Customer
        fields = [
            "id",
            "display_name",
            "lifecycle_stage",
            "region",
            "preferred_channel",
            "language",
            "accessibility_needs",
            "accessibility_note",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if not can_see_restricted(self.context["request"].user):
            for field in Customer.RESTRICTED_FIELDS:
                data.pop(field, None)
        return data


class CustomerInputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Customer
        fields = [
            "display_name",
            "lifecycle_stage",
            "region",
            "preferred_channel",
            "language",
            "accessibility_needs",
            "accessibility_note",
        ]
        extra_kwargs = {"display_name": {"allow_blank": False}}

    def validate(self, attrs):
        restricted = set(attrs) & set(Customer.RESTRICTED_FIELDS)
        if restricted and not can_see_restricted(self.context["request"].user):
            raise serializers.ValidationError(
                {f: ["You may not set restricted fields."] for f in sorted(restricted)}
            )
        return attrs
