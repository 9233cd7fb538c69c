"""The feedback API: surveys and their invitations, responses, the weekly scorecard, theme
trends and staff ideas.

Partner keys need ``feedback:read`` for reads and ``feedback:write`` to invite a customer;
ideas are staff business (partners read them, never submit or move them). Staff need the
model permission each action names (``action_perms``), from their team's default role.
"""

from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from customers.api.privacy import STAFF_ONLY
from cxportal.api.pagination import IdCursorPagination
from cxportal.api.viewsets import (
    ScopedReadOnlyViewSet,
    ScopedViewSet,
    validated_body,
    validated_query,
)
from feedback.api.serializers import (
    IdeaCreateInputSerializer,
    IdeaMoveInputSerializer,
    IdeaOutputSerializer,
    IdeaQuerySerializer,
    InvitationCreateInputSerializer,
    InvitationOutputSerializer,
    ResponseOutputSerializer,
    ResponseQuerySerializer,
    ScorecardOutputSerializer,
    ScorecardQuerySerializer,
    SurveyOutputSerializer,
    ThemeTrendOutputSerializer,
    is_partner,
)
from feedback.models import Idea, Survey, Theme
from feedback.models import Response as SurveyResponse
from feedback.selectors import (
    idea_list,
    invitation_list,
    response_list,
    scorecard,
    scores,
    survey_list,
    theme_examples_by_theme,
    theme_trends,
)
from feedback.services.ideas import idea_move, idea_submit
from feedback.services.surveys import survey_invite

ERRORS = {
    400: OpenApiResponse(description="Invalid input: `{message, code, errors}` per field."),
    404: OpenApiResponse(description="No such object, or not one the caller may see."),
}
ANONYMITY_NOTE = (
    " An answer is always counted; it is kept against the customer (`customer`) only when "
    "they allowed us to contact them about it. The comment of an anonymous answer is shown, "
    "never with a customer id. The follow-up's outcome and author are for staff only."
)


def _caller(user) -> str:
    """Who invites when the request names no label: the API client, or the staff member."""
    client = getattr(user, "api_client", None)
    return f"client-{client.pk}" if client is not None else f"staff-{user.pk}"


@extend_schema_view(
    list=extend_schema(description="Surveys, newest first; cursor-paginated."),
    retrieve=extend_schema(
        description="One survey.", responses={200: SurveyOutputSerializer, 404: ERRORS[404]}
    ),
)
class SurveyViewSet(ScopedReadOnlyViewSet):
    """Surveys (read-only; supervisors configure them in admin) and their invitations.

    Partner keys need ``feedback:read`` (``feedback:write`` to invite); staff need
    ``feedback.view_survey``, ``feedback.view_surveyinvitation`` to list invitations and
    ``feedback.add_surveyinvitation`` to invite.
    """

    scope = "feedback"
    model = Survey
    serializer_class = SurveyOutputSerializer
    pagination_class = IdCursorPagination
    filter_backends: list = []
    http_method_names = ["get", "post", "head", "options"]
    action_perms: dict[str, str] = {
        "invitations": "feedback.view_surveyinvitation",
        "invite": "feedback.add_surveyinvitation",
    }

    def select(self, actor):
        return survey_list(actor=actor)

    @extend_schema(
        description="The survey's invitations, newest first: whether each was sent (when, on "
        "which channel), answered, expired, or not sent and why (`suppressed_reason`). "
        "`answered_at` is shown only for answers kept against the customer. Cursor-paginated.",
        responses={200: InvitationOutputSerializer(many=True), 404: ERRORS[404]},
    )
    @action(detail=True, methods=["get"])
    def invitations(self, request, pk=None):
        survey = self.get_object()
        page = self.paginate_queryset(invitation_list(actor=request.user, survey_id=survey.pk))
        return self.get_paginated_response(InvitationOutputSerializer(page, many=True).data)

    @extend_schema(
        description="Invite one customer. The invitation is scheduled after the survey's delay "
        "and sent like any other (no survey while the customer has an open case or inside the "
        "quiet period; feedback consent needed: otherwise it is not sent, with the reason). "
        "Idempotent: it is made once per survey, customer and `label` (trigger key "
        "`api:<label or caller>:<customer>`); the same request again answers 200 with the "
        "invitation made the first time. A customer outside the survey's sample (its "
        "`sampling_rate`) is not invited: 204, and the same again on a retry. An unknown, "
        "erased or merged customer is a 400 on `customer`; an inactive survey a 400 on "
        "`survey`.",
        request=InvitationCreateInputSerializer,
        responses={
            201: InvitationOutputSerializer,
            200: OpenApiResponse(
                InvitationOutputSerializer, description="Invited before: the same invitation."
            ),
            204: OpenApiResponse(description="Not in the survey's sample: nobody was invited."),
            **ERRORS,
        },
    )
    @invitations.mapping.post
    def invite(self, request, pk=None):
        survey = self.get_object()
        data = validated_body(InvitationCreateInputSerializer, request, survey=survey)
        customer = data["customer"]
        label = data["label"] or _caller(request.user)
        now = timezone.now()
        invitation = survey_invite(
            survey=survey, customer=customer, trigger_key=f"api:{label}:{customer.pk}", now=now
        )
        if invitation is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        made_now = invitation.created_at == now  # a replay finds the one made before
        invitation = invitation_list(actor=request.user).get(pk=invitation.pk)
        return Response(
            InvitationOutputSerializer(invitation).data,
            status=status.HTTP_201_CREATED if made_now else status.HTTP_200_OK,
        )


@extend_schema_view(
    list=extend_schema(
        description="Survey answers, newest first, with filters; cursor-paginated."
        + ANONYMITY_NOTE,
        parameters=[ResponseQuerySerializer],
        responses={200: ResponseOutputSerializer(many=True), 400: ERRORS[400]},
    ),
    retrieve=extend_schema(
        description="One survey answer." + ANONYMITY_NOTE,
        responses={200: ResponseOutputSerializer, 404: ERRORS[404]},
    ),
)
class ResponseViewSet(ScopedReadOnlyViewSet):
    """Survey answers: partner keys need ``feedback:read``; staff ``feedback.view_response``."""

    scope = "feedback"
    model = SurveyResponse
    serializer_class = ResponseOutputSerializer
    pagination_class = IdCursorPagination
    filter_backends: list = []

    def select(self, actor):
        if self.action != "list":
            return response_list(actor=actor)  # one is found by its id alone
        return response_list(
            actor=actor, filters=validated_query(ResponseQuerySerializer, self.request)
        )


@extend_schema_view(
    list=extend_schema(
        description="The weekly scorecard: one kind of score (`kind`) per week and per "
        "channel, team, region or survey (`dimension`), each with its sample size, and every "
        "kind's total over the period. `since` and `until` are days (inclusive, in the "
        "portal's time zone); at most 2 years at once.",
        parameters=[ScorecardQuerySerializer],
        responses={200: ScorecardOutputSerializer, 400: ERRORS[400]},
    ),
)
class ScorecardViewSet(mixins.ListModelMixin, ScopedViewSet):
    """The scorecard: partner keys need ``feedback:read``; staff ``feedback.view_response``."""

    scope = "feedback"
    model = SurveyResponse
    pagination_class = None
    filter_backends: list = []

    def list(self, request):
        query = validated_query(ScorecardQuerySerializer, request)
        period = {"actor": request.user, "since": query["start"], "until": query["end"]}
        rows = scorecard(**period, dimension=query["dimension"], kind=query["kind"])
        body = {
            "since": query["since"],
            "until": query["until"],
            "dimension": query["dimension"],
            "kind": query["kind"],
            "rows": [
                {
                    "week": row.week.date(),  # truncated in the portal's time zone
                    "group": row.group,
                    "value": row.score.value,
                    "n": row.score.n,
                }
                for row in rows
            ],
            "totals": [
                {"kind": s.kind, "label": s.label, "value": s.value, "n": s.n}
                for s in scores(**period)
            ],
        }
        return Response(ScorecardOutputSerializer(body).data)


@extend_schema_view(
    list=extend_schema(
        description="Themes people talk about this week (answers and mentions of the last 7 "
        "days) against their weekly average over the four weeks before, the fastest risers "
        "first. Staff also get the latest examples of each theme; partner API keys get the "
        "counts alone.",
        responses={200: ThemeTrendOutputSerializer(many=True)},
    ),
)
class ThemeTrendViewSet(mixins.ListModelMixin, ScopedViewSet):
    """Theme trends: partner keys need ``feedback:read``; staff ``feedback.view_theme`` (and
    ``feedback.view_mention`` with ``feedback.view_response`` for the examples)."""

    scope = "feedback"
    model = Theme
    pagination_class = None
    filter_backends: list = []

    def list(self, request):
        trends = [
            {
                "theme_id": t.theme_id,
                "name": t.name,
                "this_week": t.this_week,
                "weekly_before": t.weekly_before,
                "rise": t.rise,
            }
            for t in theme_trends()
        ]
        user = request.user
        if not is_partner(user) and user.has_perms(
            ["feedback.view_mention", "feedback.view_response"]
        ):
            examples = theme_examples_by_theme(theme_ids=[t["theme_id"] for t in trends])
            for trend in trends:
                trend["examples"] = examples[trend["theme_id"]]
        return Response(ThemeTrendOutputSerializer(trends, many=True).data)


@extend_schema_view(
    list=extend_schema(
        description="Staff ideas, the latest submitted first; `status` narrows them. "
        "Cursor-paginated.",
        parameters=[IdeaQuerySerializer],
        responses={200: IdeaOutputSerializer(many=True), 400: ERRORS[400]},
    ),
    retrieve=extend_schema(
        description="One idea.", responses={200: IdeaOutputSerializer, 404: ERRORS[404]}
    ),
)
class IdeaViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Staff ideas. Partner keys read them with ``feedback:read`` and can never submit or
    move one; staff need ``feedback.view_idea``, ``feedback.add_idea`` to submit and
    ``feedback.change_idea`` (supervisors) to move one on."""

    scope = "feedback"
    model = Idea
    serializer_class = IdeaOutputSerializer
    pagination_class = IdCursorPagination
    filter_backends: list = []
    http_method_names = ["get", "post", "head", "options"]
    action_scopes: dict[str, str] = {"create": STAFF_ONLY, "move": STAFF_ONLY}
    action_perms: dict[str, str] = {"move": "feedback.change_idea"}

    def select(self, actor):
        if self.action != "list":
            return idea_list()
        return idea_list(status=validated_query(IdeaQuerySerializer, self.request).get("status"))

    def _answer(self, idea: Idea, code: int = status.HTTP_200_OK) -> Response:
        return Response(self.get_serializer(self.get_queryset().get(pk=idea.pk)).data, status=code)

    @extend_schema(
        description="Submit an improvement idea (staff only; partner API keys cannot).",
        request=IdeaCreateInputSerializer,
        responses={201: IdeaOutputSerializer, 400: ERRORS[400]},
    )
    def create(self, request):
        data = validated_body(IdeaCreateInputSerializer, request)
        idea = idea_submit(actor=request.user, **data)
        return self._answer(idea, status.HTTP_201_CREATED)

    @extend_schema(
        description="Move an idea on (supervisors): submitted → reviewing → implementing → "
        "implemented, or declined with a note the person who had it reads; a declined idea "
        "may be reviewed again. Any other move is a 400 on `status`.",
        request=IdeaMoveInputSerializer,
        responses={200: IdeaOutputSerializer, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def move(self, request, pk=None):
        idea = self.get_object()
        data = validated_body(IdeaMoveInputSerializer, request)
        idea = idea_move(actor=request.user, idea=idea, **data)
        return self._answer(idea)
