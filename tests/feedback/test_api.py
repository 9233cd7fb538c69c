"""The feedback API: surveys and invitations (idempotent invite), responses (anonymous
unless the customer allowed contact), the weekly scorecard, theme trends and ideas; bad input
is a 400 on its field with nothing written; query counts pinned.

Answers are made as customers make them: invited (``survey_invite``), sent by email through a
real SMTP channel (``invitation_send``), answered on the signed link (``response_submit``),
at the time the test names (``now``) when it needs earlier weeks."""

import itertools
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from customers.models import Interaction
from customers.services import consent_set, customer_create, customer_erase, customer_merge
from customers.services.core import ContactInput, interaction_log
from cxportal.models import AuditEvent, Team
from feedback.models import Idea, Mention, Response, Survey, SurveyInvitation, Theme
from feedback.services.ideas import idea_move, idea_submit
from feedback.services.mentions import mentions_scan
from feedback.services.surveys import (
    invitation_send,
    invitation_token,
    response_follow_up_record,
    response_submit,
    survey_invite,
)
from tests.customers.test_outbound import mail_source

pytestmark = pytest.mark.django_db
WRITTEN = (SurveyInvitation, Response, Idea, Interaction, AuditEvent)
_numbers = itertools.count(1)


def written() -> dict[str, int]:
    """How many rows of everything a feedback write touches: equal before and after a 400."""
    return {model.__name__: model.objects.count() for model in WRITTEN}


def fresh_client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(type(user).objects.get(pk=user.pk))  # cold permission cache
    return client


def results(response) -> list[dict]:
    assert response.status_code == 200, response.json()
    return response.json()["results"]


def ids(response) -> list[int]:
    return [row["id"] for row in results(response)]


# --- Data, made through the services ------------------------------------------------------


@pytest.fixture
def email(smtp):
    """A real email channel (SMTP on loopback) for the invitations."""
    return mail_source(smtp)


def survey(**fields) -> Survey:
    return Survey.objects.create(
        name=fields.pop("name", "After your case"),
        kind=fields.pop("kind", "nps"),
        question="How likely are you to recommend us to a friend?",
        trigger=fields.pop("trigger", "manual"),
        delay_hours=fields.pop("delay_hours", 0),
        team=Team.objects.get(slug=fields.pop("team", "service")),
        **fields,
    )


def person(actor, *, region: str = "North", consent: bool = True):
    n = next(_numbers)
    customer = customer_create(
        actor=actor,
        display_name=f"Customer {n}",
        region=region,
        contact_points=[ContactInput("email", f"customer{n}@example.com")],
    )
    if consent:
        consent_set(
            actor=actor,
            customer=customer,
            channel="email",
            purpose="feedback",
            granted=True,
            source="signup form",
        )
    return customer


def answer(
    actor,
    s: Survey,
    score: int,
    *,
    comment: str = "",
    contact: bool = False,
    region: str = "North",
    when: datetime | None = None,
) -> Response:
    """A new customer invited, sent the link by email, answering it (at ``when``)."""
    customer = person(actor, region=region)
    now = when or timezone.now()
    key = f"test:{customer.pk}"
    invitation = survey_invite(survey=s, customer=customer, trigger_key=key, now=now)
    assert invitation_send(invitation_id=invitation.pk, now=now) == "sent"
    return response_submit(
        token=invitation_token(invitation),
        score=score,
        comment=comment,
        contact_allowed=contact,
        now=now,
    )


# --- Surveys and invitations --------------------------------------------------------------


def test_surveys_list_and_one_survey(api_as):
    first = survey(name="After your case", fallback_channel="sms", sampling_rate=0.5)
    second = survey(name="Delivery CSAT", kind="csat", trigger="order_delivered", team="sales")
    client = api_as("marketing")
    assert ids(client.get("/api/v1/surveys/")) == [second.pk, first.pk]
    data = client.get(f"/api/v1/surveys/{first.pk}/").json()
    assert data["name"] == "After your case" and data["kind"] == "nps"
    assert (data["channel"], data["fallback_channel"], data["team"]) == ("email", "sms", "service")
    assert (data["sampling_rate"], data["is_active"], data["trigger"]) == (0.5, True, "manual")
    assert client.get("/api/v1/surveys/999999/").status_code == 404


def test_inviting_a_customer_is_idempotent_per_label(partner, boss, email):
    s = survey()
    customer = person(boss)
    client = partner(["feedback:write", "feedback:read"])
    url = f"/api/v1/surveys/{s.pk}/invitations/"

    first = client.post(url, {"customer": customer.pk, "label": "visit 2026-05-14"}, format="json")
    assert first.status_code == 201, first.json()
    data = first.json()
    assert (data["customer"], data["survey"], data["status"]) == (customer.pk, s.pk, "scheduled")
    assert data["trigger_key"] == f"api:visit 2026-05-14:{customer.pk}"
    assert data["sent_at"] is None and data["answered_at"] is None

    before = written()
    replay = client.post(url, {"customer": customer.pk, "label": "visit 2026-05-14"}, format="json")
    assert replay.status_code == 200 and replay.json() == data
    assert written() == before

    # Another label is another invitation; no label means "from this client".
    other = client.post(url, {"customer": customer.pk, "label": "visit 2026-06-01"}, format="json")
    assert other.status_code == 201 and other.json()["id"] != data["id"]
    plain = client.post(url, {"customer": customer.pk}, format="json")
    assert plain.status_code == 201
    assert plain.json()["trigger_key"].startswith("api:client-")
    assert client.post(url, {"customer": customer.pk}, format="json").status_code == 200

    # Staff invite too (supervisors), once per staff member without a label.
    staff_made = fresh_client(boss).post(url, {"customer": customer.pk}, format="json")
    assert staff_made.status_code == 201
    assert staff_made.json()["trigger_key"] == f"api:staff-{boss.pk}:{customer.pk}"

    # The invitation is an ordinary one: sent by the beat like any other.
    invitation = SurveyInvitation.objects.get(pk=data["id"])
    assert invitation_send(invitation_id=invitation.pk) == "sent"
    listed = results(client.get(url))
    assert [row["id"] for row in listed] == sorted(
        SurveyInvitation.objects.values_list("pk", flat=True), reverse=True
    )
    assert {row["status"] for row in listed if row["id"] == data["id"]} == {"sent"}


def test_a_customer_outside_the_sample_is_not_invited(api_as, boss):
    s = survey(sampling_rate=0.0)
    customer = person(boss)
    before = written()
    client = api_as("supervisor")
    for _ in range(2):  # a retry decides alike
        response = client.post(
            f"/api/v1/surveys/{s.pk}/invitations/", {"customer": customer.pk}, format="json"
        )
        assert response.status_code == 204
    assert written() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "customer"),
        ({"customer": "abc"}, "customer"),
        ({"customer": 0}, "customer"),
        ({"customer": 2**63}, "customer"),
        ({"customer": 999999}, "customer"),
        ({"customer": "{customer}", "label": "x" * 41}, "label"),
        ({"customer": "{customer}", "label": "bad\x00label"}, "label"),
        ({"customer": "{customer}", "label": "a:b"}, "label"),
        ({"customer": "{customer}", "channel": "sms"}, "channel"),
        ({"customer": "{erased}"}, "customer"),
        ({"customer": "{merged}"}, "customer"),
    ],
)
def test_a_bad_invitation_is_400_on_its_field_and_writes_nothing(partner, boss, body, field):
    s = survey()
    customer, erased, merged = person(boss), person(boss), person(boss)
    customer_erase(actor=boss, customer=erased)
    customer_merge(actor=boss, survivor=customer, merged=merged)
    names = {"{customer}": customer.pk, "{erased}": erased.pk, "{merged}": merged.pk}
    body = {k: names.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
    client = partner(["feedback:write"])
    before = written()
    response = client.post(f"/api/v1/surveys/{s.pk}/invitations/", body, format="json")
    assert response.status_code == 400, response.json()
    assert response.json()["code"] == "invalid"
    assert set(response.json()["errors"]) == {field}
    assert written() == before


def test_an_inactive_survey_invites_nobody(partner, boss):
    s, customer, client = survey(is_active=False), person(boss), partner(["feedback:write"])
    before = written()
    response = client.post(
        f"/api/v1/surveys/{s.pk}/invitations/", {"customer": customer.pk}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "survey": ["This survey is not active: it invites nobody."]
    }
    assert written() == before


def test_invitations_say_how_each_fared_and_never_time_an_anonymous_answer(api_as, boss, email):
    s = survey(quiet_period_days=0)
    kept = answer(boss, s, 9, contact=True)
    anonymous = answer(boss, s, 3, comment="Slow", contact=False)
    no_consent = person(boss, consent=False)
    suppressed = survey_invite(survey=s, customer=no_consent, trigger_key="case:7")
    invitation_send(invitation_id=suppressed.pk)
    scheduled = survey_invite(survey=s, customer=person(boss), trigger_key="case:8")

    rows = {
        row["id"]: row
        for row in results(api_as("service").get(f"/api/v1/surveys/{s.pk}/invitations/"))
    }
    assert len(rows) == 4
    answered_kept = rows[kept.invitation_id]
    assert (answered_kept["status"], answered_kept["channel"]) == ("answered", "email")
    assert answered_kept["answered_at"] is not None and answered_kept["sent_at"] is not None
    answered_anonymously = rows[anonymous.invitation_id]
    assert answered_anonymously["status"] == "answered"
    assert answered_anonymously["answered_at"] is None  # would name who said "Slow"
    not_sent = rows[suppressed.pk]
    assert not_sent["status"] == "suppressed" and not_sent["sent_at"] is None
    assert "consent" in not_sent["suppressed_reason"].lower()
    assert rows[scheduled.pk]["status"] == "scheduled"

    # Another survey's invitations are not listed; an unknown survey is a 404.
    other = survey(name="Other")
    assert results(api_as("service").get(f"/api/v1/surveys/{other.pk}/invitations/")) == []
    assert api_as("service").get("/api/v1/surveys/999999/invitations/").status_code == 404


def test_walking_the_invitation_pages_sees_each_once(api_as, boss):
    s = survey()
    made = [
        survey_invite(survey=s, customer=person(boss), trigger_key=f"case:{n}").pk for n in range(5)
    ]
    client = api_as("supervisor")
    seen, url = [], f"/api/v1/surveys/{s.pk}/invitations/?page_size=2"
    while url:
        page = client.get(url).json()
        seen += [row["id"] for row in page["results"]]
        url = page["next"]
    assert seen == sorted(made, reverse=True)


# --- Responses ----------------------------------------------------------------------------


def test_a_response_shows_its_customer_only_when_contact_was_allowed(api_as, partner, boss, email):
    Theme.objects.create(name="Delivery", keywords=["delivery", "late"])
    s = survey()
    kept = answer(boss, s, 2, comment="The delivery was late again.", contact=True)
    anonymous = answer(boss, s, 10, comment="Lovely staff", region="South")
    response_follow_up_record(actor=boss, response=kept, outcome="Called back; refund sent")

    staff_rows = {r["id"]: r for r in results(api_as("service").get("/api/v1/responses/"))}
    row = staff_rows[kept.pk]
    assert row["customer"] == kept.customer_id and row["contact_allowed"] is True
    assert (row["score"], row["kind"], row["category"]) == (2, "nps", "detractor")
    assert row["comment"] == "The delivery was late again."
    assert row["themes"] == ["Delivery"] and row["sentiment"] is not None
    assert (row["channel"], row["team"], row["region"], row["survey"]) == (
        "email",
        "service",
        "North",
        s.pk,
    )
    assert row["follow_up_outcome"] == "Called back; refund sent"
    assert row["follow_up_by"] == boss.username and row["follow_up_at"] is not None
    # Anonymous: the comment is there, the customer is not (none is stored).
    row = staff_rows[anonymous.pk]
    assert (row["customer"], row["contact_allowed"]) == (None, False)
    assert row["comment"] == "Lovely staff" and row["themes"] == []

    # Partners get the same, less the follow-up's outcome and author.
    client = partner(["feedback:read"])
    partner_rows = {r["id"]: r for r in results(client.get("/api/v1/responses/"))}
    assert partner_rows[anonymous.pk]["customer"] is None
    assert partner_rows[anonymous.pk]["comment"] == "Lovely staff"
    assert "follow_up_outcome" not in partner_rows[kept.pk]
    assert "follow_up_by" not in partner_rows[kept.pk]
    assert partner_rows[kept.pk]["follow_up_at"] is not None
    one = client.get(f"/api/v1/responses/{kept.pk}/").json()
    assert one["customer"] == kept.customer_id and "follow_up_outcome" not in one
    assert client.get("/api/v1/responses/999999/").status_code == 404


def test_responses_filter_by_survey_kind_category_channel_region_time_and_customer(
    api_as, boss, email
):
    nps, csat = survey(), survey(name="CSAT", kind="csat")
    last_week = timezone.now() - timedelta(days=7)
    old = answer(boss, nps, 9, region="South", when=last_week)
    detractor = answer(boss, nps, 1, contact=True)
    satisfied = answer(boss, csat, 5)
    client = api_as("sales")

    def found(query: str) -> set[int]:
        return set(ids(client.get(f"/api/v1/responses/?{query}")))

    assert found("") == {old.pk, detractor.pk, satisfied.pk}
    assert found(f"survey={csat.pk}") == {satisfied.pk}
    assert found("kind=nps") == {old.pk, detractor.pk}
    assert found("category=detractor") == {detractor.pk}
    assert found("channel=email") == {old.pk, detractor.pk, satisfied.pk}
    assert found("channel=sms") == set()
    assert found("region=South") == {old.pk}
    yesterday = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert found(f"answered_after={yesterday}") == {detractor.pk, satisfied.pk}
    assert found(f"answered_before={yesterday}") == {old.pk}
    assert found(f"customer={detractor.customer_id}") == {detractor.pk}
    assert found(f"kind=nps&answered_after={yesterday}") == {detractor.pk}


@pytest.mark.parametrize(
    "query",
    [
        "survey=abc",
        "survey=0",
        f"survey={2**63}",
        "kind=stars",
        "category=happy",
        "channel=pigeon",
        "region=a%00b",
        "customer=-1",
        "answered_after=yesterday",
        "answered_before=0001-01-01T00:00:00%2B05:00",
        "cursor=not-a-cursor",
    ],
)
def test_a_bad_response_filter_is_400_on_that_filter(api_as, query):
    response = api_as("service").get(f"/api/v1/responses/?{query}")
    assert response.status_code == 400, response.json()
    assert set(response.json()["errors"]) == {query.split("=")[0]}


# --- Scorecard ----------------------------------------------------------------------------


def monday(day: datetime) -> datetime:
    local = timezone.localtime(day)
    return (local - timedelta(days=local.weekday())).replace(hour=12, minute=0)


def test_the_scorecard_gives_weekly_rows_by_dimension_and_the_totals(api_as, partner, boss, email):
    nps = survey(name="After your case")
    shop = survey(name="Shop visit", team="sales")
    csat = survey(name="Delivery", kind="csat")
    this_week = monday(timezone.now())
    week_before = this_week - timedelta(days=7)
    for score in (10, 9, 3):  # 2 promoters, 1 detractor of 3: NPS 33.3
        answer(boss, nps, score, when=week_before)
    answer(boss, nps, 10, when=this_week, region="South")
    answer(boss, shop, 0, when=this_week, region="South")
    answer(boss, csat, 5, when=this_week)

    since = (week_before - timedelta(days=1)).date().isoformat()
    until = timezone.localdate().isoformat()
    client = api_as("marketing")
    data = client.get(f"/api/v1/scorecard/?since={since}&until={until}").json()
    assert (data["since"], data["until"], data["dimension"], data["kind"]) == (
        since,
        until,
        "channel",
        "nps",
    )
    assert data["rows"] == [
        {"week": week_before.date().isoformat(), "group": "email", "value": 33.3, "n": 3},
        {"week": this_week.date().isoformat(), "group": "email", "value": 0.0, "n": 2},
    ]
    totals = {t["kind"]: t for t in data["totals"]}
    assert totals["nps"] == {"kind": "nps", "label": "NPS", "value": 20.0, "n": 5}
    assert totals["csat"] == {"kind": "csat", "label": "CSAT %", "value": 100.0, "n": 1}

    def groups(dimension: str, kind: str = "nps") -> list[tuple]:
        query = f"since={since}&until={until}&dimension={dimension}&kind={kind}"
        rows = partner(["feedback:read"]).get(f"/api/v1/scorecard/?{query}").json()["rows"]
        return [(r["week"] == this_week.date().isoformat(), r["group"], r["n"]) for r in rows]

    assert groups("region") == [(False, "North", 3), (True, "South", 2)]
    assert groups("team") == [
        (False, "Customer service", 3),
        (True, "Customer service", 1),
        (True, "Sales", 1),
    ]
    assert groups("survey") == [
        (False, "After your case", 3),
        (True, "After your case", 1),
        (True, "Shop visit", 1),
    ]
    assert groups("channel", "csat") == [(True, "email", 1)]
    assert groups("channel", "ces") == []

    # Without dates: the last 12 weeks up to today.
    default = client.get("/api/v1/scorecard/").json()
    assert default["until"] == until and sum(r["n"] for r in default["rows"]) == 5


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("since=2026-02-30", "since"),
        ("until=yesterday", "until"),
        ("since=0001-01-01&until=2026-01-01", "since"),
        ("since=2026-05-10&until=2026-05-01", "until"),
        ("since=2024-01-01&until=2026-01-01", "since"),  # over 2 years
        ("dimension=colour", "dimension"),
        ("kind=stars", "kind"),
    ],
)
def test_a_bad_scorecard_query_is_400_on_its_parameter(api_as, query, field):
    response = api_as("service").get(f"/api/v1/scorecard/?{query}")
    assert response.status_code == 400, response.json()
    assert set(response.json()["errors"]) == {field}


def test_two_years_is_the_longest_scorecard(api_as):
    response = api_as("service").get("/api/v1/scorecard/?since=2024-01-01&until=2025-12-31")
    assert response.status_code == 200, response.json()


# --- Themes -------------------------------------------------------------------------------


def test_theme_trends_show_the_risers_with_examples_for_staff_only(api_as, partner, boss, email):
    tea = Theme.objects.create(name="Tea bags", keywords=["tea bag", "tea bags", "plastic"])
    late = Theme.objects.create(name="Delivery", keywords=["late", "delivery"])
    s = survey(kind="csat")
    now = timezone.now()
    for weeks in (1, 2, 3, 4):  # one comment a week about each, the four weeks before
        answer(boss, s, 3, comment="Tea bags fine", when=now - timedelta(days=7 * weeks + 1))
        answer(boss, s, 2, comment="Late delivery", when=now - timedelta(days=7 * weeks + 2))
    customer = person(boss)
    for n in range(3):  # this week: a spike of posts about plastic in tea bags
        interaction_log(
            actor=boss,
            customer=customer,
            channel="social",
            direction="inbound",
            summary=f"@Brand plastic in your tea bags?! ({n})",
        )
    mentions_scan()
    assert Mention.objects.count() == 3
    answer(boss, s, 1, comment="There is plastic in the tea bags", when=now - timedelta(hours=1))
    answer(boss, s, 2, comment="Delivery was late", when=now - timedelta(hours=2))

    trends = api_as("marketing").get("/api/v1/themes/").json()
    assert [(t["theme"], t["this_week"], t["weekly_before"], t["rise"]) for t in trends] == [
        ("Tea bags", 4, 1.0, 4.0),
        ("Delivery", 1, 1.0, 1.0),
    ]
    assert trends[0]["id"] == tea.pk and trends[1]["id"] == late.pk
    assert trends[0]["examples"] == [
        "@Brand plastic in your tea bags?! (2)",
        "@Brand plastic in your tea bags?! (1)",
        "@Brand plastic in your tea bags?! (0)",
    ]
    assert trends[1]["examples"] == ["Delivery was late", "Late delivery", "Late delivery"]

    counts = partner(["feedback:read"]).get("/api/v1/themes/").json()
    assert [(t["theme"], t["rise"]) for t in counts] == [("Tea bags", 4.0), ("Delivery", 1.0)]
    assert all("examples" not in t for t in counts)


# --- Ideas --------------------------------------------------------------------------------


def test_staff_submit_ideas_and_supervisors_move_them_on(api_as, staff, partner, boss):
    agent = staff("service")
    client = fresh_client(agent)
    made = client.post(
        "/api/v1/ideas/",
        {"title": "  Quieter hold music ", "description": "People complain.", "team": "service"},
        format="json",
    )
    assert made.status_code == 201, made.json()
    idea = made.json()
    assert (idea["title"], idea["team"], idea["status"]) == (
        "Quieter hold music",
        "service",
        "submitted",
    )
    assert idea["submitted_by"] == agent.username and idea["implemented_at"] is None
    assert AuditEvent.objects.filter(action="idea.submit").count() == 1

    moved = api_as("supervisor").post(
        f"/api/v1/ideas/{idea['id']}/move/", {"status": "reviewing"}, format="json"
    )
    assert moved.status_code == 200, moved.json()
    assert moved.json()["status"] == "reviewing"

    other = idea_submit(actor=boss, title="Bigger fonts")
    idea_move(actor=boss, idea=other, status="declined", note="Done already")
    reader = partner(["feedback:read"])
    assert ids(reader.get("/api/v1/ideas/")) == [other.pk, idea["id"]]
    assert ids(reader.get("/api/v1/ideas/?status=declined")) == [other.pk]
    one = reader.get(f"/api/v1/ideas/{other.pk}/").json()
    assert (one["status"], one["decision_note"]) == ("declined", "Done already")


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("", {}, "title"),
        ("", {"title": "   "}, "title"),
        ("", {"title": "x" * 201}, "title"),
        ("", {"title": "Nul\x00"}, "title"),
        ("", {"title": "Fine", "team": "nobody"}, "team"),
        ("", {"title": "Fine", "status": "implemented"}, "status"),
        ("{id}/move/", {}, "status"),
        ("{id}/move/", {"status": "done"}, "status"),
        ("{id}/move/", {"status": "implemented"}, "status"),  # not from submitted
        ("{id}/move/", {"status": "declined"}, "note"),  # declining needs a why
        ("{id}/move/", {"status": "declined", "note": "x" * 301}, "note"),
    ],
)
def test_a_bad_idea_is_400_on_its_field_and_writes_nothing(api_as, boss, path, body, field):
    idea = idea_submit(actor=boss, title="Quieter hold music")
    before = written()
    response = api_as("supervisor").post(
        "/api/v1/ideas/" + path.format(id=idea.pk), body, format="json"
    )
    assert response.status_code == 400, response.json()
    assert set(response.json()["errors"]) == {field}
    assert written() == before
    idea.refresh_from_db()
    assert idea.status == "submitted"


def test_a_bad_idea_filter_is_400(api_as):
    response = api_as("service").get("/api/v1/ideas/?status=someday")
    assert response.status_code == 400 and set(response.json()["errors"]) == {"status"}


# --- Query counts -------------------------------------------------------------------------


def _count(client, url: str) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, response.json()
    body = response.json()
    rows = body["results"] if isinstance(body, dict) and "results" in body else body
    return len(ctx), len(rows if isinstance(rows, list) else rows["rows"])


def test_response_list_and_detail_query_counts_are_pinned(staff, partner, boss, email):
    Theme.objects.create(name="Delivery", keywords=["late"])
    s = survey()
    user = staff("service")
    key = partner(["feedback:read"])

    def make(n: int) -> None:
        for _ in range(n):
            answer(boss, s, 4, comment="It was late", contact=True)

    make(3)
    assert key.get("/api/v1/responses/").status_code == 200  # caches the key
    # user perms, group perms, the page (survey, team, customer joined), the themes
    assert _count(fresh_client(user), "/api/v1/responses/") == (4, 3)
    assert _count(key, "/api/v1/responses/") == (2, 3)
    make(27)
    assert _count(fresh_client(user), "/api/v1/responses/") == (4, 30)
    assert _count(key, "/api/v1/responses/") == (2, 30)
    one, client = Response.objects.first(), fresh_client(user)
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(f"/api/v1/responses/{one.pk}/").status_code == 200
    assert len(ctx) == 4  # perms, the answer, its themes


def test_survey_and_invitation_list_query_counts_are_pinned(staff, boss, email):
    user = staff("service")
    s = survey()

    def make(n: int) -> None:
        for _ in range(n):
            survey(name="Another")
            answer(boss, s, 9, contact=True)

    make(3)
    # user perms, group perms, the page
    assert _count(fresh_client(user), "/api/v1/surveys/") == (3, 4)
    # perms, the survey, the page (with the answers joined)
    assert _count(fresh_client(user), f"/api/v1/surveys/{s.pk}/invitations/") == (4, 3)
    make(27)
    assert _count(fresh_client(user), "/api/v1/surveys/") == (3, 31)
    assert _count(fresh_client(user), f"/api/v1/surveys/{s.pk}/invitations/") == (4, 30)


def test_scorecard_theme_and_idea_query_counts_are_pinned(staff, boss, email):
    user = staff("marketing")
    s = survey()

    def make(n: int, offset: int) -> None:
        for i in range(offset, offset + n):
            theme = Theme.objects.create(name=f"Theme {i}", keywords=[f"word{i}"])
            answer(
                boss,
                s,
                i % 11,
                comment=f"About word{i}",
                region=f"Region {i}",
                when=timezone.now() - timedelta(days=7 * (i % 4)),
            )
            idea_submit(actor=boss, title=f"Idea {i}")
            assert theme.pk

    make(3, 0)
    scorecard = "/api/v1/scorecard/?dimension=region"
    # perms, the grouped scorecard, the totals
    assert _count(fresh_client(user), scorecard) == (4, 3)
    # perms, answers and mentions per theme, the names, examples of answers and mentions
    assert _count(fresh_client(user), "/api/v1/themes/") == (7, 3)
    assert _count(fresh_client(user), "/api/v1/ideas/") == (3, 3)
    make(27, 3)
    assert _count(fresh_client(user), scorecard) == (4, 30)
    assert _count(fresh_client(user), "/api/v1/themes/") == (7, 30)
    assert _count(fresh_client(user), "/api/v1/ideas/") == (3, 30)


# --- Schema -------------------------------------------------------------------------------


def test_the_schema_describes_the_feedback_api_and_its_anonymity():
    from drf_spectacular.generators import SchemaGenerator

    spec = SchemaGenerator().get_schema(request=None, public=True)
    paths, schemas = spec["paths"], spec["components"]["schemas"]
    for path, methods in [
        ("/api/v1/surveys/", {"get"}),
        ("/api/v1/surveys/{id}/", {"get"}),
        ("/api/v1/surveys/{id}/invitations/", {"get", "post"}),
        ("/api/v1/responses/", {"get"}),
        ("/api/v1/responses/{id}/", {"get"}),
        ("/api/v1/scorecard/", {"get"}),
        ("/api/v1/themes/", {"get"}),
        ("/api/v1/ideas/", {"get", "post"}),
        ("/api/v1/ideas/{id}/", {"get"}),
        ("/api/v1/ideas/{id}/move/", {"post"}),
    ]:
        assert methods == set(paths[path]) - {"parameters"}, path
    assert "never with a customer id" in paths["/api/v1/responses/"]["get"]["description"]
    answer_schema = schemas["ResponseOutput"]
    assert "follow_up_outcome" not in answer_schema["required"]
    assert "allowed us to contact" in answer_schema["properties"]["customer"]["description"]
    assert "examples" not in schemas["ThemeTrendOutput"]["required"]
    invite = paths["/api/v1/surveys/{id}/invitations/"]["post"]
    assert set(invite["responses"]) == {"200", "201", "204", "400", "404"}
    scorecard = paths["/api/v1/scorecard/"]["get"]
    assert {p["name"] for p in scorecard["parameters"]} == {"since", "until", "dimension", "kind"}
    assert scorecard["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ScorecardOutput"
    }
