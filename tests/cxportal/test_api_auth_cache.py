"""Partner authentication is cached per key prefix: no query for a known client, and every
change of a client (revoked, scopes, deleted) holds from the very next request."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient as DRFClient

from cxportal.models import APIClient, AuditEvent
from cxportal.services import api_client_create
from tests.customers.factories import CustomerFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/customers/"


@pytest.fixture
def keyed():
    """``keyed(["customers:read"])``: (the APIClient row, a DRF client using its key)."""

    def make(scopes: list[str], rate: str = ""):
        client, key = api_client_create(
            name=f"cache-{len(scopes)}-{rate}", scopes=scopes, rate=rate
        )
        http = DRFClient()
        http.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
        return client, key, http

    return make


def client_queries(ctx) -> list[str]:
    return [q["sql"] for q in ctx.captured_queries if "cxportal_apiclient" in q["sql"]]


def test_a_known_client_costs_no_query(keyed, django_assert_num_queries):
    CustomerFactory()
    _client, _key, http = keyed(["customers:read"])
    with CaptureQueriesContext(connection) as first:
        assert http.get(URL).status_code == 200
    assert len(client_queries(first)) == 2  # found, then touched (last_used_at)
    with django_assert_num_queries(1) as second:  # the customer page alone
        assert http.get(URL).status_code == 200
    assert client_queries(second) == []


def test_last_used_at_is_written_at_most_once_a_minute(keyed, monkeypatch):
    client, _key, http = keyed(["customers:read"])
    http.get(URL)
    first = APIClient.objects.get(pk=client.pk).last_used_at
    assert first is not None
    with CaptureQueriesContext(connection) as ctx:
        http.get(URL)
    assert client_queries(ctx) == []  # no second write inside the minute
    later = timezone.now() + timedelta(seconds=61)
    monkeypatch.setattr("cxportal.services.timezone.now", lambda: later)
    with CaptureQueriesContext(connection) as ctx:
        http.get(URL)
        http.get(URL)
    assert len(client_queries(ctx)) == 1  # one UPDATE, the cached copy then knows it
    assert APIClient.objects.get(pk=client.pk).last_used_at == later


def test_revoked_key_is_401_on_the_next_request(keyed):
    client, _key, http = keyed(["customers:read"])
    assert http.get(URL).status_code == 200  # cached now
    client.is_active = False
    client.save(update_fields=["is_active"])
    response = http.get(URL)
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_revoked_in_the_admin_is_401_on_the_next_request(keyed, admin_client):
    client, _key, http = keyed(["customers:read"])
    assert http.get(URL).status_code == 200
    response = admin_client.post(
        f"/admin/cxportal/apiclient/{client.pk}/change/",
        {"name": client.name, "scopes": '["customers:read"]', "rate": ""},  # is_active off
    )
    assert response.status_code == 302, response.content[:500]
    assert http.get(URL).status_code == 401


def test_deleted_client_is_401_on_the_next_request(keyed):
    client, _key, http = keyed(["customers:read"])
    assert http.get(URL).status_code == 200
    AuditEvent.objects.filter(actor_api_client=client).delete()
    client.delete()
    assert http.get(URL).status_code == 401


def test_removed_scope_is_403_on_the_next_request(keyed):
    client, _key, http = keyed(["customers:read", "customers:write"])
    assert http.get(URL).status_code == 200
    client.scopes = ["customers:write"]
    client.save(update_fields=["scopes"])
    response = http.get(URL)
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_wrong_secret_of_a_cached_prefix_is_401(keyed):
    _client, key, http = keyed(["customers:read"])
    assert http.get(URL).status_code == 200
    prefix, _, secret = key.partition(".")
    wrong = DRFClient()
    wrong.credentials(HTTP_AUTHORIZATION=f"Api-Key {prefix}.{secret[::-1]}")
    with CaptureQueriesContext(connection) as ctx:
        assert wrong.get(URL).status_code == 401
    assert client_queries(ctx) == []  # refused by the hash check on the cached row
    assert http.get(URL).status_code == 200  # the real key still works


def test_a_malformed_prefix_is_401_without_a_query(api):
    api.credentials(HTTP_AUTHORIZATION="Api-Key ab;cd:e\x01.secret")
    with CaptureQueriesContext(connection) as ctx:
        assert api.get(URL).status_code == 401
    assert ctx.captured_queries == []


def test_the_cached_client_keeps_its_throttle_and_audit_identity(keyed):
    client, _key, http = keyed(["customers:read", "customers:write"], rate="3/min")
    assert [http.get(URL).status_code for _ in range(3)] == [200, 200, 200]
    assert http.get(URL).status_code == 429
    client.rate = "10/min"  # a new rate holds at once too
    client.save(update_fields=["rate"])
    response = http.post(URL, {"display_name": "Cached Partner Person"}, format="json")
    assert response.status_code == 201, response.json()
    event = AuditEvent.objects.get(action="customer.create")
    assert event.actor_api_client_id == client.pk
    assert event.actor_label == f"api:{client.name}"
