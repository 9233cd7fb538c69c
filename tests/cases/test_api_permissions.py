"""Who may call each cases API endpoint: anonymous, unknown key, partner key with and without
the scope, and every team by its default role. A refused write writes nothing."""

from datetime import timedelta

import pytest
from django.utils import timezone

from cases.models import Case
from cases.services import case_resolve
from tests.cases.factories import open_case, sla_policy
from tests.cases.test_api import sms_conversation, written
from tests.support.api_matrix import (
    TEAMS,
    api_call,
    assert_anonymous_refused,
    assert_keys_refused,
    assert_team_answer,
    assert_unknown_key_refused,
)

pytestmark = pytest.mark.django_db
READERS = {"marketing", "sales", "operations", "service", "supervisor"}
HISTORY_READERS = {"sales", "operations", "service", "supervisor"}
WORKERS = {"service", "supervisor"}


def _body(kind: str | None, case: Case) -> dict | None:
    later = (timezone.now() + timedelta(days=2)).isoformat()
    return {
        None: None,
        "create": {"customer": case.customer_id, "subject": "Another one"},
        "update": {"version": case.version, "subject": "Card lost"},
        "assign": {"version": case.version, "assignee": None},
        "status": {"version": case.version, "status": "open"},
        "transition": {"version": case.version, "note": "Done"},
        "deadline": {
            "version": case.version,
            "customer_deadline": later,
            "customer_deadline_reason": "Holiday",
        },
        "reply": {"body": "We are on it."},
        "note": {"body": "Internal"},
    }[kind]


# (name, method, path ("{id}" = the case, "{policy}" = an SLA policy), body kind, success
#  code, teams whose default role may call it)
ENDPOINTS = [
    ("list", "get", "cases/", None, 200, READERS),
    ("retrieve", "get", "cases/{id}/", None, 200, READERS),
    ("create", "post", "cases/", "create", 201, WORKERS),
    ("update", "patch", "cases/{id}/", "update", 200, WORKERS),
    ("assign", "post", "cases/{id}/assign/", "assign", 200, WORKERS),
    ("status", "post", "cases/{id}/status/", "status", 200, WORKERS),
    ("resolve", "post", "cases/{id}/resolve/", "transition", 200, WORKERS),
    ("reopen", "post", "cases/{id}/reopen/", "transition", 200, WORKERS),
    ("deadline", "post", "cases/{id}/deadline/", "deadline", 200, WORKERS),
    ("reply", "post", "cases/{id}/reply/", "reply", 201, WORKERS),
    ("notes", "post", "cases/{id}/notes/", "note", 201, WORKERS),
    ("events", "get", "cases/{id}/events/", None, 200, HISTORY_READERS),
    ("sla_list", "get", "sla-policies/", None, 200, HISTORY_READERS),
    ("sla_retrieve", "get", "sla-policies/{policy}/", None, 200, HISTORY_READERS),
]
IDS = [e[0] for e in ENDPOINTS]
PARAMS = ("name", "method", "path", "body", "ok", "allowed")


@pytest.fixture
def case(request):
    """A case the customer wrote to us about by SMS (so a reply has a channel); resolved for
    the reopen endpoint."""
    sla_policy()
    message = sms_conversation()
    case = open_case(customer=message.customer, interaction=message)
    if "reopen" in request.node.name:
        case = case_resolve(actor=None, case=case, version=case.version)
    return case


def _endpoint(method: str, path: str, body_kind: str | None, case: Case):
    """``call(client)``: this endpoint's request, made with that client."""
    url = "/api/v1/" + path.format(id=case.pk, policy=case.sla_policy_id)
    body = _body(body_kind, case)
    return lambda client: api_call(client, method, url, body)


@pytest.mark.parametrize(PARAMS, ENDPOINTS, ids=IDS)
def test_anonymous_is_401_and_writes_nothing(api, case, name, method, path, body, ok, allowed):
    assert_anonymous_refused(api, _endpoint(method, path, body, case), written)


@pytest.mark.parametrize(PARAMS, ENDPOINTS, ids=IDS)
def test_unknown_key_is_401(api, partner, case, name, method, path, body, ok, allowed):
    partner(["cases:read", "cases:write"])  # a real client exists; not this key
    assert_unknown_key_refused(api, _endpoint(method, path, body, case))


@pytest.mark.parametrize(PARAMS, ENDPOINTS, ids=IDS)
def test_key_without_the_scope_is_403_and_writes_nothing(
    partner, case, name, method, path, body, ok, allowed
):
    # A read key cannot write, a write key cannot read; and an unrelated scope neither.
    other = ["cases:write"] if method == "get" else ["cases:read"]
    clients = {str(s): partner(s) for s in (other, ["customers:read", "customers:write"])}
    assert_keys_refused(clients, _endpoint(method, path, body, case), written)


@pytest.mark.parametrize(PARAMS, ENDPOINTS, ids=IDS)
def test_key_with_the_scope_succeeds(partner, case, name, method, path, body, ok, allowed):
    scope = "cases:read" if method == "get" else "cases:write"
    response = _endpoint(method, path, body, case)(partner([scope]))
    assert response.status_code == ok, response.json()


@pytest.mark.parametrize("team", [*TEAMS, None])
@pytest.mark.parametrize(PARAMS, ENDPOINTS, ids=IDS)
def test_each_team_by_its_default_role(api_as, case, team, name, method, path, body, ok, allowed):
    call = _endpoint(method, path, body, case)
    # None: in no team at all
    assert_team_answer(api_as(team), call, written, allowed=team in allowed, ok=ok)
