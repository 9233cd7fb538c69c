"""Customers API serializers: explicit fields, inputs separate from outputs.

Inputs reject fields they do not know (a typo such as ``"emial"`` is a 400, not silently
dropped). Restricted customer fields are written and shown only for staff roles with
``customers.view_restricted_customer``; never for marketing and never for partner API keys.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from customers.models import Channel, Consent, ConsentEvent, ContactPoint, Customer, Interaction
from customers.models import Purpose as ConsentPurpose
from customers.normalize import SOCIAL_NETWORKS, normalize_contact
from customers.selectors import can_see_restricted, contact_point_owners
from cxportal.api.serializers import StrictInputSerializer

RESTRICTED_HELP = (
    "Restricted: present only for staff roles allowed to see restricted fields; never shown "
    "to marketing or to partner API keys, which also may not set it."
)
CONTACT_POINTS_MAX = 20


# --- Contact points -----------------------------------------------------------------------


class ContactPointOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = ContactPoint
        fields = ["id", "kind", "network", "value", "normalized", "is_primary", "created_at"]
        read_only_fields = fields


class ContactPointInputSerializer(StrictInputSerializer):
    """One contact point; malformed values are reported on ``value`` (or ``network``)."""

    kind = serializers.ChoiceField(choices=ContactPoint.Kind.choices)
    value = serializers.CharField(max_length=254)
    network = serializers.ChoiceField(
        choices=SOCIAL_NETWORKS,
        required=False,
        allow_blank=True,
        default="",
        help_text="The social network of a handle; required when kind is social.",
    )

    def validate(self, attrs):
        kind, network = attrs["kind"], attrs.get("network", "")
        if kind == ContactPoint.Kind.SOCIAL and not network:
            raise serializers.ValidationError({"network": ["Required for a social handle."]})
        if kind != ContactPoint.Kind.SOCIAL:
            attrs["network"] = ""
        try:
            attrs["normalized"] = normalize_contact(kind, attrs["value"], attrs["network"])
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"value": exc.messages}) from None
        return attrs


class ContactPointCreateInputSerializer(ContactPointInputSerializer):
    is_primary = serializers.BooleanField(required=False, default=False)


# --- Consent ------------------------------------------------------------------------------


class ConsentOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Consent
        fields = ["channel", "purpose", "status", "source", "updated_at"]
        read_only_fields = fields


class ConsentEventOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = ConsentEvent
        fields = ["channel", "purpose", "status", "source", "actor_label", "occurred_at"]
        read_only_fields = fields


class ConsentOverviewSerializer(serializers.Serializer):
    current = ConsentOutputSerializer(
        many=True, read_only=True, help_text="The answer per channel and purpose."
    )
    # Not read_only, so the schema lists it as optional: it is omitted for staff who may
    # not view consent history (``customers.view_consentevent``).
    history = ConsentEventOutputSerializer(
        many=True,
        required=False,
        help_text="Every change, newest first (the latest 100). Omitted for staff without "
        "permission to view consent history (customers.view_consentevent).",
    )


class ConsentInputSerializer(StrictInputSerializer):
    channel = serializers.ChoiceField(choices=Channel.choices)
    purpose = serializers.ChoiceField(choices=ConsentPurpose.choices)
    granted = serializers.BooleanField(help_text="true grants, false withdraws.")
    source = serializers.CharField(
        max_length=100, help_text="Where the answer came from (a form, a call, an app screen)."
    )


# --- Interactions (the timeline) ----------------------------------------------------------


class InteractionOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Interaction
        fields = [
            "id",
            "channel",
            "direction",
            "occurred_at",
            "summary",
            "body",
            "external_id",
            "sentiment",
            "recorded_by",
            "created_at",
        ]
        read_only_fields = fields


class TimelineQuerySerializer(serializers.Serializer):
    channel = serializers.ChoiceField(
        choices=Channel.choices,
        required=False,
        allow_blank=True,
        help_text="Only this channel's interactions.",
    )


# --- Customers ----------------------------------------------------------------------------


class CustomerOutputSerializer(serializers.ModelSerializer):
    """A customer. The restricted fields are left out for callers who may not see them."""

    preferred_channel = serializers.ChoiceField(
        choices=Channel.choices, allow_blank=True, read_only=True, help_text="Blank when unknown."
    )
    # Declared (not read-only) so the schema marks them optional: they may be absent.
    accessibility_needs = serializers.BooleanField(required=False, help_text=RESTRICTED_HELP)
    accessibility_note = serializers.CharField(required=False, help_text=RESTRICTED_HELP)

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
        read_only_fields = [
            f for f in fields if f not in ("accessibility_needs", "accessibility_note")
        ]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if not can_see_restricted(self.context["request"].user):
            for field in Customer.RESTRICTED_FIELDS:
                data.pop(field, None)
        return data


class CustomerDetailOutputSerializer(CustomerOutputSerializer):
    """A customer with their contact points and current consent."""

    contact_points = ContactPointOutputSerializer(many=True, read_only=True)
    consent = ConsentOutputSerializer(source="consents", many=True, read_only=True)

    class Meta(CustomerOutputSerializer.Meta):
        fields = [*CustomerOutputSerializer.Meta.fields, "contact_points", "consent"]
        read_only_fields = [
            *CustomerOutputSerializer.Meta.read_only_fields,
            "contact_points",
            "consent",
        ]


class CustomerInputSerializer(StrictInputSerializer, serializers.ModelSerializer):
    """Changes to a customer (PATCH: any subset)."""

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
        extra_kwargs = {
            "display_name": {"allow_blank": False},
            "accessibility_needs": {"help_text": RESTRICTED_HELP},
            "accessibility_note": {"max_length": 2000, "help_text": RESTRICTED_HELP},
        }

    def validate(self, attrs):
        restricted = set(attrs) & set(Customer.RESTRICTED_FIELDS)
        if restricted and not can_see_restricted(self.context["request"].user):
            raise serializers.ValidationError(
                {f: ["You may not set restricted fields."] for f in sorted(restricted)}
            )
        return attrs


class CustomerCreateInputSerializer(CustomerInputSerializer):
    """A new customer, optionally with contact points (each validated and normalized; one
    that already belongs to another customer is a 400 on that item)."""

    contact_points = ContactPointInputSerializer(
        many=True,
        required=False,
        max_length=CONTACT_POINTS_MAX,
        help_text=f"Up to {CONTACT_POINTS_MAX}. Errors are reported per item index.",
    )

    class Meta(CustomerInputSerializer.Meta):
        fields = [*CustomerInputSerializer.Meta.fields, "contact_points"]

    def validate_contact_points(self, points: list[dict]) -> list[dict]:
        owners = contact_point_owners(points=[(p["kind"], p["normalized"]) for p in points])
        errors = {  # keyed by item index, as DRF reports the items' own field errors
            index: {"value": [f"{p['value']} already belongs to another customer."]}
            for index, p in enumerate(points)
            if (p["kind"], p["normalized"]) in owners
        }
        if errors:
            raise serializers.ValidationError(errors)
        return points
