"""Serializer pieces every app's API shares."""

from collections.abc import Mapping

from rest_framework import serializers


class StrictInputSerializer(serializers.Serializer):
    """Answers 400 for body fields it does not know, next to the other field errors (a typo
    such as ``"emial"`` is a 400, not silently dropped)."""

    def to_internal_value(self, data):
        unknown = sorted(set(data) - set(self.fields)) if isinstance(data, Mapping) else []
        errors = {str(name): ["Unknown field."] for name in unknown}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if not errors or not isinstance(exc.detail, dict):
                raise
            raise serializers.ValidationError({**exc.detail, **errors}) from None
        if errors:
            raise serializers.ValidationError(errors)
        return value


class ErrorSerializer(serializers.Serializer):
    """Every error answer of the API (``cxportal.api.exceptions``)."""

    message = serializers.CharField(help_text="What went wrong, for a person to read.")
    code = serializers.CharField(help_text="`invalid`, `not_found`, `conflict`, … for code.")
    errors = serializers.DictField(
        help_text="Field name (or batch item index) → its messages; empty when the error is "
        "not about a field."
    )
