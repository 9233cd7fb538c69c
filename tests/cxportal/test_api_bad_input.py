"""Regressions for what the API fuzzing (``test_api_fuzz.py``) found in the API frame."""

import re

import pytest
from rest_framework.test import APIClient

from cxportal.roles import API_SCOPES
from tests.cxportal.factories import make_api_key
from tests.support.api_schema import openapi_spec

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def spec(tmp_path_factory, django_db_blocker):
    return openapi_spec(tmp_path_factory, django_db_blocker)


@pytest.fixture
def csrf_checking_partner():
    """A partner key on a client that enforces CSRF as a real request meets it (DRF's test
    client switches the check off)."""
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {make_api_key(list(API_SCOPES))}")
    return client


ERROR = {"message": "Not found.", "code": "not_found", "errors": {}}


@pytest.mark.parametrize("method", ["post", "patch", "put", "delete"])
def test_a_write_to_an_unknown_api_url_is_a_json_404_not_a_csrf_page(csrf_checking_partner, method):
    # Was: 403 with Django's HTML "CSRF verification failed" page (a partner sends no cookie).
    for url in ("/api/v1/cases/0.5/", "/api/v1/nothing-here/", "/api/v1/customers/1/nope/"):
        response = getattr(csrf_checking_partner, method)(url, {}, format="json")
        assert response.status_code == 404, (method, url)
        assert response["Content-Type"] == "application/json"
        assert response.json() == ERROR


@pytest.mark.parametrize(
    "url", ["/api/v1/conversions/", "/api/v1/interactions/bulk/", "/api/v1/orders/bulk/"]
)
def test_options_on_a_view_without_a_serializer_class_is_answered(api_as, url):
    # Was: 500 (DRF's metadata asked the view for a serializer_class it does not have).
    response = api_as("supervisor").options(url)
    assert response.status_code == 200
    body = response.json()
    assert body["name"] and body["parses"] == ["application/json"]
    assert "actions" not in body  # the bodies are described by /api/schema/


def test_options_never_fails_on_any_api_path(api_as, partner, spec):
    callers = [api_as("supervisor"), partner(list(API_SCOPES))]
    for path in spec["paths"]:
        url = re.sub(r"\{[^}]+\}", "1", path)
        for client in callers:
            response = client.options(url)
            # 403: a partner asking about an endpoint it may only write (its scope is
            # ``<scope>:write``; OPTIONS is a read) or a staff-only one, or staff about a
            # partner-only one.
            assert response.status_code in (200, 403), (url, response.status_code)
            assert set(response.json()) >= ({"name"} if response.status_code == 200 else {"code"})


def test_the_schema_documents_every_400_and_404_an_operation_can_answer(spec):
    # Was: lists with filters, cursors and page sizes documented no 400; erase, export,
    # merge and unmerge documented no 404 (merge and unmerge no 400 either).
    error = {"$ref": "#/components/schemas/Error"}
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            places = {p["in"] for p in operation.get("parameters", [])}
            responses = operation["responses"]
            label = f"{method.upper()} {path}"
            if "query" in places or "requestBody" in operation:
                assert "400" in responses, label
            if "path" in places:
                assert "404" in responses, label
            for code, response in responses.items():
                if code.startswith("4"):
                    assert response["content"]["application/json"]["schema"] == error, label
    assert set(spec["components"]["schemas"]["Error"]["required"]) == {
        "message",
        "code",
        "errors",
    }


def test_the_schema_says_strict_inputs_refuse_unknown_fields(spec):
    # Was: additional properties allowed, so valid-looking bodies with an extra field got a
    # 400 "Unknown field." the schema did not announce.
    schemas = spec["components"]["schemas"]
    for name in (
        "ConsentInput",
        "InteractionBulkInput",
        "InteractionBulkItem",
        "OrderBulkItem",
        "ContactRef",
    ):
        assert schemas[name]["additionalProperties"] is False, name


def test_a_bulk_item_with_an_unknown_field_is_refused_as_the_schema_says(partner):
    client = partner(["interactions:write"])
    item = {
        "customer_id": 1,
        "channel": "email",
        "direction": "inbound",
        "occurred_at": "2025-01-01T10:00:00Z",
        "external_id": "m-1",
        "colour": "blue",
    }
    response = client.post("/api/v1/interactions/bulk/", {"items": [item]}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"message", "code", "errors"}
    assert "colour" in str(response.json()["errors"])
