"""Who may call each customers API endpoint: anonymous, unknown key, key without and with the
scope, staff without and with the permission; and who sees the restricted fields."""

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone
from rest_framework.test import APIClient

from customers.models import ConsentEvent, ContactPoint, Customer, Interaction
from customers.services import consent_set, contact_point_add, interaction_log
from tests.customers.factories import CustomerFactory
from tests.support.api_matrix import api_call, assert_refused, assert_unknown_key_refused

pytestmark = pytest.mark.django_db
URL = "/api/v1/customers/"
RESTRICTED = {"accessibility_needs", "accessibility_note"}


def _body(kind: str) -> dict | None:
    return {
        "create": {"display_name": "New Person"},
        "update": {"region": "East"},
        "contact_point": {"kind": "email", "value": "new.person@example.com"},
        "consent": {"channel": "email", "purpose": "marketing", "granted": True, "source": "app"},
    }.get(kind)


# (name, method, path under URL ("{id}" = a customer), body kind, success code, a team
#  whose default role lacks the permission, or None when every team has it)
ENDPOINTS = [
    ("list", "get", "", None, 200, None),
    ("create", "post", "", "create", 201, "marketing"),
    ("retrieve", "get", "{id}/", None, 200, None),
    ("update", "patch", "{id}/", "update", 200, "operations"),
    ("timeline", "get", "{id}/timeline/", None, 200, None),
    ("contact_points", "get", "{id}/contact-points/", None, 200, None),
    ("add_contact_point", "post", "{id}/contact-points/", "contact_point", 201, "marketing"),
    ("consent", "get", "{id}/consent/", None, 200, None),
    ("set_consent", "post", "{id}/consent/", "consent", 200, "marketing"),
]
IDS = [e[0] for e in ENDPOINTS]


def _call(client: APIClient, method: str, path: str, body_kind: str | None, customer: Customer):
    url = URL + path.format(id=customer.pk)
    return api_call(client, method, url, _body(body_kind) if body_kind else None)


@pytest.fixture
def customer():
    return CustomerFactory()


@pytest.mark.parametrize(("name", "method", "path", "body", "ok", "team"), ENDPOINTS, ids=IDS)
def test_anonymous_is_401(api, customer, name, method, path, body, ok, team):
    assert_refused(_call(api, method, path, body, customer), 401, "not_authenticated")


@pytest.mark.parametrize(("name", "method", "path", "body", "ok", "team"), ENDPOINTS, ids=IDS)
def test_unknown_key_is_401(api, partner, customer, name, method, path, body, ok, team):
    partner(["customers:read", "customers:write"])  # a real client exists; not this key
    assert_unknown_key_refused(api, lambda c: _call(c, method, path, body, customer))


@pytest.mark.parametrize(("name", "method", "path", "body", "ok", "team"), ENDPOINTS, ids=IDS)
def test_key_without_the_scope_is_403_and_writes_nothing(
    partner, customer, name, method, path, body, ok, team
):
    # A read key cannot write, a write key cannot read; and an unrelated scope neither.
    other = ["customers:write"] if method == "get" else ["customers:read"]
    for scopes in (other, ["orders:write"]):
        response = _call(partner(scopes), method, path, body, customer)
        assert response.status_code == 403, (scopes, response.json())
        assert response.json()["code"] == "permission_denied"
    assert Customer.objects.count() == 1
    assert not ContactPoint.objects.exists() and not ConsentEvent.objects.exists()


@pytest.mark.parametrize(("name", "method", "path", "body", "ok", "team"), ENDPOINTS, ids=IDS)
def test_key_with_the_scope_succeeds(partner, customer, name, method, path, body, ok, team):
    scope = "customers:read" if method == "get" else "customers:write"
    response = _call(partner([scope]), method, path, body, customer)
    assert response.status_code == ok, response.json()


@pytest.mark.parametrize(("name", "method", "path", "body", "ok", "team"), ENDPOINTS, ids=IDS)
def test_staff_without_the_permission_is_403(api_as, customer, name, method, path, body, ok, team):
    response = _call(api_as(team), method, path, body, customer)  # None: in no team at all
    assert_refused(response, 403, "permission_denied")


@pytest.mark.parametrize(("name", "method", "path", "body", "ok", "team"), ENDPOINTS, ids=IDS)
def test_staff_with_the_permission_succeeds(api_as, customer, name, method, path, body, ok, team):
    response = _call(api_as("service"), method, path, body, customer)
    assert response.status_code == ok, response.json()


@pytest.mark.parametrize(
    ("path", "perm"),
    [
        ("{id}/timeline/", "view_interaction"),
        ("{id}/contact-points/", "view_contactpoint"),
        ("{id}/consent/", "view_consent"),
    ],
)
def test_reading_a_customers_records_needs_that_records_permission(staff, customer, path, perm):
    user = staff(None)
    user.user_permissions.add(Permission.objects.get(codename="view_customer"))
    client = APIClient()
    client.force_authenticate(user)
    url = URL + path.format(id=customer.pk)
    assert client.get(f"{URL}{customer.pk}/").status_code == 200
    assert client.get(url).status_code == 403
    user = type(user).objects.get(pk=user.pk)  # fresh permission cache
    user.user_permissions.add(Permission.objects.get(codename=perm))
    client.force_authenticate(user)
    assert client.get(url).status_code == 200


@pytest.mark.parametrize("team", ["marketing", "operations", "sales", "service"])
def test_every_team_reads_the_timeline_contact_points_and_consent(api_as, customer, team):
    api = api_as(team)
    for path in ("timeline/", "contact-points/", "consent/"):
        assert api.get(f"{URL}{customer.pk}/{path}").status_code == 200, path


@pytest.mark.parametrize("path", ["", "timeline/", "contact-points/", "consent/"])
@pytest.mark.parametrize("pk", ["999999", "abc", "99999999999999999999"])
def test_unknown_customer_is_404_json_everywhere(api_as, path, pk):
    response = api_as("service").get(f"{URL}{pk}/{path}")
    assert response.status_code == 404
    assert response.json() == {"message": "Not found.", "code": "not_found", "errors": {}}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "", None),
        ("patch", "", "update"),
        ("get", "timeline/", None),
        ("get", "contact-points/", None),
        ("post", "contact-points/", "contact_point"),
        ("get", "consent/", None),
        ("post", "consent/", "consent"),
    ],
)
def test_merged_away_customer_is_404_and_nothing_is_written(api_as, method, path, body):
    survivor = CustomerFactory()
    merged = CustomerFactory(merged_into=survivor)
    response = _call(api_as("supervisor"), method, "{id}/" + path, body, merged)
    assert response.status_code == 404
    assert not ContactPoint.objects.exists() and not ConsentEvent.objects.exists()
    assert Customer.objects.get(pk=merged.pk).region == merged.region


# --- Restricted fields --------------------------------------------------------------------


@pytest.fixture
def sensitive():
    customer = CustomerFactory(
        accessibility_needs=True, accessibility_note="Uses a wheelchair", region="North"
    )
    contact_point_add(actor=None, customer=customer, kind="email", value="s@example.com")
    consent_set(
        actor=None, customer=customer, channel="sms", purpose="service", granted=True, source="x"
    )
    interaction_log(actor=None, customer=customer, channel="phone", direction="inbound", summary="")
    return customer


def _restricted_seen(response) -> set[str]:
    data = response.json()
    rows = data.get("results", [data])
    return set().union(*(set(row) & RESTRICTED for row in rows))


@pytest.mark.parametrize(
    "caller", ["marketing", "partner-read", "partner-read-write", "operations", "sales"]
)
def test_restricted_fields_are_never_shown_to_roles_that_may_not_see_them(
    api_as, partner, sensitive, caller
):
    client = (
        partner(["customers:read"])
        if caller == "partner-read"
        else partner(["customers:read", "customers:write"])
        if caller == "partner-read-write"
        else api_as(caller)
    )
    for url in (URL, f"{URL}{sensitive.pk}/", f"{URL}?q=s@example.com"):
        response = client.get(url)
        assert response.status_code == 200
        assert _restricted_seen(response) == set(), url
        assert "Uses a wheelchair" not in response.content.decode()
    if caller.startswith("partner-read-write") or caller == "sales":
        created = client.post(URL, {"display_name": "Q"}, format="json")
        updated = client.patch(f"{URL}{sensitive.pk}/", {"region": "East"}, format="json")
        assert (created.status_code, updated.status_code) == (201, 200)
        assert _restricted_seen(created) == _restricted_seen(updated) == set()
        assert "Uses a wheelchair" not in updated.content.decode()


@pytest.mark.parametrize("caller", ["service", "supervisor"])
def test_restricted_fields_are_shown_to_roles_allowed_to_see_them(api_as, sensitive, caller):
    client = api_as(caller)
    for url in (URL, f"{URL}{sensitive.pk}/"):
        assert _restricted_seen(client.get(url)) == RESTRICTED
    assert client.get(f"{URL}{sensitive.pk}/").json()["accessibility_note"] == "Uses a wheelchair"


def test_partner_may_not_set_restricted_fields_and_nothing_is_written(partner, sensitive):
    client = partner(["customers:write"])
    created = client.post(URL, {"display_name": "Z", "accessibility_needs": True}, format="json")
    updated = client.patch(
        f"{URL}{sensitive.pk}/", {"accessibility_note": "", "region": "Far"}, format="json"
    )
    assert created.status_code == updated.status_code == 400
    assert set(created.json()["errors"]) == {"accessibility_needs"}
    assert set(updated.json()["errors"]) == {"accessibility_note"}
    sensitive.refresh_from_db()
    assert (sensitive.accessibility_note, sensitive.region) == ("Uses a wheelchair", "North")
    assert Customer.objects.count() == 1


def test_interactions_of_the_timeline_belong_to_the_customer_asked_for(partner, sensitive):
    other = CustomerFactory()
    Interaction.objects.create(
        customer=other, channel="sms", direction="inbound", occurred_at=timezone.now()
    )
    rows = partner(["customers:read"]).get(f"{URL}{sensitive.pk}/timeline/").json()["results"]
    assert [r["channel"] for r in rows] == ["phone"]
