import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from customers.models import Customer
from cxportal.models import AuditEvent
from tests.customers.factories import CustomerFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/customers/"


def test_list_filters_by_stage_region_and_name(api_as):
    CustomerFactory(display_name="Ada Lovelace", lifecycle_stage="at_risk", region="North")
    CustomerFactory(display_name="Alan Turing", lifecycle_stage="active", region="North")
    CustomerFactory(display_name="Grace Hopper", lifecycle_stage="at_risk", region="South")
    api = api_as("sales")
    names = lambda q: [c["display_name"] for c in api.get(URL + q).json()["results"]]  # noqa: E731
    assert names("?lifecycle_stage=at_risk") == ["Grace Hopper", "Ada Lovelace"]
    assert names("?lifecycle_stage=at_risk&region=North") == ["Ada Lovelace"]
    assert names("?q=turing") == ["Alan Turing"]


def test_invalid_filter_value_is_400_with_details(api_as):
    response = api_as("sales").get(URL + "?lifecycle_stage=royalty")
    assert response.status_code == 400
    assert "lifecycle_stage" in response.json()["errors"]


def test_list_uses_cursor_pagination(api_as):
    CustomerFactory.create_batch(5)
    api = api_as("service")
    first = api.get(URL + "?page_size=2").json()
    assert len(first["results"]) == 2 and first["next"]
    second = api.get(first["next"]).json()
    assert len(second["results"]) == 2
    assert not {c["id"] for c in first["results"]} & {c["id"] for c in second["results"]}


def test_detail_and_restricted_fields_by_role(api_as, partner):
    customer = CustomerFactory(accessibility_needs=True, accessibility_note="Uses a wheelchair")
    service = api_as("service").get(f"{URL}{customer.pk}/").json()
    assert service["accessibility_note"] == "Uses a wheelchair"
    for client in (api_as("marketing"), partner(["customers:read"])):
        data = client.get(f"{URL}{customer.pk}/").json()
        assert data["display_name"] == customer.display_name
        assert "accessibility_note" not in data and "accessibility_needs" not in data


def test_unknown_customer_is_404(api_as):
    response = api_as("service").get(f"{URL}999999/")
    assert response.status_code == 404
    assert response.json() == {"message": "Not found.", "code": "not_found", "errors": {}}


def test_create_is_audited(api_as):
    response = api_as("service").post(
        URL,
        {"display_name": "Nina Simone", "region": "East", "preferred_channel": "sms"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    customer = Customer.objects.get(pk=response.json()["id"])
    event = AuditEvent.objects.get(target_id=str(customer.pk))
    assert event.action == "customer.create"
    assert event.after["display_name"] == "Nina Simone"


def test_update_records_before_and_after(api_as):
    customer = CustomerFactory(lifecycle_stage="active")
    response = api_as("sales").patch(
        f"{URL}{customer.pk}/", {"lifecycle_stage": "at_risk"}, format="json"
    )
    assert response.status_code == 200
    event = AuditEvent.objects.get(action="customer.update")
    assert (event.before, event.after) == (
        {"lifecycle_stage": "active"},
        {"lifecycle_stage": "at_risk"},
    )


def test_marketing_cannot_set_restricted_fields_and_nothing_is_written(api_as, staff):
    # Give marketing write access, still without the restricted permission.
    from django.contrib.auth.models import Permission

    user = staff("marketing")
    user.user_permissions.add(Permission.objects.get(codename="add_customer"))
    client = APIClient()
    client.force_authenticate(user)
    response = client.post(URL, {"display_name": "Z", "accessibility_note": "x"}, format="json")
    assert response.status_code == 400
    assert "accessibility_note" in response.json()["errors"]
    assert not Customer.objects.exists()


def test_delete_is_not_offered(api_as):
    customer = CustomerFactory()
    assert api_as("supervisor").delete(f"{URL}{customer.pk}/").status_code == 405


@pytest.mark.parametrize("url", [URL, URL + "?lifecycle_stage=active&region=North"])
def test_list_query_count_does_not_grow_with_rows(staff, url):
    user = staff("service")

    def count_queries() -> int:
        api = APIClient()
        api.force_authenticate(type(user).objects.get(pk=user.pk))  # cold permission cache
        with CaptureQueriesContext(connection) as ctx:
            assert api.get(url).status_code == 200
        return len(ctx)

    CustomerFactory.create_batch(3, lifecycle_stage="active", region="North")
    small = count_queries()
    CustomerFactory.create_batch(27, lifecycle_stage="active", region="North")
    assert count_queries() == small
    assert small == 3  # user perms, group perms, the page


def test_detail_query_count_is_pinned(api_as, django_assert_num_queries):
    customer = CustomerFactory()
    api = api_as("service")
    with django_assert_num_queries(3):  # user perms, group perms, the row
        assert api.get(f"{URL}{customer.pk}/").status_code == 200
