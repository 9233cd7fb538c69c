"""Who may call each cases API endpoint: anonymous, unknown key, partner key with and without
the scope, and every team by its default role. A refused write writes nothing."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from cases.models import Case
from cases.services import case_resolve
from tests.cases.factories import open_case, sla_policy
from tests.cases.test_api import sms_conversation, written

pytestmark = pytest.mark.django_db
TEAMS = ("marketing", "sales", "operations", "service", "supervisor")
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


def _call(client: APIClient, method: str, path: str, body_kind: str | None, case: Case):
    url = "/api/v1/" + path.format(id=case.pk, policy=case.sla_policy_id)
    body = _body(body_kind, case)
    return getattr(client, method)(url, body, format="json") if body else client.get(url)


@pytest.mark.parametrize(PARAMS, ENDPOINTS, ids=IDS)
def test_anonymous_is_401_and_writes_nothing(api, case, name, method, path, body, ok, allowed):
    before = written()
    response = _call(api, method, path, body, case)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert written() == before


@pytest.mark.parametrize(PARAMS, ENDPOINTS, ids=IDS)
def test_unknown_key_is_401(api, partner, case, name, method, path, body, ok, allowed):
    partner(["cases:read", "cases:write"])  # a real client exists; not this key
    api.credentials(HTTP_AUTHORIZATION="Api-Key abcdefgh.not-the-secret")
    response = _call(api, method, path, body, case)
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


@pytest.mark.parametrize(PARAMS, ENDPOINTS, ids=IDS)
def test_key_without_the_scope_is_403_and_writes_nothing(
    partner, case, name, method, path, body, ok, allowed
):
    # A read key cannot write, a write key cannot read; and an unrelated scope neither.
    other = ["cases:write"] if method == "get" else ["cases:read"]
    clients = {str(s): partner(s) for s in (other, ["customers:read", "customers:write"])}
    before = written()
    for scopes, client in clients.items():
        response = _call(client, method, path, body, case)
        assert response.status_code == 403, (scopes, response.json())
        assert response.json()["code"] == "permission_denied"
    assert written() == before


@pytest.mark.parametrize(PARAMS, ENDPOINTS, ids=IDS)
def test_key_with_the_scope_succeeds(partner, case, name, method, path, body, ok, allowed):
    scope = "cases:read" if method == "get" else "cases:write"
    response = _call(partner([scope]), method, path, body, case)
    assert response.status_code == ok, response.json()


@pytest.mark.parametrize("team", [*TEAMS, None])
@pytest.mark.parametrize(PARAMS, ENDPOINTS, ids=IDS)
def test_each_team_by_its_default_role(api_as, case, team, name, method, path, body, ok, allowed):
    before = written()
    response = _call(api_as(team), method, path, body, case)  # None: in no team at all
    if team in allowed:
        assert response.status_code == ok, response.json()
    else:
        assert response.status_code == 403, response.json()
        assert response.json()["code"] == "permission_denied"
        assert written() == before
