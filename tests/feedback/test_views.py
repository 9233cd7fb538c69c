"""Staff pages of feedback: the scorecard (and its CSV), themes, the feedback inbox, survey
answers and closing the loop, the ideas board, surveys and "invite a list", and the
Feedback panel of the customer 360 page.

Data is made the way production makes it: customers with consent for feedback, invitations
sent by email (a real SMTP channel source), answers through ``response_submit``, mentions
from logged calls through ``mentions_scan``. Permissions per team, pinned query counts
(3 rows cost what 30 do) and bad input that writes nothing."""

import contextlib
import csv
import io
import re
from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cases.models import CareFlag
from customers import panels
from customers.services import consent_set, customer_create, interaction_log
from customers.services.core import ContactInput
from cxportal.models import AuditEvent, Team
from feedback.models import Idea, Mention, Response, Survey, SurveyInvitation, Theme
from feedback.panels import customer_feedback_panel
from feedback.services.ideas import idea_move, idea_submit
from feedback.services.mentions import mentions_scan
from feedback.services.surveys import (
    invitation_send,
    invitation_token,
    response_submit,
    survey_invite,
)
from feedback.views import week_starts
from tests.customers.test_outbound import mail_source

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


# --- Test data, through the services -------------------------------------------------------
@contextlib.contextmanager
def clock(when):
    """The services' clock at ``when`` (answers given in past weeks)."""
    with mock.patch("django.utils.timezone.now", return_value=when):
        yield


def make_survey(kind: str = "nps", *, name: str = "", team: str = "service", **fields) -> Survey:
    """A survey as a supervisor configures it in admin."""
    questions = {
        "nps": "How likely are you to recommend us to a friend?",
        "csat": "How satisfied are you with the help you got?",
        "ces": "How easy was it to get your problem solved?",
    }
    return Survey.objects.create(
        name=name or f"{kind.upper()} after contact",
        kind=kind,
        question=questions[kind],
        trigger=fields.pop("trigger", Survey.Trigger.MANUAL),
        delay_hours=0,
        team=Team.objects.get(slug=team),
        **fields,
    )


_numbers = iter(range(1, 10_000))


def reachable_customer(*, region: str = "North", consent: bool = True, name: str = ""):
    """A customer with an email address who agreed to feedback surveys by email."""
    n = next(_numbers)
    customer = customer_create(
        actor=None,
        display_name=name or f"Customer {n:03d}",
        preferred_channel="email",
        region=region,
        contact_points=[ContactInput("email", f"customer{n}@example.com")],
    )
    if consent:
        consent_set(
            actor=None,
            customer=customer,
            channel="email",
            purpose="feedback",
            granted=True,
            source="signup form",
        )
    return customer


def sent_invitation(survey: Survey, customer, *, now=None) -> SurveyInvitation:
    now = now or timezone.now()
    invitation = survey_invite(
        survey=survey, customer=customer, trigger_key=f"manual:test:{customer.pk}", now=now
    )
    assert invitation_send(invitation_id=invitation.pk, now=now) == "sent"
    return invitation


def answer(
    survey: Survey,
    score: int,
    *,
    comment: str = "",
    contact: bool = False,
    when=None,
    region: str = "North",
    customer=None,
) -> Response:
    """A customer invited by email answers on their link."""
    when = when or timezone.now()
    with clock(when):
        customer = customer or reachable_customer(region=region)
        invitation = sent_invitation(survey, customer, now=when)
        return response_submit(
            token=invitation_token(invitation),
            score=score,
            comment=comment,
            contact_allowed=contact,
        )


def themes() -> dict[str, Theme]:
    """A small taxonomy, as a supervisor keeps it in admin."""
    return {
        "delivery": Theme.objects.create(name="Delivery", keywords=["late", "never arrived"]),
        "tea": Theme.objects.create(name="Plastic in tea bags", keywords=["plastic", "tea bag"]),
        "staff": Theme.objects.create(name="Helpful staff", keywords=["helpful", "kind"]),
    }


def call_note(customer, text: str, *, when=None):
    """A phone call logged with notes: the scan makes it a mention."""
    return interaction_log(
        actor=None,
        customer=customer,
        channel="phone",
        direction="inbound",
        summary="Phone call",
        body=text,
        occurred_at=when or timezone.now(),
    )


def as_user(client, user):
    client.force_login(user)
    return client


def queries(client, url: str, **extra) -> int:
    client.get(url, **extra)  # the banner's cache is warm, as it is nearly always
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url, **extra).status_code == 200
    return len(ctx)


@pytest.fixture
def source(smtp):
    """The email channel the invitations go out on (a real SMTP server)."""
    return mail_source(smtp)


# --- Who sees what -------------------------------------------------------------------------------
READ_PAGES = [
    "/feedback/",
    "/feedback/scorecard.csv",
    "/feedback/themes/",
    "/feedback/inbox/",
    "/feedback/responses/",
    "/feedback/ideas/",
    "/feedback/surveys/",
]


@pytest.mark.parametrize("team", ["service", "marketing", "sales", "operations", "supervisor"])
def test_every_team_reads_feedback(client, staff, team):
    as_user(client, staff(team))
    for url in READ_PAGES:
        assert client.get(url).status_code == 200, url
    html = client.get("/feedback/").content.decode()
    assert '<a href="/feedback/" class="active" aria-current="page">Feedback</a>' in html


def test_anonymous_is_sent_to_log_in_and_no_team_sees_nothing(client, staff):
    for url in READ_PAGES:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")
    as_user(client, staff(None))
    for url in READ_PAGES:
        assert client.get(url).status_code == 403, url
    assert "/feedback/" not in client.get("/customers/").content.decode()


def test_only_service_and_supervisors_close_the_loop_and_review(client, staff, source):
    survey = make_survey()
    response = answer(survey, 2, comment="Nobody called back", contact=True)
    mentions_scan()  # nothing yet; a call note next
    call_note(response.customer, "The driver was rude and late")
    mentions_scan()
    mention = Mention.objects.get()
    for team, allowed in (("marketing", False), ("sales", False), ("service", True)):
        as_user(client, staff(team))
        page = client.get(f"/feedback/responses/{response.pk}/").content.decode()
        assert ("Record the follow-up outcome" in page) is allowed
        inbox = client.get("/feedback/inbox/").content.decode()
        assert (">Mark reviewed</button>" in inbox) is allowed
        if not allowed:
            post = client.post(f"/feedback/responses/{response.pk}/follow-up/", {"outcome": "x"})
            assert post.status_code == 403
            assert client.post(f"/feedback/inbox/{mention.pk}/review/").status_code == 403
    response.refresh_from_db()
    mention.refresh_from_db()
    assert response.follow_up_outcome == "" and mention.status == "new"


def test_only_supervisors_move_ideas_and_invite_lists(client, staff):
    survey = make_survey()
    idea = idea_submit(actor=staff("sales"), title="Let customers pick a delivery slot")
    for team in ("service", "marketing", "sales", "operations"):
        as_user(client, staff(team))
        assert ">Move</button>" not in client.get("/feedback/ideas/").content.decode()
        moved = client.post(f"/feedback/ideas/{idea.pk}/move/", {"status": "reviewing"})
        assert moved.status_code == 403
        assert "Invite a list" not in client.get("/feedback/surveys/").content.decode()
        assert client.get(f"/feedback/surveys/{survey.pk}/invite/").status_code == 403
    idea.refresh_from_db()
    assert idea.status == "submitted"
    as_user(client, staff("supervisor"))
    assert ">Move</button>" in client.get("/feedback/ideas/").content.decode()
    assert client.get(f"/feedback/surveys/{survey.pk}/invite/").status_code == 200


# --- The scorecard -------------------------------------------------------------------------------
def scorecard_data():
    """NPS answers over three weeks in two regions, and one CSAT answer.

    Two weeks ago: 10 (North), 3 (South). Last week: 9 and 10 (North).
    This week: 8 (South), 0 (North). NPS = (3 promoters − 2 detractors) / 6 = +16.7."""
    now = timezone.now()
    two_weeks_ago, last_week, _this = week_starts(3, now)
    nps = make_survey("nps")
    answer(nps, 10, when=two_weeks_ago + timedelta(days=1), region="North")
    answer(nps, 3, when=two_weeks_ago + timedelta(days=2), region="South")
    answer(nps, 9, when=last_week + timedelta(days=1), region="North")
    answer(nps, 10, when=last_week + timedelta(days=3), region="North")
    answer(nps, 8, region="South")
    answer(nps, 0, region="North")
    answer(make_survey("csat"), 5, region="North")
    return two_weeks_ago, last_week


def test_the_scorecard_shows_each_score_with_its_sample_size(client, staff, source):
    scorecard_data()
    html = as_user(client, staff("marketing")).get("/feedback/?weeks=4").content.decode()
    tiles = re.findall(r'<div class="big">([^<]+)</div>\s*<div class="meta"><span>([^<]+)<', html)
    assert tiles == [("+16.7", "n = 6"), ("100%", "n = 1"), ("—", "no answers yet")]
    # The weekly chart by channel: one line (email), points titled with the numbers.
    assert "NPS by channel, per week" in html
    assert html.count('<polyline class="line"') == 1
    assert "Email, week of" in html and "(n=2)" in html


def test_the_scorecard_table_by_region_and_its_csv_hold_the_same_numbers(client, staff, source):
    two_weeks_ago, last_week = scorecard_data()
    as_user(client, staff("service"))
    html = client.get("/feedback/", {"weeks": 4, "dimension": "region"}).content.decode()
    head = re.search(r"<thead>(.*?)</thead>", html, re.S).group(1)
    assert re.findall(r'<th scope="col" class="num">([^<]+)</th>', head) == [
        "All",
        "North",
        "South",
    ]
    total = re.search(r'<tr class="total">(.*?)</tr>', html, re.S).group(1)
    cells = re.findall(r'<span class="v">([^<]+)</span><span class="n">n = (\d+)</span>', total)
    assert cells == [("+16.7", "6"), ("+50", "4"), ("−50", "2")]
    # Two lines on the chart (All, dashed, and one per region).
    assert html.count('<polyline class="line all"') == 1
    assert "North, week of" in html and "South, week of" in html

    csv_url = re.search(r'href="(/feedback/scorecard\.csv\?[^"]+)"', html).group(1)
    response = client.get(csv_url.replace("&amp;", "&"))
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="scorecard-nps-region-' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    day = "{:%Y-%m-%d}".format
    this_week = week_starts(1, timezone.now())[0]
    assert rows == [
        [
            "week_of",
            "region",
            "measure",
            "score",
            "answers",
            "promoters",
            "detractors",
            "satisfied",
        ],
        [day(two_weeks_ago), "North", "NPS", "100.0", "1", "1", "0", "0"],
        [day(two_weeks_ago), "South", "NPS", "-100.0", "1", "0", "1", "0"],
        [day(last_week), "North", "NPS", "100.0", "2", "2", "0", "0"],
        [day(this_week), "North", "NPS", "-100.0", "1", "0", "1", "0"],
        [day(this_week), "South", "NPS", "0.0", "1", "0", "0", "0"],
    ]
    # The page's table has the same cells: e.g. last week, North.
    week_row = re.search(rf"{last_week:%-d %b %Y}</th>(.*?)</tr>", html, re.S).group(1)
    assert re.findall(r'<span class="v">([^<]+)</span><span class="n">n = (\d+)', week_row) == [
        ("+100", "2"),
        ("+100", "2"),
    ]


def test_the_csv_cannot_carry_a_spreadsheet_formula(client, staff, source):
    answer(make_survey(), 9, region="=HYPERLINK(1)")
    response = as_user(client, staff("sales")).get(
        "/feedback/scorecard.csv", {"dimension": "region"}
    )
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[1][1] == "'=HYPERLINK(1)"


def test_the_scorecard_ignores_unknown_options_and_says_when_there_is_nothing(client, staff):
    html = (
        as_user(client, staff("sales"))
        .get("/feedback/", {"weeks": "9999", "dimension": "x", "kind": "y"})
        .content.decode()
    )
    assert "No NPS answers in this period yet." in html and "<svg" not in html


# --- Themes --------------------------------------------------------------------------------------
def test_themes_rising_this_week_come_first_with_examples(client, staff):
    found = themes()
    customer = reachable_customer()
    now = timezone.now()
    for week in (1, 2, 3, 4):  # one delivery complaint a week before
        call_note(customer, "The parcel was late again", when=now - timedelta(days=7 * week + 1))
    for i in range(4):  # this week: a spike about plastic in tea bags
        call_note(customer, f"Found plastic in my tea bag, box {i}", when=now - timedelta(hours=i))
    call_note(customer, "Late delivery but the driver was kind", when=now - timedelta(days=1))
    mentions_scan(now=now)
    as_user(client, staff("marketing"))
    html = client.get("/feedback/themes/").content.decode()
    risers = re.findall(r'<h3 id="riser-(\d+)">([^<]+)</h3>', html)
    assert risers == [
        (str(found["tea"].pk), "Plastic in tea bags"),
        (str(found["staff"].pk), "Helpful staff"),
    ]
    assert "Found plastic in my tea bag, box 0" in html
    assert "New</strong> · 4 this week, 0 in a usual week" in html
    # Delivery: 1 this week, 1 in a usual week: in the table and chart, not rising.
    assert re.search(
        r"<td>Delivery</td>\s*<td class=\"num\">1</td>\s*<td class=\"num\">1</td>", html
    )
    assert html.count('<rect class="bar') == 3 and html.count('<rect class="bar rising"') == 2


def test_the_themes_page_costs_the_same_for_many_themes(client, staff):
    customer = reachable_customer()
    for i in range(3):
        Theme.objects.create(name=f"Theme {i}", keywords=[f"word{i}"])
    call_note(customer, " ".join(f"word{i}" for i in range(3)))
    mentions_scan()
    as_user(client, staff("service"))
    few = queries(client, "/feedback/themes/")
    for i in range(3, 30):
        Theme.objects.create(name=f"Theme {i}", keywords=[f"word{i}"])
    call_note(customer, " ".join(f"word{i}" for i in range(30)))
    mentions_scan()
    assert queries(client, "/feedback/themes/") == few


# --- The feedback inbox --------------------------------------------------------------------------
def test_the_inbox_shows_mentions_with_sentiment_themes_and_links(client, staff):
    themes()
    customer = reachable_customer(name="Mona Mention")
    angry = call_note(customer, "Terrible! The parcel never arrived and nobody helps.")
    call_note(customer, "The engineer was so helpful and kind, thank you!")
    mentions_scan()
    html = as_user(client, staff("service")).get("/feedback/inbox/").content.decode()
    first, second = Mention.objects.order_by("-occurred_at", "-id")
    assert html.index(f'id="mention-{first.pk}"') < html.index(f'id="mention-{second.pk}"')
    assert re.search(r'<span class="senti negative">Negative<span class="s">-0\.\d\d</span>', html)
    assert re.search(r'<span class="senti positive">Positive<span class="s">0\.\d\d</span>', html)
    assert '<span class="theme-tag">Delivery</span>' in html
    assert '<span class="theme-tag">Helpful staff</span>' in html
    assert f'href="/customers/{customer.pk}/">Mona Mention</a>' in html
    assert f'href="/customers/{customer.pk}/#interaction-{angry.pk}"' in html
    assert html.count(">Mark reviewed</button>") == 2


def test_marking_a_mention_reviewed_with_htmx_or_a_plain_form(client, staff):
    customer = reachable_customer()
    call_note(customer, "First note")
    call_note(customer, "Second note")
    mentions_scan()
    one, two = Mention.objects.order_by("id")
    as_user(client, staff("service"))
    row = client.post(f"/feedback/inbox/{one.pk}/review/", **HX).content.decode()
    assert row.strip().startswith(f'<tr id="mention-{one.pk}" class="reviewed">')
    assert '<span class="done-tag">Reviewed</span>' in row
    response = client.post(f"/feedback/inbox/{two.pk}/review/", {"next": "/feedback/inbox/"})
    assert response.status_code == 302 and response["Location"] == "/feedback/inbox/"
    assert set(Mention.objects.values_list("status", flat=True)) == {"reviewed"}
    assert AuditEvent.objects.filter(action="mention.review").count() == 2
    html = client.get("/feedback/inbox/").content.decode()
    assert "every mention has been reviewed" in html
    html = client.get("/feedback/inbox/", {"status": ""}).content.decode()
    assert html.count('<span class="done-tag">Reviewed</span>') == 2
    assert client.post("/feedback/inbox/999999/review/").status_code == 404
    assert client.get(f"/feedback/inbox/{one.pk}/review/").status_code == 405


def test_the_inbox_pages_on_with_show_more(client, staff, settings):
    settings.CXPORTAL_PAGE_SIZE = 2
    customer = reachable_customer()
    now = timezone.now()
    for i in range(5):
        call_note(customer, f"Note {i}", when=now - timedelta(minutes=i))
    mentions_scan()
    as_user(client, staff("service"))
    html = client.get("/feedback/inbox/").content.decode()
    seen = re.findall(r'class="text">Note (\d)', html)
    while (more := re.search(r'hx-get="([^"]+)"', html)) is not None:
        url = "/feedback/inbox/" + more.group(1).replace("&amp;", "&")
        html = client.get(url, **HX).content.decode()
        assert "<h1>" not in html
        seen += re.findall(r'class="text">Note (\d)', html)
    assert seen == ["0", "1", "2", "3", "4"]


# --- Answers and closing the loop -------------------------------------------------------------
def test_answers_are_filtered_and_detractors_stand_out(client, staff, source):
    nps, csat = make_survey("nps"), make_survey("csat")
    detractor = answer(nps, 1, comment="Late again, so disappointed", contact=True)
    promoter = answer(nps, 10, comment="Brilliant")
    unhappy = answer(csat, 2)
    html = as_user(client, staff("marketing")).get("/feedback/responses/").content.decode()
    ids = [int(pk) for pk in re.findall(r'<tr id="response-(\d+)"', html)]
    assert ids == [unhappy.pk, promoter.pk, detractor.pk]
    assert f'<tr id="response-{detractor.pk}" class="low">' in html
    assert f'<tr id="response-{unhappy.pk}" class="low">' in html
    assert f'<tr id="response-{promoter.pk}">' in html
    assert detractor.customer.display_name in html  # allowed contact
    assert html.count("Not kept") == 2  # the others did not: counted without their name
    html = client.get("/feedback/responses/", {"kind": "nps", "category": "detractor"})
    ids = re.findall(r'<tr id="response-(\d+)"', html.content.decode())
    assert ids == [str(detractor.pk)]
    html = client.get("/feedback/responses/", {"survey": csat.pk}).content.decode()
    assert re.findall(r'<tr id="response-(\d+)"', html) == [str(unhappy.pk)]
    # A wrong filter value is left out; the list stays useful.
    html = client.get("/feedback/responses/", {"kind": "nope", "channel": "email"})
    assert len(re.findall(r'<tr id="response-(\d+)"', html.content.decode())) == 3


def test_a_detractor_is_followed_up_from_the_answer_page(client, staff, source):
    survey = make_survey(open_case_for_detractors=True)
    response = answer(survey, 3, comment="The refund took a month", contact=True)
    assert response.care_flag is not None and response.follow_up_case is not None
    agent = staff("service")
    as_user(client, agent)
    html = client.get(f"/feedback/responses/{response.pk}/").content.decode()
    assert "The refund took a month" in html and "Detractor" in html
    assert f'href="/care/{response.care_flag_id}/"' in html
    assert f'href="/cases/{response.follow_up_case_id}/"' in html
    assert "allowed us to contact them about this answer" in html

    # Empty: the form says so and nothing is written.
    html = client.post(f"/feedback/responses/{response.pk}/follow-up/", {"outcome": "  "})
    assert html.status_code == 200 and "Say what came of the follow-up." in html.content.decode()
    response.refresh_from_db()
    assert response.follow_up_at is None

    done = client.post(
        f"/feedback/responses/{response.pk}/follow-up/",
        {"outcome": "Called back, refund confirmed, apologised"},
    )
    assert done.status_code == 302 and done["Location"] == f"/feedback/responses/{response.pk}/"
    response.refresh_from_db()
    assert response.follow_up_outcome == "Called back, refund confirmed, apologised"
    assert response.follow_up_by == agent.username
    flag = CareFlag.objects.get(pk=response.care_flag_id)
    assert flag.cleared_at is not None
    html = client.get(f"/feedback/responses/{response.pk}/").content.decode()
    assert "Followed up</strong> by" in html and "Update the outcome" in html


def test_an_answer_without_contact_permission_cannot_be_followed_up(client, staff, source):
    response = answer(make_survey(), 0, comment="Awful")
    assert response.customer is None and response.care_flag is None
    as_user(client, staff("service"))
    html = client.get(f"/feedback/responses/{response.pk}/").content.decode()
    assert "did not allow contact" in html and "Record the follow-up outcome" not in html
    post = client.post(f"/feedback/responses/{response.pk}/follow-up/", {"outcome": "Called"})
    assert post.status_code == 404
    assert client.get("/feedback/responses/999999/").status_code == 404


# --- Ideas ---------------------------------------------------------------------------------------
def test_anyone_submits_an_idea_and_supervisors_move_it(client, staff):
    seller = staff("sales")
    as_user(client, seller)
    done = client.post("/feedback/ideas/", {"title": "  Text customers when the lift is fixed "})
    assert done.status_code == 302
    idea = Idea.objects.get()
    assert (idea.title, idea.team.slug, idea.submitted_by) == (
        "Text customers when the lift is fixed",
        "sales",
        seller.username,
    )
    html = client.post("/feedback/ideas/", {"title": ""}).content.decode()
    assert "Give the idea a title." in html and Idea.objects.count() == 1

    boss = staff("supervisor")
    as_user(client, boss)
    # Declining needs a note: refused, with the reason, and nothing changes.
    row = client.post(f"/feedback/ideas/{idea.pk}/move/", {"status": "declined"}, **HX)
    assert "Say why it is declined" in row.content.decode()
    idea.refresh_from_db()
    assert idea.status == "submitted"
    back = client.post(
        f"/feedback/ideas/{idea.pk}/move/", {"status": "implemented", "next": "/feedback/ideas/"}
    )
    assert back["Location"] == f"/feedback/ideas/#idea-{idea.pk}"
    assert "was not moved" in client.get("/feedback/ideas/").content.decode()
    for status in ("reviewing", "implementing", "implemented"):
        client.post(f"/feedback/ideas/{idea.pk}/move/", {"status": status})
    idea.refresh_from_db()
    assert idea.status == "implemented" and idea.implemented_at is not None
    html = client.get("/feedback/ideas/").content.decode()
    assert "implemented in 0 days" in html
    assert re.search(r"<h2>Median time to implement</h2><div class=\"big\">0 d</div>", html)


def test_the_ideas_board_counts_and_measures(client, staff):
    boss = staff("supervisor")
    now = timezone.now()
    with clock(now - timedelta(days=30)):
        quick = idea_submit(actor=boss, title="Quick one")
        slow = idea_submit(actor=boss, title="Slow one")
        idea_submit(actor=boss, title="Still waiting")
        for idea in (quick, slow):
            idea = idea_move(actor=boss, idea=idea, status="reviewing")
            idea_move(actor=boss, idea=idea, status="implementing")
    with clock(now - timedelta(days=26)):
        idea_move(actor=boss, idea=quick, status="implemented")
    with clock(now - timedelta(days=10)):
        idea_move(actor=boss, idea=slow, status="implemented")
    idea_submit(actor=staff("service"), title="Brand new")
    html = as_user(client, staff("operations")).get("/feedback/ideas/").content.decode()
    stats = dict(re.findall(r'<h2>([^<]+)</h2><div class="big">([^<]+)</div>', html))
    assert stats["Open"] == "2" and stats["Implemented"] == "2"
    assert "2 submitted · 0 reviewing · 0 implementing" in html
    assert stats["Median time to implement"] == "12 d"  # 4 and 20 days
    assert stats["Implemented within 10 days"] == "33.3%"  # 1 of the 3 ideas older than 10 days
    assert 'Submitted <span class="n">2</span>' in html  # the counts by status
    html = client.get("/feedback/ideas/", {"status": "implemented"}).content.decode()
    assert "Quick one" in html and "Still waiting" not in html


# --- Surveys ---------------------------------------------------------------------------------
def test_surveys_show_their_invitations_and_why_some_were_not_sent(client, staff, source):
    survey = make_survey(name="After a technician visit")
    answer(survey, 9)
    sent_invitation(survey, reachable_customer())
    no_consent = reachable_customer(consent=False)
    held = survey_invite(survey=survey, customer=no_consent, trigger_key="manual:test:x")
    assert invitation_send(invitation_id=held.pk) == "suppressed"
    html = as_user(client, staff("marketing")).get("/feedback/surveys/").content.decode()
    row = re.search(r"After a technician visit(.*?)</tr>", html, re.S).group(1)
    numbers = re.findall(r'<td class="num">(\d+)', row)
    assert numbers == ["3", "0", "1", "1", "0"]  # invited, waiting, sent, answered, expired
    assert "50% answered" in row
    assert "<strong>1</strong>" in row and "no consent" in row.lower()


def test_a_supervisor_invites_a_pasted_list(client, staff, source):
    survey = make_survey(name="Technician visits")
    people = [reachable_customer() for _ in range(3)]
    boss = staff("supervisor")
    as_user(client, boss)
    pasted = f"{people[0].pk}, {people[1].pk}\n{people[2].pk} 999999"
    done = client.post(
        f"/feedback/surveys/{survey.pk}/invite/",
        {"customer_ids": pasted, "label": "Visits May"},
        follow=True,
    )
    html = done.content.decode()
    assert "3 of 3 customers invited to “Technician visits”" in html
    assert "Not found, so not invited: 999999." in html
    assert SurveyInvitation.objects.filter(survey=survey).count() == 3
    # The same list again invites nobody twice.
    again = client.post(
        f"/feedback/surveys/{survey.pk}/invite/",
        {"customer_ids": pasted, "label": "Visits May"},
        follow=True,
    ).content.decode()
    assert "0 of 3 customers invited" in again and "3 were already invited" in again
    assert SurveyInvitation.objects.filter(survey=survey).count() == 3
    # Bad input: said on the form, nothing written.
    for data, message in (
        ({"customer_ids": "abc", "label": "x"}, "Only customer ids (numbers), please."),
        ({"customer_ids": "999998", "label": "x"}, "None of these ids is a customer"),
        ({"customer_ids": f"{people[0].pk}", "label": " "}, "Name this list"),
    ):
        page = client.post(f"/feedback/surveys/{survey.pk}/invite/", data).content.decode()
        assert message in page
    assert SurveyInvitation.objects.filter(survey=survey).count() == 3
    assert client.get("/feedback/surveys/999999/invite/").status_code == 404


# --- The 360 panel -------------------------------------------------------------------------------
def test_the_customer_page_shows_the_feedback_they_let_us_keep(client, staff, source):
    survey = make_survey(name="After your case")
    customer = reachable_customer(name="Paula Panel")
    kept = answer(survey, 4, comment="Slow refund", contact=True, customer=customer)
    html = as_user(client, staff("sales")).get(f"/customers/{customer.pk}/").content.decode()
    assert 'aria-label="Feedback"' in html
    assert f'href="/feedback/responses/{kept.pk}/"' in html and "“Slow refund”" in html
    # An answer without contact permission is not kept against them: no panel.
    other = reachable_customer()
    answer(make_survey(name="Other"), 2, customer=other)
    html = client.get(f"/customers/{other.pk}/").content.decode()
    assert 'aria-label="Feedback"' not in html


def test_the_feedback_panel_costs_one_query(rf, staff, source):
    survey = make_survey()
    customer = reachable_customer()
    answer(survey, 9, contact=True, customer=customer)
    request = rf.get("/")
    request.user = staff("service")
    request.user.has_perm("feedback.view_response")  # the permission cache is warm
    with CaptureQueriesContext(connection) as ctx:
        title, template, context = customer_feedback_panel(request, customer)
    assert len(ctx) == 1 and title == "Feedback" and len(context["responses"]) == 1
    assert customer_feedback_panel in [entry[2] for entry in panels._providers]
    request.user = staff(None)
    assert customer_feedback_panel(request, customer) is None


# --- Query counts: 3 rows cost what 30 do -------------------------------------------------------
@pytest.fixture
def many(source, staff):
    """``many(n)``: n answers (with themes), mentions, ideas and surveys in all."""
    found = themes()
    boss = staff("supervisor")
    state = {"n": 0}

    def grow(n: int) -> None:
        while state["n"] < n:
            i = state["n"]
            survey = make_survey(name=f"Survey {i:02d}", kind=("nps", "csat", "ces")[i % 3])
            low, _high = survey.scale
            response = answer(survey, low, comment="Late and plastic in the tea bag", contact=True)
            call_note(response.customer, f"Call {i}: the parcel was late, staff kind")
            idea = idea_submit(actor=boss, title=f"Idea {i}")
            if i % 2:
                idea_move(actor=boss, idea=idea, status="reviewing")
            state["n"] += 1
        mentions_scan()
        assert Response.objects.filter(themes=found["delivery"]).count() == n

    return grow


@pytest.mark.parametrize(
    "url",
    [
        "/feedback/",
        "/feedback/?dimension=survey",
        "/feedback/scorecard.csv?dimension=survey",
        "/feedback/themes/",
        "/feedback/inbox/",
        "/feedback/responses/",
        "/feedback/ideas/",
        "/feedback/surveys/",
    ],
)
def test_list_pages_cost_the_same_for_3_rows_as_for_30(client, staff, many, url):
    many(3)
    as_user(client, staff("supervisor"))
    few = queries(client, url)
    many(30)
    assert queries(client, url) == few


def test_pinned_query_counts(client, staff, many):
    """session, user, user perms, group perms, the user's teams (navigation), then the page."""
    many(3)
    as_user(client, staff("supervisor"))
    assert queries(client, "/feedback/inbox/") == 7  # + mentions (customer, interaction), themes
    assert queries(client, "/feedback/inbox/", **HX) == 7  # the same rows, no page around
    assert queries(client, "/feedback/responses/") == 8  # + surveys, answers, their themes
    assert queries(client, "/feedback/ideas/") == 10  # + 4 for the board, the page of ideas
    assert queries(client, "/feedback/surveys/") == 7  # + surveys, one grouped count
    # + nothing for two periods' scores and the scorecard: shared for a minute (3 queries
    # when they are not in the cache)
    assert queries(client, "/feedback/") == 5
    assert queries(client, "/feedback/themes/") == 10  # + 3 for the trends, 2 for examples
