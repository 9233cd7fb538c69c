"""Campaigns API serializers: explicit fields, inputs separate from outputs.

Inputs reject fields they do not know. Problems in nested input are named by their dotted
path, as the services and the segment compiler name them: ``variants.1.body``,
``rules.all.2.value``. Ids in the input (segment, customer, delivery) are looked up here and
answer a 400 on that field when unknown; every rule of the campaign's life (which status
may move where, who may review, shares adding up to 100) is the services' to check.
"""

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from campaigns.gate import REASONS
from campaigns.models import Campaign, Delivery, Opportunity, ReviewComment, Segment, Variant
from campaigns.segments import segment_compile
from campaigns.selectors import WINNER_MIN_SENT
from cases.api.serializers import LookupField, assignee_field, id_field
from customers.models import Customer, Purpose
from customers.selectors import customer_get
from cxportal.api.serializers import StrictInputSerializer
from cxportal.models import Team
from cxportal.selectors import team_list_for_user
from cxportal.validation import text_problem, validate_datetime

#: The gate's reason codes with their words (one enum in the schema: ``GateReasonEnum``).
GATE_REASONS = list(REASONS.items())
VERSION_HELP = (
    "The campaign's `version` as you last read it. When someone changed the campaign since, "
    "nothing is written and the answer is 409 (`code: conflict`) with the current version."
)
RULES_HELP = (
    "The segment's rule: a group (`all`, `any`, `not`) or a condition "
    '(`{"field": "region", "op": "in", "value": ["North", "South"]}`). Fields: '
    "lifecycle_stage, region, preferred_channel, language (eq, in); holding (has); place "
    "(uses); consent (granted, value `{channel, purpose}`); last_contact (within_days, "
    "older_than_days); nps_category (eq); orders (count_gte); order_placed (within_days). "
    "Groups nest at most 5 deep, at most 50 rules. A problem is reported on its path, e.g. "
    "`rules.all.2.value`."
)
REVIEWS_HELP = "The service team's review, oldest first. Staff only: absent for partner API keys."
AMOUNT = {"max_digits": 12, "decimal_places": 2, "min_value": 0}
JSON_MAX_DEPTH = 20


def is_partner(user) -> bool:
    return getattr(user, "api_client", None) is not None


def dotted(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """Nested serializer errors as one flat mapping of dotted paths to messages."""
    if isinstance(detail, Mapping):
        items = [(str(k), v) for k, v in detail.items()]
    elif isinstance(detail, list) and any(isinstance(d, (Mapping, list)) for d in detail):
        items = [(str(i), v) for i, v in enumerate(detail)]
    else:
        messages = detail if isinstance(detail, list) else [detail]
        return {prefix or "non_field_errors": [str(m) for m in messages]}
    flat: dict[str, list[str]] = {}
    for key, value in items:
        if not value:
            continue  # a list item without problems
        path = prefix if key == "non_field_errors" and prefix else _join(prefix, key)
        for name, messages in dotted(value, path).items():
            flat.setdefault(name, []).extend(messages)
    return flat


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


class DottedInputSerializer(StrictInputSerializer):
    """Answers nested problems (a variant's body, an unknown key in one) on dotted paths."""

    def run_validation(self, data=serializers.empty):
        try:
            return super().run_validation(data)
        except serializers.ValidationError as exc:
            raise serializers.ValidationError(dotted(exc.detail)) from None


def _json_text_problems(value: Any, path: str, found: dict[str, list[str]], depth: int = 0):
    """Strings in JSON that cannot be stored (a NUL, a lone surrogate), by path."""
    if depth > JSON_MAX_DEPTH:
        found[path] = [f"Nested more than {JSON_MAX_DEPTH} deep."]
    elif isinstance(value, str):
        if problem := text_problem(value):
            found[path] = [problem]
    elif isinstance(value, dict):
        for key, item in value.items():
            if problem := text_problem(key):
                found[_join(path, key)] = [problem]
            else:
                _json_text_problems(item, _join(path, key), found, depth + 1)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _json_text_problems(item, _join(path, str(i)), found, depth + 1)


def rules_problems(rules: Any) -> dict[str, list[str]]:
    """Every problem of a segment rule, keyed ``rules.<path>`` (``rules`` for the whole)."""
    try:
        segment_compile(rules)
    except DjangoValidationError as exc:
        return {
            "rules" if path == "rules" else f"rules.{path}": list(messages)
            for path, messages in exc.message_dict.items()
        }
    found: dict[str, list[str]] = {}
    _json_text_problems(rules, "rules", found)
    return found


def rules_field(**kwargs) -> serializers.JSONField:
    return serializers.JSONField(help_text=RULES_HELP, **kwargs)


def version_field() -> serializers.IntegerField:
    return serializers.IntegerField(min_value=1, max_value=2**31 - 1, help_text=VERSION_HELP)


def own_team(actor, team: Team | None) -> Team:
    """The team that will own a new segment or campaign: the one named (a team the caller
    is in; supervisors may name any), else the caller's own team."""
    teams = team_list_for_user(user=actor)
    if team is None:
        if not teams:
            raise serializers.ValidationError({"team": ["You are in no team: name one."]})
        return teams[0]
    if team not in teams and not any(t.slug == Team.Slug.SUPERVISOR for t in teams):
        raise serializers.ValidationError({"team": [f"You are not in {team}."]})
    return team


def team_choice() -> LookupField:
    return LookupField(
        queryset=Team.objects.all(),
        lookup="slug",
        not_found="No team {value!r}.",
        required=False,
        help_text="The owner team's slug (a team you are in); by default your own team.",
    )


# --- Output: segments ---------------------------------------------------------------------


class SegmentOutputSerializer(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    campaign_count = serializers.IntegerField(read_only=True, help_text="Campaigns made from it.")

    class Meta:
        model = Segment
        fields = [
            "id",
            "name",
            "description",
            "rules",
            "team",
            "created_by",
            "created_at",
            "updated_at",
            "last_count",
            "last_counted_at",
            "campaign_count",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "last_count": {"help_text": "The latest counted audience; null until counted."}
        }


class SegmentPreviewOutputSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="Live customers the rule selects now.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Always empty in a 200 (a rule with problems is a 400 naming them).",
    )


class SegmentCountOutputSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="Live customers the segment selects now.")
    counted_at = serializers.DateTimeField()


# --- Output: campaigns --------------------------------------------------------------------


class CampaignSegmentSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)


class CampaignOutputSerializer(serializers.ModelSerializer):
    """A campaign as listed."""

    team = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    segment = CampaignSegmentSerializer(read_only=True)

    class Meta:
        model = Campaign
        fields = [
            "id",
            "version",
            "name",
            "team",
            "channel",
            "status",
            "segment",
            "scheduled_at",
            "eligible_for_service_follow_up",
            "follow_up_text",
            "created_by",
            "created_at",
            "updated_at",
            "submitted_at",
            "reviewed_by",
            "reviewed_at",
            "audience_built_at",
            "audience_size",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "audience_size": {
                "help_text": "Customers of the segment when the audience was built (sent or "
                "suppressed); 0 before launch."
            }
        }


class VariantOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Variant
        fields = ["key", "subject", "body", "weight"]
        read_only_fields = fields


class ReviewOutputSerializer(serializers.ModelSerializer):
    decision = serializers.ChoiceField(choices=ReviewComment.Decision.choices, read_only=True)

    class Meta:
        model = ReviewComment
        fields = ["id", "author", "decision", "body", "created_at"]
        read_only_fields = fields


class DeliveryCountsSerializer(serializers.Serializer):
    queued = serializers.IntegerField()
    sent = serializers.IntegerField()
    failed = serializers.IntegerField()
    suppressed = serializers.IntegerField()


class SuppressedSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(choices=GATE_REASONS, help_text="The gate's reason code.")
    message = serializers.CharField()
    count = serializers.IntegerField()


class CampaignDetailOutputSerializer(CampaignOutputSerializer):
    """A campaign with its content, its review, and where its messages stand."""

    variants = VariantOutputSerializer(many=True, read_only=True)
    # Declared optional so the schema says it may be absent (partner keys).
    reviews = ReviewOutputSerializer(many=True, required=False, help_text=REVIEWS_HELP)
    delivery_counts = DeliveryCountsSerializer(
        read_only=True, help_text="The campaign's messages by status (service follow-ups too)."
    )
    suppressed_by_reason = SuppressedSerializer(
        many=True, read_only=True, help_text="Suppressed messages by the gate's reason, most first."
    )

    class Meta(CampaignOutputSerializer.Meta):
        fields = [
            *CampaignOutputSerializer.Meta.fields,
            "variants",
            "reviews",
            "delivery_counts",
            "suppressed_by_reason",
        ]
        read_only_fields = [f for f in fields if f != "reviews"]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if is_partner(self.context["request"].user):
            data.pop("reviews", None)
        return data


class FunnelSerializer(serializers.Serializer):
    audience = serializers.IntegerField(help_text="Customers the campaign was built for.")
    suppressed = serializers.IntegerField(help_text="Not sent: the gate said no (see reasons).")
    queued = serializers.IntegerField(help_text="Waiting to be sent.")
    failed = serializers.IntegerField(help_text="No route to the customer at send time.")
    sent = serializers.IntegerField()
    opened = serializers.IntegerField()
    clicked = serializers.IntegerField()
    converted = serializers.IntegerField()
    conversion_value = serializers.DecimalField(
        max_digits=14, decimal_places=2, help_text="The reported conversions' values, summed."
    )


class FollowUpCountsSerializer(serializers.Serializer):
    sent = serializers.IntegerField()
    clicked = serializers.IntegerField()


class VariantReportSerializer(serializers.Serializer):
    key = serializers.CharField()
    weight = serializers.IntegerField(help_text="Its share of the audience, %.")
    sent = serializers.IntegerField()
    opened = serializers.IntegerField()
    clicked = serializers.IntegerField()
    converted = serializers.IntegerField()
    click_rate = serializers.FloatField(
        allow_null=True, help_text="Clicked / sent (0 to 1); null before anything was sent."
    )


class CampaignReportOutputSerializer(serializers.Serializer):
    campaign = serializers.IntegerField(help_text="The campaign's id.")
    status = serializers.ChoiceField(choices=Campaign.Status.choices)
    funnel = FunnelSerializer(help_text="The campaign's own sends (not service follow-ups).")
    suppressed_by_reason = SuppressedSerializer(many=True)
    via_follow_up = FollowUpCountsSerializer(
        help_text="Its content carried on resolved cases' follow-ups (outside the A/B test)."
    )
    variants = VariantReportSerializer(many=True)
    winner = serializers.CharField(
        allow_null=True,
        help_text="The variant with the highest click rate, once every variant (of two or "
        f"more) has at least {WINNER_MIN_SENT} sent; else null.",
    )
    winner_note = serializers.CharField(help_text="Why there is a winner, or why not yet.")


# --- Output: the contact gate, conversions, opportunities ---------------------------------


class GateReasonSerializer(serializers.Serializer):
    code = serializers.ChoiceField(choices=GATE_REASONS, help_text="The gate's reason code.")
    message = serializers.CharField(help_text="The reason in words a person can read.")


@extend_schema_serializer(many=False)  # one answer, though the list route gives it
class ContactGateOutputSerializer(serializers.Serializer):
    allowed = serializers.BooleanField()
    reasons = GateReasonSerializer(
        many=True, help_text="Every reason that applies now, in the gate's order; empty if allowed."
    )


class ConversionOutputSerializer(serializers.ModelSerializer):
    delivery = serializers.IntegerField(source="pk", read_only=True, help_text="The message.")

    class Meta:
        model = Delivery
        fields = ["delivery", "campaign", "customer", "variant", "converted_at", "conversion_value"]
        read_only_fields = fields


class OpportunityCustomerSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    display_name = serializers.CharField(read_only=True)


class OpportunityOutputSerializer(serializers.ModelSerializer):
    customer = OpportunityCustomerSerializer(read_only=True)
    owner = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True, help_text="A staff username."
    )
    stage = serializers.ChoiceField(choices=Opportunity.Stage.choices, read_only=True)

    class Meta:
        model = Opportunity
        fields = [
            "id",
            "customer",
            "title",
            "stage",
            "value",
            "owner",
            "created_at",
            "updated_at",
            "closed_at",
        ]
        read_only_fields = fields
        extra_kwargs = {"closed_at": {"help_text": "When it was won or lost."}}


# --- Input: segments ----------------------------------------------------------------------


class SegmentRulesMixin:
    def validate(self, attrs):
        if "rules" in attrs and (problems := rules_problems(attrs["rules"])):
            raise serializers.ValidationError(problems)
        return attrs


class SegmentCreateInputSerializer(SegmentRulesMixin, DottedInputSerializer):
    """A new segment, owned by your team unless you name another one you are in."""

    name = serializers.CharField(max_length=100)
    description = serializers.CharField(
        max_length=300, required=False, allow_blank=True, default=""
    )
    rules = rules_field()
    team = team_choice()

    def validate(self, attrs):
        attrs = super().validate(attrs)
        attrs["team"] = own_team(self.context["request"].user, attrs.get("team"))
        return attrs


class SegmentUpdateInputSerializer(SegmentRulesMixin, DottedInputSerializer):
    """Any of a segment's name, description and rule (PATCH). Its owner team stays."""

    name = serializers.CharField(max_length=100, required=False)
    description = serializers.CharField(max_length=300, required=False, allow_blank=True)
    rules = rules_field(required=False)


class SegmentPreviewInputSerializer(SegmentRulesMixin, DottedInputSerializer):
    """A rule to count, not saved."""

    rules = rules_field()


# --- Input: campaigns ---------------------------------------------------------------------


class VariantInputSerializer(StrictInputSerializer):
    subject = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        default="",
        help_text="Needed for email. `{first_name}`, `{name}` and `{region}` are filled in.",
    )
    body = serializers.CharField(
        max_length=10_000,
        help_text="`{first_name}`, `{name}` and `{region}` are filled in; links in an email are "
        "tracked.",
    )
    weight = serializers.IntegerField(
        min_value=0,
        max_value=100,
        required=False,
        help_text="Its share of the audience, %; the variants' shares add up to 100 (by default "
        "an equal split).",
    )


class CampaignCreateInputSerializer(DottedInputSerializer):
    """A new draft campaign. Problems are named on dotted paths (`variants.1.body`)."""

    name = serializers.CharField(max_length=150)
    channel = serializers.ChoiceField(choices=Campaign.Channel.choices)
    segment = id_field(help_text="The segment's id.")
    team = team_choice()
    variants = VariantInputSerializer(
        many=True,
        min_length=1,
        max_length=4,
        help_text="One to four versions of the content (A, B, ... in this order).",
    )
    eligible_for_service_follow_up = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Its short content may ride along on a resolved case's follow-up (only when "
        "the gate allows marketing to that customer).",
    )
    follow_up_text = serializers.CharField(
        max_length=300,
        required=False,
        allow_blank=True,
        default="",
        help_text="What a service follow-up carries; needed when eligible.",
    )

    def validate(self, attrs):
        actor = self.context["request"].user
        segment = Segment.objects.restrict(actor, "view").filter(pk=attrs["segment"]).first()
        if segment is None:
            raise serializers.ValidationError({"segment": ["No such segment."]})
        attrs["segment"] = segment
        attrs["team"] = own_team(actor, attrs.get("team"))
        attrs["variants"] = [dict(v) for v in attrs["variants"]]
        return attrs


class CampaignVersionInputSerializer(StrictInputSerializer):
    version = version_field()


class CampaignLaunchInputSerializer(StrictInputSerializer):
    version = version_field()
    at = serializers.DateTimeField(
        required=False,
        allow_null=True,
        default=None,
        validators=[validate_datetime],
        help_text="Schedule it for this time; absent, null or past: launch now.",
    )


class CampaignReviewInputSerializer(StrictInputSerializer):
    version = serializers.IntegerField(
        min_value=1,
        max_value=2**31 - 1,
        help_text=VERSION_HELP + " A plain comment changes nothing, so it is not checked then.",
    )
    decision = serializers.ChoiceField(
        choices=ReviewComment.Decision.choices,
        help_text="`approved` lets it launch; `sent_back` returns it to draft; `comment` only "
        "comments.",
    )
    comment = serializers.CharField(
        max_length=5000,
        required=False,
        allow_blank=True,
        default="",
        help_text="Needed to comment or send back.",
    )


class CampaignQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Campaign.Status.choices, required=False)
    channel = serializers.ChoiceField(choices=Campaign.Channel.choices, required=False)
    team = serializers.ChoiceField(
        choices=Team.Slug.choices, required=False, help_text="The owner team's slug."
    )


# --- Input: the contact gate, conversions, opportunities ----------------------------------


class ContactGateQuerySerializer(serializers.Serializer):
    customer = id_field(help_text="The customer's id; an unknown one is a 400 on `customer`.")
    purpose = serializers.ChoiceField(choices=Purpose.choices)
    channel = serializers.ChoiceField(choices=Campaign.Channel.choices)

    def validate_customer(self, value: int) -> int:
        actor = self.context["request"].user
        if not Customer.objects.restrict(actor, "view").filter(pk=value).exists():
            raise serializers.ValidationError("No such customer.")
        return value


class ConversionInputSerializer(StrictInputSerializer):
    delivery = id_field(
        required=False, help_text="The message's id (or give `campaign` and `customer`)."
    )
    campaign = id_field(required=False, help_text="With `customer`: their message of it.")
    customer = id_field(required=False, help_text="With `campaign`.")
    value = serializers.DecimalField(
        **AMOUNT, required=False, allow_null=True, default=None, help_text="The order's value."
    )

    def validate(self, attrs):
        delivery_id = attrs.get("delivery")
        campaign_id, customer_id = attrs.get("campaign"), attrs.get("customer")
        if delivery_id is not None:
            if campaign_id is not None or customer_id is not None:
                raise serializers.ValidationError(
                    {"delivery": ["Give `delivery`, or `campaign` and `customer`: not both."]}
                )
            found = Delivery.objects.filter(pk=delivery_id).first()
            if found is None:
                raise serializers.ValidationError({"delivery": ["No such message."]})
        else:
            missing = {
                name: ["Give `delivery`, or `campaign` and `customer`."]
                for name in ("campaign", "customer")
                if attrs.get(name) is None
            }
            if missing:
                raise serializers.ValidationError(missing)
            found = Delivery.objects.filter(campaign=campaign_id, customer=customer_id).first()
            if found is None:
                raise serializers.ValidationError(
                    {"customer": ["This campaign sent nothing to this customer."]}
                )
        return {"delivery": found, "value": attrs["value"]}


class OpportunityCreateInputSerializer(StrictInputSerializer):
    customer = id_field(help_text="The customer's id.")
    title = serializers.CharField(max_length=200)
    stage = serializers.ChoiceField(
        choices=Opportunity.Stage.choices, default=Opportunity.Stage.PROSPECT
    )
    value = serializers.DecimalField(**AMOUNT, required=False, allow_null=True, default=None)
    owner = assignee_field(required=False, help_text="A staff username; by default you.")

    def validate(self, attrs):
        actor = self.context["request"].user
        try:
            attrs["customer"] = customer_get(actor=actor, customer_id=attrs["customer"])
        except ObjectDoesNotExist:
            raise serializers.ValidationError({"customer": ["No such customer."]}) from None
        attrs.setdefault("owner", actor)
        return attrs


class OpportunityUpdateInputSerializer(StrictInputSerializer):
    """Any of an opportunity's title, stage, value and owner (PATCH)."""

    title = serializers.CharField(max_length=200, required=False)
    stage = serializers.ChoiceField(choices=Opportunity.Stage.choices, required=False)
    value = serializers.DecimalField(**AMOUNT, required=False, allow_null=True)
    owner = assignee_field(required=False, help_text="A staff username.")


class OpportunityQuerySerializer(serializers.Serializer):
    stage = serializers.ChoiceField(choices=Opportunity.Stage.choices, required=False)
    customer = id_field(required=False, help_text="A customer's id.")
