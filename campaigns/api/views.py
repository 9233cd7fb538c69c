"""The campaigns API: segments (with a live count), campaigns from draft through the service
review to launch and their reports, the contact gate, conversions, and the sales pipeline.

Partner keys read segments and campaigns with ``campaigns:read``, report conversions with
``campaigns:write`` and ask the gate with ``contact_gate:read``; they never build, review or
launch anything, and never see review comments or the sales pipeline. Staff need the model
permission each action names (``action_perms``), from their team's default role: marketing
builds and launches, the service team reviews, sales keeps the pipeline.
"""

from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from campaigns.api.serializers import (
    CampaignCreateInputSerializer,
    CampaignDetailOutputSerializer,
    CampaignLaunchInputSerializer,
    CampaignOutputSerializer,
    CampaignQuerySerializer,
    CampaignReportOutputSerializer,
    CampaignReviewInputSerializer,
    CampaignVersionInputSerializer,
    ContactGateOutputSerializer,
    ContactGateQuerySerializer,
    ConversionInputSerializer,
    ConversionOutputSerializer,
    OpportunityCreateInputSerializer,
    OpportunityOutputSerializer,
    OpportunityQuerySerializer,
    OpportunityUpdateInputSerializer,
    SegmentCountOutputSerializer,
    SegmentCreateInputSerializer,
    SegmentOutputSerializer,
    SegmentPreviewInputSerializer,
    SegmentPreviewOutputSerializer,
    SegmentUpdateInputSerializer,
)
from campaigns.gate import contact_gate
from campaigns.models import Campaign, Delivery, Opportunity, Segment
from campaigns.selectors import (
    WINNER_MIN_SENT,
    CampaignReport,
    campaign_list,
    campaign_report,
    opportunity_list,
    segment_list,
    segment_preview,
)
from campaigns.services import (
    campaign_cancel,
    campaign_create,
    campaign_launch,
    campaign_pause,
    campaign_resume,
    campaign_review,
    campaign_submit,
    delivery_convert,
    opportunity_save,
    segment_count,
    segment_save,
)
from customers.api.privacy import STAFF_ONLY
from customers.models import Customer
from cxportal.api.pagination import IdCursorPagination
from cxportal.api.viewsets import ScopedViewSet, validated_body, validated_query

ERRORS = {
    400: OpenApiResponse(description="Invalid input: `{message, code, errors}` per field."),
    404: OpenApiResponse(description="No such object, or not one the caller may see."),
}
CONFLICT = {
    409: OpenApiResponse(
        description="`version` is not the current one: someone changed the campaign since you "
        "read it. Nothing was written; `errors.version` gives the current version."
    )
}
CHANGE, REVIEW = "campaigns.change_campaign", "campaigns.review_campaign"


# --- The campaign's messages, as the report selector counts them (one grouped query) -----


def _suppressed(report: CampaignReport) -> list[dict]:
    return [{"reason": r.code, "message": r.words, "count": r.count} for r in report.reasons]


def campaign_counted(campaign: Campaign) -> Campaign:
    """The campaign (variants prefetched) with ``delivery_counts`` and
    ``suppressed_by_reason`` set, service follow-ups counted as sent."""
    report = campaign_report(campaign=campaign)
    campaign.delivery_counts = {
        "queued": report.queued,
        "sent": report.sent + report.follow_up_sent,
        "failed": report.failed,
        "suppressed": report.suppressed,
    }
    campaign.suppressed_by_reason = _suppressed(report)
    return campaign


def _rate(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def report_body(campaign: Campaign, report: CampaignReport) -> dict:
    return {
        "campaign": campaign.pk,
        "status": campaign.status,
        "funnel": {
            "audience": report.audience,
            "suppressed": report.suppressed,
            "queued": report.queued,
            "failed": report.failed,
            "sent": report.sent,
            "opened": report.opened,
            "clicked": report.clicked,
            "converted": report.converted,
            "conversion_value": report.value,
        },
        "suppressed_by_reason": _suppressed(report),
        "via_follow_up": {"sent": report.follow_up_sent, "clicked": report.follow_up_clicked},
        "variants": [
            {
                "key": v.key,
                "weight": v.weight,
                "sent": v.sent,
                "opened": v.opened,
                "clicked": v.clicked,
                "converted": v.converted,
                "click_rate": _rate(v.click_rate),
            }
            for v in report.variants
        ],
        "winner": report.winner,
        "winner_note": report.winner_note,
    }


# --- Segments -----------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        description="Saved segments, newest first, each with how many campaigns use it; "
        "cursor-paginated."
    ),
    retrieve=extend_schema(
        description="One segment with its rule and its latest count.",
        responses={200: SegmentOutputSerializer, 404: ERRORS[404]},
    ),
)
class SegmentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Segments: rules over customer attributes, compiled to one SQL query.

    Partner keys read them (and their counts) with ``campaigns:read`` and never change one;
    staff need ``campaigns.view_segment`` to read and preview, ``campaigns.add_segment`` /
    ``campaigns.change_segment`` to save.
    """

    scope = "campaigns"
    model = Segment
    serializer_class = SegmentOutputSerializer
    pagination_class = IdCursorPagination
    filter_backends: list = []
    http_method_names = ["get", "post", "patch", "head", "options"]
    action_scopes: dict[str, str] = {
        "create": STAFF_ONLY,
        "partial_update": STAFF_ONLY,
        "preview": "campaigns:read",
    }
    action_perms: dict[str, str] = {
        "preview": "campaigns.view_segment",
        "count": "campaigns.view_segment",
    }

    def select(self, actor):
        return segment_list(actor=actor)

    def _answer(self, segment: Segment, code: int = status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=segment.pk)
        return Response(self.get_serializer(fresh).data, status=code)

    @extend_schema(
        description="Save a new segment, owned by your team (or one you name). A rule with "
        "problems is a 400 naming each on its path (`rules.all.2.value`); nothing is saved.",
        request=SegmentCreateInputSerializer,
        responses={201: SegmentOutputSerializer, 400: ERRORS[400]},
    )
    def create(self, request):
        data = validated_body(SegmentCreateInputSerializer, request)
        segment = segment_save(actor=request.user, **data)
        return self._answer(segment, status.HTTP_201_CREATED)

    @extend_schema(
        description="Change a segment's name, description or rule. Campaigns launched from it "
        "keep the audience they were built with.",
        request=SegmentUpdateInputSerializer,
        responses={200: SegmentOutputSerializer, **ERRORS},
    )
    def partial_update(self, request, pk=None):
        segment = self.get_object()
        data = validated_body(SegmentUpdateInputSerializer, request)
        segment = segment_save(
            actor=request.user,
            segment=segment,
            team=segment.team,
            name=data.get("name", segment.name),
            description=data.get("description", segment.description),
            rules=data.get("rules", segment.rules),
        )
        return self._answer(segment)

    @extend_schema(
        description="How many live customers a rule selects now, without saving it (the rule "
        "builder's preview: one COUNT query). A rule with problems is a 400 naming each on "
        'its path, e.g. `{"errors": {"rules.all.2.value": ["A non-empty list."]}}`.',
        request=SegmentPreviewInputSerializer,
        responses={200: SegmentPreviewOutputSerializer, 400: ERRORS[400]},
    )
    @action(detail=False, methods=["post"])
    def preview(self, request):
        data = validated_body(SegmentPreviewInputSerializer, request)
        count = segment_preview(rules=data["rules"])
        return Response(SegmentPreviewOutputSerializer({"count": count, "errors": {}}).data)

    @extend_schema(
        description="Count the segment's live customers now (remembered as `last_count`).",
        responses={200: SegmentCountOutputSerializer, **ERRORS},
    )
    @action(detail=True, methods=["get"])
    def count(self, request, pk=None):
        segment = self.get_object()
        count = segment_count(segment=segment)
        body = {"count": count, "counted_at": timezone.now()}
        return Response(SegmentCountOutputSerializer(body).data)


# --- Campaigns ----------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        description="Campaigns, newest first, filtered by `status`, `channel` and owner "
        "`team`; cursor-paginated.",
        parameters=[CampaignQuerySerializer],
        responses={200: CampaignOutputSerializer(many=True), 400: ERRORS[400]},
    ),
    retrieve=extend_schema(
        description="One campaign with its variants, the service team's review (staff only), "
        "its audience size, and its messages by status and suppressed by reason.",
        responses={200: CampaignDetailOutputSerializer, 404: ERRORS[404]},
    ),
)
class CampaignViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Campaigns and their life: draft → (submit) in review → (a reviewer outside the owner
    team approves, or sends it back) approved → (launch) scheduled / sending → sent; paused
    and cancelled on the way. Each action calls one service and takes the ``version`` read.

    Partner keys read campaigns and reports with ``campaigns:read`` and can do nothing else;
    staff need ``campaigns.view_campaign`` to read, ``campaigns.add_campaign`` to create,
    ``campaigns.change_campaign`` to submit, launch, pause, resume and cancel, and
    ``campaigns.review_campaign`` (the service team) to review.
    """

    scope = "campaigns"
    model = Campaign
    serializer_class = CampaignDetailOutputSerializer
    pagination_class = IdCursorPagination
    filter_backends: list = []
    http_method_names = ["get", "post", "head", "options"]
    action_scopes: dict[str, str] = {
        name: STAFF_ONLY
        for name in ("create", "submit", "review", "launch", "pause", "resume", "cancel")
    }
    action_perms: dict[str, str] = {
        "submit": CHANGE,
        "review": REVIEW,
        "launch": CHANGE,
        "pause": CHANGE,
        "resume": CHANGE,
        "cancel": CHANGE,
        "report": "campaigns.view_campaign",
    }

    def get_serializer_class(self):
        return CampaignOutputSerializer if self.action == "list" else CampaignDetailOutputSerializer

    def select(self, actor):
        if self.action != "list":
            qs = campaign_list(actor=actor)  # one is found by its id alone
        else:
            query = validated_query(CampaignQuerySerializer, self.request)
            qs = campaign_list(actor=actor, status=query.pop("status", None))
            if "team" in query:
                query["team__slug"] = query.pop("team")
            qs = qs.filter(**query)
        if self.action == "retrieve":
            return qs.prefetch_related("variants", "reviews")
        if self.action == "report":
            return qs.prefetch_related("variants")
        return qs

    def retrieve(self, request, pk=None):
        campaign = campaign_counted(self.get_object())
        return Response(self.get_serializer(campaign).data)

    def _answer(self, campaign: Campaign, code: int = status.HTTP_200_OK) -> Response:
        """The campaign as it now stands, read back as ``retrieve`` shows it."""
        fresh = self.get_queryset().prefetch_related("variants", "reviews").get(pk=campaign.pk)
        return Response(self.get_serializer(campaign_counted(fresh)).data, status=code)

    @extend_schema(
        description="Create a draft campaign from a segment, with one to four variants of "
        "its content (A, B, ...). Problems are named on their paths (`variants.1.subject`); "
        "nothing is saved.",
        request=CampaignCreateInputSerializer,
        responses={201: CampaignDetailOutputSerializer, 400: ERRORS[400]},
    )
    def create(self, request):
        data = validated_body(CampaignCreateInputSerializer, request)
        campaign = campaign_create(actor=request.user, **data)
        return self._answer(campaign, status.HTTP_201_CREATED)

    @extend_schema(
        description="Ask the service team to review a draft's content and audience.",
        request=CampaignVersionInputSerializer,
        responses={200: CampaignDetailOutputSerializer, **ERRORS, **CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def submit(self, request, pk=None):
        campaign = self.get_object()
        data = validated_body(CampaignVersionInputSerializer, request)
        campaign = campaign_submit(actor=request.user, campaign=campaign, **data)
        return self._answer(campaign)

    @extend_schema(
        description="The service team's review of a campaign in review: a comment, an "
        "approval, or sending it back to draft (with a comment). A reviewer in the campaign's "
        "owner team is a 400 on `reviewer` (a team cannot approve its own campaign).",
        request=CampaignReviewInputSerializer,
        responses={200: CampaignDetailOutputSerializer, **ERRORS, **CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def review(self, request, pk=None):
        campaign = self.get_object()
        data = validated_body(CampaignReviewInputSerializer, request)
        campaign = campaign_review(actor=request.user, campaign=campaign, **data)
        return self._answer(campaign)

    @extend_schema(
        description="Launch an approved campaign now (its audience is built with the contact "
        "gate applied, then it sends in batches), or schedule it for `at`. A scheduled "
        "campaign can be launched now the same way.",
        request=CampaignLaunchInputSerializer,
        responses={200: CampaignDetailOutputSerializer, **ERRORS, **CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def launch(self, request, pk=None):
        campaign = self.get_object()
        data = validated_body(CampaignLaunchInputSerializer, request)
        campaign = campaign_launch(actor=request.user, campaign=campaign, **data)
        return self._answer(campaign)

    @extend_schema(
        description="Pause a sending or scheduled campaign (no more messages go out).",
        request=CampaignVersionInputSerializer,
        responses={200: CampaignDetailOutputSerializer, **ERRORS, **CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        campaign = self.get_object()
        data = validated_body(CampaignVersionInputSerializer, request)
        campaign = campaign_pause(actor=request.user, campaign=campaign, **data)
        return self._answer(campaign)

    @extend_schema(
        description="Resume a paused campaign: it sends again (the gate is asked again for "
        "every message).",
        request=CampaignVersionInputSerializer,
        responses={200: CampaignDetailOutputSerializer, **ERRORS, **CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        campaign = self.get_object()
        data = validated_body(CampaignVersionInputSerializer, request)
        campaign = campaign_resume(actor=request.user, campaign=campaign, **data)
        return self._answer(campaign)

    @extend_schema(
        description="Cancel a campaign that is not sent yet (for good; what was sent stays sent).",
        request=CampaignVersionInputSerializer,
        responses={200: CampaignDetailOutputSerializer, **ERRORS, **CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        campaign = self.get_object()
        data = validated_body(CampaignVersionInputSerializer, request)
        campaign = campaign_cancel(actor=request.user, campaign=campaign, **data)
        return self._answer(campaign)

    @extend_schema(
        description="The campaign's report: the funnel (audience, suppressed by reason, sent, "
        "opened, clicked, converted), sends through service follow-ups apart, and each "
        "variant's click rate with the winner: the highest click rate once every variant has "
        f"at least {WINNER_MIN_SENT} sent; before that `winner` is null and `winner_note` "
        "says there is not enough data.",
        responses={200: CampaignReportOutputSerializer, 404: ERRORS[404]},
    )
    @action(detail=True, methods=["get"])
    def report(self, request, pk=None):
        campaign = self.get_object()
        body = report_body(campaign, campaign_report(campaign=campaign))
        return Response(CampaignReportOutputSerializer(body).data)


# --- The contact gate ---------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        description="May we send this customer this kind of message (`purpose`) on this "
        "`channel` now, and if not, why: every reason that applies, with its code and words "
        "(the same gate campaigns, surveys and service follow-ups go through). Each parameter "
        "is required and checked: an unknown customer is a 400 on `customer` (not a 404: the "
        "path names no object).",
        parameters=[ContactGateQuerySerializer],
        responses={200: ContactGateOutputSerializer, 400: ERRORS[400]},
    ),
)
class ContactGateViewSet(mixins.ListModelMixin, ScopedViewSet):
    """The contact gate: partner keys need ``contact_gate:read``; staff
    ``customers.view_customer``."""

    scope = "contact_gate"
    model = Customer
    pagination_class = None
    filter_backends: list = []
    http_method_names = ["get", "head", "options"]

    def list(self, request):
        query = validated_query(ContactGateQuerySerializer, request)
        answer = contact_gate(
            customer_id=query["customer"], purpose=query["purpose"], channel=query["channel"]
        )
        body = {
            "allowed": answer.allowed,
            "reasons": [{"code": code, "message": words} for code, words in answer.reasons],
        }
        return Response(ContactGateOutputSerializer(body).data)


# --- Conversions --------------------------------------------------------------------------


class ConversionViewSet(ScopedViewSet):
    """Conversions: partner keys need ``campaigns:write``; staff
    ``campaigns.change_delivery`` (supervisors)."""

    scope = "campaigns"
    model = Delivery
    pagination_class = None
    filter_backends: list = []
    http_method_names = ["post", "options"]
    action_perms: dict[str, str] = {"create": "campaigns.change_delivery"}

    @extend_schema(
        description="Report that a campaign message converted (e.g. an order placed from it): "
        "name the message (`delivery`), or its `campaign` and `customer`, with the order's "
        "`value` if known. Only a sent message converts. Idempotent: the first report is "
        "kept (201); a repeat changes nothing and answers 200 with the first one's time and "
        "value.",
        request=ConversionInputSerializer,
        responses={
            201: ConversionOutputSerializer,
            200: OpenApiResponse(
                ConversionOutputSerializer, description="Reported before: the first report."
            ),
            400: ERRORS[400],
        },
    )
    def create(self, request):
        data = validated_body(ConversionInputSerializer, request)
        delivery = data["delivery"]
        first = delivery.converted_at is None
        delivery = delivery_convert(actor=request.user, delivery=delivery, value=data["value"])
        code = status.HTTP_201_CREATED if first else status.HTTP_200_OK
        return Response(ConversionOutputSerializer(delivery).data, status=code)


# --- The sales pipeline -------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        description="Opportunities, newest first: the open ones (prospect, lead, offer) "
        "unless `stage` names one; `customer` narrows them. Cursor-paginated. Staff only.",
        parameters=[OpportunityQuerySerializer],
        responses={200: OpportunityOutputSerializer(many=True), 400: ERRORS[400]},
    ),
    retrieve=extend_schema(
        description="One opportunity. Staff only.",
        responses={200: OpportunityOutputSerializer, 404: ERRORS[404]},
    ),
)
class OpportunityViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """The sales pipeline: staff with ``campaigns.*_opportunity`` (sales, supervisors);
    partner keys never."""

    scope = "campaigns"
    model = Opportunity
    serializer_class = OpportunityOutputSerializer
    pagination_class = IdCursorPagination
    filter_backends: list = []
    http_method_names = ["get", "post", "patch", "head", "options"]
    action_scopes: dict[str, str] = {
        name: STAFF_ONLY for name in ("list", "retrieve", "create", "partial_update")
    }

    def select(self, actor):
        if self.action != "list":
            return Opportunity.objects.select_related("customer", "owner")
        query = validated_query(OpportunityQuerySerializer, self.request)
        qs = opportunity_list(actor=actor, stage=query.pop("stage", None))
        return qs.filter(**query)

    def _answer(self, opportunity: Opportunity, code: int = status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=opportunity.pk)
        return Response(self.get_serializer(fresh).data, status=code)

    @extend_schema(
        description="Add an opportunity for a customer (owned by you unless you name an "
        "`owner`). An erased or merged customer is a 400 on `customer`.",
        request=OpportunityCreateInputSerializer,
        responses={201: OpportunityOutputSerializer, 400: ERRORS[400]},
    )
    def create(self, request):
        data = validated_body(OpportunityCreateInputSerializer, request)
        opportunity = opportunity_save(actor=request.user, **data)
        return self._answer(opportunity, status.HTTP_201_CREATED)

    @extend_schema(
        description="Move an opportunity on (stage), or change its title, value or owner. "
        "Won and lost close it; any other stage opens it again.",
        request=OpportunityUpdateInputSerializer,
        responses={200: OpportunityOutputSerializer, **ERRORS},
    )
    def partial_update(self, request, pk=None):
        opportunity = self.get_object()
        data = validated_body(OpportunityUpdateInputSerializer, request)
        opportunity = opportunity_save(
            actor=request.user,
            opportunity=opportunity,
            customer=opportunity.customer,
            title=data.get("title", opportunity.title),
            stage=data.get("stage", opportunity.stage),
            value=data.get("value", opportunity.value),
            owner=data.get("owner"),
        )
        return self._answer(opportunity)
