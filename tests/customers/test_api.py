import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from customers.models import ContactPoint, Customer, Order
from customers.services import consent_set, contact_point_add
from cxportal.models import AuditEvent
from tests.customers.factories import CustomerFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/customers/"
CHANNELS = ["email", "sms", "app", "phone", "social", "store", "web"]
PURPOSES = ["service", "marketing", "feedback"]


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


def test_detail_query_count_is_pinned_and_does_not_grow_with_points_or_consent(
    staff, django_assert_num_queries
):
    user = staff("service")
    customer = CustomerFactory()

    def get():
        api = APIClient()
        api.force_authenticate(type(user).objects.get(pk=user.pk))  # cold permission cache
        # user perms, group perms, the row, its contact points, its consent
        with django_assert_num_queries(5):
            return api.get(f"{URL}{customer.pk}/").json()

    def add(start: int, stop: int) -> None:
        for i in range(start, stop):
            contact_point_add(actor=None, customer=customer, kind="app", value=f"app-{i}")
            consent_set(
                actor=None,
                customer=customer,
                channel=CHANNELS[i % 7],
                purpose=PURPOSES[(i // 7) % 3],
                granted=True,
                source="x",
            )

    add(0, 3)
    small = get()
    add(3, 21)
    large = get()
    assert (len(small["contact_points"]), len(large["contact_points"])) == (3, 21)
    assert (len(small["consent"]), len(large["consent"])) == (3, 21)


def test_list_query_count_is_pinned_for_a_partner_too(partner, django_assert_num_queries):
    client = partner(["customers:read"])
    CustomerFactory.create_batch(3)
    assert client.get(URL).status_code == 200  # first use stamps last_used_at, caches the key
    with django_assert_num_queries(1):  # the page alone
        assert len(client.get(URL).json()["results"]) == 3
    CustomerFactory.create_batch(27)
    with django_assert_num_queries(1):
        assert len(client.get(URL).json()["results"]) == 30


def test_an_order_number_finds_its_customer_exactly_without_a_name_search(
    partner, django_assert_num_queries
):
    buyer = CustomerFactory(display_name="Order Buyer")
    Order.objects.create(
        customer=buyer, external_id="ORD-77", placed_at="2024-07-01T10:00Z", shipping_method="x"
    )
    fan = CustomerFactory(display_name="Fan Of ORD-77 Deliveries")
    client = partner(["customers:read"])
    client.get(URL)  # the key is cached from here on
    with django_assert_num_queries(2):  # the order (unique index), then its customer by id
        found = client.get(URL, {"q": "ORD-77"}).json()["results"]
    assert [c["id"] for c in found] == [buyer.pk]  # not the fan, whose name holds it too
    for no_order in ("ORD-7", "ord-77"):  # no such order (they match exactly): names
        found = client.get(URL, {"q": no_order}).json()["results"]
        assert [c["id"] for c in found] == [fan.pk]


def test_detail_shows_contact_points_and_current_consent(api_as):
    customer = CustomerFactory()
    contact_point_add(actor=None, customer=customer, kind="email", value="Ada@Example.com")
    consent_set(
        actor=None, customer=customer, channel="sms", purpose="service", granted=True, source="x"
    )
    data = api_as("marketing").get(f"{URL}{customer.pk}/").json()
    assert [(p["kind"], p["normalized"]) for p in data["contact_points"]] == [
        ("email", "ada@example.com")
    ]
    assert [(c["channel"], c["purpose"], c["status"]) for c in data["consent"]] == [
        ("sms", "service", "granted")
    ]


# --- Create with contact points -------------------------------------------------------------


def test_create_with_contact_points_normalizes_them_and_search_finds_them(api_as):
    api = api_as("sales")
    response = api.post(
        URL,
        {
            "display_name": "Ada Lovelace",
            "contact_points": [
                {"kind": "email", "value": " Ada@Example.COM "},
                {"kind": "phone", "value": "07700 900123"},
                {"kind": "social", "value": "@ada_l", "network": "twitter"},
            ],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    data = response.json()
    assert sorted(p["normalized"] for p in data["contact_points"]) == [
        "+447700900123",
        "ada@example.com",
        "twitter:ada_l",
    ]
    assert data["consent"] == []
    for q in ("ada@example.com", "+44 7700 900123", "@ada_l"):
        found = api.get(URL, {"q": q}).json()["results"]
        assert [c["id"] for c in found] == [data["id"]], q
    event = AuditEvent.objects.get(action="customer.create")
    assert len(event.after["contact_points"]) == 3


def test_create_reports_bad_contact_points_per_item_and_writes_nothing(api_as):
    owner = CustomerFactory()
    contact_point_add(actor=None, customer=owner, kind="email", value="taken@example.com")
    response = api_as("service").post(
        URL,
        {
            "display_name": "Someone",
            "contact_points": [
                {"kind": "email", "value": "fine@example.com"},
                {"kind": "email", "value": "not-an-email"},
                {"kind": "phone", "value": "12"},
                {"kind": "fax", "value": "1"},
                {"kind": "social", "value": "@x"},
            ],
        },
        format="json",
    )
    assert response.status_code == 400
    items = response.json()["errors"]["contact_points"]  # by item index; good items absent
    assert {index: list(errors) for index, errors in items.items()} == {
        "1": ["value"],
        "2": ["value"],
        "3": ["kind"],
        "4": ["network"],
    }
    assert "not-an-email" in items["1"]["value"][0]
    assert Customer.objects.count() == 1 and ContactPoint.objects.count() == 1


def test_create_with_a_contact_point_of_another_customer_is_400_on_that_item(api_as):
    owner = CustomerFactory()
    contact_point_add(actor=None, customer=owner, kind="phone", value="+447700900123")
    response = api_as("service").post(
        URL,
        {
            "display_name": "Someone",
            "contact_points": [
                {"kind": "email", "value": "new@example.com"},
                {"kind": "phone", "value": "07700 900123"},
            ],
        },
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "contact_points": {"1": {"value": ["07700 900123 already belongs to another customer."]}}
    }
    assert Customer.objects.count() == 1 and ContactPoint.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "display_name"),
        ({"display_name": ""}, "display_name"),
        ({"display_name": None}, "display_name"),
        ({"display_name": "x" * 201}, "display_name"),
        ({"display_name": ["Ada"]}, "display_name"),
        ({"display_name": "A\x00da"}, "display_name"),
        ({"display_name": "Ada", "lifecycle_stage": "royalty"}, "lifecycle_stage"),
        ({"display_name": "Ada", "preferred_channel": "pigeon"}, "preferred_channel"),
        ({"display_name": "Ada", "language": "x" * 11}, "language"),
        ({"display_name": "Ada", "region": {"name": "North"}}, "region"),
        ({"display_name": "Ada", "contact_points": {"kind": "email"}}, "contact_points"),
        ({"display_name": "Ada", "contact_points": "a@example.com"}, "contact_points"),
        ({"display_name": "Ada", "contact_points": ["a@example.com"]}, "contact_points"),
        (
            {
                "display_name": "Ada",
                "contact_points": [{"kind": "app", "value": f"u{i}"} for i in range(21)],
            },
            "contact_points",
        ),
        ({"display_name": "Ada", "email": "ada@example.com"}, "email"),
        ({"display_name": "Ada", "merged_into": 1}, "merged_into"),
    ],
)
def test_create_bad_input_is_400_per_field_and_nothing_is_written(api_as, body, field):
    response = api_as("service").post(URL, body, format="json")
    assert response.status_code == 400, response.json()
    assert list(response.json()["errors"]) == [field], response.json()
    assert not Customer.objects.exists() and not AuditEvent.objects.exists()


def test_create_restricted_field_of_the_wrong_type_is_400(api_as):
    response = api_as("service").post(
        URL,
        {
            "display_name": "Ada",
            "accessibility_needs": "sometimes",
            "accessibility_note": "x" * 2001,
        },
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"accessibility_needs", "accessibility_note"}


@pytest.mark.parametrize("raw", ['{"display_name": "Ada"', "[]", '[{"display_name": "Ada"}]', "7"])
def test_create_with_a_body_that_is_not_a_json_object_is_400(api_as, raw):
    response = api_as("service").post(URL, raw, content_type="application/json")
    assert response.status_code == 400
    assert set(response.json()) == {"message", "code", "errors"}
    assert not Customer.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"lifecycle_stage": "royalty"}, "lifecycle_stage"),
        ({"display_name": None}, "display_name"),
        ({"display_name": "  "}, "display_name"),
        ({"region": "r" * 101}, "region"),
        ({"region": ["North"]}, "region"),
        ({"contact_points": []}, "contact_points"),
        ({"id": 5}, "id"),
    ],
)
def test_update_bad_input_is_400_per_field_and_nothing_changes(api_as, body, field):
    customer = CustomerFactory(display_name="Ada", lifecycle_stage="active", region="North")
    response = api_as("sales").patch(f"{URL}{customer.pk}/", body, format="json")
    assert response.status_code == 400, response.json()
    assert list(response.json()["errors"]) == [field]
    customer.refresh_from_db()
    assert (customer.display_name, customer.lifecycle_stage, customer.region) == (
        "Ada",
        "active",
        "North",
    )
    assert not AuditEvent.objects.exists()


def test_update_answers_the_detail(api_as):
    customer = CustomerFactory()
    contact_point_add(actor=None, customer=customer, kind="email", value="a@example.com")
    data = (
        api_as("service")
        .patch(f"{URL}{customer.pk}/", {"preferred_channel": ""}, format="json")
        .json()
    )
    assert data["preferred_channel"] == ""
    assert [p["value"] for p in data["contact_points"]] == ["a@example.com"]


def test_list_filters_do_not_apply_to_one_customer(api_as):
    customer = CustomerFactory(lifecycle_stage="active")
    api = api_as("service")
    for query in ("?lifecycle_stage=lapsed", "?lifecycle_stage=royalty", "?q=nobody-by-that-name"):
        assert api.get(f"{URL}{customer.pk}/{query}").status_code == 200, query
        assert api.get(f"{URL}{customer.pk}/timeline/{query}").status_code == 200, query
        response = api.patch(f"{URL}{customer.pk}/{query}", {"region": "East"}, format="json")
        assert response.status_code == 200, query
