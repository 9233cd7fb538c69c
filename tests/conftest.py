import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from tests.cxportal.factories import UserFactory

TEAMS = ("service", "marketing", "sales", "operations", "supervisor")


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()  # throttles count per test
    yield


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def staff():
    """``staff("service")`` makes a user in that team."""

    def make(team: str | None = None, **kwargs):
        return UserFactory(team=team, **kwargs)

    return make


@pytest.fixture
def api_as(staff):
    """``api_as("marketing")``: a DRF client logged in as a member of that team."""

    def make(team: str | None):
        client = APIClient()
        client.force_authenticate(staff(team))
        return client

    return make


@pytest.fixture
def partner():
    """``partner(["customers:read"])``: a DRF client with a real partner API key."""
    from tests.cxportal.factories import make_api_key

    def make(scopes: list[str], rate: str = ""):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {make_api_key(scopes, rate=rate)}")
        return client

    return make
