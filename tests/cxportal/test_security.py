"""Login lockout, the Content Security Policy and the cookies' flags.

`check --deploy` on the production settings is in test_settings.py."""

import json
import re

import pytest
from axes.models import AccessAttempt
from django.test import Client

from tests.cxportal.test_settings import PRODUCTION_ENV, manage
from tests.support.services import REPO

pytestmark = pytest.mark.django_db

WRONG = "not-the-password"


def attempt(client, username: str, password: str, url: str = "/login/"):
    return client.post(url, {"username": username, "password": password})


def test_five_wrong_passwords_lock_that_user_out_on_that_address(client, staff):
    agent = staff("service")
    for _ in range(4):
        answer = attempt(client, agent.username, WRONG)
        assert answer.status_code == 200
        assert "Please enter a correct username and password" in answer.content.decode()
    locked = attempt(client, agent.username, WRONG)  # the fifth
    assert locked.status_code == 429
    page = locked.content.decode()
    assert "Too many failed attempts" in page and "Try again in 15 minutes" in page
    # Now even the right password is refused, and no session is made.
    right = attempt(client, agent.username, "pw-for-tests")
    assert right.status_code == 429
    assert "_auth_user_id" not in client.session
    # A colleague on the same computer, and the same user from another address, still log in.
    colleague = staff("service")
    assert attempt(client, colleague.username, "pw-for-tests").status_code == 302
    client.logout()
    other_place = client.post(
        "/login/",
        {"username": agent.username, "password": "pw-for-tests"},
        REMOTE_ADDR="10.9.8.7",
    )
    assert other_place.status_code == 302


def test_a_success_before_the_limit_starts_the_count_again(client, staff):
    agent = staff("service")
    for _ in range(4):
        attempt(client, agent.username, WRONG)
    assert attempt(client, agent.username, "pw-for-tests").status_code == 302
    client.logout()
    for _ in range(4):
        assert attempt(client, agent.username, WRONG).status_code == 200
    assert attempt(client, agent.username, "pw-for-tests").status_code == 302


def test_the_admin_login_counts_and_a_supervisor_can_unlock(client, staff):
    supervisor = staff("supervisor")
    for _ in range(5):
        attempt(client, supervisor.username, WRONG, url="/admin/login/")
    assert attempt(
        client, supervisor.username, "pw-for-tests", url="/admin/login/"
    ).status_code == (429)
    assert attempt(client, supervisor.username, "pw-for-tests").status_code == 429  # portal too
    # The attempts are rows a supervisor sees in admin; clearing them unlocks.
    row = AccessAttempt.objects.get(username=supervisor.username)
    assert row.failures_since_start >= 5  # tries while locked out count too
    colleague = Client()
    colleague.force_login(staff("supervisor"))
    listing = colleague.get("/admin/axes/accessattempt/").content.decode()
    assert supervisor.username in listing
    deleted = colleague.post(f"/admin/axes/accessattempt/{row.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 302
    assert attempt(client, supervisor.username, "pw-for-tests").status_code == 302


def test_every_response_carries_the_content_security_policy(client, staff):
    client.force_login(staff("service"))
    for url in (
        "/login/",
        "/",
        "/cases/",
        "/api/schema/",
        "/api/docs/",
        "/api/v1/customers/",
        "/healthz",
    ):
        policy = client.get(url)["Content-Security-Policy"]
        directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
        assert directives["default-src"] == "'self'"
        assert directives["script-src"] == "'self'"  # no inline script, no eval, no CDN
        if url != "/api/docs/":
            assert directives["style-src"] == "'self'"
        assert directives["frame-ancestors"] == "'none'"
        assert directives["object-src"] == "'none'"


def test_api_docs_page_loads_its_script_from_a_file(client):
    page = client.get("/api/docs/").content.decode()
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>\s*\S", page) is None
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200
    assert "SwaggerUIBundle" in script.content.decode()


def test_no_template_has_an_inline_script_or_event_handler():
    """The CSP refuses them, so one would silently break its page: keep JavaScript in static
    files (`<script src=… defer>`)."""
    offenders = []
    for path in sorted((REPO / "templates").rglob("*.html")):
        text = path.read_text()
        if re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text) or re.search(r"\son[a-z]+\s*=", text):
            offenders.append(str(path.relative_to(REPO)))
    assert offenders == []


def test_session_and_csrf_cookies_are_http_only_and_same_site(client, staff):
    agent = staff("service")
    client.get("/login/")
    answer = attempt(client, agent.username, "pw-for-tests")
    session = answer.cookies["sessionid"]
    assert session["httponly"] and session["samesite"] == "Lax"
    assert session["max-age"] == 12 * 60 * 60
    csrf = client.cookies["csrftoken"]
    assert csrf["httponly"] and csrf["samesite"] == "Lax"


def test_production_cookies_are_secure_and_host_only():
    script = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps({k: getattr(s, k) for k in ("
        "'SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', 'SESSION_COOKIE_NAME', "
        "'CSRF_COOKIE_NAME', 'SESSION_COOKIE_HTTPONLY', 'CSRF_COOKIE_HTTPONLY', "
        "'SECURE_SSL_REDIRECT', 'SECURE_HSTS_SECONDS')}))"
    )
    result = manage("shell", "-c", script, env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout.strip().splitlines()[-1])
    assert values == {
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SESSION_COOKIE_NAME": "__Host-sessionid",
        "CSRF_COOKIE_NAME": "__Host-csrftoken",
        "SESSION_COOKIE_HTTPONLY": True,
        "CSRF_COOKIE_HTTPONLY": True,
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31536000,
    }
