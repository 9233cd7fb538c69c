"""Partners' own webhook subscriptions through the API: who may call each endpoint, another
client's subscription answering 404, the secret shown once, URLs at private addresses
refused outside DEBUG (SSRF), bad input a 400 with nothing written, the delivery log, and
pinned query counts. Also: deliveries go only to clients still allowed to read the event,
and never follow a redirect."""

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from rest_framework.test import APIClient

from cxportal import outbound_webhooks
from cxportal.api.authentication import api_client_cache_forget
from cxportal.models import APIClient as Client
from cxportal.models import AuditEvent, WebhookDelivery, WebhookSubscription
from cxportal.outbound_webhooks import (
    MAX_SUBSCRIPTIONS_PER_CLIENT,
    webhook_deliver,
    webhook_event_publish,
    webhook_subscription_create,
)
from cxportal.services import api_client_create
from tests.support.api_matrix import (
    TEAMS,
    assert_anonymous_refused,
    assert_refused,
    assert_unknown_key_refused,
)

pytestmark = pytest.mark.django_db
URL = "/api/v1/webhook-subscriptions/"
SCOPES = ["webhooks:manage", "disruptions:read"]
HOOK = "https://hooks.partner.example/cx"
PUBLIC_IP = "93.184.216.34"
WRITTEN = (WebhookSubscription, WebhookDelivery, AuditEvent)


def written() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in WRITTEN}


@pytest.fixture(autouse=True)
def dns(monkeypatch):
    """Public DNS, played here: names under ``.example`` resolve as listed (or not at all);
    IP literals and localhost resolve for real, which needs no network."""
    names = {
        "hooks.partner.example": [PUBLIC_IP],
        "other.partner.example": [PUBLIC_IP],
        "intranet.partner.example": ["10.1.2.3"],
        "metadata.partner.example": ["169.254.169.254"],
        "split.partner.example": [PUBLIC_IP, "127.0.0.1"],
    }
    real = outbound_webhooks._resolve

    def resolve(host: str, port: int) -> list[str]:
        if host.endswith(".example"):
            if host not in names:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            return names[host]
        return real(host, port)

    monkeypatch.setattr(outbound_webhooks, "_resolve", resolve)


@pytest.fixture(autouse=True)
def production(settings):
    settings.DEBUG = False  # the URL check is on, as in production


@pytest.fixture
def app():
    """``app(scopes)``: a partner client's row and a DRF client using its key."""

    def make(scopes=SCOPES) -> tuple[Client, APIClient]:
        row, key = api_client_create(name=f"partner-{Client.objects.count()}", scopes=scopes)
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
        return row, api

    return make


def subscribe(client: Client | None, url: str = HOOK, **fields) -> WebhookSubscription:
    return webhook_subscription_create(
        actor=None,
        api_client=client,
        name=fields.pop("name", "Journey planner"),
        url=url,
        events=fields.pop("events", ["disruption.published"]),
    )


# --- Who may call each endpoint ---------------------------------------------------------

BODIES = {
    None: None,
    "create": {"name": "Planner", "url": HOOK, "events": ["disruption.published"]},
    "update": {"name": "Renamed", "is_active": False},
}
# (name, method, path ("{id}": a subscription of the caller's client), body, success code)
ENDPOINTS = [
    ("list", "get", "", None, 200),
    ("create", "post", "", "create", 201),
    ("retrieve", "get", "{id}/", None, 200),
    ("update", "patch", "{id}/", "update", 200),
    ("delete", "delete", "{id}/", None, 204),
    ("deliveries", "get", "{id}/deliveries/", None, 200),
]
IDS = [e[0] for e in ENDPOINTS]
PARAMS = ("name", "method", "path", "body", "ok")


def _call(api: APIClient, method: str, path: str, body: str | None, subscription):
    url = URL + path.format(id=subscription.pk)
    data = BODIES[body]
    return getattr(api, method)(url, data, format="json") if data else getattr(api, method)(url)


@pytest.fixture
def owned(app):
    """A partner app and one of its subscriptions."""
    client, api = app()
    return client, api, subscribe(client)


@pytest.mark.parametrize(PARAMS, ENDPOINTS, ids=IDS)
def test_anonymous_is_401_and_writes_nothing(api, owned, name, method, path, body, ok):
    assert_anonymous_refused(api, lambda c: _call(c, method, path, body, owned[2]), written)


@pytest.mark.parametrize(PARAMS, ENDPOINTS, ids=IDS)
def test_unknown_key_is_401(api, owned, name, method, path, body, ok):
    assert_unknown_key_refused(api, lambda client: _call(client, method, path, body, owned[2]))


@pytest.mark.parametrize(PARAMS, ENDPOINTS, ids=IDS)
def test_key_without_the_scope_is_403_and_writes_nothing(app, owned, name, method, path, body, ok):
    client, _, subscription = owned
    before = written()
    for scopes in (["disruptions:read"], ["customers:read", "customers:write", "cases:write"]):
        Client.objects.filter(pk=client.pk).update(scopes=scopes)
        api_client_cache_forget(prefix=client.prefix)  # as the admin's save does
        response = _call(owned[1], method, path, body, subscription)
        assert response.status_code == 403, (scopes, response.json())
        assert response.json()["code"] == "permission_denied"
    assert written() == before


@pytest.mark.parametrize(PARAMS, ENDPOINTS, ids=IDS)
def test_key_with_the_scope_succeeds(owned, name, method, path, body, ok):
    response = _call(owned[1], method, path, body, owned[2])
    assert response.status_code == ok, response.content


@pytest.mark.parametrize("team", [*TEAMS, None])
@pytest.mark.parametrize(PARAMS, ENDPOINTS, ids=IDS)
def test_staff_are_403_whatever_their_team(api_as, owned, team, name, method, path, body, ok):
    """Supervisors manage every subscription in the admin, not here."""
    before = written()
    assert_refused(_call(api_as(team), method, path, body, owned[2]), 403, "permission_denied")
    assert written() == before


@pytest.mark.parametrize(PARAMS, [e for e in ENDPOINTS if "{id}" in e[2]], ids=IDS[2:])
def test_another_clients_subscription_is_404_and_untouched(
    app, owned, name, method, path, body, ok
):
    theirs = owned[2]
    _, mine = app()
    before = written()
    response = _call(mine, method, path, body, theirs)
    assert response.status_code == 404, response.content
    assert response.json()["code"] == "not_found"
    assert written() == before
    theirs.refresh_from_db()
    assert (theirs.name, theirs.is_active) == ("Journey planner", True)


def test_the_list_holds_only_the_callers_own(app, owned):
    client, api, first = owned
    second = subscribe(client, name="Second")
    subscribe(app()[0], name="Theirs")
    subscribe(None, name="A supervisor's own")
    rows = api.get(URL).json()["results"]
    assert [row["id"] for row in rows] == [second.pk, first.pk]


# --- The secret, once ---------------------------------------------------------------------


def test_the_secret_is_made_by_the_server_and_shown_once(app):
    client, api = app()
    body = {"name": "Planner", "url": HOOK, "events": ["disruption.resolved"]}
    both = ["disruption.resolved", "disruption.published"]
    response = api.post(URL, {**body, "events": both}, format="json")
    assert response.status_code == 201, response.content
    created = response.json()
    secret = created.pop("secret")
    subscription = WebhookSubscription.objects.get(pk=created["id"])
    assert subscription.secret == secret and len(secret) >= 43
    assert subscription.api_client_id == client.pk
    assert created["events"] == ["disruption.published", "disruption.resolved"]
    assert set(created) == {"id", "name", "url", "events", "is_active", "created_at"}
    again = api.post(URL, body, format="json").json()["secret"]
    assert again != secret
    # Never again: not in a read, a change, a list, the delivery log or the audit log.
    webhook_event_publish(event="disruption.resolved", payload={"id": 1})
    answers = [
        api.get(f"{URL}{subscription.pk}/"),
        api.patch(f"{URL}{subscription.pk}/", {"name": "Renamed"}, format="json"),
        api.get(URL),
        api.get(f"{URL}{subscription.pk}/deliveries/"),
    ]
    for answer in answers:
        assert answer.status_code == 200, answer.content
        assert secret not in answer.content.decode() and "secret" not in answer.json()
    audit = AuditEvent.objects.filter(target_type="cxportal.webhooksubscription")
    assert {a.action for a in audit} == {
        "webhook_subscription.create",
        "webhook_subscription.update",
    }
    assert all(secret not in f"{a.before}{a.after}" for a in audit)
    assert audit.filter(actor_api_client=client).count() == 3


# --- Changing and deleting ------------------------------------------------------------------


def test_a_change_is_checked_audited_and_keeps_the_secret(owned):
    client, api, subscription = owned
    response = api.patch(
        f"{URL}{subscription.pk}/",
        {
            "events": ["disruption.updated"],
            "is_active": False,
            "url": "https://other.partner.example/x",
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["events"] == ["disruption.updated"]
    fresh = WebhookSubscription.objects.get(pk=subscription.pk)
    assert (fresh.is_active, fresh.url, fresh.secret) == (
        False,
        "https://other.partner.example/x",
        subscription.secret,
    )
    event = AuditEvent.objects.get(action="webhook_subscription.update")
    assert event.before == {
        "url": HOOK,
        "events": ["disruption.published"],
        "is_active": True,
    }
    assert event.actor_label == f"api:{client.name}"
    # A paused subscription gets nothing.
    assert webhook_event_publish(event="disruption.updated", payload={"id": 1}) == []


def test_delete_removes_the_subscription_and_its_log(owned):
    client, api, subscription = owned
    webhook_event_publish(event="disruption.published", payload={"id": 1})
    response = api.delete(f"{URL}{subscription.pk}/")
    assert response.status_code == 204
    assert not WebhookSubscription.objects.filter(pk=subscription.pk).exists()
    assert not WebhookDelivery.objects.exists()
    event = AuditEvent.objects.get(action="webhook_subscription.delete")
    assert event.before["url"] == HOOK and event.target_id == str(subscription.pk)
    assert api.get(f"{URL}{subscription.pk}/").status_code == 404


# --- SSRF ---------------------------------------------------------------------------------

REFUSED = [
    "http://127.0.0.1:8000/hooks",
    "http://localhost/hooks",
    "http://[::1]/hooks",
    "http://[::ffff:127.0.0.1]/hooks",
    "http://0.0.0.0/hooks",
    "http://10.0.0.7/hooks",
    "http://172.16.5.4/hooks",
    "http://192.168.1.10/hooks",
    "http://100.64.0.1/hooks",  # carrier-grade NAT
    "http://169.254.169.254/latest/meta-data/",  # a cloud's metadata service
    "http://[fe80::1]/hooks",
    "http://[fd00::1]/hooks",
    "https://intranet.partner.example/hooks",  # a public name for a private address
    "https://metadata.partner.example/hooks",
    "https://split.partner.example/hooks",  # one public address is not enough
    "https://unknown.partner.example/hooks",  # does not resolve
    "ftp://hooks.partner.example/cx",
]


@pytest.mark.parametrize("url", REFUSED)
def test_urls_at_private_addresses_are_refused_outside_debug(owned, url):
    client, api, subscription = owned
    before = written()
    create = api.post(
        URL, {"name": "x", "url": url, "events": ["disruption.published"]}, format="json"
    )
    update = api.patch(f"{URL}{subscription.pk}/", {"url": url}, format="json")
    for response in (create, update):
        assert response.status_code == 400, (url, response.content)
        assert set(response.json()["errors"]) == {"url"}, response.json()
    assert written() == before
    subscription.refresh_from_db()
    assert subscription.url == HOOK


def test_public_urls_are_accepted_outside_debug(app):
    _, api = app()
    for url in (HOOK, f"http://{PUBLIC_IP}:8443/cx"):
        response = api.post(
            URL, {"name": "x", "url": url, "events": ["disruption.published"]}, format="json"
        )
        assert response.status_code == 201, (url, response.content)


def test_local_urls_are_allowed_in_debug(app, settings):
    settings.DEBUG = True  # a developer's own receiver, on their machine
    _, api = app()
    for url in ("http://127.0.0.1:9000/hooks", "http://localhost:9000/hooks"):
        response = api.post(
            URL, {"name": "local", "url": url, "events": ["disruption.published"]}, format="json"
        )
        assert response.status_code == 201, response.content


class _Server(ThreadingHTTPServer):
    def __init__(self, answer: int, location: str = ""):
        self.answer, self.location, self.received = answer, location, []
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks"


class _Handler(BaseHTTPRequestHandler):
    def _answer(self):
        self.server.received.append(self.command)
        self.send_response(self.server.answer)
        if self.server.location:
            self.send_header("Location", self.server.location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = _answer  # noqa: N815

    def log_message(self, *args):
        pass


@pytest.fixture
def servers():
    started = []

    def start(answer: int, location: str = "") -> _Server:
        server = _Server(answer, location)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_deliveries_never_follow_a_redirect(servers, code):
    inside = servers(200)
    outside = servers(code, location=inside.url)
    WebhookSubscription.objects.create(  # as a supervisor may, in the admin
        name="x", url=outside.url, secret="s", events=["disruption.published"]
    )
    (delivery_id,) = webhook_event_publish(event="disruption.published", payload={"id": 1})
    assert webhook_deliver(delivery_id=delivery_id) == "pending"  # tried again later
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    assert delivery.last_status_code == code
    assert outside.received == ["POST"] and inside.received == []


# --- Who receives events ------------------------------------------------------------------


def test_events_go_only_to_active_clients_that_may_read_them(app):
    keeps, _ = app()
    revoked, _ = app()
    narrowed, _ = app()
    for client in (keeps, revoked, narrowed):
        subscribe(client, name=client.name)
    supervisors = subscribe(None, name="A supervisor's own")
    Client.objects.filter(pk=revoked.pk).update(is_active=False)
    Client.objects.filter(pk=narrowed.pk).update(scopes=["webhooks:manage"])
    webhook_event_publish(event="disruption.published", payload={"id": 1})
    got = set(WebhookDelivery.objects.values_list("subscription__name", flat=True))
    assert got == {keeps.name, supervisors.name}


def test_a_client_cannot_subscribe_to_events_it_may_not_read(app):
    _, api = app(["webhooks:manage"])
    before = written()
    response = api.post(
        URL, {"name": "x", "url": HOOK, "events": ["disruption.published"]}, format="json"
    )
    assert response.status_code == 400
    assert "disruptions:read" in response.json()["errors"]["events"][0]
    assert written() == before


# --- Bad input ----------------------------------------------------------------------------

GOOD = {"name": "Planner", "url": HOOK, "events": ["disruption.published"]}
BAD_CREATES = [
    ({}, {"name", "url", "events"}),
    ({**GOOD, "secret": "mine"}, {"secret"}),  # the server makes it
    ({**GOOD, "api_client": 1}, {"api_client"}),
    ({**GOOD, "name": ""}, {"name"}),
    ({**GOOD, "name": "   "}, {"name"}),
    ({**GOOD, "name": "x" * 101}, {"name"}),
    ({**GOOD, "name": "a\x00b"}, {"name"}),
    ({**GOOD, "name": ["x"]}, {"name"}),
    ({**GOOD, "url": "not a url"}, {"url"}),
    ({**GOOD, "url": "javascript:alert(1)"}, {"url"}),
    ({**GOOD, "url": "https://hooks.partner.example/" + "x" * 500}, {"url"}),
    ({**GOOD, "url": None}, {"url"}),
    ({**GOOD, "events": []}, {"events"}),
    ({**GOOD, "events": ["case.resolved"]}, {"events"}),
    ({**GOOD, "events": "disruption.published"}, {"events"}),
    ({**GOOD, "events": [["disruption.published"]]}, {"events"}),
    ({**GOOD, "events": None}, {"events"}),
]


@pytest.mark.parametrize(("body", "fields"), BAD_CREATES)
def test_a_bad_create_is_a_400_on_the_field_and_writes_nothing(app, body, fields):
    _, api = app()
    before = written()
    response = api.post(URL, body, format="json")
    assert response.status_code == 400, response.content
    data = response.json()
    assert data["code"] == "invalid" and set(data["errors"]) == fields, data
    assert written() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"is_active": "maybe"}, "is_active"),
        ({"events": []}, "events"),
        ({"url": "http://10.0.0.1/"}, "url"),
        ({"secret": "mine"}, "secret"),
        ({"name": ""}, "name"),
    ],
)
def test_a_bad_change_is_a_400_on_the_field_and_writes_nothing(owned, body, field):
    _, api, subscription = owned
    before = written()
    response = api.patch(f"{URL}{subscription.pk}/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]
    assert written() == before


def test_bad_bodies_are_a_400_not_a_500(owned):
    _, api, subscription = owned
    for response in (
        api.post(URL, "[1, 2]", content_type="application/json"),
        api.post(URL, "{not json", content_type="application/json"),
        api.patch(f"{URL}{subscription.pk}/", "null", content_type="application/json"),
    ):
        assert response.status_code == 400, response.content


def test_a_client_holds_a_bounded_number_of_subscriptions(app):
    client, api = app()
    for i in range(MAX_SUBSCRIPTIONS_PER_CLIENT):
        subscribe(client, name=f"s{i}")
    before = written()
    response = api.post(URL, GOOD, format="json")
    assert response.status_code == 400
    assert "delete one first" in response.json()["message"]
    assert written() == before


@pytest.mark.parametrize("pk", ["999999", "abc", str(2**64)])
def test_an_unknown_subscription_is_a_404(owned, pk):
    response = owned[1].get(f"{URL}{pk}/deliveries/")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


# --- The delivery log ---------------------------------------------------------------------


def test_the_delivery_log_is_newest_first_and_paginated(owned):
    _, api, subscription = owned
    made = [
        webhook_event_publish(event="disruption.published", payload={"id": i})[0] for i in range(5)
    ]
    first = api.get(f"{URL}{subscription.pk}/deliveries/?page_size=3").json()
    row = first["results"][0]
    assert set(row) == {
        "id",
        "event",
        "status",
        "attempts",
        "last_status_code",
        "last_error",
        "created_at",
        "delivered_at",
        "next_attempt_at",
    }
    assert (row["id"], row["event"], row["status"], row["attempts"]) == (
        made[-1],
        "disruption.published",
        "pending",
        0,
    )
    second = api.get(first["next"]).json()
    assert [r["id"] for r in first["results"] + second["results"]] == made[::-1]
    assert api.get(f"{URL}{subscription.pk}/deliveries/?cursor=bad").status_code == 400


# --- Query counts -------------------------------------------------------------------------


def test_query_counts_are_pinned(app, django_assert_num_queries):
    client, api = app()
    assert api.get(URL).status_code == 200  # first use stamps last_used_at, caches the key
    subscription = subscribe(client)
    log = WebhookDelivery.objects.filter(subscription=subscription)
    for n in (3, 30):
        held = min(n, MAX_SUBSCRIPTIONS_PER_CLIENT)
        while WebhookSubscription.objects.filter(api_client=client).count() < held:
            subscribe(client, name="more")
        while log.count() < n:
            webhook_event_publish(event="disruption.published", payload={"id": 1})
        with django_assert_num_queries(1):  # the page
            assert len(api.get(URL).json()["results"]) == held
        with django_assert_num_queries(1):  # the subscription
            assert api.get(f"{URL}{subscription.pk}/").status_code == 200
        with django_assert_num_queries(2):  # the subscription, the page of its log
            response = api.get(f"{URL}{subscription.pk}/deliveries/")
        assert len(response.json()["results"]) == n
