"""Teams are groups with default permissions; each lands on its own home; nav has no dead links."""

import re

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command

from cxportal.models import Team

pytestmark = pytest.mark.django_db

TEAMS = ["service", "marketing", "sales", "operations", "supervisor"]


def perms_of(slug: str) -> set[str]:
    team = Team.objects.get(slug=slug)
    return {
        f"{app}.{code}"
        for app, code in team.group.permissions.values_list("content_type__app_label", "codename")
    }


def test_the_five_teams_exist_with_the_design_defaults():
    assert sorted(Team.objects.values_list("slug", flat=True)) == sorted(TEAMS)
    assert {
        "customers.view_customer",
        "customers.change_customer",
        "customers.view_restricted_customer",
    } <= perms_of("service")
    assert "customers.view_customer" in perms_of("marketing")
    # Marketing reads customers and cases (never writes them); it runs campaigns.
    marketing_writes = {p for p in perms_of("marketing") if not p.split(".")[1].startswith("view_")}
    assert not {p for p in marketing_writes if p.startswith(("customers.", "cases."))}
    assert {"campaigns.add_campaign", "feedback.add_idea"} <= marketing_writes
    assert "campaigns.review_campaign" not in marketing_writes
    assert "customers.view_restricted_customer" not in perms_of("marketing")
    assert "customers.add_customer" in perms_of("sales")
    assert "customers.view_restricted_customer" not in perms_of("sales")
    assert "customers.change_customer" not in perms_of("operations")
    assert {"cxportal.view_auditevent", "customers.delete_customer"} <= perms_of("supervisor")


def test_a_supervisors_edit_to_a_group_survives_the_next_migrate():
    group = Team.objects.get(slug="marketing").group
    group.permissions.remove(Permission.objects.get(codename="view_customer"))
    group.permissions.add(Permission.objects.get(codename="change_customer"))
    call_command("migrate", verbosity=0)
    assert "customers.view_customer" not in perms_of("marketing")
    assert "customers.change_customer" in perms_of("marketing")


@pytest.mark.parametrize("team", TEAMS)
def test_each_team_lands_on_its_own_home_after_login(client, staff, team):
    user = staff(team)
    response = client.post(
        "/login/", {"username": user.username, "password": "pw-for-tests"}, follow=True
    )
    assert response.redirect_chain[-1][0] == f"/home/{team}/"
    assert response.status_code == 200
    assert Team.objects.get(slug=team).name in response.content.decode()


@pytest.mark.parametrize("team", TEAMS)
def test_navigation_has_no_dead_links(client, staff, team):
    client.force_login(staff(team))
    page = client.get(f"/home/{team}/").content.decode()
    nav = re.search(r'<nav class="main".*?</nav>', page, re.S).group(0)
    links = re.findall(r'href="([^"]+)"', nav)
    assert links and links[0] == f"/home/{team}/"
    for link in links:
        assert client.get(link).status_code == 200, link
    assert ("/admin/" in links) == (team == "supervisor")


def test_another_teams_home_is_404(client, staff):
    client.force_login(staff("marketing"))
    assert client.get("/home/service/").status_code == 404


def test_a_user_in_no_team_is_told_what_to_do(client, staff):
    client.force_login(staff(None))
    response = client.get("/", follow=True)
    assert response.status_code == 403
    assert "not in a team" in response.content.decode()


def test_pages_need_login(client):
    for url in ["/", "/home/service/", "/customers/"]:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")
