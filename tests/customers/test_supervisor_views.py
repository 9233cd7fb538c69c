import json
from datetime import UTC, datetime

import pytest
from django.contrib.auth.context_processors import PermWrapper
from django.template.loader import render_to_string
from django.test import RequestFactory

from customers.models import Customer, CustomerMerge, Interaction, Order
from customers.services import customer_merge
from cxportal.models import AuditEvent
from tests.customers.factories import CustomerFactory

pytestmark = pytest.mark.django_db
T0 = datetime(2024, 6, 1, tzinfo=UTC)


def test_customer_page_shows_the_tools_to_supervisors_only(boss_client, client, staff):
    customer = CustomerFactory()
    page = boss_client.get(f"/customers/{customer.pk}/").content.decode()
    assert "Export data (JSON download)" in page
    assert f'href="/customers/{customer.pk}/erase/"' in page
    assert f'action="/customers/{customer.pk}/merge/"' in page
    client.force_login(staff("service"))
    page = client.get(f"/customers/{customer.pk}/").content.decode()
    assert "Supervisor tools" not in page and "/erase/" not in page


def test_partial_on_a_merged_customer_links_the_survivor_and_undoes(boss):
    survivor, merged = CustomerFactory(), CustomerFactory()
    customer_merge(actor=boss, survivor=survivor, merged=merged)
    merged.refresh_from_db()
    request = RequestFactory().get("/")
    request.user = boss
    html = render_to_string(
        "customers/_supervisor_tools.html",
        {"customer": merged, "perms": PermWrapper(boss)},
        request=request,
    )
    assert f'href="/customers/{survivor.pk}/"' in html
    assert f'action="/customers/{merged.pk}/unmerge/"' in html and "Undo merge" in html
    assert "csrfmiddlewaretoken" in html


def test_export_downloads_json_and_is_audited(boss_client):
    customer = CustomerFactory(display_name="Dora Download")
    Interaction.objects.create(
        customer=customer, channel="web", direction="inbound", occurred_at=T0, body="hello"
    )
    response = boss_client.get(f"/customers/{customer.pk}/export/")
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="customer-{customer.pk}.json"'
    data = json.loads(response.content)
    assert data["customer"]["display_name"] == "Dora Download"
    assert data["interactions"][0]["body"] == "hello"
    assert AuditEvent.objects.filter(action="customer.export").count() == 1


def test_erase_confirms_then_erases(boss_client):
    customer = CustomerFactory(display_name="Xanthippe Qerase")
    page = boss_client.get(f"/customers/{customer.pk}/erase/")
    assert (
        page.status_code == 200
        and "Erase personal data of Xanthippe Qerase?" in page.content.decode()
    )
    assert Customer.objects.get(pk=customer.pk).erased_at is None  # GET changes nothing
    response = boss_client.post(f"/customers/{customer.pk}/erase/")
    assert response.status_code == 302 and response.url == f"/customers/{customer.pk}/"
    customer.refresh_from_db()
    assert customer.erased_at and customer.display_name == f"Erased customer #{customer.pk}"
    page = boss_client.get(response.url).content.decode()
    assert "Personal data of customer" in page and "Xanthippe" not in page


def test_erase_of_a_merged_away_customer_is_refused_with_a_message(boss_client, boss):
    survivor, merged = CustomerFactory(), CustomerFactory()
    customer_merge(actor=boss, survivor=survivor, merged=merged)
    response = boss_client.post(f"/customers/{merged.pk}/erase/", follow=True)
    assert response.status_code == 200
    assert "erase that customer" in response.content.decode()
    assert Customer.objects.get(pk=merged.pk).erased_at is None


def test_merge_search_confirm_and_merge(boss_client):
    survivor = CustomerFactory(display_name="Mary Main")
    other = CustomerFactory(display_name="Mary Duplicate")
    Order.objects.create(customer=other, external_id="X9", placed_at=T0, shipping_method="express")
    found = boss_client.get(f"/customers/{survivor.pk}/merge/?merged=duplicate").content.decode()
    assert f'href="?merged={other.pk}"' in found and "Mary Main" not in found.split("<table")[1]
    confirm = boss_client.get(f"/customers/{survivor.pk}/merge/?merged={other.pk}")
    html = confirm.content.decode()
    assert "Mary Main" in html and "Mary Duplicate" in html
    assert f'name="merged_id" value="{other.pk}"' in html
    assert not CustomerMerge.objects.exists()  # GET changes nothing

    response = boss_client.post(f"/customers/{survivor.pk}/merge/", {"merged_id": other.pk})
    assert response.status_code == 302 and response.url == f"/customers/{survivor.pk}/"
    assert Customer.objects.get(pk=other.pk).merged_into_id == survivor.pk
    assert Order.objects.get(external_id="X9").customer_id == survivor.pk


def test_merge_refusals_and_bad_input_come_back_as_messages(boss_client):
    survivor = CustomerFactory()
    for merged_id in (survivor.pk, "nope", 999999):
        response = boss_client.post(
            f"/customers/{survivor.pk}/merge/", {"merged_id": merged_id}, follow=True
        )
        assert response.status_code == 200
        messages = [str(m) for m in response.context["messages"]]
        assert messages, merged_id
    assert not CustomerMerge.objects.exists()
    assert boss_client.get(f"/customers/{survivor.pk}/merge/?merged=999999").status_code == 302


def test_history_lists_merges_and_undo_restores(boss_client, boss):
    survivor, merged = CustomerFactory(), CustomerFactory()
    Interaction.objects.create(customer=merged, channel="sms", direction="inbound", occurred_at=T0)
    merge = customer_merge(actor=boss, survivor=survivor, merged=merged)
    page = boss_client.get(f"/customers/{survivor.pk}/merge/").content.decode()
    assert f'name="merge_id" value="{merge.pk}"' in page
    response = boss_client.post(f"/customers/{survivor.pk}/unmerge/", {"merge_id": merge.pk})
    assert response.status_code == 302 and response.url == f"/customers/{merged.pk}/"
    assert Customer.objects.get(pk=merged.pk).merged_into_id is None
    assert Interaction.objects.get().customer_id == merged.pk
    page = boss_client.get(f"/customers/{survivor.pk}/merge/").content.decode()
    assert "undone" in page
    again = boss_client.post(
        f"/customers/{survivor.pk}/unmerge/", {"merge_id": merge.pk}, follow=True
    )
    assert "already undone" in again.content.decode()


def test_undo_from_the_merged_customer_without_a_merge_id(boss_client, boss):
    survivor, merged = CustomerFactory(), CustomerFactory()
    customer_merge(actor=boss, survivor=survivor, merged=merged)
    response = boss_client.post(f"/customers/{merged.pk}/unmerge/")
    assert response.status_code == 302
    assert Customer.objects.get(pk=merged.pk).merged_into_id is None


@pytest.mark.parametrize("team", ["service", "marketing", "sales", "operations"])
def test_other_teams_get_403(client, staff, team):
    customer, other = CustomerFactory(), CustomerFactory()
    client.force_login(staff(team))
    assert client.get(f"/customers/{customer.pk}/export/").status_code == 403
    assert client.get(f"/customers/{customer.pk}/erase/").status_code == 403
    assert client.post(f"/customers/{customer.pk}/erase/").status_code == 403
    assert client.get(f"/customers/{customer.pk}/merge/").status_code == 403
    assert (
        client.post(f"/customers/{customer.pk}/merge/", {"merged_id": other.pk}).status_code == 403
    )
    assert client.post(f"/customers/{customer.pk}/unmerge/").status_code == 403
    assert not CustomerMerge.objects.exists()
    assert Customer.objects.get(pk=customer.pk).erased_at is None


def test_unknown_customer_is_404_and_anonymous_goes_to_login(boss_client, client):
    for path in ("export/", "erase/", "merge/"):
        assert boss_client.get(f"/customers/999999/{path}").status_code == 404
    assert boss_client.post("/customers/999999/unmerge/").status_code == 404
    customer = CustomerFactory()
    client.logout()
    response = client.post(f"/customers/{customer.pk}/erase/")
    assert response.status_code == 302 and "/login/" in response.url


def test_undo_only_acts_on_a_merge_of_this_customer(boss_client, boss):
    survivor, merged, bystander = CustomerFactory(), CustomerFactory(), CustomerFactory()
    merge = customer_merge(actor=boss, survivor=survivor, merged=merged)
    response = boss_client.post(
        f"/customers/{bystander.pk}/unmerge/", {"merge_id": str(merge.pk)}, follow=True
    )
    assert "There is no such merge to undo." in response.content.decode()
    merge.refresh_from_db()
    assert merge.undone_at is None


def test_merge_candidates_leave_erased_customers_out(boss_client, boss):
    from customers.services import customer_erase

    survivor = CustomerFactory()
    live = CustomerFactory(display_name="Findable Person")
    gone = customer_erase(actor=boss, customer=CustomerFactory(display_name="Findable Gone"))
    page = boss_client.get(f"/customers/{survivor.pk}/merge/", {"merged": "Erased customer"})
    assert f"#{gone.pk}" not in page.content.decode()
    page = boss_client.get(f"/customers/{survivor.pk}/merge/", {"merged": "Findable"})
    assert f"#{live.pk}" in page.content.decode()
