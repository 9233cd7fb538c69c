"""The OpenAPI description of the customers API: builds without warnings and says what
partners need to know."""

import pytest

from tests.support.api_schema import openapi_spec

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def spec(tmp_path_factory, django_db_blocker):
    return openapi_spec(tmp_path_factory, django_db_blocker)


def test_schema_builds_and_validates_without_warnings(spec):
    paths = spec["paths"]
    for path, methods in [
        ("/api/v1/customers/", {"get", "post"}),
        ("/api/v1/customers/{id}/", {"get", "patch"}),
        ("/api/v1/customers/{id}/timeline/", {"get"}),
        ("/api/v1/customers/{id}/contact-points/", {"get", "post"}),
        ("/api/v1/customers/{id}/consent/", {"get", "post"}),
    ]:
        assert methods <= set(paths[path]), path


def test_schema_says_partners_never_see_restricted_fields(spec):
    for path, method in [("/api/v1/customers/", "get"), ("/api/v1/customers/{id}/", "get")]:
        assert "never for partner API keys" in spec["paths"][path][method]["description"]
    customer = spec["components"]["schemas"]["CustomerDetailOutput"]
    assert "accessibility_note" not in customer["required"]
    assert (
        "never shown to marketing or to partner API keys"
        in (customer["properties"]["accessibility_note"]["description"])
    )


def test_schema_describes_the_timeline_page_and_its_parameters(spec):
    operation = spec["paths"]["/api/v1/customers/{id}/timeline/"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"id", "channel", "cursor", "page_size"}
    page = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert page.endswith("/PaginatedInteractionOutputList")


def test_schema_documents_the_write_bodies(spec):
    schemas = spec["components"]["schemas"]
    assert set(schemas["ConsentInput"]["required"]) == {"channel", "purpose", "granted", "source"}
    assert set(schemas["ContactPointCreateInput"]["required"]) == {"kind", "value"}
    create = schemas["CustomerCreateInput"]["properties"]["contact_points"]
    assert create["description"].startswith("Up to 20.")
