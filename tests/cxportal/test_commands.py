import io

import pytest
from django.core.management import CommandError, call_command

from customers.models import Customer
from cxportal.demo import DEMO_USERS
from cxportal.models import APIClient

pytestmark = pytest.mark.django_db


def test_create_api_client_prints_the_key_once_and_stores_its_hash(api):
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "create_api_client", "Journey planner", "--scopes", "customers:read", stdout=out, stderr=err
    )
    key = out.getvalue().strip()
    client = APIClient.objects.get(name="Journey planner")
    assert client.scopes == ["customers:read"]
    assert key.startswith(client.prefix + ".")
    assert key not in client.hashed_key
    assert "shown once" in err.getvalue()
    api.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert api.get("/api/v1/customers/").status_code == 200


def test_create_api_client_rejects_unknown_scopes_and_duplicates():
    with pytest.raises(CommandError, match="Unknown scope"):
        call_command("create_api_client", "X", "--scopes", "customers:read,root:all")
    assert not APIClient.objects.exists()
    call_command(
        "create_api_client",
        "Y",
        "--scopes",
        "customers:read",
        stdout=io.StringIO(),
        stderr=io.StringIO(),
    )
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_api_client", "Y", "--scopes", "customers:read")


def test_seed_demo_is_idempotent(client):
    call_command("seed_demo", stdout=io.StringIO())
    counts = Customer.objects.count()
    call_command("seed_demo", stdout=io.StringIO())
    assert Customer.objects.count() == counts == 60
    for username, *_rest, team in DEMO_USERS:
        client.logout()
        login = client.post("/login/", {"username": username, "password": "cx-demo-pass"})
        assert login.status_code == 302, login.content
        assert client.get("/", follow=True).redirect_chain[-1][0] == f"/home/{team}/"
