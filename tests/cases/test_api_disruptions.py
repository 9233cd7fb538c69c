"""The disruptions API for partner apps: who may call it, the public facts only (what the
webhooks send), staff guidance for staff alone, the default of scheduled and active ones,
the place filter, bad filters as a 400 per field, and pinned query counts."""

import json
from datetime import timedelta

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework.test import APIClient

from cases.disruptions import (
    disruption_declare,
    disruption_payload,
    disruption_resolve,
    disruption_update,
)
from cases.models import Disruption
from tests.cases.factories import place_network
from tests.support.api_matrix import TEAMS, assert_refused, assert_unknown_key_refused

pytestmark = pytest.mark.django_db
URL = "/api/v1/disruptions/"
GUIDANCE = "Offer a taxi voucher; do not promise a time."
FIELDS = {
    "id",
    "title",
    "kind",
    "severity",
    "status",
    "starts_at",
    "ends_at",
    "resolved_at",
    "accessibility_impact",
    "accessibility_note",
    "public_message",
    "places",
    "updated_at",
}


@pytest.fixture
def ops(staff):
    return staff("operations")


@pytest.fixture
def network():
    """A line with two stations, and an unrelated station."""
    return place_network()


def declare(actor, places, **fields) -> Disruption:
    return disruption_declare(
        actor=actor,
        notify=False,
        title=fields.pop("title", "Lift out of service at Bank"),
        kind=fields.pop("kind", "incident"),
        starts_at=fields.pop("starts_at", timezone.now() - timedelta(minutes=5)),
        places=places,
        public_message=fields.pop("public_message", "The lift at Bank is out of service."),
        staff_guidance=fields.pop("staff_guidance", GUIDANCE),
        **fields,
    )


def ids(response) -> list[int]:
    assert response.status_code == 200, response.json()
    return [row["id"] for row in response.json()["results"]]


def fresh_client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(type(user).objects.get(pk=user.pk))  # cold permission cache
    return client


# --- Who may call it ----------------------------------------------------------------------

ENDPOINTS = [("list", URL), ("retrieve", URL + "{id}/")]


@pytest.fixture
def disruption(ops, network):
    return declare(ops, [network["bank"]])


@pytest.mark.parametrize(("name", "path"), ENDPOINTS)
def test_anonymous_is_401(api, disruption, name, path):
    assert_refused(api.get(path.format(id=disruption.pk)), 401, "not_authenticated")


@pytest.mark.parametrize(("name", "path"), ENDPOINTS)
def test_unknown_key_is_401(api, partner, disruption, name, path):
    partner(["disruptions:read"])  # a real client exists; not this key
    assert_unknown_key_refused(api, lambda client: client.get(path.format(id=disruption.pk)))


@pytest.mark.parametrize(("name", "path"), ENDPOINTS)
def test_key_without_the_scope_is_403(partner, disruption, name, path):
    for scopes in (["cases:read", "customers:read", "webhooks:manage"], []):
        response = partner(scopes).get(path.format(id=disruption.pk))
        assert response.status_code == 403, (scopes, response.json())
        assert response.json()["code"] == "permission_denied"


@pytest.mark.parametrize(("name", "path"), ENDPOINTS)
def test_key_with_the_scope_succeeds(partner, disruption, name, path):
    response = partner(["disruptions:read"]).get(path.format(id=disruption.pk))
    assert response.status_code == 200, response.json()


@pytest.mark.parametrize("team", [*TEAMS, None])
@pytest.mark.parametrize(("name", "path"), ENDPOINTS)
def test_each_team_by_its_default_role(api_as, disruption, team, name, path):
    response = api_as(team).get(path.format(id=disruption.pk))  # None: in no team at all
    if team is None:
        assert_refused(response, 403, "permission_denied")
    else:
        assert response.status_code == 200, response.json()


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_it_is_read_only(partner, api_as, disruption, method):
    for client in (partner(["disruptions:read"]), api_as("operations")):
        for path in (URL, f"{URL}{disruption.pk}/"):
            response = getattr(client, method)(path, {"title": "x"}, format="json")
            assert response.status_code == 405, (path, response.content)
    disruption.refresh_from_db()
    assert disruption.title == "Lift out of service at Bank"


# --- What partners and staff see ------------------------------------------------------------


def _plain(payload: dict) -> dict:
    """The payload as JSON has it, with its times as datetimes (the encoders differ in
    precision)."""
    data = json.loads(json.dumps(payload, cls=DjangoJSONEncoder))
    for key in ("starts_at", "ends_at", "resolved_at", "updated_at"):
        data[key] = parse_datetime(data[key]).replace(microsecond=0) if data[key] else None
    return data


def test_partners_get_the_public_facts_the_webhooks_send(partner, ops, network):
    disruption = declare(
        ops,
        [network["oval"], network["bank"]],
        kind="planned",
        severity="severe",
        starts_at=timezone.now() + timedelta(days=2),
        ends_at=timezone.now() + timedelta(days=3),
        accessibility_impact="step_free_lost",
        accessibility_note="Use Oval for step-free access.",
    )
    client = partner(["disruptions:read"])
    row = client.get(URL).json()["results"][0]
    assert set(row) == FIELDS
    assert _plain(row) == _plain(disruption_payload(disruption))
    assert row["places"] == [
        {"code": "S-BANK", "name": "Bank", "kind": "station"},
        {"code": "S-OVAL", "name": "Oval", "kind": "station"},
    ]
    assert (row["status"], row["accessibility_impact"]) == ("scheduled", "step_free_lost")
    detail = client.get(f"{URL}{disruption.pk}/").json()
    assert set(detail) == FIELDS | {"updates"}
    assert GUIDANCE not in json.dumps(detail) and "staff_guidance" not in json.dumps(detail)


def test_updates_come_latest_first_with_staff_guidance_for_staff_only(
    partner, api_as, ops, network
):
    disruption = declare(ops, [network["bank"]])
    disruption = disruption_update(
        actor=ops,
        disruption=disruption,
        version=disruption.version,
        notify=False,
        public_message="Engineers are on site.",
        staff_guidance="Say: engineers on site, next update at noon.",
    )
    disruption_resolve(
        actor=ops,
        disruption=disruption,
        version=disruption.version,
        public_message="The lift works again.",
        notify=False,
    )
    url = f"{URL}{disruption.pk}/"
    body = partner(["disruptions:read"]).get(url).json()  # resolved ones are found by id
    assert body["status"] == "resolved" and body["resolved_at"]
    assert [(u["kind"], u["public_message"]) for u in body["updates"]] == [
        ("resolved", "The lift works again."),
        ("updated", "Engineers are on site."),
        ("published", "The lift at Bank is out of service."),
    ]
    assert all(set(u) == {"kind", "public_message", "posted_at"} for u in body["updates"])
    for team in TEAMS:
        updates = api_as(team).get(url).json()["updates"]
        assert [u["staff_guidance"] for u in updates] == [
            "Say: engineers on site, next update at noon.",
            "Say: engineers on site, next update at noon.",
            GUIDANCE,
        ], team
        assert "staff_guidance" not in api_as(team).get(url).json()  # facts: public only


def test_scheduled_and_active_by_default_and_status_chooses(partner, ops, network):
    active = declare(ops, [network["bank"]])
    scheduled = declare(ops, [network["oval"]], starts_at=timezone.now() + timedelta(days=1))
    resolved = declare(ops, [network["else"]])
    disruption_resolve(
        actor=ops, disruption=resolved, version=1, public_message="Fixed.", notify=False
    )
    client = partner(["disruptions:read"])
    assert ids(client.get(URL)) == [scheduled.pk, active.pk]  # latest declared first
    assert ids(client.get(URL + "?status=")) == [scheduled.pk, active.pk]
    assert ids(client.get(URL + "?status=active")) == [active.pk]
    assert ids(client.get(URL + "?status=scheduled")) == [scheduled.pk]
    assert ids(client.get(URL + "?status=resolved")) == [resolved.pk]


def test_place_matches_the_named_place_or_a_place_above_it(partner, ops, network):
    on_line = declare(ops, [network["line"]], title="Central line suspended")
    at_bank = declare(ops, [network["bank"]])
    at_oval = declare(ops, [network["oval"], network["bank"]], title="Oval and Bank")
    declare(ops, [network["else"]], title="Elsewhere")
    client = partner(["disruptions:read"])
    assert ids(client.get(URL + "?place=S-BANK")) == [at_oval.pk, at_bank.pk, on_line.pk]
    assert ids(client.get(URL + "?place=S-OVAL")) == [at_oval.pk, on_line.pk]
    # A line's page is about the line: a station's disruption is not above it.
    assert ids(client.get(URL + "?place=L-CENTRAL")) == [on_line.pk]
    assert ids(client.get(URL + "?place=S-BANK&status=resolved")) == []


def test_walking_every_page_sees_each_disruption_once(partner, ops, network):
    made = [declare(ops, [network["bank"]], title=f"Works {i}").pk for i in range(5)]
    client = partner(["disruptions:read"])
    seen, url, pages = [], URL + "?page_size=2", 0
    while url:
        page = client.get(url).json()
        seen += [row["id"] for row in page["results"]]
        url, pages = page["next"], pages + 1
    assert seen == sorted(made, reverse=True) and pages == 3


# --- Bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=closed", "status"),
        ("status=ACTIVE", "status"),
        ("place=NOWHERE", "place"),
        ("place=" + "X" * 51, "place"),
        ("place=S-BANK%00", "place"),
        ("place=%ED%A0%80", "place"),  # a lone surrogate, as UTF-8 bytes
        ("cursor=not-a-cursor", "cursor"),
        ("page_size=abc&status=nope", "status"),
    ],
)
def test_bad_filters_are_a_400_on_the_field(partner, api_as, disruption, query, field):
    for client in (partner(["disruptions:read"]), api_as("marketing")):
        response = client.get(f"{URL}?{query}")
        assert response.status_code == 400, (query, response.content)
        body = response.json()
        assert set(body) == {"message", "code", "errors"} and body["code"] == "invalid"
        assert field in body["errors"], body


@pytest.mark.parametrize("pk", ["999999", "abc", str(2**64), "-1"])
def test_an_unknown_disruption_is_a_404(partner, disruption, pk):
    response = partner(["disruptions:read"]).get(f"{URL}{pk}/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


# --- Query counts -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", 2),  # the page, its places
        ("?status=resolved", 2),
        ("?place=S-BANK", 4),  # + the place exists, + the places above it
    ],
)
def test_list_query_count_is_pinned_for_a_partner(
    partner, ops, network, django_assert_num_queries, query, expected
):
    client = partner(["disruptions:read"])
    status = "resolved" if "resolved" in query else None

    def make(n: int) -> None:
        for i in range(n):
            made = declare(ops, [network["bank"], network["oval"]], title=f"Works {i}")
            if status:
                disruption_resolve(
                    actor=ops, disruption=made, version=1, public_message="Done.", notify=False
                )

    make(3)
    assert client.get(URL).status_code == 200  # first use stamps last_used_at, caches the key
    with django_assert_num_queries(expected):
        assert len(client.get(URL + query).json()["results"]) == 3
    make(27)
    with django_assert_num_queries(expected):
        assert len(client.get(URL + query).json()["results"]) == 30


def test_list_query_count_is_pinned_for_staff(staff, ops, network):
    user = staff("service")

    def count() -> tuple[int, int]:
        client = fresh_client(user)
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(URL)
        return len(ctx), len(ids(response))

    for i in range(3):
        declare(ops, [network["bank"], network["oval"]], title=f"Works {i}")
    assert count() == (4, 3)  # user perms, group perms, the page, its places
    for i in range(27):
        declare(ops, [network["line"]], title=f"More works {i}")
    assert count() == (4, 30)


def test_retrieve_query_count_does_not_grow_with_updates(
    partner, staff, ops, network, django_assert_num_queries
):
    disruption = declare(ops, [network["bank"], network["oval"]])
    client = partner(["disruptions:read"])
    user = staff("marketing")
    assert client.get(URL).status_code == 200  # caches the key
    url = f"{URL}{disruption.pk}/"

    def staff_get() -> list[dict]:
        reader = fresh_client(user)
        # user perms, group perms, the disruption, its places, its updates
        with django_assert_num_queries(5):
            return reader.get(url).json()["updates"]

    with django_assert_num_queries(3):  # the disruption, its places, its updates
        assert len(client.get(url).json()["updates"]) == 1
    assert len(staff_get()) == 1
    for i in range(10):
        disruption = disruption_update(
            actor=ops,
            disruption=disruption,
            version=disruption.version,
            notify=False,
            public_message=f"Update {i}",
        )
    with django_assert_num_queries(3):
        assert len(client.get(url).json()["updates"]) == 11
    assert [u["staff_guidance"] for u in staff_get()] == [GUIDANCE] * 11
