"""The API frame: authentication, scopes, team permissions, throttles, one error format."""

import json
import re

import pytest

from cxportal.models import APIClient, AuditEvent
from tests.customers.factories import CustomerFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/customers/"


def test_anonymous_is_401_with_the_error_format(api):
    response = api.get(URL)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Api-Key"
    assert response.json() == {
        "message": "Authentication credentials were not provided.",
        "code": "not_authenticated",
        "errors": {},
    }


def test_unknown_key_is_401(api, partner):
    partner(["customers:read"])  # a real client exists; this key is not its key
    api.credentials(HTTP_AUTHORIZATION="Api-Key abcdefgh.not-the-secret")
    response = api.get(URL)
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_tampered_secret_of_a_real_prefix_is_401(api):
    from tests.cxportal.factories import make_api_key

    key = make_api_key(["customers:read"])
    api.credentials(HTTP_AUTHORIZATION=f"Api-Key {key[:-1]}{'A' if key[-1] != 'A' else 'B'}")
    assert api.get(URL).status_code == 401


def test_revoked_key_is_401(api):
    from tests.cxportal.factories import make_api_key

    key = make_api_key(["customers:read"])
    APIClient.objects.update(is_active=False)
    api.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert api.get(URL).status_code == 401


def test_key_without_the_scope_is_403(partner):
    response = partner(["customers:write"]).get(URL)
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert (
        partner(["customers:read"]).post(URL, {"display_name": "X"}, format="json").status_code
        == 403
    )


def test_key_with_the_scope_reads_and_writes(partner):
    CustomerFactory()
    assert partner(["customers:read"]).get(URL).status_code == 200
    response = partner(["customers:write"]).post(URL, {"display_name": "New Person"}, format="json")
    assert response.status_code == 201, response.json()
    event = AuditEvent.objects.get(action="customer.create")
    assert event.actor_label.startswith("api:partner-")
    assert event.actor_api_client is not None


def test_staff_without_the_permission_is_403(api_as):
    assert api_as("operations").post(URL, {"display_name": "X"}, format="json").status_code == 403
    assert api_as(None).get(URL).status_code == 403  # in no team: no permissions at all


def test_keys_are_stored_hashed():
    from tests.cxportal.factories import make_api_key

    key = make_api_key(["customers:read"], name="hash-check")
    client = APIClient.objects.get(name="hash-check")
    assert key not in client.hashed_key
    assert key.split(".", 1)[1] not in str(APIClient.objects.values().get(pk=client.pk))
    assert client.hashed_key.startswith("sha512$$")


def test_each_client_has_its_own_throttle(partner):
    slow = partner(["customers:read"], rate="3/min")
    other = partner(["customers:read"], rate="3/min")
    assert [slow.get(URL).status_code for _ in range(3)] == [200, 200, 200]
    response = slow.get(URL)
    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert other.get(URL).status_code == 200  # another client is not slowed by the first


def test_bad_input_is_400_with_per_field_details(api_as):
    response = api_as("service").post(
        URL,
        {"display_name": "", "lifecycle_stage": "royalty", "language": 7 * "x" * 3},
        format="json",
    )
    assert response.status_code == 400
    body = response.json()
    assert body["message"] == "Invalid input."
    assert body["code"] == "invalid"
    assert set(body["errors"]) == {"display_name", "lifecycle_stage", "language"}
    assert all(isinstance(v, list) and v for v in body["errors"].values())


def test_malformed_json_is_400_not_500(api_as):
    response = api_as("service").post(URL, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_unknown_api_path_is_a_json_404(api_as):
    response = api_as("service").get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_schema_and_docs_are_served_with_local_assets_only(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    spec = schema.json()
    assert spec["openapi"].startswith("3.")
    assert "/api/v1/customers/" in spec["paths"]
    assert "ApiKeyAuth" in spec["components"]["securitySchemes"]
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets, "the docs page loads its UI from somewhere"
    assert all(not a.startswith(("http://", "https://", "//")) for a in assets), assets
    for asset in assets:
        if asset.startswith("/static/"):
            assert client.get(asset).status_code == 200, asset


@pytest.mark.django_db
def test_malformed_list_cursor_is_400_on_cursor(api_as):
    response = api_as("service").get("/api/v1/customers/?cursor=not-a-cursor")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert "cursor" in response.json()["errors"]


@pytest.mark.django_db
def test_oversized_body_is_a_json_400(api_as, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000
    response = api_as("service").post(
        "/api/v1/customers/", {"display_name": "x" * 5_000}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "too_large"


def test_an_unexpected_error_answers_json_under_the_api_and_a_page_elsewhere(rf):
    from django.urls import get_resolver

    handler = get_resolver().resolve_error_handler(500)
    api = handler(rf.get("/api/v1/customers/"))
    assert api.status_code == 500
    assert json.loads(api.content) == {
        "message": "Internal server error.",
        "code": "server_error",
        "errors": {},
    }
    page = handler(rf.get("/customers/"))
    assert page.status_code == 500 and b"Something went wrong" in page.content
