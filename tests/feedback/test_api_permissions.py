"""Who may call each feedback API endpoint: anonymous, unknown key, partner key with and
without the scope, and every team by its default role. Ideas are staff business: no partner
scope submits or moves one. A refused write writes nothing."""

from dataclasses import dataclass

import pytest

from feedback.models import Idea, Response, Survey
from feedback.services.ideas import idea_submit
from tests.customers.test_outbound import mail_source
from tests.feedback.test_api import answer, person, survey, written
from tests.support.api_matrix import (
    TEAMS,
    api_call,
    assert_anonymous_refused,
    assert_keys_refused,
    assert_team_answer,
    assert_unknown_key_refused,
)

pytestmark = pytest.mark.django_db
EVERYONE = set(TEAMS)
INVITATION_READERS = {"service", "supervisor"}
SUPERVISORS = {"supervisor"}
READ, WRITE, STAFF_ONLY = "feedback:read", "feedback:write", None

# (name, method, path, body kind, success code, partner scope (None: staff only), teams
#  whose default role may call it). In paths, {survey}, {response} and {idea} are ids.
ENDPOINTS = [
    ("surveys", "get", "surveys/", None, 200, READ, EVERYONE),
    ("survey", "get", "surveys/{survey}/", None, 200, READ, EVERYONE),
    ("invitations", "get", "surveys/{survey}/invitations/", None, 200, READ, INVITATION_READERS),
    ("invite", "post", "surveys/{survey}/invitations/", "invite", 201, WRITE, SUPERVISORS),
    ("responses", "get", "responses/", None, 200, READ, EVERYONE),
    ("response", "get", "responses/{response}/", None, 200, READ, EVERYONE),
    ("scorecard", "get", "scorecard/", None, 200, READ, EVERYONE),
    ("themes", "get", "themes/", None, 200, READ, EVERYONE),
    ("ideas", "get", "ideas/", None, 200, READ, EVERYONE),
    ("idea", "get", "ideas/{idea}/", None, 200, READ, EVERYONE),
    ("submit_idea", "post", "ideas/", "idea", 201, STAFF_ONLY, EVERYONE),
    ("move_idea", "post", "ideas/{idea}/move/", "move", 200, STAFF_ONLY, SUPERVISORS),
]
IDS = [e[0] for e in ENDPOINTS]
PARAMS = ("name", "method", "path", "body", "ok", "scope", "allowed")


@dataclass
class World:
    survey: Survey
    response: Response
    idea: Idea
    customer_id: int  # one not invited yet


@pytest.fixture
def world(staff, smtp) -> World:
    """A survey answered once (through a real email channel), an idea, a customer to invite."""
    mail_source(smtp)
    boss = staff("supervisor")
    s = survey()
    response = answer(boss, s, 9, comment="Quick and kind", contact=True)
    idea = idea_submit(actor=boss, title="Quieter hold music")
    return World(s, response, idea, person(boss).pk)


def _body(kind: str | None, world: World) -> dict | None:
    return {
        None: None,
        "invite": {"customer": world.customer_id, "label": "permissions"},
        "idea": {"title": "Bigger fonts"},
        "move": {"status": "reviewing"},
    }[kind]


def _endpoint(method: str, path: str, body_kind: str | None, world: World):
    """``call(client)``: this endpoint's request, made with that client."""
    url = "/api/v1/" + path.format(
        survey=world.survey.pk, response=world.response.pk, idea=world.idea.pk
    )
    body = _body(body_kind, world)
    return lambda client: api_call(client, method, url, body)


@pytest.mark.parametrize(PARAMS, ENDPOINTS, ids=IDS)
def test_anonymous_is_401_and_writes_nothing(
    api, world, name, method, path, body, ok, scope, allowed
):
    assert_anonymous_refused(api, _endpoint(method, path, body, world), written)


@pytest.mark.parametrize(PARAMS, ENDPOINTS, ids=IDS)
def test_unknown_key_is_401(api, partner, world, name, method, path, body, ok, scope, allowed):
    partner([READ, WRITE])  # a real client exists; not this key
    assert_unknown_key_refused(api, _endpoint(method, path, body, world))


@pytest.mark.parametrize(PARAMS, ENDPOINTS, ids=IDS)
def test_key_without_the_scope_is_403_and_writes_nothing(
    partner, world, name, method, path, body, ok, scope, allowed
):
    # A read key cannot write, a write key cannot read, an unrelated scope neither; and no
    # key at all may submit or move an idea.
    others = [[WRITE] if method == "get" else [READ], ["customers:read", "cases:write"]]
    if scope is STAFF_ONLY:
        others.append([READ, WRITE])
    clients = {str(s): partner(s) for s in others}
    assert_keys_refused(clients, _endpoint(method, path, body, world), written)


@pytest.mark.parametrize(
    PARAMS, [e for e in ENDPOINTS if e[5] is not STAFF_ONLY], ids=[e[0] for e in ENDPOINTS if e[5]]
)
def test_key_with_the_scope_succeeds(partner, world, name, method, path, body, ok, scope, allowed):
    response = _endpoint(method, path, body, world)(partner([scope]))
    assert response.status_code == ok, response.json()


@pytest.mark.parametrize("team", [*TEAMS, None])
@pytest.mark.parametrize(PARAMS, ENDPOINTS, ids=IDS)
def test_each_team_by_its_default_role(
    api_as, world, team, name, method, path, body, ok, scope, allowed
):
    call = _endpoint(method, path, body, world)
    # None: in no team at all
    assert_team_answer(api_as(team), call, written, allowed=team in allowed, ok=ok)
