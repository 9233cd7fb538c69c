"""Supervisors' admin for proactive care and disruptions: rules and templates are audited
configuration; flags, scans and disruptions are read-only records with the few actions
supervisors need."""

from datetime import timedelta

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cases.care import care_rules_ensure, care_scan
from cases.disruptions import disruption_declare
from cases.models import (
    CareFlag,
    CareRule,
    CareScan,
    Disruption,
    DisruptionNotice,
    DisruptionUpdate,
    MessageTemplate,
)
from customers.models import CustomerPlace, Order, Place
from customers.services.core import interaction_log
from cxportal.models import AuditEvent, Team
from tests.customers.factories import CustomerFactory

pytestmark = pytest.mark.django_db
CARE_MODELS = (CareRule, MessageTemplate, CareFlag, CareScan, Disruption)


@pytest.fixture
def boss(staff):
    return staff("supervisor")


@pytest.fixture
def boss_client(client, boss):
    client.force_login(boss)
    return client


def late_order(customer, n: int = 1) -> Order:
    return Order.objects.create(
        customer=customer,
        external_id=f"EXP-{n}",
        placed_at=timezone.now() - timedelta(days=1),
        shipping_method="express",
        promised_by=timezone.now() - timedelta(hours=1),
    )


def raised_flags(*names: str) -> list[CareFlag]:
    for n, name in enumerate(names, start=1):
        late_order(CustomerFactory(display_name=name), n)
    care_scan()
    return list(CareFlag.objects.order_by("id"))


def changelist_form(rules: list[CareRule], **changes) -> dict:
    """The editable list's POST: every rule as it is, with ``changes`` on the first."""
    data = {
        "form-TOTAL_FORMS": str(len(rules)),
        "form-INITIAL_FORMS": str(len(rules)),
        "form-MIN_NUM_FORMS": "0",
        "form-MAX_NUM_FORMS": "1000",
        "_save": "Save",
    }
    for i, rule in enumerate(rules):
        data[f"form-{i}-id"] = rule.pk
        data[f"form-{i}-severity"] = rule.severity
        data[f"form-{i}-share"] = str(rule.share)
        data[f"form-{i}-hours"] = str(rule.hours)
        data[f"form-{i}-count"] = str(rule.count)
        if rule.is_active:
            data[f"form-{i}-is_active"] = "on"
    for name, value in changes.items():
        if value is None:
            data.pop(f"form-0-{name}", None)
        else:
            data[f"form-0-{name}"] = value
    return data


# --- Registration ----------------------------------------------------------------------------


def test_every_care_model_is_registered_and_its_changelist_loads(boss_client):
    raised_flags("Ada Lovelace")
    for model in CARE_MODELS:
        assert admin.site.is_registered(model), model
        meta = model._meta
        response = boss_client.get(f"/admin/{meta.app_label}/{meta.model_name}/")
        assert response.status_code == 200, meta.model_name
    for model in (CareFlag, CareScan, Disruption):
        assert admin.site._registry[model].show_full_result_count is False


# --- Care rules ------------------------------------------------------------------------------


def test_rules_are_made_on_opening_the_list_and_never_added_or_deleted(boss_client):
    assert not CareRule.objects.exists()
    page = boss_client.get("/admin/cases/carerule/").content.decode()
    assert CareRule.objects.count() == len(CareRule.Kind.values)
    for name in ("is_active", "severity", "share", "hours", "count"):
        assert f'name="form-0-{name}"' in page, name
    assert (
        "SLA at risk: the share of an SLA target used"
        in boss_client.get(
            f"/admin/cases/carerule/{CareRule.objects.first().pk}/change/"
        ).content.decode()
    )  # help texts say which kind uses which threshold
    assert boss_client.get("/admin/cases/carerule/add/").status_code == 403
    rule = CareRule.objects.first()
    boss_client.post(f"/admin/cases/carerule/{rule.pk}/delete/", {"post": "yes"})
    assert CareRule.objects.filter(pk=rule.pk).exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("share", "0", "more than 0 and at most 1"),
        ("share", "1.5", "more than 0 and at most 1"),
        ("share", "-0.2", "more than 0 and at most 1"),
        ("hours", "0", "From 1 to"),
        ("hours", "100000", "From 1 to"),
        ("count", "1", "At least 2"),
    ],
)
def test_rule_thresholds_out_of_range_are_refused_in_the_list(boss_client, field, value, message):
    rules = list(care_rules_ensure().values())
    rules.sort(key=lambda r: r.kind)
    before = {r.pk: (r.share, r.hours, r.count) for r in rules}
    response = boss_client.post("/admin/cases/carerule/", changelist_form(rules, **{field: value}))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert {r.pk: (r.share, r.hours, r.count) for r in CareRule.objects.all()} == before
    assert not AuditEvent.objects.filter(action__startswith="care_rule.").exists()


def test_rule_edits_in_the_list_are_audited_and_the_share_asks_for_a_recompute(boss_client, boss):
    care_rules_ensure()
    rules = list(CareRule.objects.order_by("kind"))
    first = rules[0]
    response = boss_client.post(
        "/admin/cases/carerule/",
        changelist_form(rules, is_active=None, severity="low", hours="48"),
        follow=True,
    )
    assert response.status_code == 200
    first.refresh_from_db()
    assert (first.is_active, first.severity, first.hours) == (False, "low", 48)
    event = AuditEvent.objects.get(action="care_rule.update")
    assert event.actor_user == boss and event.target_id == str(first.pk)
    assert event.before["is_active"] is True and event.after["is_active"] is False
    assert event.before["hours"] == 24 and event.after["hours"] == 48
    assert "keep their risk times" not in response.content.decode()  # not the share

    at_risk = CareRule.objects.get(kind="sla_at_risk")
    form = {
        "team": at_risk.team_id,
        "is_active": "on",
        "severity": at_risk.severity,
        "share": "0.6",
        "hours": "24",
        "count": "3",
    }
    response = boss_client.post(
        f"/admin/cases/carerule/{at_risk.pk}/change/", form, follow=True
    ).content.decode()
    assert "keep their risk times until their next change" in response
    assert "to apply it to every team&#x27;s active cases now" in response
    at_risk.refresh_from_db()
    assert at_risk.share == 0.6
    event = AuditEvent.objects.filter(action="care_rule.update").latest("id")
    assert (event.before["share"], event.after["share"]) == (0.8, 0.6)
    assert event.after["kind"] == "sla_at_risk"  # the kind itself is read-only


def test_recompute_action_on_the_share_recomputes_every_team(boss_client, broker):
    rules = care_rules_ensure()
    response = boss_client.post(
        "/admin/cases/carerule/",
        {"action": "recompute_sla_clocks", "_selected_action": [rules["late_order"].pk]},
        follow=True,
    )
    assert "Only the &quot;SLA at risk&quot; rule" in response.content.decode()
    assert broker() == []

    response = boss_client.post(
        "/admin/cases/carerule/",
        {"action": "recompute_sla_clocks", "_selected_action": [rules["sla_at_risk"].pk]},
        follow=True,
    )
    assert "Recomputing the SLA clocks" in response.content.decode()
    teams = sorted(Team.objects.values_list("pk", flat=True))
    assert sorted(broker()) == [("scans.case_sla_recompute_team", [pk]) for pk in teams]
    assert AuditEvent.objects.filter(action="case.sla_recompute_requested").count() == len(teams)


# --- Message templates -----------------------------------------------------------------------


def template_form(**changes) -> dict:
    return {
        "name": "Late order",
        "kind": "late_order",
        "subject": "Your order {order} is running late",
        "body": "Hello {first_name},\nyour order {order} missed its {promised_by} slot.",
        "is_active": "on",
        **changes,
    }


def test_templates_are_audited_and_previewed_with_the_placeholders_filled(boss_client, boss):
    response = boss_client.post("/admin/cases/messagetemplate/add/", template_form())
    assert response.status_code == 302
    template = MessageTemplate.objects.get()
    created = AuditEvent.objects.get(action="message_template.create")
    assert created.actor_user == boss and created.after["subject"] == template.subject

    page = boss_client.get(f"/admin/cases/messagetemplate/{template.pk}/change/").content.decode()
    assert "Your order ORD-10428 is running late" in page
    assert "Hello Ada,<br>your order ORD-10428 missed its" in page
    assert "{first_name}" in page  # the help text lists the placeholders

    boss_client.post(
        f"/admin/cases/messagetemplate/{template.pk}/change/",
        template_form(subject="About case {case}: {subject}"),
    )
    updated = AuditEvent.objects.get(action="message_template.update")
    assert updated.after["subject"] == "About case {case}: {subject}"
    page = boss_client.get(f"/admin/cases/messagetemplate/{template.pk}/change/").content.decode()
    assert "About case #1234: Replacement card needed before travelling" in page
    boss_client.post(
        f"/admin/cases/messagetemplate/{template.pk}/change/",
        template_form(body="<script>alert(1)</script> {name}"),
    )
    page = boss_client.get(f"/admin/cases/messagetemplate/{template.pk}/change/").content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Ada Lovelace" in page
    assert "<script>alert(1)" not in page

    boss_client.post(f"/admin/cases/messagetemplate/{template.pk}/delete/", {"post": "yes"})
    assert not MessageTemplate.objects.exists()
    assert AuditEvent.objects.get(action="message_template.delete").before["name"] == "Late order"


def test_templates_with_unknown_placeholders_are_refused(boss_client):
    response = boss_client.post(
        "/admin/cases/messagetemplate/add/", template_form(body="Hi {firstname}, {order} {x}")
    )
    assert response.status_code == 200
    assert "Unknown placeholder(s): {firstname}, {x}." in response.content.decode()
    assert not MessageTemplate.objects.exists()


# --- Care flags ------------------------------------------------------------------------------


def test_flags_are_read_only_filtered_and_searched(boss_client):
    ada, bob = raised_flags("Ada Lovelace", "Bob Marley")
    Order.objects.filter(external_id="EXP-2").update(delivered_at=timezone.now())
    care_scan()  # Bob's order arrived: his flag clears
    assert boss_client.get("/admin/cases/careflag/add/").status_code == 403
    page = boss_client.get(f"/admin/cases/careflag/{ada.pk}/change/").content.decode()
    assert "Express order EXP-1 is late" in page and 'name="_save"' not in page
    response = boss_client.post(
        "/admin/cases/careflag/",
        {"action": "delete_selected", "_selected_action": [ada.pk], "post": "yes"},
    )
    assert CareFlag.objects.filter(pk=ada.pk).exists() and response.status_code in (200, 302)

    def listed(**params) -> set[str]:
        html = boss_client.get("/admin/cases/careflag/", params).content.decode()
        return {name for name in ("Ada Lovelace", "Bob Marley") if name in html}

    assert listed() == {"Ada Lovelace", "Bob Marley"}
    assert listed(cleared="no") == {"Ada Lovelace"}
    assert listed(cleared="yes") == {"Bob Marley"}
    assert listed(kind__exact="late_order", status__exact="open") == {"Ada Lovelace", "Bob Marley"}
    assert listed(kind__exact="repeat_contact") == set()
    assert listed(team__id__exact=Team.objects.get(slug="service").pk) == set()
    assert listed(q="marley") == {"Bob Marley"}
    assert listed(q="EXP-1") == {"Ada Lovelace"}
    assert listed(q=str(bob.customer_id)) == {"Bob Marley"}


def test_flag_changelist_query_count_does_not_grow_with_rows(boss_client):
    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert boss_client.get("/admin/cases/careflag/").status_code == 200
        return len(ctx)

    raised_flags("A One", "B Two", "C Three")
    small = count()
    for n in range(4, 31):
        late_order(CustomerFactory(), n)
    care_scan()
    assert CareFlag.objects.count() == 30
    assert count() == small


def test_dismiss_asks_why_then_dismisses_through_the_service(boss_client, boss):
    ada, bob = raised_flags("Ada Lovelace", "Bob Marley")
    ids = [ada.pk, bob.pk]
    page = boss_client.post(
        "/admin/cases/careflag/", {"action": "dismiss", "_selected_action": ids}
    ).content.decode()
    assert "Dismiss care flags" in page and "Express order EXP-1 is late" in page
    assert not CareFlag.objects.filter(status="dismissed").exists()  # nothing yet

    page = boss_client.post(
        "/admin/cases/careflag/",
        {"action": "dismiss", "_selected_action": ids, "post": "yes", "reason": ""},
    ).content.decode()
    assert "This field is required" in page
    assert not CareFlag.objects.filter(status="dismissed").exists()

    CareFlag.objects.filter(pk=bob.pk).update(status="actioned")
    response = boss_client.post(
        "/admin/cases/careflag/",
        {
            "action": "dismiss",
            "_selected_action": ids,
            "post": "yes",
            "reason": "Courier called her already",
        },
        follow=True,
    )
    html = response.content.decode()
    assert f"Dismissed #{ada.pk}." in html and f"#{bob.pk}: This flag was actioned already" in html
    ada.refresh_from_db()
    assert (ada.status, ada.dismissed_reason, ada.handled_by) == (
        "dismissed",
        "Courier called her already",
        boss.username,
    )
    event = AuditEvent.objects.get(action="careflag.dismissed")
    assert event.actor_user == boss and event.target_id == str(ada.pk)


# --- Scans -----------------------------------------------------------------------------------


def test_scan_log_is_read_only(boss_client):
    raised_flags("Ada Lovelace")
    scan = CareScan.objects.get()
    html = boss_client.get("/admin/cases/carescan/").content.decode()
    assert "full" in html and "Raised" in html
    page = boss_client.get(f"/admin/cases/carescan/{scan.pk}/change/").content.decode()
    assert "Late express order: 1" in page and 'name="_save"' not in page
    assert boss_client.get("/admin/cases/carescan/add/").status_code == 403
    boss_client.post(f"/admin/cases/carescan/{scan.pk}/delete/", {"post": "yes"})
    assert CareScan.objects.filter(pk=scan.pk).exists()
    care_scan()
    html = boss_client.get("/admin/cases/carescan/", {"full": "no"}).content.decode()
    assert "incremental" in html and "full</td>" not in html


# --- Disruptions -----------------------------------------------------------------------------


def test_disruptions_are_read_only_with_the_staff_page_and_notice_counts(boss_client, staff):
    ops = staff("operations")
    station = Place.objects.create(kind="station", code="S-VIC", name="Victoria")
    riders = [CustomerFactory(display_name=f"Rider {n}") for n in range(3)]
    for customer in riders:
        CustomerPlace.objects.create(customer=customer, place=station, relation="uses")
    disruption = disruption_declare(
        actor=ops,
        notify=False,
        title="Victoria: lift out of service",
        kind="incident",
        starts_at=timezone.now() - timedelta(minutes=5),
        places=[station],
        accessibility_impact="lift_out",
        public_message="The lift at Victoria is out of service.",
    )
    update = DisruptionUpdate.objects.create(
        disruption=disruption,
        kind="updated",
        public_message="Engineers on site.",
        notify_customers=True,
        posted_at=timezone.now(),
        posted_by=ops.username,
    )
    told = interaction_log(
        actor=ops,
        customer=riders[0],
        channel="email",
        direction="outbound",
        summary="Victoria: updated",
    )
    DisruptionNotice.objects.create(update=update, customer=riders[0], interaction=told)
    DisruptionNotice.objects.create(update=update, customer=riders[1], skipped_reason="no consent")

    html = boss_client.get("/admin/cases/disruption/").content.decode()
    assert "Victoria: lift out of service" in html and f"/disruptions/{disruption.pk}/" in html
    page = boss_client.get(f"/admin/cases/disruption/{disruption.pk}/change/").content.decode()
    assert f'href="/disruptions/{disruption.pk}/"' in page
    assert "Victoria (Station)" in page and "Engineers on site." in page
    assert "not notified" in page  # the declaration asked for no notices
    assert "1 told, 1 not reachable" in page
    assert 'name="_save"' not in page
    assert boss_client.get("/admin/cases/disruption/add/").status_code == 403
    boss_client.post(f"/admin/cases/disruption/{disruption.pk}/delete/", {"post": "yes"})
    assert Disruption.objects.filter(pk=disruption.pk).exists()
