"""Who may call each feedback API endpoint: anonymous, unknown key, partner key with and
without the scope, and every team by its default role. Ideas are staff business: no partner
scope submits or moves one. A refused write writes nothing."""

from dataclasses import dataclass

import pytest

from feedback.models import Idea, Response, Survey
from feedback.services.ideas import idea_submit
from tests.customers.test_outbound import mail_source
from tests.feedback.test_api import answer, person, survey, written

pytestmark = pytest.mark.django_db
TEAMS = ("marketing", "sales", "operations", "service", "supervisor")
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


def _call(client, method: str, path: str, body_kind: str | None, world: World):
    url = "/api/v1/" + path.format(
        survey=world.survey.pk, response=world.response.pk, idea=world.idea.pk
    )
    body = _body(body_kind, world)
    return getattr(client, method)(url, body, format="json") if body else client.get(url)


@pytest.mark.parametrize(PARAMS, ENDPOINTS, ids=IDS)
def test_anonymous_is_401_and_writes_nothing(
    api, world, name, method, path, body, ok, scope, allowed
):
    before = written()
    response = _call(api, method, path, body, world)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert written() == before


@pytest.mark.parametrize(PARAMS, ENDPOINTS, ids=IDS)
def test_unknown_key_is_401(api, partner, world, name, method, path, body, ok, scope, allowed):
    partner([READ, WRITE])  # a real client exists; not this key
    api.credentials(HTTP_AUTHORIZATION="Api-Key abcdefgh.not-the-secret")
    response = _call(api, method, path, body, world)
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


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
    before = written()
    for scopes, client in clients.items():
        response = _call(client, method, path, body, world)
        assert response.status_code == 403, (scopes, response.json())
        assert response.json()["code"] == "permission_denied"
    assert written() == before


@pytest.mark.parametrize(
    PARAMS, [e for e in ENDPOINTS if e[5] is not STAFF_ONLY], ids=[e[0] for e in ENDPOINTS if e[5]]
)
def test_key_with_the_scope_succeeds(partner, world, name, method, path, body, ok, scope, allowed):
    response = _call(partner([scope]), method, path, body, world)
    assert response.status_code == ok, response.json()


@pytest.mark.parametrize("team", [*TEAMS, None])
@pytest.mark.parametrize(PARAMS, ENDPOINTS, ids=IDS)
def test_each_team_by_its_default_role(
    api_as, world, team, name, method, path, body, ok, scope, allowed
):
    before = written()
    response = _call(api_as(team), method, path, body, world)  # None: in no team at all
    if team in allowed:
        assert response.status_code == ok, response.json()
    else:
        assert response.status_code == 403, response.json()
        assert response.json()["code"] == "permission_denied"
        assert written() == before
