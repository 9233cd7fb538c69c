"""The permission matrix each app's API is walked through: anonymous, an unknown key, partner
keys without and with the scope, and every team by its default role. A refused call writes
nothing: ``written()`` (the app's own row counts) is the same before and after.

``call(client)`` makes the endpoint's request with that client; each app's test builds it
from its endpoint table and the objects it made."""

from collections.abc import Callable

TEAMS = ("marketing", "sales", "operations", "service", "supervisor")
UNKNOWN_KEY = "Api-Key abcdefgh.not-the-secret"  # well formed; no client has it

Call = Callable[..., object]
Written = Callable[[], object]


def api_call(client, method: str, url: str, body: dict | None):
    """One request: a JSON body when there is one, else a GET."""
    return getattr(client, method)(url, body, format="json") if body else client.get(url)


def assert_refused(response, status: int, code: str) -> None:
    assert response.status_code == status, response.json()
    assert response.json()["code"] == code


def assert_anonymous_refused(api, call: Call, written: Written) -> None:
    before = written()
    assert_refused(call(api), 401, "not_authenticated")
    assert written() == before


def assert_unknown_key_refused(api, call: Call) -> None:
    api.credentials(HTTP_AUTHORIZATION=UNKNOWN_KEY)
    assert_refused(call(api), 401, "authentication_failed")


def assert_keys_refused(clients: dict, call: Call, written: Written) -> None:
    """Every key in ``clients`` (by its scopes) gets 403, and nothing is written."""
    before = written()
    for scopes, client in clients.items():
        response = call(client)
        assert response.status_code == 403, (scopes, response.json())
        assert response.json()["code"] == "permission_denied"
    assert written() == before


def assert_team_answer(client, call: Call, written: Written, *, allowed: bool, ok: int) -> None:
    """A team's member succeeds with ``ok`` where allowed, else gets 403 and writes nothing."""
    before = written()
    response = call(client)
    if allowed:
        assert response.status_code == ok, response.json()
    else:
        assert_refused(response, 403, "permission_denied")
        assert written() == before
