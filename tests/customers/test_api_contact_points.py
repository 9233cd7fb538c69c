"""``GET/POST /api/v1/customers/{id}/contact-points/``."""

import pytest
from rest_framework.test import APIClient

from customers.models import ContactPoint
from customers.services import contact_point_add
from cxportal.models import AuditEvent
from tests.customers.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def url(customer) -> str:
    return f"/api/v1/customers/{customer.pk}/contact-points/"


def test_list_shows_the_customers_points_only(api_as):
    ada, other = CustomerFactory(), CustomerFactory()
    contact_point_add(actor=None, customer=ada, kind="phone", value="07700 900123")
    contact_point_add(actor=None, customer=ada, kind="email", value="Ada@Example.com")
    contact_point_add(actor=None, customer=other, kind="email", value="other@example.com")
    rows = api_as("marketing").get(url(ada)).json()
    assert [(r["kind"], r["value"], r["normalized"]) for r in rows] == [
        ("email", "Ada@Example.com", "ada@example.com"),
        ("phone", "07700 900123", "+447700900123"),
    ]
    assert set(rows[0]) == {
        "id",
        "kind",
        "network",
        "value",
        "normalized",
        "is_primary",
        "created_at",
    }


@pytest.mark.parametrize(
    ("body", "normalized"),
    [
        ({"kind": "email", "value": "  Ada@Example.COM "}, "ada@example.com"),
        ({"kind": "phone", "value": "07700 900123"}, "+447700900123"),
        ({"kind": "phone", "value": "+1 (202) 555-0143"}, "+12025550143"),
        ({"kind": "social", "value": "@Ada_L", "network": "twitter"}, "twitter:ada_l"),
        ({"kind": "loyalty", "value": "ab 12 cd"}, "AB12CD"),
        ({"kind": "app", "value": "u-42", "network": "twitter"}, "U-42"),
    ],
)
def test_add_normalizes_and_is_audited(api_as, body, normalized):
    customer = CustomerFactory()
    response = api_as("service").post(url(customer), body, format="json")
    assert response.status_code == 201, response.json()
    point = ContactPoint.objects.get(customer=customer)
    assert point.normalized == normalized
    assert response.json()["normalized"] == normalized and response.json()["id"] == point.pk
    event = AuditEvent.objects.get(action="contact_point.add")
    assert event.target_id == str(customer.pk)


def test_adding_a_point_the_customer_already_has_returns_it(partner):
    customer = CustomerFactory()
    client = partner(["customers:write"])
    first = client.post(url(customer), {"kind": "email", "value": "a@example.com"}, format="json")
    again = client.post(url(customer), {"kind": "email", "value": "A@EXAMPLE.com"}, format="json")
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert ContactPoint.objects.count() == 1


def test_a_point_of_another_customer_is_400_and_stays_theirs(api_as):
    owner, customer = CustomerFactory(), CustomerFactory()
    contact_point_add(actor=None, customer=owner, kind="email", value="taken@example.com")
    response = api_as("service").post(
        url(customer), {"kind": "email", "value": "TAKEN@example.com"}, format="json"
    )
    assert response.status_code == 400
    assert "already belongs to another customer" in response.json()["errors"]["value"][0]
    assert list(ContactPoint.objects.values_list("customer_id", flat=True)) == [owner.pk]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "email", "value": "not-an-email"}, "value"),
        ({"kind": "email", "value": "a@b@example.com"}, "value"),
        ({"kind": "phone", "value": "12"}, "value"),
        ({"kind": "phone", "value": "call me maybe"}, "value"),
        ({"kind": "social", "value": "@ada"}, "network"),
        ({"kind": "social", "value": "@ada", "network": "myspace"}, "network"),
        ({"kind": "social", "value": "not a handle!", "network": "twitter"}, "value"),
        ({"kind": "fax", "value": "123"}, "kind"),
        ({"kind": "email"}, "value"),
        ({"value": "a@example.com"}, "kind"),
        ({"kind": "email", "value": ""}, "value"),
        ({"kind": "email", "value": "a" * 250 + "@example.com"}, "value"),
        ({"kind": "email", "value": ["a@example.com"]}, "value"),
        ({"kind": "email", "value": {"v": "a@example.com"}}, "value"),
        ({"kind": "email", "value": "a\x00@example.com"}, "value"),
        ({"kind": "email", "value": "a@example.com", "is_primary": "perhaps"}, "is_primary"),
        ({"kind": "email", "value": "a@example.com", "customer": 1}, "customer"),
    ],
)
def test_bad_input_is_400_per_field_and_nothing_is_written(api_as, body, field):
    customer = CustomerFactory()
    response = api_as("service").post(url(customer), body, format="json")
    assert response.status_code == 400, response.json()
    assert response.json()["code"] == "invalid"
    assert field in response.json()["errors"], response.json()
    assert not ContactPoint.objects.exists() and not AuditEvent.objects.exists()


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        ('{"kind": "email", "value": ', "application/json"),
        ('[{"kind": "email", "value": "a@example.com"}]', "application/json"),
        ('"a@example.com"', "application/json"),
        ("kind=email&value=a@example.com", "application/x-www-form-urlencoded"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_a_4xx_json_error(api_as, raw, content_type):
    customer = CustomerFactory()
    response = api_as("service").post(url(customer), raw, content_type=content_type)
    assert response.status_code in (400, 415)
    assert set(response.json()) == {"message", "code", "errors"}
    assert not ContactPoint.objects.exists()


def test_query_count_is_pinned_and_does_not_grow_with_points(staff, django_assert_num_queries):
    user = staff("service")
    customer = CustomerFactory()

    def get(expected_rows: int):
        api = APIClient()
        api.force_authenticate(type(user).objects.get(pk=user.pk))
        with django_assert_num_queries(4):  # user perms, group perms, the customer, the points
            assert len(api.get(url(customer)).json()) == expected_rows

    for i in range(3):
        contact_point_add(actor=None, customer=customer, kind="app", value=f"app-{i}")
    get(3)
    for i in range(3, 30):
        contact_point_add(actor=None, customer=customer, kind="app", value=f"app-{i}")
    get(30)
