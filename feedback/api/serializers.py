"""Feedback API serializers: explicit fields, inputs separate from outputs, and the query
parameters of the lists and the scorecard (a bad value is a 400 on its parameter).

What a response shows: a survey answer is counted whoever answered, but it is kept against
the customer only when they allowed us to contact them about it. The comment of an answer
given without that permission is anonymous feedback: it is shown (to staff and to partner
keys with ``feedback:read``) but never with a customer id, because none is stored.
"""

from datetime import date, datetime, time, timedelta

from django.core.exceptions import ObjectDoesNotExist
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from cases.api.serializers import team_field
from customers.models import Channel
from customers.selectors import customer_get
from cxportal.api.serializers import StrictInputSerializer
from cxportal.validation import MAX_ID, datetime_problem, text_problem, validate_datetime
from feedback.models import Idea, Response, Survey, SurveyInvitation
from feedback.selectors import DIMENSIONS

#: The longest period the scorecard covers in one request.
SCORECARD_MAX_DAYS = 731
SCORECARD_DEFAULT_WEEKS = 12
#: ``Survey.channel`` and ``fallback_channel``: the channels a survey can be sent on.
SURVEY_CHANNELS = [("email", "Email"), ("sms", "SMS")]
LABEL_MAX = 40
ANONYMOUS_HELP = (
    "The customer's id, only when they allowed us to contact them about this answer; "
    "otherwise null (the answer is anonymous and no customer is stored with it)."
)
FOLLOW_UP_STAFF_HELP = "Staff only: absent for partner API keys."


def is_partner(user) -> bool:
    return getattr(user, "api_client", None) is not None


def id_field(**kwargs) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=1, max_value=MAX_ID, **kwargs)


class CheckedCharField(serializers.CharField):
    """Text that can be stored: NUL characters and lone surrogates are a 400 on the field."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if problem := text_problem(value):
            raise serializers.ValidationError(problem)
        return value


# --- Output -------------------------------------------------------------------------------


class SurveyOutputSerializer(serializers.ModelSerializer):
    """A survey: what it asks, what triggers it, how it is sent and who closes the loop."""

    team = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, help_text="The team that closes the loop."
    )
    channel = serializers.ChoiceField(choices=SURVEY_CHANNELS, read_only=True)
    fallback_channel = serializers.ChoiceField(
        choices=SURVEY_CHANNELS,
        allow_blank=True,
        read_only=True,
        help_text="Asked again on this channel when there is no answer after "
        "`fallback_after_days`; blank for none.",
    )
    trigger_channel = serializers.ChoiceField(
        choices=Channel.choices,
        allow_blank=True,
        read_only=True,
        help_text="The interaction trigger only: interactions on this channel (blank: any).",
    )

    class Meta:
        model = Survey
        fields = [
            "id",
            "name",
            "kind",
            "question",
            "trigger",
            "trigger_channel",
            "trigger_keyword",
            "delay_hours",
            "sampling_rate",
            "quiet_period_days",
            "channel",
            "fallback_channel",
            "fallback_after_days",
            "valid_days",
            "team",
            "open_case_for_detractors",
            "is_active",
            "created_at",
        ]
        read_only_fields = fields


class InvitationOutputSerializer(serializers.ModelSerializer):
    """One customer asked once. ``answered_at`` is given only when the answer is kept
    against the customer: an anonymous answer's time would name who gave it."""

    customer = serializers.IntegerField(source="customer_id", read_only=True)
    answered_at = serializers.SerializerMethodField(
        help_text="When the customer answered, if they allowed contact about their answer; "
        "null otherwise (`status` still says `answered`)."
    )

    class Meta:
        model = SurveyInvitation
        fields = [
            "id",
            "survey",
            "customer",
            "trigger_key",
            "status",
            "suppressed_reason",
            "send_after",
            "expires_at",
            "sent_at",
            "channel",
            "fallback_sent_at",
            "answered_at",
            "created_at",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "trigger_key": {
                "help_text": "What made the invitation, e.g. `case:42`; `api:<label>:<customer>` "
                "for one made through this API."
            },
            "suppressed_reason": {
                "help_text": "Why it was not sent (open case, quiet period, no consent...)."
            },
            "channel": {"help_text": "The channel it went out on; blank until sent."},
        }

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_answered_at(self, invitation: SurveyInvitation) -> str | None:
        if invitation.answered_at is None:
            return None
        answer = getattr(invitation, "response", None)  # joined by invitation_list
        if answer is None or not answer.contact_allowed:
            return None
        return serializers.DateTimeField().to_representation(invitation.answered_at)


class ResponseOutputSerializer(serializers.ModelSerializer):
    """A survey answer. The comment is shown whether or not the customer allowed contact;
    without that permission it is anonymous (``customer`` is null)."""

    customer = serializers.IntegerField(
        source="customer_id", read_only=True, allow_null=True, help_text=ANONYMOUS_HELP
    )
    team = serializers.SlugRelatedField(
        slug_field="slug",
        read_only=True,
        allow_null=True,
        help_text="The team of the case that triggered it, else the survey's team.",
    )
    themes = serializers.SerializerMethodField(help_text="The names of the comment's themes.")
    comment = serializers.CharField(
        read_only=True,
        help_text="The customer's words. Anonymous feedback when `contact_allowed` is false: "
        "shown, but never with a customer id.",
    )
    # Declared (not read-only) so the schema marks them optional: partners never get them.
    follow_up_outcome = serializers.CharField(
        required=False,
        help_text="What came of calling the detractor back. " + FOLLOW_UP_STAFF_HELP,
    )
    follow_up_by = serializers.CharField(
        required=False, help_text="Who followed up. " + FOLLOW_UP_STAFF_HELP
    )

    class Meta:
        model = Response
        fields = [
            "id",
            "survey",
            "kind",
            "score",
            "category",
            "comment",
            "sentiment",
            "themes",
            "channel",
            "team",
            "region",
            "answered_at",
            "contact_allowed",
            "customer",
            "follow_up_case",
            "follow_up_at",
            "follow_up_outcome",
            "follow_up_by",
        ]
        read_only_fields = [f for f in fields if f not in ("follow_up_outcome", "follow_up_by")]
        extra_kwargs = {
            "sentiment": {"help_text": "VADER compound score of the comment, -1 to 1."},
            "region": {"help_text": "The customer's region when they answered."},
            "follow_up_case": {"help_text": "The case opened to follow up a detractor, or null."},
            "follow_up_at": {"help_text": "When the follow-up was recorded, or null."},
        }

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_themes(self, response: Response) -> list[str]:
        return [theme.name for theme in response.themes.all()]  # prefetched, by name

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if is_partner(self.context["request"].user):
            data.pop("follow_up_outcome")
            data.pop("follow_up_by")
        return data


class ScoreOutputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Survey.Kind.choices)
    label = serializers.CharField(help_text="`NPS`, `CSAT %` or `CES`.")
    value = serializers.FloatField(
        allow_null=True,
        help_text="NPS (% promoters − % detractors, −100 to 100), CSAT (% satisfied) or CES "
        "(the average, 1 to 7); null without answers.",
    )
    n = serializers.IntegerField(help_text="The sample size: how many answers it counts.")


class ScorecardRowOutputSerializer(serializers.Serializer):
    week = serializers.DateField(help_text="The Monday the week starts on.")
    group = serializers.CharField(
        help_text="The channel, team, region or survey name; `—` when unknown."
    )
    value = serializers.FloatField(allow_null=True)
    n = serializers.IntegerField()


@extend_schema_serializer(many=False)  # one object, though the list route answers it
class ScorecardOutputSerializer(serializers.Serializer):
    since = serializers.DateField()
    until = serializers.DateField()
    dimension = serializers.ChoiceField(choices=sorted(DIMENSIONS))
    kind = serializers.ChoiceField(choices=Survey.Kind.choices)
    rows = ScorecardRowOutputSerializer(many=True, help_text="Week by week, then by group.")
    totals = ScoreOutputSerializer(
        many=True, help_text="Each kind of score over the whole period (every group)."
    )


class ThemeTrendOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="theme_id")
    theme = serializers.CharField(source="name")
    this_week = serializers.IntegerField(help_text="Answers and mentions in the last 7 days.")
    weekly_before = serializers.FloatField(
        help_text="The weekly average over the four weeks before."
    )
    rise = serializers.FloatField(
        allow_null=True,
        help_text="`this_week` / `weekly_before`: how many times the usual volume; null when "
        "the theme is new this week.",
    )
    examples = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="The latest posts and comments about the theme. Staff only: absent for "
        "partner API keys, which get the counts alone.",
    )


class IdeaOutputSerializer(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)

    class Meta:
        model = Idea
        fields = [
            "id",
            "title",
            "description",
            "team",
            "submitted_by",
            "submitted_at",
            "status",
            "status_changed_at",
            "implemented_at",
            "decision_note",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "decision_note": {"help_text": "Why it was declined (or the latest decision's note)."}
        }


# --- Input --------------------------------------------------------------------------------


class InvitationCreateInputSerializer(StrictInputSerializer):
    """Invite one customer to the survey (in the URL)."""

    customer = id_field(help_text="The customer's id.")
    label = CheckedCharField(
        max_length=LABEL_MAX,
        required=False,
        allow_blank=True,
        default="",
        help_text="What this invitation is for (e.g. `visit-2026-05-14`). The invitation is "
        "made once per survey, customer and label: the same request again answers the same "
        "invitation. Without a label, the API client's (or staff member's) name is used, so "
        "a customer is invited once per survey per caller.",
    )

    def validate_label(self, value: str) -> str:
        label = " ".join(value.split())
        if ":" in label:
            raise serializers.ValidationError("A label cannot contain `:`.")
        return label

    def validate(self, attrs):
        actor = self.context["request"].user
        survey: Survey = self.context["survey"]
        try:
            customer = customer_get(actor=actor, customer_id=attrs["customer"])
        except ObjectDoesNotExist:
            raise serializers.ValidationError({"customer": ["No such customer."]}) from None
        errors = {}
        if customer.erased_at is not None:
            errors["customer"] = ["This customer was erased: they cannot be surveyed."]
        elif customer.merged_into_id:
            errors["customer"] = [
                f"This customer was merged into #{customer.merged_into_id}: invite that one."
            ]
        if not survey.is_active:
            errors["survey"] = ["This survey is not active: it invites nobody."]
        if errors:
            raise serializers.ValidationError(errors)
        attrs["customer"] = customer
        return attrs


class IdeaCreateInputSerializer(StrictInputSerializer):
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(
        max_length=5000, required=False, allow_blank=True, default=""
    )
    team = team_field(required=False, allow_null=True, default=None)


class IdeaMoveInputSerializer(StrictInputSerializer):
    status = serializers.ChoiceField(
        choices=Idea.Status.choices,
        help_text="The next status: submitted → reviewing → implementing → implemented; any "
        "but implemented may be declined (with a note); a declined idea may be reviewed again.",
    )
    note = serializers.CharField(
        max_length=300,
        required=False,
        allow_blank=True,
        default="",
        help_text="Why: required to decline; the person who had the idea reads it.",
    )


# --- Query --------------------------------------------------------------------------------


class ResponseQuerySerializer(serializers.Serializer):
    survey = id_field(required=False, help_text="A survey's id.")
    kind = serializers.ChoiceField(choices=Survey.Kind.choices, required=False)
    category = serializers.ChoiceField(choices=Response.Category.choices, required=False)
    channel = serializers.ChoiceField(
        choices=Channel.choices, required=False, help_text="The channel the survey went out on."
    )
    region = CheckedCharField(max_length=100, required=False)
    customer = id_field(
        required=False,
        help_text="A customer's id: only the answers kept against them (they allowed contact).",
    )
    answered_after = serializers.DateTimeField(
        required=False, validators=[validate_datetime], help_text="Inclusive."
    )
    answered_before = serializers.DateTimeField(
        required=False, validators=[validate_datetime], help_text="Exclusive."
    )


class IdeaQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Idea.Status.choices, required=False)


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


class ScorecardQuerySerializer(serializers.Serializer):
    since = serializers.DateField(
        required=False,
        help_text=f"The first day (inclusive); by default {SCORECARD_DEFAULT_WEEKS} weeks "
        "before `until`.",
    )
    until = serializers.DateField(
        required=False, help_text="The last day (inclusive); by default today."
    )
    dimension = serializers.ChoiceField(
        choices=sorted(DIMENSIONS), default="channel", help_text="How rows are grouped."
    )
    kind = serializers.ChoiceField(
        choices=Survey.Kind.choices, default=Survey.Kind.NPS, help_text="The score in the rows."
    )

    def _checked_day(self, value: date) -> date:
        for edge in (value, value + timedelta(days=1)):
            if problem := datetime_problem(_day_start(edge)):
                raise serializers.ValidationError(problem)
        return value

    validate_since = _checked_day
    validate_until = _checked_day

    def validate(self, attrs):
        until = attrs.get("until") or timezone.localdate()
        since = attrs.get("since") or until - timedelta(weeks=SCORECARD_DEFAULT_WEEKS)
        if since > until:
            raise serializers.ValidationError({"until": ["Must not be before `since`."]})
        if (until - since).days >= SCORECARD_MAX_DAYS:
            raise serializers.ValidationError(
                {"since": [f"At most 2 years ({SCORECARD_MAX_DAYS} days) in one scorecard."]}
            )
        attrs["since"], attrs["until"] = since, until
        # The period as date-times: from the first day's start to the day after the last.
        attrs["start"], attrs["end"] = _day_start(since), _day_start(until + timedelta(days=1))
        return attrs
