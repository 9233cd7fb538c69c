import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from tests.cxportal.factories import UserFactory

TEAMS = ("service", "marketing", "sales", "operations", "supervisor")


def pytest_configure(config):
    """Test users' passwords are hashed with a fast hasher: PBKDF2's deliberate slowness
    protects real passwords and would only slow the thousands of test logins."""
    from django.conf import settings

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # No quiet hours unless a test sets them: a test's outcome must not depend on the hour
    # the suite happens to run at.
    settings.CXPORTAL_QUIET_HOURS = ("00:00", "00:00")


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()  # throttles count per test
    # Every staff page shows the disruptions banner from this cache (one query when it is
    # cold, none while warm): start warm and empty, so no page's pinned query count depends
    # on it. Disruption services drop it; tests of the banner clear it themselves.
    from cases.selectors import BANNER_CACHE_KEY, BANNER_SECONDS

    cache.set(BANNER_CACHE_KEY, [], BANNER_SECONDS)
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
def boss(staff):
    """A supervisor."""
    return staff("supervisor")


@pytest.fixture
def boss_client(client, boss):
    """Django's test client logged in as a supervisor (the admin, supervisor pages)."""
    client.force_login(boss)
    return client


@pytest.fixture
def partner():
    """``partner(["customers:read"])``: a DRF client with a real partner API key."""
    from tests.cxportal.factories import make_api_key

    def make(scopes: list[str], rate: str = ""):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {make_api_key(scopes, rate=rate)}")
        return client

    return make


@pytest.fixture
def smtp():
    """A real SMTP server (aiosmtpd) on loopback; ``.messages`` holds what it received."""
    from tests.support.mail_servers import smtp_server

    with smtp_server() as server:
        yield server


@pytest.fixture
def provider():
    """A real local HTTP SMS provider (``.received`` holds the requests, ``.mode`` fails it)."""
    import threading

    from tests.customers.test_channel_sms import FakeProvider

    server = FakeProvider()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def broker(tmp_path):
    """A filesystem broker the test reads: ``broker()`` lists the (task name, args) sent."""
    from tests.customers.channel_support import readable_broker

    with readable_broker(tmp_path) as queued:
        yield queued


@pytest.fixture
def broker_at():
    """``broker_at(url)`` points this process's Celery app at a broker; restored after."""
    from cxportal.celery import app
    from tests.support.services import use_broker

    old = app.conf.broker_url, app.conf.broker_transport_options
    yield lambda url: use_broker(app, url, {})
    use_broker(app, *old)


@pytest.fixture
def own_redis():
    """A redis-server of this test's own on a free port: no other test run can flush or
    read its queues (two suites at once on one machine must not share a broker db)."""
    import shutil

    from tests.support.services import (
        free_port,
        missing_service,
        process_stop,
        redis_server_start,
    )

    if shutil.which("redis-server") is None:
        missing_service("redis-server is not installed")
    port = free_port()
    proc = redis_server_start(port)
    yield f"redis://127.0.0.1:{port}/0"
    process_stop(proc)
