"""Disruptions API serializers: the public facts partners get (the same as the webhooks'
``cases.disruptions.disruption_payload``), the updates posted, and the list's query."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from cases.models import Disruption, DisruptionUpdate
from cases.selectors import disruption_updates
from customers.models import Place
from cxportal.validation import text_problem

GUIDANCE_HELP = (
    "What staff should say and do. Staff only: absent for partner API keys, which get the "
    "public facts alone."
)


def shows_staff_guidance(user) -> bool:
    return getattr(user, "api_client", None) is None and user.has_perm("cases.view_disruption")


# --- Output -------------------------------------------------------------------------------


class DisruptionPlaceSerializer(serializers.Serializer):
    code = serializers.CharField(read_only=True)
    name = serializers.CharField(read_only=True)
    kind = serializers.ChoiceField(choices=Place.Kind.choices, read_only=True)


class DisruptionOutputSerializer(serializers.ModelSerializer):
    """A disruption's public facts: what customers and partners are told."""

    places = serializers.SerializerMethodField(
        help_text="The places named, by code. A disruption also affects the places under "
        "them (a line's stations, a region's stores)."
    )

    class Meta:
        model = Disruption
        fields = [
            "id",
            "title",
            "kind",
            "severity",
            "status",
            "starts_at",
            "ends_at",
            "resolved_at",
            "accessibility_impact",
            "accessibility_note",
            "public_message",
            "places",
            "updated_at",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "ends_at": {"help_text": "The expected end; null until known (or resolved)."},
            "accessibility_impact": {
                "help_text": "Step-free access lost, a lift out of service, another "
                "accessibility impact, or blank for none."
            },
        }

    @extend_schema_field(DisruptionPlaceSerializer(many=True))
    def get_places(self, disruption: Disruption) -> list[dict]:
        places = sorted(disruption.places.all(), key=lambda place: place.code)  # prefetched
        return DisruptionPlaceSerializer(places, many=True).data


class DisruptionUpdateOutputSerializer(serializers.ModelSerializer):
    """What was said, and when: the declaration, each update, the resolution."""

    # Declared (not read-only) so the schema marks it optional: partners never get it.
    staff_guidance = serializers.CharField(required=False, help_text=GUIDANCE_HELP)

    class Meta:
        model = DisruptionUpdate
        fields = ["kind", "public_message", "posted_at", "staff_guidance"]
        read_only_fields = ["kind", "public_message", "posted_at"]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if not shows_staff_guidance(self.context["request"].user):
            data.pop("staff_guidance")
        return data


class DisruptionDetailOutputSerializer(DisruptionOutputSerializer):
    """A disruption with everything said about it, the latest first."""

    updates = serializers.SerializerMethodField()

    class Meta(DisruptionOutputSerializer.Meta):
        fields = [*DisruptionOutputSerializer.Meta.fields, "updates"]
        read_only_fields = fields

    @extend_schema_field(DisruptionUpdateOutputSerializer(many=True))
    def get_updates(self, disruption: Disruption) -> list[dict]:
        updates = disruption_updates(disruption=disruption)
        return DisruptionUpdateOutputSerializer(updates, many=True, context=self.context).data


# --- Query --------------------------------------------------------------------------------


class DisruptionQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=Disruption.Status.choices,
        required=False,
        allow_blank=True,
        help_text="Only disruptions in this status; by default the scheduled and active ones.",
    )
    place = serializers.CharField(
        max_length=50,
        required=False,
        allow_blank=True,
        help_text="A place code: disruptions at that place or at a place above it (a "
        "station's line). An unknown code is a 400, never an empty all-clear.",
    )

    def validate_place(self, value: str) -> str:
        if not value:
            return ""
        if problem := text_problem(value):
            raise serializers.ValidationError(problem)
        if not Place.objects.filter(code=value).exists():
            raise serializers.ValidationError(f"No place {value!r}.")
        return value
