from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from cases.api.serializers import (
    CaseAssignInputSerializer,
    CaseCreateInputSerializer,
    CaseDeadlineInputSerializer,
    CaseEventOutputSerializer,
    CaseNoteInputSerializer,
    CaseOutputSerializer,
    CaseReplyInputSerializer,
    CaseReplyOutputSerializer,
    CaseStatusInputSerializer,
    CaseTransitionInputSerializer,
    CaseUpdateInputSerializer,
    SlaPolicyOutputSerializer,
)
from cases.filtersets import CaseFilterSet
from cases.models import Case, SlaPolicy
from cases.selectors import case_events, case_list, sla_policy_list
from cases.services import (
    case_assign,
    case_deadline_set,
    case_note_add,
    case_open,
    case_reopen,
    case_reply,
    case_resolve,
    case_status_change,
    case_update,
)
from cxportal.api.pagination import IdCursorPagination
from cxportal.api.viewsets import ScopedReadOnlyViewSet, ScopedViewSet

ERRORS = {
    400: OpenApiResponse(description="Invalid input: `{message, code, errors}` per field."),
    404: OpenApiResponse(description="No such case, or not one the caller may see."),
}
CONFLICT = {
    409: OpenApiResponse(
        description="`version` is not the current one: someone saved the case since you read "
        "it. Nothing was written; `errors.version` gives the current version."
    )
}
NOTES_NOTE = (
    " Internal notes (and the notes of status changes) are shown only to staff allowed to "
    "read them (`cases.view_internal_note`); never to partner API keys."
)


class EventCursorPagination(IdCursorPagination):
    """A case's history, oldest first."""

    ordering = "id"
    page_size = 100


@extend_schema_view(
    list=extend_schema(
        description="Cases, newest first, with filters (status, state, team slug, assignee "
        "username, unassigned, priority, category, customer id, SLA due before, customer "
        "deadline before); cursor-paginated."
    ),
    retrieve=extend_schema(
        description="One case with its SLA clocks and the customer's own deadline.",
        responses={200: CaseOutputSerializer, 404: ERRORS[404]},
    ),
)
class CaseViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Cases, their history, and what is done to them (each action calls one service).

    Partner keys need ``cases:read`` for reads and ``cases:write`` for writes; staff need
    the model permission the action names in ``action_perms`` (or the case one).
    """

    scope = "cases"
    model = Case
    serializer_class = CaseOutputSerializer
    filterset_class = CaseFilterSet
    pagination_class = IdCursorPagination
    http_method_names = ["get", "post", "patch", "head", "options"]
    action_perms: dict[str, str] = {
        "assign": "cases.change_case",
        "change_status": "cases.change_case",
        "resolve": "cases.change_case",
        "reopen": "cases.change_case",
        "deadline": "cases.change_case",
        "reply": "cases.reply_case",
        "add_note": "cases.add_caseevent",
        "events": "cases.view_caseevent",
    }

    def select(self, actor):
        return case_list(actor=actor)

    def filter_queryset(self, queryset):
        # Filters are for the list; one case is found by its id alone.
        return super().filter_queryset(queryset) if self.action == "list" else queryset

    def _answer(self, case: Case, code: int = status.HTTP_200_OK) -> Response:
        """The case as it now stands, read back with what the output shows (one query)."""
        fresh = self.get_queryset().get(pk=case.pk)
        return Response(self.get_serializer(fresh).data, status=code)

    def _input(self, serializer_class):
        serializer = serializer_class(data=self.request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    @extend_schema(
        description="Open a case for a customer (optionally from one of their interactions, "
        "with a team, an assignee and the customer's own deadline). Without `team`, the "
        "routing rules choose it. Unknown ids and names are a 400 on their field.",
        request=CaseCreateInputSerializer,
        responses={201: CaseOutputSerializer, 400: ERRORS[400]},
    )
    def create(self, request):
        data = self._input(CaseCreateInputSerializer)
        case = case_open(actor=request.user, **data)
        return self._answer(case, status.HTTP_201_CREATED)

    @extend_schema(
        description="Change the subject, description, category, priority or team, with the "
        "`version` you read. A change of team, priority or category picks the SLA policy "
        "again.",
        request=CaseUpdateInputSerializer,
        responses={200: CaseOutputSerializer, **ERRORS, **CONFLICT},
    )
    def partial_update(self, request, pk=None):
        case = self.get_object()
        data = self._input(CaseUpdateInputSerializer)
        case = case_update(actor=request.user, case=case, **data)
        return self._answer(case)

    @extend_schema(
        description="Give the case to a staff member who works on cases, or (null) put it "
        "back in the team queue.",
        request=CaseAssignInputSerializer,
        responses={200: CaseOutputSerializer, **ERRORS, **CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        case = self.get_object()
        data = self._input(CaseAssignInputSerializer)
        case = case_assign(actor=request.user, case=case, **data)
        return self._answer(case)

    @extend_schema(
        description="Move the case to another status, if the transition is allowed "
        "(new → open/waiting/on hold/resolved; resolved → open/closed; closed is final).",
        request=CaseStatusInputSerializer,
        responses={200: CaseOutputSerializer, **ERRORS, **CONFLICT},
    )
    @action(detail=True, methods=["post"], url_path="status")
    def change_status(self, request, pk=None):
        case = self.get_object()
        data = self._input(CaseStatusInputSerializer)
        case = case_status_change(actor=request.user, case=case, **data)
        return self._answer(case)

    @extend_schema(
        description="Resolve the case. Announces the resolution to the rest of the portal "
        "once saved.",
        request=CaseTransitionInputSerializer,
        responses={200: CaseOutputSerializer, **ERRORS, **CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        case = self.get_object()
        data = self._input(CaseTransitionInputSerializer)
        case = case_resolve(actor=request.user, case=case, **data)
        return self._answer(case)

    @extend_schema(
        description="Reopen a resolved case (it becomes open; a closed case stays closed).",
        request=CaseTransitionInputSerializer,
        responses={200: CaseOutputSerializer, **ERRORS, **CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def reopen(self, request, pk=None):
        case = self.get_object()
        data = self._input(CaseTransitionInputSerializer)
        case = case_reopen(actor=request.user, case=case, **data)
        return self._answer(case)

    @extend_schema(
        description="Record the customer's own deadline (\"needs it by <date> because "
        '<reason>"), shown apart from the SLA; null clears it. A deadline in the past is a '
        "400.",
        request=CaseDeadlineInputSerializer,
        responses={200: CaseOutputSerializer, **ERRORS, **CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def deadline(self, request, pk=None):
        case = self.get_object()
        data = self._input(CaseDeadlineInputSerializer)
        case = case_deadline_set(
            actor=request.user,
            case=case,
            version=data["version"],
            deadline=data["customer_deadline"],
            reason=data["customer_deadline_reason"],
        )
        return self._answer(case)

    @extend_schema(
        description="Answer the customer through their channel: their latest message on the "
        "case, else on the chosen (or the case's origin) channel. The reply is an outbound "
        "interaction on the customer's timeline, linked to the case, sent after the commit. "
        "A customer who has not written on that channel is a 400 on `channel`.",
        request=CaseReplyInputSerializer,
        responses={201: CaseReplyOutputSerializer, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def reply(self, request, pk=None):
        case = self.get_object()
        data = self._input(CaseReplyInputSerializer)
        reply = case_reply(actor=request.user, case=case, **data)
        return Response(CaseReplyOutputSerializer(reply).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        description="The case's history, oldest first: creation, status changes, "
        "assignments, updates, replies, deadlines, linked interactions and notes. "
        "Cursor-paginated." + NOTES_NOTE,
        responses={200: CaseEventOutputSerializer(many=True), 404: ERRORS[404]},
    )
    @action(
        detail=True,
        methods=["get"],
        filter_backends=[],
        pagination_class=EventCursorPagination,
    )
    def events(self, request, pk=None):
        case = self.get_object()
        page = self.paginate_queryset(case_events(actor=request.user, case=case))
        serializer = CaseEventOutputSerializer(page, many=True, context={"request": request})
        return self.get_paginated_response(serializer.data)

    @extend_schema(
        description="Add an internal note: staff only reading, never sent to the customer. "
        "Notes only add, so they need no version." + NOTES_NOTE,
        request=CaseNoteInputSerializer,
        responses={201: CaseEventOutputSerializer, **ERRORS},
    )
    @action(detail=True, methods=["post"], url_path="notes", filter_backends=[])
    def add_note(self, request, pk=None):
        case = self.get_object()
        data = self._input(CaseNoteInputSerializer)
        event = case_note_add(actor=request.user, case=case, body=data["body"])
        output = CaseEventOutputSerializer(event, context={"request": request})
        return Response(output.data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    list=extend_schema(description="SLA policies (read-only; supervisors edit them in admin)."),
    retrieve=extend_schema(
        description="One SLA policy.",
        responses={200: SlaPolicyOutputSerializer, 404: ERRORS[404]},
    ),
)
class SlaPolicyViewSet(ScopedReadOnlyViewSet):
    """SLA policies: partner keys need ``cases:read``; staff ``cases.view_slapolicy``."""

    scope = "cases"
    model = SlaPolicy
    serializer_class = SlaPolicyOutputSerializer
    pagination_class = IdCursorPagination

    def select(self, actor):
        return sla_policy_list(actor=actor)
