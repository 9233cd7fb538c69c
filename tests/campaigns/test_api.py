"""The campaigns API: segments with a live count, a campaign from draft through the service
review to launch (409 on a stale version), its report and A/B winner, conversions, the contact
gate, the sales pipeline, and pinned query counts that do not grow from 3 rows to 30."""

from datetime import datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from campaigns.models import Campaign, Delivery, Opportunity, ReviewComment, Segment, Variant
from campaigns.services import (
    campaign_content_update,
    campaign_launch,
    campaign_pause,
    campaign_review,
    campaign_submit,
    opportunity_save,
)
from customers.services import customer_erase
from cxportal.models import AuditEvent, Team
from tests.campaigns.factories import campaign, marketable, segment
from tests.cases.factories import open_case
from tests.customers.factories import CustomerFactory
from tests.cxportal.factories import UserFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/"
NORTH = {"all": [{"field": "region", "op": "eq", "value": "North"}]}


def member(team: str | None):
    """A staff member of ``team``. No password: hashing one costs about a second."""
    return UserFactory(team=team, password=None)


def client_as(who) -> APIClient:
    """A client logged in as a new member of team ``who`` (a slug or None), or as ``who``
    itself (a user, loaded again so its permission cache is cold)."""
    user = member(who) if who is None or isinstance(who, str) else type(who).objects.get(pk=who.pk)
    client = APIClient()
    client.force_authenticate(user)
    return client


def written() -> dict:
    """Rows of everything the campaigns API writes: equal before and after a refusal."""
    counts: dict = {
        model.__name__: model.objects.count()
        for model in (Segment, Campaign, Variant, ReviewComment, Delivery, Opportunity, AuditEvent)
    }
    counts["converted"] = sorted(
        Delivery.objects.filter(converted_at__isnull=False).values_list("pk", "conversion_value")
    )
    counts["campaigns"] = sorted(Campaign.objects.values_list("status", "version", "name"))
    counts["segments"] = sorted(Segment.objects.values_list("name", "description"))
    counts["opportunities"] = sorted(Opportunity.objects.values_list("title", "stage", "value"))
    return counts


@pytest.fixture
def marketer():
    return member("marketing")


@pytest.fixture
def reviewer():
    return member("service")


def _ok(response, code: int = 200) -> dict:
    assert response.status_code == code, response.json()
    return response.json()


def _refused(response, field: str, code: int = 400) -> dict:
    assert response.status_code == code, response.json()
    body = response.json()
    assert set(body) == {"message", "code", "errors"}
    assert field in body["errors"], body
    return body


def in_review(marketer, **fields) -> Campaign:
    c = campaign(marketer, **fields)
    return campaign_submit(actor=marketer, campaign=c, version=c.version)


def approved(marketer, reviewer, **fields) -> Campaign:
    c = in_review(marketer, **fields)
    return campaign_review(actor=reviewer, campaign=c, version=c.version, decision="approved")


def sent(c: Campaign, variant: str, n: int, *, clicked: int = 0, converted: int = 0) -> None:
    """What sending ``n`` messages of a variant leaves behind, with the first ones opened,
    clicked and converted (the report reads only these rows)."""
    now = timezone.now()
    Delivery.objects.bulk_create(
        Delivery(
            campaign=c,
            customer=customer,
            variant=variant,
            status=Delivery.Status.SENT,
            created_at=now,
            sent_at=now,
            opened_at=now if i < clicked + 1 else None,
            clicked_at=now if i < clicked else None,
            converted_at=now if i < converted else None,
            conversion_value=Decimal("10.00") if i < converted else None,
        )
        for i, customer in enumerate(CustomerFactory.create_batch(n))
    )


def suppressed(c: Campaign, reason: str, n: int) -> None:
    now = timezone.now()
    Delivery.objects.bulk_create(
        Delivery(campaign=c, customer=customer, status="suppressed", reason=reason, created_at=now)
        for customer in CustomerFactory.create_batch(n)
    )


# --- Segments -----------------------------------------------------------------------------


def test_preview_counts_live_customers_and_saves_nothing(marketer):
    for n in range(3):
        marketable(marketer, n)
    marketable(marketer, 9, region="South")
    gone = marketable(marketer, 10)
    customer_erase(actor=None, customer=gone)
    before = written()
    body = _ok(client_as(marketer).post(f"{URL}segments/preview/", {"rules": NORTH}, "json"))
    assert body == {"count": 3, "errors": {}}
    assert written() == before


@pytest.mark.parametrize(
    ("rules", "errors"),
    [
        (
            {
                "all": [
                    {"field": "region", "op": "eq", "value": "North"},
                    {"field": "shoe_size", "op": "eq", "value": 42},
                    {"field": "region", "op": "in", "value": []},
                ]
            },
            {"rules.all.1.field", "rules.all.2.value"},
        ),
        ({"any": []}, {"rules.any"}),
        ({"not": {"field": "orders", "op": "count_gte", "value": -1}}, {"rules.not.value"}),
        ("North", {"rules"}),
        (None, {"rules"}),
        ({"all": [{"field": "region", "op": "eq", "value": "a\x00b"}]}, {"rules.all.0.value"}),
        ({"field": "holding", "op": "has", "value": "x", "n\x00te": 1}, {"rules.n\x00te"}),
    ],
)
def test_a_rule_with_problems_is_a_400_naming_each_path(marketer, rules, errors):
    before = written()
    response = client_as(marketer).post(f"{URL}segments/preview/", {"rules": rules}, "json")
    body = _refused(response, sorted(errors)[0])
    assert set(body["errors"]) == errors
    assert written() == before


def test_a_segment_is_saved_changed_and_counted(marketer):
    marketable(marketer, 1)
    client = client_as(marketer)
    body = _ok(client.post(f"{URL}segments/", {"name": " North ", "rules": NORTH}, "json"), 201)
    assert (body["name"], body["team"], body["last_count"]) == ("North", "marketing", None)
    url = f"{URL}segments/{body['id']}/"
    changed = _ok(client.patch(url, {"description": "Everyone up north"}, "json"))
    assert (changed["rules"], changed["description"]) == (NORTH, "Everyone up north")
    before = written()
    bad = {"rules": {"all": [{"field": "region", "op": "like", "value": "N%"}]}}
    _refused(client.patch(url, bad, "json"), "rules.all.0.op")
    assert written() == before
    counted = _ok(client.get(f"{url}count/"))
    assert counted["count"] == 1
    assert _ok(client.get(url))["last_count"] == 1


def test_a_segment_belongs_to_a_team_of_the_caller(marketer):
    client = client_as(marketer)
    body = {"name": "North", "rules": NORTH, "team": "service"}
    _refused(client.post(f"{URL}segments/", body, "json"), "team")
    supervisor = client_as("supervisor")
    made = _ok(supervisor.post(f"{URL}segments/", body, "json"), 201)
    assert made["team"] == "service"  # supervisors may name any team


# --- Campaigns ----------------------------------------------------------------------------


def test_a_campaign_goes_from_draft_to_sending_and_back_through_the_api(
    marketer, reviewer, partner
):
    for n in (1, 2):
        marketable(marketer, n)
    marketable(marketer, 3, consent=False)
    seg = segment(marketer)
    m, s = client_as(marketer), client_as(reviewer)
    variants = [
        {"subject": "Spring, {first_name}!", "body": "See https://brand.example/a", "weight": 70},
        {"subject": "Fresh for spring", "body": "See https://brand.example/b", "weight": 30},
    ]
    body = {"name": "Spring", "channel": "email", "segment": seg.pk, "variants": variants}
    c = _ok(m.post(f"{URL}campaigns/", body, "json"), 201)
    assert (c["status"], c["version"], c["team"], c["segment"]["id"]) == (
        "draft",
        1,
        "marketing",
        seg.pk,
    )
    assert [(v["key"], v["weight"]) for v in c["variants"]] == [("A", 70), ("B", 30)]
    assert c["delivery_counts"] == {"queued": 0, "sent": 0, "failed": 0, "suppressed": 0}
    url = f"{URL}campaigns/{c['id']}/"

    def act(client, name: str, **data) -> dict:
        nonlocal c
        c = _ok(client.post(f"{url}{name}/", {"version": c["version"], **data}, "json"))
        return c

    assert act(m, "submit")["status"] == "in_review"
    commented = act(s, "review", decision="comment", comment="“Free” will confuse people.")
    assert commented["status"] == "in_review"
    assert [r["decision"] for r in commented["reviews"]] == ["comment"]
    ok = act(s, "review", decision="approved")
    assert (ok["status"], ok["reviewed_by"]) == ("approved", reviewer.username)
    launched = act(m, "launch")
    assert (launched["status"], launched["audience_size"]) == ("sending", 3)
    assert launched["delivery_counts"] == {"queued": 2, "sent": 0, "failed": 0, "suppressed": 1}
    assert launched["suppressed_by_reason"] == [
        {
            "reason": "no_consent",
            "message": "No consent for this channel and purpose.",
            "count": 1,
        }
    ]
    assert act(m, "pause")["status"] == "paused"
    assert act(m, "resume")["status"] == "sending"
    assert act(m, "cancel")["status"] == "cancelled"
    # Partners read the campaign, never the service team's review.
    seen = _ok(partner(["campaigns:read"]).get(url))
    assert "reviews" not in seen
    assert seen["delivery_counts"]["suppressed"] == 1
    assert len(_ok(m.get(url))["reviews"]) == 2


def test_launch_can_schedule_and_a_draft_cannot_launch(marketer, reviewer):
    client = client_as(marketer)
    draft = campaign(marketer)
    before = written()
    response = client.post(f"{URL}campaigns/{draft.pk}/launch/", {"version": 1}, "json")
    _refused(response, "status")
    assert written() == before
    c = approved(marketer, reviewer)
    at = "2199-05-01T09:00:00Z"
    body = {"version": c.version, "at": at}
    scheduled = _ok(client.post(f"{URL}campaigns/{c.pk}/launch/", body, "json"))
    assert scheduled["status"] == "scheduled"
    assert datetime.fromisoformat(scheduled["scheduled_at"]) == datetime.fromisoformat(at)
    assert scheduled["audience_size"] == 0  # built when it starts


@pytest.mark.parametrize(
    ("action", "data"),
    [
        ("submit", {}),
        ("review", {"decision": "approved"}),
        ("review", {"decision": "sent_back", "comment": "Too pushy."}),
        ("launch", {}),
        ("pause", {}),
        ("resume", {}),
        ("cancel", {}),
    ],
)
def test_a_stale_version_is_a_409_and_changes_nothing(marketer, reviewer, action, data):
    c = campaign(marketer)
    variants = [{"subject": "New", "body": "Hello {name}"}]
    c = campaign_content_update(actor=marketer, campaign=c, version=c.version, variants=variants)
    if action != "submit":
        c = campaign_submit(actor=marketer, campaign=c, version=c.version)
    if action in ("launch", "pause", "resume"):
        c = campaign_review(actor=reviewer, campaign=c, version=c.version, decision="approved")
    if action in ("pause", "resume"):
        c = campaign_launch(actor=marketer, campaign=c, version=c.version)
    if action == "resume":
        c = campaign_pause(actor=marketer, campaign=c, version=c.version)
    client = client_as(reviewer if action == "review" else marketer)
    before = written()
    body = {"version": c.version - 1, **data}
    response = client.post(f"{URL}campaigns/{c.pk}/{action}/", body, "json")
    refused = _refused(response, "version", 409)
    assert refused["code"] == "conflict"
    assert refused["errors"]["version"] == [f"The current version is {c.version}."]
    assert written() == before


def test_a_team_cannot_approve_its_own_campaign(marketer):
    c = in_review(marketer)
    both = member("marketing")  # a marketer who is also in the service team
    both.groups.add(Group.objects.get(team__slug="service"))
    before = written()
    body = {"version": c.version, "decision": "approved"}
    response = client_as(both).post(f"{URL}campaigns/{c.pk}/review/", body, "json")
    refused = _refused(response, "reviewer")
    assert "cannot approve its own" in refused["errors"]["reviewer"][0]
    assert written() == before
    # Marketing alone may not review at all.
    alone = client_as(marketer).post(f"{URL}campaigns/{c.pk}/review/", body, "json")
    assert alone.status_code == 403


def test_campaigns_are_listed_with_filters(marketer):
    seg = segment(marketer)
    draft = campaign(marketer, seg, name="Email draft")
    texting = campaign(marketer, seg, channel="sms", name="Texting")
    in_review(marketer, seg=seg, name="Reviewed")
    other = campaign(marketer, seg, name="Ops")
    Campaign.objects.filter(pk=other.pk).update(team=Team.objects.get(slug="operations"))
    client = client_as("sales")

    def names(query: str) -> list[str]:
        return [row["name"] for row in _ok(client.get(f"{URL}campaigns/{query}"))["results"]]

    assert names("") == ["Ops", "Reviewed", "Texting", "Email draft"]
    assert names("?status=draft&channel=email&team=marketing") == [draft.name]
    assert names("?channel=sms") == [texting.name]
    assert names("?team=operations") == ["Ops"]
    for query, field in [
        ("?status=launched", "status"),
        ("?channel=pigeon", "channel"),
        ("?team=nobody", "team"),
    ]:
        _refused(client.get(f"{URL}campaigns/{query}"), field)


def test_the_report_names_a_winner_only_with_enough_sent(marketer, reviewer):
    c = approved(marketer, reviewer)
    sent(c, "A", 30, clicked=9, converted=2)
    sent(c, "B", 29, clicked=6)
    suppressed(c, "no_consent", 2)
    suppressed(c, "pressure", 1)
    client = client_as("sales")
    url = f"{URL}campaigns/{c.pk}/report/"
    report = _ok(client.get(url))
    assert report["funnel"] == {
        "audience": 62,
        "suppressed": 3,
        "queued": 0,
        "failed": 0,
        "sent": 59,
        "opened": 17,
        "clicked": 15,
        "converted": 2,
        "conversion_value": "20.00",
    }
    assert [(r["reason"], r["count"]) for r in report["suppressed_by_reason"]] == [
        ("no_consent", 2),
        ("pressure", 1),
    ]
    assert [(v["key"], v["sent"], v["clicked"], v["click_rate"]) for v in report["variants"]] == [
        ("A", 30, 9, 0.3),
        ("B", 29, 6, 0.2069),
    ]
    assert report["winner"] is None
    assert report["winner_note"].startswith("Not enough data")
    sent(c, "B", 1)
    report = _ok(client.get(url))
    assert (report["winner"], report["variants"][1]["click_rate"]) == ("A", 0.2)
    assert "30.0%" in report["winner_note"]


def test_a_report_before_launch_is_empty(marketer):
    c = campaign(marketer, variants=[{"subject": "Hi", "body": "Hello"}])
    report = _ok(client_as(marketer).get(f"{URL}campaigns/{c.pk}/report/"))
    assert report["funnel"]["audience"] == 0
    assert report["variants"] == [
        {
            "key": "A",
            "weight": 100,
            "sent": 0,
            "opened": 0,
            "clicked": 0,
            "converted": 0,
            "click_rate": None,
        }
    ]
    assert (report["winner"], report["winner_note"]) == (None, "One variant: nothing to compare.")


# --- Conversions --------------------------------------------------------------------------


def test_a_conversion_is_kept_once(marketer, reviewer, partner):
    c = approved(marketer, reviewer)
    sent(c, "A", 2)
    first, second = Delivery.objects.filter(campaign=c).order_by("id")
    client = partner(["campaigns:write"])
    body = _ok(
        client.post(f"{URL}conversions/", {"delivery": first.pk, "value": "49.90"}, "json"), 201
    )
    assert (body["delivery"], body["campaign"], body["conversion_value"]) == (
        first.pk,
        c.pk,
        "49.90",
    )
    audits = AuditEvent.objects.filter(action="delivery.convert").count()
    again = _ok(client.post(f"{URL}conversions/", {"delivery": first.pk, "value": "1"}, "json"))
    assert again == body  # the first report stands
    assert AuditEvent.objects.filter(action="delivery.convert").count() == audits
    by_pair = {"campaign": c.pk, "customer": second.customer_id}
    made = _ok(client.post(f"{URL}conversions/", by_pair, "json"), 201)
    assert (made["delivery"], made["conversion_value"]) == (second.pk, None)


def test_only_a_sent_message_converts(marketer, reviewer, partner):
    marketable(marketer, 1)
    c = approved(marketer, reviewer)
    c = campaign_launch(actor=marketer, campaign=c, version=c.version)
    queued = Delivery.objects.get(campaign=c)
    client = partner(["campaigns:write"])
    before = written()
    response = client.post(f"{URL}conversions/", {"delivery": queued.pk}, "json")
    _refused(response, "delivery")
    assert written() == before


# --- The contact gate ---------------------------------------------------------------------


def test_the_gate_answers_allowed_or_every_reason(marketer, partner):
    welcome = marketable(marketer, 1)
    unhappy = marketable(marketer, 2, consent=False)
    open_case(customer=unhappy)
    client = partner(["contact_gate:read"])

    def ask(customer, purpose="marketing", channel="email") -> dict:
        query = f"?customer={customer.pk}&purpose={purpose}&channel={channel}"
        return _ok(client.get(f"{URL}contact-gate/{query}"))

    assert ask(welcome) == {"allowed": True, "reasons": []}
    assert ask(unhappy) == {
        "allowed": False,
        "reasons": [
            {"code": "no_consent", "message": "No consent for this channel and purpose."},
            {"code": "open_case", "message": "Has an open case: we are still helping them."},
        ],
    }
    assert ask(unhappy, purpose="service") == {"allowed": True, "reasons": []}
    assert [r["code"] for r in ask(welcome, channel="sms")["reasons"]] == [
        "no_consent",
        "no_address",
    ]


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ("", {"customer", "purpose", "channel"}),
        ("?customer=abc&purpose=marketing&channel=email", {"customer"}),
        ("?customer=999999&purpose=marketing&channel=email", {"customer"}),
        ("?customer=0&purpose=marketing&channel=email", {"customer"}),
        (f"?customer={2**63}&purpose=marketing&channel=email", {"customer"}),
        ("?customer={id}&purpose=spam&channel=email", {"purpose"}),
        ("?customer={id}&purpose=marketing&channel=pigeon", {"channel"}),
        ("?customer={id}&purpose=&channel=", {"purpose", "channel"}),
    ],
)
def test_the_gate_checks_each_parameter(marketer, partner, query, fields):
    customer = marketable(marketer, 1)
    response = partner(["contact_gate:read"]).get(
        f"{URL}contact-gate/{query.format(id=customer.pk)}"
    )
    body = _refused(response, sorted(fields)[0])
    assert set(body["errors"]) == fields


# --- The sales pipeline -------------------------------------------------------------------


def test_sales_keeps_its_pipeline(marketer):
    customer = marketable(marketer, 1)
    seller = member("sales")
    client = client_as(seller)
    made = _ok(
        client.post(
            f"{URL}opportunities/",
            {"customer": customer.pk, "title": "Fibre upgrade", "value": "360"},
            "json",
        ),
        201,
    )
    assert (made["owner"], made["stage"], made["value"], made["customer"]["id"]) == (
        seller.username,
        "prospect",
        "360.00",
        customer.pk,
    )
    url = f"{URL}opportunities/{made['id']}/"
    won = _ok(client.patch(url, {"stage": "won"}, "json"))
    assert (won["stage"], won["value"], won["title"]) == ("won", "360.00", "Fibre upgrade")
    assert won["closed_at"] is not None
    reopened = _ok(client.patch(url, {"stage": "offer", "value": None}, "json"))
    assert (reopened["closed_at"], reopened["value"]) == (None, None)
    opportunity_save(actor=None, customer=customer, title="Mobile add-on")
    listed = _ok(client.get(f"{URL}opportunities/?stage=offer"))["results"]
    assert [row["title"] for row in listed] == ["Fibre upgrade"]


# --- Query counts -------------------------------------------------------------------------


def _queries(client: APIClient, url: str) -> tuple[int, dict]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    return len(captured), _ok(response)


def _grows_not(user, url: str, expected: int, more) -> None:
    """The same number of queries (a cold permission cache each time) before and after
    ``more()`` makes 3 rows into 30."""
    counted, _body = _queries(client_as(user), url)
    assert counted == expected
    more()
    counted, body = _queries(client_as(user), url)
    assert counted == expected, body


def test_list_query_counts_are_pinned(marketer, django_assert_num_queries):
    seg = segment(marketer)
    for n in range(2):
        segment(marketer, name=f"S{n}")
    for n in range(3):
        campaign(marketer, seg, name=f"C{n}")
    customer = marketable(marketer, 1)
    for n in range(3):
        opportunity_save(actor=None, customer=customer, title=f"O{n}")

    def segments():
        for n in range(27):
            segment(marketer, name=f"T{n}")

    def campaigns():
        for n in range(27):
            campaign(marketer, seg, name=f"D{n}")

    def opportunities():
        for n in range(27):
            opportunity_save(actor=None, customer=customer, title=f"P{n}")

    # user perms, group perms, the page (with its joins)
    _grows_not(marketer, f"{URL}segments/", 3, segments)
    _grows_not(marketer, f"{URL}campaigns/?status=draft", 3, campaigns)
    _grows_not(member("sales"), f"{URL}opportunities/", 3, opportunities)


def test_list_query_counts_are_pinned_for_a_partner_too(marketer, partner):
    client = partner(["campaigns:read"])
    seg = segment(marketer)
    for n in range(3):
        campaign(marketer, seg, name=f"C{n}")
    assert client.get(f"{URL}campaigns/").status_code == 200  # first use caches the key
    assert _queries(client, f"{URL}campaigns/")[0] == 1  # the page alone
    for n in range(27):
        campaign(marketer, seg, name=f"D{n}")
    counted, body = _queries(client, f"{URL}campaigns/")
    assert (counted, len(body["results"])) == (1, 30)


def test_detail_and_report_query_counts_are_pinned(marketer, reviewer):
    c = in_review(marketer)
    for n in range(3):
        campaign_review(
            actor=reviewer, campaign=c, version=None, decision="comment", comment=f"{n}"
        )
    sent(c, "A", 2)
    suppressed(c, "no_consent", 1)

    def more():
        for n in range(27):
            campaign_review(
                actor=reviewer, campaign=c, version=None, decision="comment", comment=f"+{n}"
            )
        sent(c, "B", 20)
        suppressed(c, "pressure", 7)

    # user perms, group perms, the campaign with its team and segment, its variants, its
    # reviews, its messages counted in one grouped query; the report the same but reviews
    pinned = {f"{URL}campaigns/{c.pk}/": 6, f"{URL}campaigns/{c.pk}/report/": 5}
    assert {url: _queries(client_as(marketer), url)[0] for url in pinned} == pinned
    more()
    assert {url: _queries(client_as(marketer), url)[0] for url in pinned} == pinned
    report = _ok(client_as(marketer).get(f"{URL}campaigns/{c.pk}/report/"))
    assert report["funnel"]["audience"] == 30
    assert len(_ok(client_as(marketer).get(f"{URL}campaigns/{c.pk}/"))["reviews"]) == 30
