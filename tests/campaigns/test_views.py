"""Staff pages of campaigns and sales: the segment rule builder and its live count, the
campaign list, a new campaign, the campaign page with its status actions, the service
review and the report, the sales pipeline, and the team home pages. Permissions per team,
pinned query counts (3 rows cost what 30 cost), and bad input that writes nothing."""

import json
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns.gate import REASONS
from campaigns.models import Campaign, Delivery, Opportunity, ReviewComment, Segment, Variant
from campaigns.selectors import VariantResult, _winner
from campaigns.services import (
    campaign_launch,
    campaign_review,
    campaign_send_batch,
    campaign_submit,
    opportunity_save,
)
from campaigns.views import rules_summary
from tests.campaigns.factories import campaign, marketable, segment
from tests.cases.factories import open_case
from tests.customers.test_outbound import mail_source

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def marketer(staff):
    return staff("marketing")


@pytest.fixture
def reviewer(staff):
    return staff("service")


@pytest.fixture
def seller(staff):
    return staff("sales")


def as_user(client, user):
    client.force_login(user)
    return client


def in_review(marketer, **fields):
    c = campaign(marketer, **fields)
    return campaign_submit(actor=marketer, campaign=c, version=c.version)


def approved(marketer, reviewer, **fields):
    c = in_review(marketer, **fields)
    return campaign_review(
        actor=reviewer, campaign=c, version=c.version, decision="approved", comment="Clear."
    )


def launched(marketer, reviewer, django_capture_on_commit_callbacks, **fields):
    c = approved(marketer, reviewer, **fields)
    with django_capture_on_commit_callbacks(execute=False):
        return campaign_launch(actor=marketer, campaign=c, version=c.version)


def create_data(seg: Segment, **changes) -> dict:
    data = {
        "name": "Autumn broadband",
        "channel": "email",
        "segment": seg.pk,
        "a_subject": "Faster at home, {first_name}",
        "a_body": "Hi {first_name}, fibre is here: https://brand.example/fibre",
        "a_weight": "50",
        "b_subject": "Fibre has arrived",
        "b_body": "Hello {name}, see https://brand.example/fibre-b",
        "b_weight": "50",
        "follow_up_text": "",
    }
    return {**data, **changes}


def rows_post(rows, match="all", **extra) -> dict:
    data = {"match": match, "editor": "rows", "name": "Northern actives", "description": ""}
    for i, (field, op, value) in enumerate(rows):
        data[f"field_{i}"], data[f"op_{i}"], data[f"value_{i}"] = field, op, value
    return {**data, **extra}


# --- Permissions --------------------------------------------------------------------------


def test_anonymous_users_are_sent_to_log_in(client):
    for url in ("/campaigns/", "/campaigns/segments/", "/campaigns/pipeline/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")


@pytest.mark.parametrize(
    ("team", "expected"),
    [
        ("marketing", {"list": 200, "new": 200, "segments": 200, "segment_new": 200, "pipe": 403}),
        ("service", {"list": 200, "new": 403, "segments": 200, "segment_new": 403, "pipe": 403}),
        ("sales", {"list": 200, "new": 403, "segments": 200, "segment_new": 403, "pipe": 200}),
        ("operations", {"list": 200, "new": 403, "segments": 200, "segment_new": 403, "pipe": 403}),
        (None, {"list": 403, "new": 403, "segments": 403, "segment_new": 403, "pipe": 403}),
    ],
)
def test_who_opens_which_page(client, staff, team, expected):
    as_user(client, staff(team))
    urls = {
        "list": "/campaigns/",
        "new": "/campaigns/new/",
        "segments": "/campaigns/segments/",
        "segment_new": "/campaigns/segments/new/",
        "pipe": "/campaigns/pipeline/",
    }
    assert {name: client.get(url).status_code for name, url in urls.items()} == expected


def test_marketing_creates_but_cannot_approve(client, marketer):
    seg = segment(marketer)
    as_user(client, marketer)
    response = client.post("/campaigns/new/", create_data(seg))
    c = Campaign.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/campaigns/{c.pk}/"
    assert (c.status, c.team.slug, c.created_by) == ("draft", "marketing", marketer.username)
    assert list(c.variants.values_list("key", "weight")) == [("A", 50), ("B", 50)]

    client.post(f"/campaigns/{c.pk}/submit/", {"version": c.version})
    c.refresh_from_db()
    assert c.status == "in_review"
    html = client.get(f"/campaigns/{c.pk}/").content.decode()
    assert 'id="review"' not in html and "Approve" not in html
    response = client.post(
        f"/campaigns/{c.pk}/review/", {"version": c.version, "decision": "approved"}
    )
    assert response.status_code == 403
    assert Campaign.objects.get().status == "in_review"


def test_a_service_member_in_the_owner_team_cannot_review(client, staff):
    both = staff("marketing")
    both.groups.add(staff("service").groups.get())  # also in service
    c = in_review(both)
    as_user(client, both)
    html = client.get(f"/campaigns/{c.pk}/").content.decode()
    assert 'id="review"' not in html and "so you cannot review it" in html
    response = client.post(
        f"/campaigns/{c.pk}/review/", {"version": c.version, "decision": "approved"}, follow=True
    )
    assert "Marketing cannot approve its own campaign" in response.content.decode()
    assert Campaign.objects.get().status == "in_review"


def test_service_sees_content_and_audience_and_approves(client, marketer, reviewer):
    people = [marketable(marketer, n) for n in range(12)]
    complaining = people[-1]
    open_case(actor=reviewer, customer=complaining, category="complaint")
    c = in_review(marketer)
    as_user(client, reviewer)
    html = client.get(f"/campaigns/{c.pk}/").content.decode()
    review = re.search(r'<section class="panel review-panel".*?</section>', html, re.S).group(0)
    assert "Audience: 12 customers" in review
    assert review.count('href="/customers/') == 10  # a sample of ten
    assert f'href="/customers/{complaining.pk}/"' in review
    assert "Set aside: " + REASONS["open_case"] in review.replace("&#x27;", "'")
    assert "Hi {first_name}, see https://brand.example/spring" in html  # the content
    assert "Submit for service review" not in html and "Launch now" not in html

    response = client.post(
        f"/campaigns/{c.pk}/review/",
        {"version": c.version, "decision": "approved", "comment": ""},
    )
    assert response.status_code == 302
    c.refresh_from_db()
    assert (c.status, c.reviewed_by) == ("approved", reviewer.username)


def test_send_back_needs_a_comment_and_writes_nothing_without_one(client, marketer, reviewer):
    c = in_review(marketer)
    as_user(client, reviewer)
    response = client.post(
        f"/campaigns/{c.pk}/review/", {"version": c.version, "decision": "sent_back", "comment": ""}
    )
    assert response.status_code == 200
    assert "Say what to change" in response.content.decode()
    assert not ReviewComment.objects.exists() and Campaign.objects.get().status == "in_review"

    client.post(
        f"/campaigns/{c.pk}/review/",
        {"version": c.version, "decision": "sent_back", "comment": "“Free” confuses legacy plans."},
    )
    c.refresh_from_db()
    assert c.status == "draft"
    as_user(client, marketer)
    html = client.get(f"/campaigns/{c.pk}/").content.decode()
    assert "Sent back" in html and "Free” confuses legacy plans." in html
    assert "Edit the content" in html  # a draft again: marketing fixes it


def test_sales_reads_campaigns_but_acts_on_none(client, marketer, seller):
    c = in_review(marketer)
    as_user(client, seller)
    html = client.get(f"/campaigns/{c.pk}/").content.decode()
    assert c.name in html and 'id="review"' not in html and "Cancel the campaign" not in html
    assert client.post(f"/campaigns/{c.pk}/cancel/", {"version": c.version}).status_code == 403
    assert (
        client.post(
            f"/campaigns/{c.pk}/review/", {"version": c.version, "decision": "approved"}
        ).status_code
        == 403
    )
    assert Campaign.objects.get().status == "in_review"


# --- Segments: the rule builder -----------------------------------------------------------


def test_the_builder_adds_and_removes_rows_without_javascript(client, marketer):
    as_user(client, marketer)
    html = client.get("/campaigns/segments/new/").content.decode()
    assert html.count('class="rule-row"') == 1
    response = client.post(
        "/campaigns/segments/new/", rows_post([("region", "eq", "North")], name="", action="add")
    )
    html = response.content.decode()
    assert html.count('class="rule-row"') == 2 and 'value="North"' in html
    assert "Name the segment." not in html  # only checked when saving
    response = client.post(
        "/campaigns/segments/new/",
        rows_post(
            [("region", "eq", "North"), ("lifecycle_stage", "eq", "active")], action="remove-0"
        ),
    )
    html = response.content.decode()
    assert html.count('class="rule-row"') == 1 and 'value="North"' not in html
    assert re.search(r'<option value="active" selected>', html)
    assert not Segment.objects.exists()


def test_the_live_count_and_errors_next_to_their_row(client, marketer):
    for n in range(3):
        marketable(marketer, n)
    marketable(marketer, 9, region="South")
    as_user(client, marketer)
    response = client.post(
        "/campaigns/segments/preview/",
        rows_post([("region", "eq", "North"), ("lifecycle_stage", "in", "active")]),
        **HX,
    )
    html = response.content.decode()
    assert re.search(r'<span class="big-number">3</span>', html)

    response = client.post(
        "/campaigns/segments/preview/",
        rows_post([("region", "eq", "North"), ("orders", "count_gte", "many")]),
        **HX,
    )
    html = response.content.decode()
    assert "big-number" not in html and "Fix the rules" in html
    row_1 = re.search(r'<div[^>]*id="rule-errors-1"[^>]*>(.*?)</div>', html, re.S)
    assert 'hx-swap-oob="true"' in row_1.group(0)
    assert "A whole number from 0 to 36500." in row_1.group(1)
    row_0 = re.search(r'<div[^>]*id="rule-errors-0"[^>]*>(.*?)</div>', html, re.S)
    assert row_0.group(1) == ""  # cleared


def test_saving_a_segment_from_rows_counts_it(client, marketer):
    for n in range(2):
        marketable(marketer, n)
    as_user(client, marketer)
    response = client.post(
        "/campaigns/segments/new/",
        rows_post(
            [("region", "in", "North, South"), ("consent", "granted", "email:marketing")],
            action="save",
        ),
    )
    seg = Segment.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/campaigns/segments/{seg.pk}/"
    assert seg.rules == {
        "all": [
            {"field": "region", "op": "in", "value": ["North", "South"]},
            {
                "field": "consent",
                "op": "granted",
                "value": {"channel": "email", "purpose": "marketing"},
            },
        ]
    }
    assert (seg.last_count, seg.team.slug) == (2, "marketing")
    html = client.get(response["Location"]).content.decode()
    assert "Saved “Northern actives”: 2 customers now." in html
    assert 'value="North, South"' in html  # opens in the row editor again


def test_saving_bad_rules_or_no_name_writes_nothing(client, marketer):
    as_user(client, marketer)
    response = client.post(
        "/campaigns/segments/new/",
        rows_post([("region", "eq", "North"), ("last_contact", "within_days", "")], action="save"),
    )
    html = response.content.decode()
    assert response.status_code == 200
    row_1 = re.search(r'id="rule-errors-1"[^>]*>(.*?)</div>', html, re.S).group(1)
    assert "A whole number" in row_1
    response = client.post(
        "/campaigns/segments/new/", rows_post([("region", "eq", "North")], name="", action="save")
    )
    assert "Name the segment." in response.content.decode()
    response = client.post("/campaigns/segments/new/", rows_post([], action="save"))
    assert "Add at least one condition." in response.content.decode()
    assert not Segment.objects.exists()


def test_nested_rules_are_edited_and_saved_as_json(client, marketer):
    marketable(marketer, 1)
    marketable(marketer, 2, region="South", stage="at_risk")
    as_user(client, marketer)
    nested = {
        "any": [
            {"all": [{"field": "region", "op": "eq", "value": "North"}]},
            {"not": {"field": "lifecycle_stage", "op": "eq", "value": "active"}},
        ]
    }
    data = rows_post([("region", "eq", "North")], rules_json=json.dumps(nested), action="use_json")
    html = client.post("/campaigns/segments/new/", data).content.decode()
    assert 'name="editor" value="json"' in html and 'class="rule-row"' not in html
    assert re.search(r'<span class="big-number">2</span>', html)

    bad = {**data, "editor": "json", "rules_json": '{"any": [', "action": "save"}
    html = client.post("/campaigns/segments/new/", bad).content.decode()
    assert "This is not valid JSON" in html and not Segment.objects.exists()
    wrong = {**bad, "rules_json": json.dumps({"any": [{"field": "shoe_size", "op": "eq"}]})}
    html = client.post("/campaigns/segments/new/", wrong).content.decode()
    assert "any.0.field: Unknown field." in html and not Segment.objects.exists()

    response = client.post("/campaigns/segments/new/", {**bad, "rules_json": json.dumps(nested)})
    assert response.status_code == 302
    seg = Segment.objects.get()
    assert seg.rules == nested and seg.last_count == 2
    html = client.get(f"/campaigns/segments/{seg.pk}/").content.decode()
    assert 'name="editor" value="json"' in html


def test_service_may_look_at_a_segment_but_not_save_it(client, marketer, reviewer):
    seg = segment(marketer)
    as_user(client, reviewer)
    html = client.get(f"/campaigns/segments/{seg.pk}/").content.decode()
    assert "Save the segment" not in html and "Count now" in html
    response = client.post(
        f"/campaigns/segments/{seg.pk}/", rows_post([("region", "eq", "South")], action="save")
    )
    assert response.status_code == 403
    assert Segment.objects.get().rules["all"][0]["value"] == "North"


def test_rules_in_a_line():
    assert (
        rules_summary(
            {
                "any": [
                    {"field": "lifecycle_stage", "op": "in", "value": ["active", "at_risk"]},
                    {"field": "orders", "op": "count_gte", "value": 2},
                ]
            }
        )
        == "Lifecycle stage is one of Active, At risk or Orders placed at least 2 orders"
    )
    assert rules_summary({"not": {"field": "region", "op": "eq", "value": "x"}}).startswith(
        "Nested"
    )


# --- Campaigns: create, edit, status actions ----------------------------------------------


def test_form_errors_write_nothing(client, marketer):
    seg = segment(marketer)
    as_user(client, marketer)
    cases = [
        ({"name": ""}, "Name the campaign."),
        ({"a_body": ""}, "Write the message."),
        ({"a_weight": "70"}, "The variants&#x27; shares must add up to 100."),
        ({"a_subject": ""}, "This field is required."),  # an email needs a subject
        ({"segment": "999999"}, "Choose a segment."),
        ({"eligible_for_service_follow_up": "on"}, "Write the short text a service follow-up"),
    ]
    for change, message in cases:
        response = client.post("/campaigns/new/", create_data(seg, **change))
        assert response.status_code == 200, change
        assert message in response.content.decode(), change
    assert not Campaign.objects.exists() and not Variant.objects.exists()


def test_one_variant_goes_to_everyone(client, marketer):
    seg = segment(marketer)
    as_user(client, marketer)
    client.post(
        "/campaigns/new/",
        create_data(seg, channel="sms", a_subject="", b_subject="", b_body="", a_weight="50"),
    )
    assert list(Variant.objects.values_list("key", "weight")) == [("A", 100)]


def test_a_stale_version_says_so_and_changes_nothing(client, marketer):
    c = campaign(marketer)
    as_user(client, marketer)
    old = c.version
    campaign_submit(actor=marketer, campaign=c, version=c.version)  # someone else, meanwhile
    response = client.post(f"/campaigns/{c.pk}/cancel/", {"version": old})
    html = response.content.decode()
    assert response.status_code == 409
    assert "Someone else changed this campaign meanwhile" in html
    assert "was changed by someone else meanwhile (you had version 1, it is now 2)" in html
    assert "Nothing was saved." in html
    assert Campaign.objects.get().status == "in_review"

    response = client.post(
        f"/campaigns/{c.pk}/content/",
        {"version": old, "a_subject": "New", "a_body": "New body", "a_weight": "100"},
    )
    assert response.status_code == 409
    assert list(Variant.objects.values_list("subject", flat=True)) == [
        "Spring, {first_name}!",
        "Fresh for spring",
    ]


def test_a_draft_gets_new_content(client, marketer):
    c = campaign(marketer)
    as_user(client, marketer)
    response = client.post(
        f"/campaigns/{c.pk}/content/",
        {"version": c.version, "a_subject": "Plain", "a_body": "One text for all", "a_weight": ""},
    )
    assert response.status_code == 302
    assert list(Variant.objects.values_list("key", "subject", "weight")) == [("A", "Plain", 100)]
    response = client.post(
        f"/campaigns/{c.pk}/content/", {"version": c.version + 1, "a_subject": "", "a_body": ""}
    )
    assert "Write the message." in response.content.decode()
    assert Variant.objects.get().body == "One text for all"


def test_launch_now_or_later(client, marketer, reviewer, django_capture_on_commit_callbacks):
    c = approved(marketer, reviewer)
    as_user(client, marketer)
    response = client.post(
        f"/campaigns/{c.pk}/launch/", {"version": c.version, "when": "later", "at": ""}
    )
    assert "Choose a time in the future" in response.content.decode()
    assert Campaign.objects.get().status == "approved"
    later = timezone.localtime() + timezone.timedelta(days=2)
    client.post(
        f"/campaigns/{c.pk}/launch/",
        {"version": c.version, "when": "later", "at": later.strftime("%Y-%m-%dT%H:%M")},
    )
    c.refresh_from_db()
    assert c.status == "scheduled" and c.scheduled_at is not None
    marketable(marketer, 1)
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(f"/campaigns/{c.pk}/launch/", {"version": c.version, "when": "now"})
    c.refresh_from_db()
    assert (c.status, c.audience_size) == ("sending", 1)
    follow = client.get(response["Location"]).content.decode()
    assert "Launched: 1 customers in the audience" in follow
    client.post(f"/campaigns/{c.pk}/pause/", {"version": c.version})
    c.refresh_from_db()
    assert c.status == "paused"
    with django_capture_on_commit_callbacks(execute=False):
        client.post(f"/campaigns/{c.pk}/resume/", {"version": c.version})
    c.refresh_from_db()
    assert c.status == "sending"
    # A move the status does not allow: a clear message, nothing changed.
    response = client.post(f"/campaigns/{c.pk}/submit/", {"version": c.version}, follow=True)
    assert "cannot be in service review now" in response.content.decode()
    assert Campaign.objects.get().status == "sending"


# --- The report ---------------------------------------------------------------------------


def test_the_report_shows_suppressions_by_reason_the_funnel_and_variants(
    client, marketer, reviewer, smtp, django_capture_on_commit_callbacks
):
    mail_source(smtp)
    ok = [marketable(marketer, n) for n in range(5)]
    no_consent = [marketable(marketer, 10 + n, consent=False) for n in range(4)]
    complaining = marketable(marketer, 20)
    open_case(actor=reviewer, customer=complaining, category="complaint")
    c = launched(marketer, reviewer, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=False):
        while campaign_send_batch(campaign_id=c.pk):
            pass
    sent = list(Delivery.objects.filter(status="sent"))
    Delivery.objects.filter(pk=sent[0].pk).update(
        opened_at=timezone.now(), clicked_at=timezone.now(), converted_at=timezone.now()
    )
    Delivery.objects.filter(pk=sent[1].pk).update(opened_at=timezone.now())
    as_user(client, marketer)
    html = client.get(f"/campaigns/{c.pk}/").content.decode().replace("&#x27;", "'")
    no_consent_row = re.search(r'<li id="reason-no_consent">.*?</li>', html, re.S).group(0)
    assert REASONS["no_consent"] in no_consent_row and ">4<" in no_consent_row
    assert no_consent_row.count('href="/customers/') == 3  # three examples
    linked = {int(pk) for pk in re.findall(r'href="/customers/(\d+)/"', no_consent_row)}
    assert linked < {p.pk for p in no_consent}
    case_row = re.search(r'<li id="reason-open_case">.*?</li>', html, re.S).group(0)
    assert REASONS["open_case"] in case_row and f"/customers/{complaining.pk}/" in case_row
    funnel = re.search(r'<section class="panel chart".*?</section>', html, re.S).group(0)
    assert "<svg" in funnel and "Sent 5, opened 2, clicked 1, converted 1" in funnel
    assert "Not enough data: each variant needs at least 30 sent." in html
    assert len(ok) == 5


def test_a_winner_needs_30_sent_per_variant():
    a = VariantResult(key="A", weight=50, subject="", sent=29, clicked=10)
    b = VariantResult(key="B", weight=50, subject="", sent=40, clicked=2)
    assert _winner([a, b])[0] is None
    a.sent = 30
    assert _winner([a, b]) == ("A", "Variant A has the highest click rate (33.3%).")
    b.clicked, b.sent = 10, 30
    assert _winner([a, b])[0] is None and "tie" in _winner([a, b])[1]


# --- Query counts -------------------------------------------------------------------------


def count_queries(client, url: str, **extra) -> int:
    client.get(url, **extra)  # warm what every page caches
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url, **extra).status_code == 200
    return len(ctx)


#: session, user, user perms, group perms, the user's teams (navigation), the page
#: (campaigns), the counts per status.
LIST_QUERIES = 7
#: session, user, user and group perms, teams, the campaign, variants, reviews, the grouped
#: report, the examples per reason.
REPORT_QUERIES = 10
#: ... the stage totals and the page.
PIPELINE_QUERIES = 7
SEGMENTS_QUERIES = 6


def test_the_list_pages_cost_the_same_with_3_and_30_rows(client, marketer, staff):
    seg = segment(marketer)
    for i in range(3):
        campaign(marketer, seg, name=f"Small {i}")
    as_user(client, marketer)
    small = count_queries(client, "/campaigns/")
    small_status = count_queries(client, "/campaigns/?status=draft")
    small_segments = count_queries(client, "/campaigns/segments/")
    for i in range(27):
        campaign(marketer, seg, name=f"Big {i}")
    for i in range(27):
        segment(marketer, name=f"Segment {i}")
    assert count_queries(client, "/campaigns/") == small == LIST_QUERIES
    assert count_queries(client, "/campaigns/?status=draft") == small_status
    assert count_queries(client, "/campaigns/?before=20", **HX) < LIST_QUERIES
    assert count_queries(client, "/campaigns/segments/") == small_segments == SEGMENTS_QUERIES


def test_the_report_costs_the_same_with_3_and_30_deliveries(
    client, marketer, reviewer, smtp, django_capture_on_commit_callbacks
):
    mail_source(smtp)

    def build(n: int, region: str, start: int) -> Campaign:
        for i in range(n):
            marketable(marketer, start + i, region=region, consent=i % 3 != 0)
        blocked = marketable(marketer, start + 99, region=region)
        open_case(actor=reviewer, customer=blocked, category="complaint")
        seg = segment(
            marketer, {"all": [{"field": "region", "op": "eq", "value": region}]}, name=region
        )
        c = launched(marketer, reviewer, django_capture_on_commit_callbacks, seg=seg)
        with django_capture_on_commit_callbacks(execute=False):
            campaign_send_batch(campaign_id=c.pk)
        return c

    small, big = build(3, "East", 100), build(30, "West", 200)
    as_user(client, marketer)
    assert Delivery.objects.filter(campaign=big).count() == 31
    assert Delivery.objects.filter(campaign=big, status="sent").count() == 20
    assert (
        count_queries(client, f"/campaigns/{small.pk}/")
        == count_queries(client, f"/campaigns/{big.pk}/")
        == REPORT_QUERIES
    )


def test_the_pipeline_costs_the_same_with_3_and_30_opportunities(client, seller):
    people = [marketable(seller, n) for n in range(3)]
    for i in range(3):
        opportunity_save(
            actor=seller, customer=people[i], title=f"Deal {i}", value=100, owner=seller
        )
    as_user(client, seller)
    small = count_queries(client, "/campaigns/pipeline/")
    for i in range(27):
        opportunity_save(
            actor=seller, customer=people[i % 3], title=f"More {i}", stage="lead", owner=seller
        )
    assert count_queries(client, "/campaigns/pipeline/") == small == PIPELINE_QUERIES


# --- Sales --------------------------------------------------------------------------------


def test_the_pipeline_counts_and_values_each_stage(client, seller):
    ada = marketable(seller, 1)
    opportunity_save(actor=seller, customer=ada, title="Fibre 500", stage="offer", value="1200")
    opportunity_save(actor=seller, customer=ada, title="TV add-on", stage="offer", value="300")
    opportunity_save(actor=seller, customer=ada, title="Old deal", stage="won", value="99")
    as_user(client, seller)
    html = client.get("/campaigns/pipeline/").content.decode()
    offer = re.search(r'id="stage-offer".*?</a>', html, re.S).group(0)
    assert '<div class="n">2</div>' in offer and "1,500" in offer
    assert "Fibre 500" in html and "Old deal" not in html  # open ones only
    won = client.get("/campaigns/pipeline/?stage=won").content.decode()
    assert "Old deal" in won and "Fibre 500" not in won


def test_an_opportunity_is_added_on_a_customer_and_bad_input_writes_nothing(client, seller):
    ada = marketable(seller, 1)
    as_user(client, seller)
    page = client.get(f"/campaigns/pipeline/new/?customer={ada.pk}")
    assert page.status_code == 200 and ada.display_name in page.content.decode()
    bad = client.post(
        f"/campaigns/pipeline/new/?customer={ada.pk}",
        {"title": "", "stage": "lead", "value": "lots"},
    )
    html = bad.content.decode()
    assert "Say what might be sold." in html and "An amount like 1200" in html
    assert not Opportunity.objects.exists()
    response = client.post(
        f"/campaigns/pipeline/new/?customer={ada.pk}",
        {
            "title": "Fibre 500",
            "stage": "lead",
            "value": "1200",
            "owner": seller.pk,
            "next": f"/customers/{ada.pk}/",
        },
    )
    assert response.status_code == 302 and response["Location"] == f"/customers/{ada.pk}/"
    opp = Opportunity.objects.get()
    assert (opp.title, opp.stage, opp.value, opp.owner) == (
        "Fibre 500",
        "lead",
        Decimal("1200"),
        seller,
    )
    client.post(
        f"/campaigns/pipeline/{opp.pk}/",
        {"title": "Fibre 500", "stage": "won", "value": "1200", "owner": seller.pk},
    )
    opp.refresh_from_db()
    assert opp.stage == "won" and opp.closed_at is not None
    assert client.get("/campaigns/pipeline/new/?customer=999999").status_code == 404


def test_marketing_cannot_touch_the_pipeline(client, marketer, seller):
    ada = marketable(seller, 1)
    opp = opportunity_save(actor=seller, customer=ada, title="Fibre")
    as_user(client, marketer)
    assert client.get(f"/campaigns/pipeline/{opp.pk}/").status_code == 403
    assert (
        client.post(
            f"/campaigns/pipeline/new/?customer={ada.pk}", {"title": "x", "stage": "lead"}
        ).status_code
        == 403
    )
    assert Opportunity.objects.count() == 1


# --- Home pages and navigation ------------------------------------------------------------


def test_marketing_home_shows_campaigns_in_review_and_sending(
    client, marketer, reviewer, django_capture_on_commit_callbacks
):
    in_review(marketer, name="Waiting for service")
    launched(marketer, reviewer, django_capture_on_commit_callbacks, name="Going out")
    campaign(marketer, name="Just a draft")
    as_user(client, marketer)
    html = client.get("/home/marketing/").content.decode()
    review = re.search(r'id="home-in-review".*?</section>', html, re.S).group(0)
    sending = re.search(r'id="home-sending".*?</section>', html, re.S).group(0)
    assert "Waiting for service" in review and "Going out" in sending
    assert "Just a draft" not in html


def test_sales_home_shows_open_opportunities(client, seller):
    ada = marketable(seller, 1)
    opportunity_save(actor=seller, customer=ada, title="Fibre 500", stage="offer", value="1200")
    opportunity_save(actor=seller, customer=ada, title="Lost one", stage="lost")
    as_user(client, seller)
    html = client.get("/home/sales/").content.decode()
    panel = re.search(r'id="home-opportunities".*?</section>', html, re.S).group(0)
    assert "Fibre 500" in panel and "Lost one" not in panel and "(1, worth 1,200)" in panel


def test_navigation_marks_sales_on_the_pipeline(client, staff):
    as_user(client, staff("supervisor"))
    html = client.get("/campaigns/pipeline/").content.decode()
    nav = re.search(r'<nav class="main".*?</nav>', html, re.S).group(0)
    assert re.search(r'<a href="/campaigns/pipeline/" class="active"', nav)
    assert not re.search(r'<a href="/campaigns/" class="active"', nav)
    html = client.get("/campaigns/").content.decode()
    nav = re.search(r'<nav class="main".*?</nav>', html, re.S).group(0)
    assert re.search(r'<a href="/campaigns/" class="active"', nav)


def test_the_audience_is_the_segment_as_it_was_reviewed(client, marketer, reviewer):
    for n in range(3):
        marketable(marketer, n)
    marketable(marketer, 9, region="South")
    c = in_review(marketer)
    Segment.objects.filter(pk=c.segment_id).update(
        rules={"all": [{"field": "region", "op": "in", "value": ["North", "South"]}]}
    )
    as_user(client, reviewer)
    html = client.get(f"/campaigns/{c.pk}/").content.decode()
    assert "Audience: 3 customers" in html
    assert "The segment changed since this campaign was submitted" in html
