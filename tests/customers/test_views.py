import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.customers.factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent_client(client, staff):
    client.force_login(staff("service"))
    return client


def test_list_page_filters_and_links_to_detail(agent_client):
    ada = CustomerFactory(display_name="Ada Lovelace", lifecycle_stage="at_risk")
    CustomerFactory(display_name="Alan Turing", lifecycle_stage="active")
    page = agent_client.get("/customers/?lifecycle_stage=at_risk").content.decode()
    assert "Ada Lovelace" in page and "Alan Turing" not in page
    assert f'href="/customers/{ada.pk}/"' in page


def test_list_page_loads_the_next_page_in_place_with_htmx(agent_client, settings):
    settings.CXPORTAL_PAGE_SIZE = 2
    customers = CustomerFactory.create_batch(5)
    page = agent_client.get("/customers/").content.decode()
    assert f"before={customers[3].pk}" in page and 'hx-get="?before=' in page
    rows = agent_client.get(f"/customers/?before={customers[3].pk}", HTTP_HX_REQUEST="true")
    html = rows.content.decode()
    assert "<html" not in html  # a fragment, swapped into the table
    assert customers[2].display_name in html and customers[1].display_name in html
    assert customers[4].display_name not in html


def test_list_page_query_count_does_not_grow(agent_client):
    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert agent_client.get("/customers/").status_code == 200
        return len(ctx)

    CustomerFactory.create_batch(3)
    small = count()
    CustomerFactory.create_batch(27)
    assert count() == small


def test_detail_page_shows_restricted_fields_only_to_allowed_roles(client, staff):
    customer = CustomerFactory(accessibility_needs=True, accessibility_note="Uses a wheelchair")
    client.force_login(staff("service"))
    assert "Uses a wheelchair" in client.get(f"/customers/{customer.pk}/").content.decode()
    client.force_login(staff("marketing"))
    page = client.get(f"/customers/{customer.pk}/")
    assert page.status_code == 200
    assert customer.display_name in page.content.decode()
    assert "wheelchair" not in page.content.decode()


def test_unknown_customer_page_is_404(agent_client):
    assert agent_client.get("/customers/424242/").status_code == 404


def test_user_without_customer_permission_is_403(client, staff):
    client.force_login(staff(None))
    assert client.get("/customers/").status_code == 403


def test_supervisor_admin_lists_and_searches_customers(client, staff):
    CustomerFactory(display_name="Ada Lovelace")
    client.force_login(staff("supervisor"))
    page = client.get("/admin/customers/customer/?q=ada")
    assert page.status_code == 200
    assert "Ada Lovelace" in page.content.decode()
    assert client.get("/admin/cxportal/auditevent/").status_code == 200
