"""The OpenAPI description of the campaigns API: every route is there, with the bodies and
answers partners need to know."""

import pytest

from tests.support.api_schema import openapi_spec

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def spec(tmp_path_factory, django_db_blocker):
    return openapi_spec(tmp_path_factory, django_db_blocker)


def test_every_campaigns_route_is_described(spec):
    paths = spec["paths"]
    for path, methods in [
        ("/api/v1/segments/", {"get", "post"}),
        ("/api/v1/segments/{id}/", {"get", "patch"}),
        ("/api/v1/segments/preview/", {"post"}),
        ("/api/v1/segments/{id}/count/", {"get"}),
        ("/api/v1/campaigns/", {"get", "post"}),
        ("/api/v1/campaigns/{id}/", {"get"}),
        ("/api/v1/campaigns/{id}/report/", {"get"}),
        ("/api/v1/contact-gate/", {"get"}),
        ("/api/v1/conversions/", {"post"}),
        ("/api/v1/opportunities/", {"get", "post"}),
        ("/api/v1/opportunities/{id}/", {"get", "patch"}),
    ]:
        assert set(paths[path]) - {"parameters"} == methods, path
    for action in ("submit", "review", "launch", "pause", "resume", "cancel"):
        operation = paths[f"/api/v1/campaigns/{{id}}/{action}/"]["post"]
        assert {"200", "400", "404", "409"} <= set(operation["responses"]), action


def test_the_gate_answers_one_object_and_requires_its_parameters(spec):
    operation = spec["paths"]["/api/v1/contact-gate/"]["get"]
    assert {(p["name"], p["required"]) for p in operation["parameters"]} == {
        ("customer", True),
        ("purpose", True),
        ("channel", True),
    }
    answer = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer == {"$ref": "#/components/schemas/ContactGateOutput"}
    code = spec["components"]["schemas"]["GateReason"]["properties"]["code"]
    assert code["allOf"] == [{"$ref": "#/components/schemas/GateReasonEnum"}]
    assert "`no_consent` - No consent for this channel and purpose." in code["description"]
    assert "pressure" in spec["components"]["schemas"]["GateReasonEnum"]["enum"]


def test_the_schema_documents_bodies_and_what_partners_do_not_see(spec):
    schemas = spec["components"]["schemas"]
    assert set(schemas["CampaignCreateInput"]["required"]) == {
        "name",
        "channel",
        "segment",
        "variants",
    }
    assert "required" not in schemas["ConversionInput"]  # `delivery`, or campaign + customer
    assert "Idempotent" in spec["paths"]["/api/v1/conversions/"]["post"]["description"]
    detail = schemas["CampaignDetailOutput"]
    assert "reviews" not in detail["required"]
    assert "absent for partner API keys" in detail["properties"]["reviews"]["description"]
    assert (
        "rules.all.2.value" in schemas["SegmentPreviewInput"]["properties"]["rules"]["description"]
    )
