"""Supervisors' admin for campaigns: the contact gate's settings (one row, audited, used by
the gate at once) and read-only records of campaigns, segments, deliveries, opportunities."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns.gate import contact_gate
from campaigns.models import Delivery, GateSettings
from campaigns.services import campaign_launch, campaign_review, campaign_submit
from cxportal.models import AuditEvent
from tests.campaigns.factories import campaign, marketable

pytestmark = pytest.mark.django_db
LONDON = ZoneInfo("Europe/London")


def gate_form(**changes) -> dict:
    data = {
        "pressure_budget": "3",
        "complaint_days": "30",
        "detractor_days": "60",
        "quiet_hours_start": "21:00",
        "quiet_hours_end": "08:00",
    }
    return {**data, **changes}


def test_a_supervisor_sets_quiet_hours_and_the_gate_uses_them_at_once(boss_client, staff):
    customer = marketable(staff("marketing"), 1)
    ten_pm = datetime(2026, 11, 23, 22, 0, tzinfo=LONDON)
    assert contact_gate(
        customer_id=customer.pk, purpose="marketing", channel="email", now=ten_pm
    ).allowed

    added = boss_client.post("/admin/campaigns/gatesettings/add/", gate_form())
    assert added.status_code == 302, added.content.decode()[:2000]
    answer = contact_gate(customer_id=customer.pk, purpose="marketing", channel="email", now=ten_pm)
    assert not answer.allowed and [code for code, _ in answer.reasons] == ["quiet_hours"]

    row = GateSettings.objects.get()
    changed = boss_client.post(
        f"/admin/campaigns/gatesettings/{row.pk}/change/",
        gate_form(quiet_hours_start="23:00", quiet_hours_end="07:00", pressure_budget="2"),
    )
    assert changed.status_code == 302
    assert contact_gate(
        customer_id=customer.pk, purpose="marketing", channel="email", now=ten_pm
    ).allowed
    event = AuditEvent.objects.filter(action="gate_settings.update").get()
    assert event.before["quiet_hours_start"] == "21:00:00"
    assert event.after == {
        "pressure_budget": 2,
        "complaint_days": 30,
        "detractor_days": 60,
        "quiet_hours_start": "23:00:00",
        "quiet_hours_end": "07:00:00",
    }
    # One row only, and it is never deleted.
    assert boss_client.get("/admin/campaigns/gatesettings/add/").status_code == 403
    assert boss_client.get(f"/admin/campaigns/gatesettings/{row.pk}/delete/").status_code == 403


def test_other_teams_cannot_change_the_gate(client, staff):
    client.force_login(staff("marketing"))
    assert client.post("/admin/campaigns/gatesettings/add/", gate_form()).status_code == 302
    assert not GateSettings.objects.exists()  # sent to the admin login, nothing saved


def test_campaign_records_are_read_only_and_lists_do_not_grow_in_queries(boss_client, staff):
    marketer, reviewer = staff("marketing"), staff("service")
    for n in range(3):
        marketable(marketer, n)
    c = campaign(marketer)
    c = campaign_submit(actor=marketer, campaign=c, version=c.version)
    c = campaign_review(actor=reviewer, campaign=c, version=c.version, decision="approved")
    campaign_launch(actor=marketer, campaign=c, version=c.version)
    assert Delivery.objects.count() == 3
    page = boss_client.get(f"/admin/campaigns/campaign/{c.pk}/change/").content.decode()
    assert "Spring offer" in page and 'name="_save"' not in page
    assert f"/campaigns/{c.pk}/" in boss_client.get("/admin/campaigns/campaign/").content.decode()
    assert (
        boss_client.post(
            f"/admin/campaigns/delivery/{Delivery.objects.first().pk}/delete/", {"post": "yes"}
        ).status_code
        == 403
    )

    def queries(url: str) -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert boss_client.get(url).status_code == 200
        return len(ctx.captured_queries)

    lists = (
        "/admin/campaigns/delivery/",
        "/admin/campaigns/campaign/",
        "/admin/campaigns/segment/",
    )
    before = [queries(url) for url in lists]
    for n in range(3, 8):
        marketable(marketer, n)
    more = campaign(marketer, name="Winter offer")
    more = campaign_submit(actor=marketer, campaign=more, version=more.version)
    more = campaign_review(actor=reviewer, campaign=more, version=more.version, decision="approved")
    campaign_launch(actor=marketer, campaign=more, version=more.version)
    assert Delivery.objects.count() == 11
    assert [queries(url) for url in lists] == before
