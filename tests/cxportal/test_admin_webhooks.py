"""Supervisors' admin for outbound webhooks: subscriptions through the services (secret
shown once, then masked; URL and events checked), and the read-only delivery log with
"Retry now" (``webhook_delivery_retry``, audited)."""

from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.utils import timezone

from cxportal import outbound_webhooks
from cxportal.models import APIClient, AuditEvent, WebhookDelivery, WebhookSubscription
from cxportal.outbound_webhooks import RETRY_MAX, webhook_delivery_retry

pytestmark = pytest.mark.django_db
PUBLIC_IP = "93.184.215.14"


@pytest.fixture(autouse=True)
def dns(monkeypatch, settings):
    """Outside DEBUG (the URL check on, as in production), with names under ``.example``
    resolving as listed."""
    settings.DEBUG = False
    names = {"hooks.partner.example": [PUBLIC_IP], "intranet.partner.example": ["10.1.2.3"]}
    monkeypatch.setattr(outbound_webhooks, "_resolve", lambda host, port: names.get(host, []))


@pytest.fixture
def boss(staff):
    return staff("supervisor")


@pytest.fixture
def boss_client(client, boss):
    client.force_login(boss)
    return client


def subscription_form(**changes) -> dict:
    return {
        "name": "Journey planner",
        "api_client": "",
        "url": "https://hooks.partner.example/cx",
        "events": ["disruption.published", "disruption.resolved"],
        "is_active": "on",
        **changes,
    }


def subscription(**fields) -> WebhookSubscription:
    return WebhookSubscription.objects.create(
        name=fields.pop("name", "Journey planner"),
        url="https://hooks.partner.example/cx",
        secret="s3cret-value",  # noqa: S106
        events=["disruption.published"],
        **fields,
    )


def delivery(sub: WebhookSubscription, status: str, **fields) -> WebhookDelivery:
    now = timezone.now()
    return WebhookDelivery.objects.create(
        subscription=sub,
        event="disruption.published",
        payload={"id": 1},
        status=status,
        next_attempt_at=fields.pop("next_attempt_at", now + timedelta(minutes=30)),
        created_at=now,
        **fields,
    )


def test_webhook_models_are_registered_and_their_changelists_load(boss_client):
    sub = subscription()
    delivery(sub, "pending")
    for model in (WebhookSubscription, WebhookDelivery):
        assert admin.site.is_registered(model)
        meta = model._meta
        assert boss_client.get(f"/admin/cxportal/{meta.model_name}/").status_code == 200
    assert admin.site._registry[WebhookDelivery].show_full_result_count is False


def test_subscription_is_made_by_the_service_and_its_secret_shown_once(boss_client, boss):
    response = boss_client.post(
        "/admin/cxportal/webhooksubscription/add/", subscription_form(), follow=True
    )
    sub = WebhookSubscription.objects.get()
    html = response.content.decode()
    assert "shown once, copy it now" in html and sub.secret in html
    assert len(sub.secret) >= 40  # made by the service, not typed in
    assert sub.events == ["disruption.published", "disruption.resolved"] and sub.is_active
    event = AuditEvent.objects.get(action="webhook_subscription.create")
    assert event.actor_user == boss and sub.secret not in str(event.after)

    page = boss_client.get(f"/admin/cxportal/webhooksubscription/{sub.pk}/change/")
    assert sub.secret not in page.content.decode() and "••••" in page.content.decode()
    listing = boss_client.get("/admin/cxportal/webhooksubscription/").content.decode()
    assert sub.secret not in listing

    response = boss_client.post(
        f"/admin/cxportal/webhooksubscription/{sub.pk}/change/",
        subscription_form(events=["disruption.updated"], is_active=""),
        follow=True,
    )
    assert sub.secret not in response.content.decode()
    updated = WebhookSubscription.objects.get()
    assert updated.secret == sub.secret  # kept
    assert (updated.events, updated.is_active) == (["disruption.updated"], False)
    change = AuditEvent.objects.get(action="webhook_subscription.update")
    assert change.after == {"events": ["disruption.updated"], "is_active": False}


def test_subscription_added_switched_off_stays_off(boss_client):
    boss_client.post("/admin/cxportal/webhooksubscription/add/", subscription_form(is_active=""))
    assert WebhookSubscription.objects.get().is_active is False


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"url": "https://intranet.partner.example/cx"}, "public internet addresses only"),
        ({"url": "ftp://hooks.partner.example/cx"}, "Only http and https URLs"),
        ({"url": "not a url"}, "Enter a valid URL"),
        ({"url": "https://nowhere.partner.example/cx"}, "public internet addresses only"),
        ({"events": []}, "This field is required"),
        ({"events": ["disruption.exploded"]}, "not one of the available choices"),
    ],
)
def test_bad_url_or_events_write_nothing(boss_client, changes, message):
    response = boss_client.post(
        "/admin/cxportal/webhooksubscription/add/", subscription_form(**changes)
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not WebhookSubscription.objects.exists()
    assert not AuditEvent.objects.exists()


def test_a_partner_s_subscription_needs_the_scope_its_events_read(boss_client):
    client = APIClient.objects.create(name="Planner", prefix="pl4nn3r", scopes=["customers:read"])
    response = boss_client.post(
        "/admin/cxportal/webhooksubscription/add/", subscription_form(api_client=client.pk)
    )
    assert "lacks the scope(s) these events need: disruptions:read" in response.content.decode()
    assert not WebhookSubscription.objects.exists()
    client.scopes = ["disruptions:read"]
    client.save()
    boss_client.post(
        "/admin/cxportal/webhooksubscription/add/", subscription_form(api_client=client.pk)
    )
    assert WebhookSubscription.objects.get().api_client == client


def test_subscription_delete_goes_through_the_service(boss_client):
    sub = subscription()
    boss_client.post(f"/admin/cxportal/webhooksubscription/{sub.pk}/delete/", {"post": "yes"})
    assert not WebhookSubscription.objects.exists()
    assert AuditEvent.objects.get(action="webhook_subscription.delete").target_id == str(sub.pk)


def test_delivery_log_is_read_only_and_filtered(boss_client):
    sub, other = subscription(), subscription(name="Other partner")
    pending, done = delivery(sub, "pending"), delivery(other, "delivered")
    assert boss_client.get("/admin/cxportal/webhookdelivery/add/").status_code == 403
    page = boss_client.get(f"/admin/cxportal/webhookdelivery/{pending.pk}/change/").content
    assert b'name="_save"' not in page
    boss_client.post(f"/admin/cxportal/webhookdelivery/{pending.pk}/delete/", {"post": "yes"})
    assert WebhookDelivery.objects.count() == 2

    def listed(**params) -> set[int]:
        html = boss_client.get("/admin/cxportal/webhookdelivery/", params).content.decode()
        return {d.pk for d in (pending, done) if f"/webhookdelivery/{d.pk}/change/" in html}

    assert listed() == {pending.pk, done.pk}
    assert listed(status__exact="pending") == {pending.pk}
    assert listed(subscription__id__exact=other.pk) == {done.pk}
    assert listed(event="disruption.published") == {pending.pk, done.pk}


def test_retry_now_makes_pending_and_failed_deliveries_due(
    boss_client, boss, broker, django_capture_on_commit_callbacks
):
    sub = subscription()
    pending = delivery(sub, "pending", attempts=2)
    failed = delivery(sub, "failed", attempts=8, last_status_code=500)
    done = delivery(sub, "delivered", attempts=1)
    ids = [pending.pk, failed.pk, done.pk]
    with django_capture_on_commit_callbacks(execute=True):
        response = boss_client.post(
            "/admin/cxportal/webhookdelivery/",
            {"action": "retry_now", "_selected_action": ids},
            follow=True,
        )
    html = response.content.decode()
    assert f"Retrying 2 delivery(ies) now: #{pending.pk}, #{failed.pk}." in html
    assert "1 delivered already: left alone." in html
    for d in (pending, failed):
        d.refresh_from_db()
        assert d.status == "pending" and d.next_attempt_at <= timezone.now()
    assert failed.attempts == 8  # one more try: a failure gives up again
    done.refresh_from_db()
    assert done.status == "delivered"
    assert sorted(broker()) == [
        ("outbound.webhook_deliver", [pending.pk]),
        ("outbound.webhook_deliver", [failed.pk]),
    ]
    events = AuditEvent.objects.filter(action="webhook_delivery.retry").order_by("target_id")
    assert [e.target_id for e in events] == [str(pending.pk), str(failed.pk)]
    assert events[1].before["status"] == "failed" and events[1].actor_user == boss


def test_retry_is_offered_to_those_who_manage_subscriptions_only(client, staff, boss_client):
    sub = subscription()
    d = delivery(sub, "failed")
    assert "retry_now" in boss_client.get("/admin/cxportal/webhookdelivery/").content.decode()
    reader = staff(None, is_staff=True)
    reader.user_permissions.add(Permission.objects.get(codename="view_webhookdelivery"))
    client.force_login(reader)
    page = client.get("/admin/cxportal/webhookdelivery/")
    assert page.status_code == 200 and "retry_now" not in page.content.decode()
    client.post(
        "/admin/cxportal/webhookdelivery/", {"action": "retry_now", "_selected_action": [d.pk]}
    )
    d.refresh_from_db()
    assert d.status == "failed"


def test_retry_service_is_bounded():
    sub = subscription()
    many = [WebhookDelivery(pk=n) for n in range(1, RETRY_MAX + 2)]
    with pytest.raises(ValidationError, match=f"at most {RETRY_MAX}"):
        webhook_delivery_retry(actor=None, deliveries=many)
    assert webhook_delivery_retry(actor=None, deliveries=[delivery(sub, "delivered")]) == []
