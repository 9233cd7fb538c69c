"""Cases API serializers: explicit fields, inputs separate from outputs.

Inputs reject fields they do not know (``StrictInputSerializer``). Ids and names in the input
(customer, interaction, team slug, assignee username) are looked up here and answer a 400 on
that field when unknown; every other rule (allowed transitions, deadlines in the past, a
channel to reply on) is the services' to check.
"""

from django.contrib.auth import get_user_model
from django.core.exceptions import ObjectDoesNotExist
from rest_framework import serializers

from cases.models import Case, CaseEvent, Category, Priority, SlaPolicy, Status
from cases.selectors import can_read_notes
from customers.models import Channel, Interaction
from customers.selectors import customer_get, customer_timeline
from cxportal.api.serializers import StrictInputSerializer
from cxportal.models import Team
from cxportal.validation import MAX_ID, text_problem, validate_datetime

VERSION_HELP = (
    "The case's `version` as you last read it. When someone saved the case since, nothing "
    "is written and the answer is 409 (`code: conflict`) with the current version."
)
NOTE_HELP = (
    "Why: kept on the case's history (hidden from partner keys and from staff who may not "
    "read internal notes)."
)


class LookupField(serializers.CharField):
    """A name (team slug, username) in the input, answered as the row it names; a 400 on
    the field when there is none. The text is checked before it reaches the database."""

    def __init__(self, *, queryset, lookup: str, not_found: str, **kwargs) -> None:
        self.queryset, self.lookup, self.not_found = queryset, lookup, not_found
        super().__init__(max_length=150, **kwargs)

    def run_validation(self, data=serializers.empty):
        value = super().run_validation(data)  # the text, checked (length, NUL); or None
        if value is None:
            return None
        if problem := text_problem(value):
            raise serializers.ValidationError(problem)
        found = self.queryset.all().filter(**{self.lookup: value}).first()
        if found is None:
            raise serializers.ValidationError(self.not_found.format(value=value))
        return found


def team_field(**kwargs) -> LookupField:
    return LookupField(
        queryset=Team.objects.all(),
        lookup="slug",
        not_found="No team {value!r}.",
        help_text="The team's slug, e.g. `service`.",
        **kwargs,
    )


def assignee_field(**kwargs) -> LookupField:
    return LookupField(
        queryset=get_user_model().objects.filter(is_active=True),
        lookup="username",
        not_found="No active staff member {value!r}.",
        **kwargs,
    )


def version_field() -> serializers.IntegerField:
    return serializers.IntegerField(min_value=1, max_value=2**31 - 1, help_text=VERSION_HELP)


def id_field(**kwargs) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=1, max_value=MAX_ID, **kwargs)


def deadline_field(**kwargs) -> serializers.DateTimeField:
    return serializers.DateTimeField(validators=[validate_datetime], **kwargs)


# --- Output -------------------------------------------------------------------------------


class CaseCustomerSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    display_name = serializers.CharField(read_only=True)


class CaseOutputSerializer(serializers.ModelSerializer):
    """A case with its SLA clocks and the customer's own deadline."""

    customer = CaseCustomerSerializer(read_only=True)
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    assignee = serializers.SlugRelatedField(
        slug_field="username",
        read_only=True,
        allow_null=True,
        help_text="The assignee's username; null while the case is in the queue.",
    )
    origin_channel = serializers.ChoiceField(
        choices=Channel.choices, allow_blank=True, read_only=True, help_text="Blank when unknown."
    )

    class Meta:
        model = Case
        fields = [
            "id",
            "version",
            "customer",
            "subject",
            "description",
            "category",
            "priority",
            "status",
            "team",
            "assignee",
            "origin_channel",
            "sla_policy",
            "first_response_due_at",
            "first_responded_at",
            "resolution_due_at",
            "next_due_at",
            "sla_paused",
            "first_response_met",
            "resolution_met",
            "customer_deadline",
            "customer_deadline_reason",
            "resolved_at",
            "closed_at",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "sla_policy": {"help_text": "The SLA policy's id; null when none applies."},
            "next_due_at": {
                "help_text": "The clock that matters now (first response, else resolution); "
                "null while paused or done."
            },
        }


class CaseEventOutputSerializer(serializers.ModelSerializer):
    """One entry of the case's history. ``body`` is the note of a note or status change, or
    the customer's reason for a deadline."""

    from_status = serializers.ChoiceField(
        choices=Status.choices, allow_blank=True, read_only=True, help_text="Status changes only."
    )
    to_status = serializers.ChoiceField(
        choices=Status.choices,
        allow_blank=True,
        read_only=True,
        help_text="Status changes and creation only.",
    )

    class Meta:
        model = CaseEvent
        fields = [
            "id",
            "kind",
            "occurred_at",
            "actor_label",
            "from_status",
            "to_status",
            "body",
            "interaction",
            "changes",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "interaction": {"help_text": "The interaction of a reply or a link, else null."}
        }

    def to_representation(self, instance):
        data = super().to_representation(instance)
        # A status change's note is as internal as a note: only for those who may read them.
        if instance.kind == CaseEvent.Kind.STATUS and not can_read_notes(
            self.context["request"].user
        ):
            data["body"] = ""
        return data


class CaseReplyOutputSerializer(serializers.ModelSerializer):
    """The outbound interaction a reply wrote on the customer's timeline. It is sent after
    the commit: ``delivery_status`` is ``queued`` until the channel's provider took it."""

    class Meta:
        model = Interaction
        fields = [
            "id",
            "channel",
            "direction",
            "occurred_at",
            "summary",
            "body",
            "in_reply_to",
            "delivery_status",
            "recorded_by",
        ]
        read_only_fields = fields


class SlaPolicyOutputSerializer(serializers.ModelSerializer):
    """Targets in business minutes of the team's calendar; the clock stops in the pause
    statuses."""

    team = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    priority = serializers.ChoiceField(
        choices=Priority.choices,
        allow_blank=True,
        read_only=True,
        help_text="Blank matches any priority.",
    )
    category = serializers.ChoiceField(
        choices=Category.choices,
        allow_blank=True,
        read_only=True,
        help_text="Blank matches any category.",
    )

    class Meta:
        model = SlaPolicy
        fields = [
            "id",
            "name",
            "team",
            "priority",
            "category",
            "first_response_minutes",
            "resolution_minutes",
            "pause_statuses",
            "is_active",
        ]
        read_only_fields = fields


# --- Input --------------------------------------------------------------------------------


class CaseCreateInputSerializer(StrictInputSerializer):
    """A new case. Without ``team`` the routing rules choose one."""

    customer = id_field(help_text="The customer's id.")
    subject = serializers.CharField(max_length=200)
    description = serializers.CharField(
        max_length=20_000, required=False, allow_blank=True, default=""
    )
    category = serializers.ChoiceField(choices=Category.choices, default=Category.GENERAL)
    priority = serializers.ChoiceField(choices=Priority.choices, default=Priority.NORMAL)
    origin_channel = serializers.ChoiceField(
        choices=Channel.choices,
        required=False,
        allow_blank=True,
        default="",
        help_text="Where the customer raised it; defaults to the interaction's channel.",
    )
    team = team_field(required=False)
    assignee = assignee_field(required=False, allow_null=True, help_text="A staff username.")
    interaction = id_field(
        required=False,
        allow_null=True,
        help_text="One of this customer's interactions the case starts from.",
    )
    customer_deadline = deadline_field(
        required=False,
        allow_null=True,
        help_text="When the customer needs it by (still to come); needs a reason.",
    )
    customer_deadline_reason = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default=""
    )

    def validate(self, attrs):
        actor = self.context["request"].user
        try:
            customer = customer_get(actor=actor, customer_id=attrs["customer"])
        except ObjectDoesNotExist:
            raise serializers.ValidationError({"customer": ["No such customer."]}) from None
        attrs["customer"] = customer
        interaction_id = attrs.get("interaction")
        if interaction_id is not None:
            partner = getattr(actor, "api_client", None) is not None
            found = (
                customer_timeline(customer=customer, include_internal=not partner)
                .filter(pk=interaction_id)
                .first()
            )
            if found is None:
                raise serializers.ValidationError(
                    {"interaction": ["No such interaction of this customer."]}
                )
            attrs["interaction"] = found
        return attrs


class CaseUpdateInputSerializer(StrictInputSerializer):
    """Change some of a case's fields (PATCH: any subset, with the version you saw)."""

    version = version_field()
    subject = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(max_length=20_000, required=False, allow_blank=True)
    category = serializers.ChoiceField(choices=Category.choices, required=False)
    priority = serializers.ChoiceField(choices=Priority.choices, required=False)
    team = team_field(required=False)


class CaseAssignInputSerializer(StrictInputSerializer):
    version = version_field()
    assignee = assignee_field(
        allow_null=True, help_text="A staff username, or null to put the case back in the queue."
    )


class CaseStatusInputSerializer(StrictInputSerializer):
    version = version_field()
    status = serializers.ChoiceField(
        choices=Status.choices,
        help_text="The next status; only the allowed transitions are accepted "
        "(closed is final, only a resolved case reopens).",
    )
    note = serializers.CharField(
        max_length=20_000, required=False, allow_blank=True, default="", help_text=NOTE_HELP
    )


class CaseTransitionInputSerializer(StrictInputSerializer):
    """Resolve or reopen."""

    version = version_field()
    note = serializers.CharField(
        max_length=20_000, required=False, allow_blank=True, default="", help_text=NOTE_HELP
    )


class CaseDeadlineInputSerializer(StrictInputSerializer):
    version = version_field()
    customer_deadline = deadline_field(
        allow_null=True,
        help_text="When the customer needs it by (still to come), or null to clear it.",
    )
    customer_deadline_reason = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        default="",
        help_text="Why the customer needs it by then (needed with a deadline).",
    )


class CaseReplyInputSerializer(StrictInputSerializer):
    body = serializers.CharField(max_length=Interaction.BODY_MAX, trim_whitespace=False)
    channel = serializers.ChoiceField(
        choices=Channel.choices,
        required=False,
        allow_null=True,
        default=None,
        help_text="Reply on this channel; by default the channel of the customer's latest "
        "message on the case, else the case's origin channel.",
    )
    subject = serializers.CharField(
        max_length=200,
        required=False,
        allow_null=True,
        default=None,
        help_text="Email subject; by default `Re:` the customer's.",
    )

    def validate_body(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("A reply needs some text.")
        return value


class CaseNoteInputSerializer(StrictInputSerializer):
    body = serializers.CharField(max_length=20_000, help_text="The internal note.")
