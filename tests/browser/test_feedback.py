"""Feedback in a real browser: a customer answers a survey on a phone with the keyboard (no
login; first without a score, which the page asks for), then staff read the scorecard,
the themes rising this week, the feedback inbox, a detractor's answer and the ideas board.
Screenshots of each go to var/screenshots/ (feedback-*.png)."""

import random
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from feedback.models import Idea, Mention, Response, Theme
from feedback.services.ideas import idea_move, idea_submit
from feedback.services.mentions import mentions_scan
from feedback.services.surveys import invitation_send, invitation_token, survey_invite
from feedback.views import week_starts
from tests.cases.factories import open_case
from tests.customers.channel_support import readable_broker
from tests.customers.test_outbound import mail_source
from tests.feedback.test_views import (
    answer,
    call_note,
    clock,
    make_survey,
    reachable_customer,
    sent_invitation,
)
from tests.support.mail_servers import smtp_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.real_services]

PHONE = {"width": 390, "height": 844}
REGIONS = ["London", "North West", "Scotland", "Wales"]
GOOD = [
    "Quick and friendly, thank you",
    "The engineer was helpful and kind",
    "Sorted on the first call",
    "",
]
BAD = [
    "The parcel was late again and nobody told me",
    "Found plastic in my tea bag, not happy",
    "Waited 40 minutes on hold",
    "",
]


def taxonomy() -> None:
    for name, words in {
        "Delivery": ["late", "parcel", "never arrived", "delivery"],
        "Plastic in tea bags": ["plastic", "tea bag"],
        "Waiting on hold": ["on hold", "waited", "queue"],
        "Helpful staff": ["helpful", "kind", "friendly"],
        "App problems": ["app", "log in", "crash"],
    }.items():
        Theme.objects.create(name=name, keywords=words)


def feedback_history(weeks: int = 10) -> None:
    """Answers to three surveys over the past weeks in four regions (NPS slowly rising),
    call notes with a spike about plastic in tea bags this week, and staff ideas."""
    rng = random.Random(7)
    nps = make_survey("nps", name="After your case", open_case_for_detractors=False)
    csat = make_survey("csat", name="Delivery", team="operations")
    ces = make_survey("ces", name="Technician visit")
    now = timezone.now()
    starts = week_starts(weeks, now)
    for i, start in enumerate(starts):
        for region in REGIONS:
            for _ in range(3):
                hours = rng.randint(1, 24 * 6)
                when = min(start + timedelta(hours=hours), now - timedelta(minutes=5))
                good = rng.random() < 0.45 + i * 0.03 + (0.1 if region == "London" else 0)
                score = rng.choice([9, 10]) if good else rng.choice([2, 5, 6, 7, 8])
                comment = rng.choice(GOOD if good else BAD)
                answer(nps, score, comment=comment, when=when, region=region)
            when = min(start + timedelta(hours=rng.randint(1, 140)), now - timedelta(minutes=5))
            answer(csat, rng.choice([2, 4, 5, 5]), when=when, region=region)
            if rng.random() < 0.5:
                answer(ces, rng.choice([3, 5, 6, 7]), when=when, region=region)
    caller = reachable_customer(name="Grace Hopper", region="London")
    for week in (1, 2, 3, 4):
        call_note(caller, "Parcel was late, driver left no card", when=now - timedelta(weeks=week))
        call_note(
            caller,
            "Waited ages on hold before someone answered",
            when=now - timedelta(weeks=week, days=2),
        )
    for i, text in enumerate(
        [
            "Found a piece of plastic in my tea bag this morning. Disgusting.",
            "Second box with plastic in the tea bags, what is going on?",
            "My daughter found plastic in a tea bag, please check your factory",
            "Plastic bits in tea bag again, I want a refund",
            "The engineer was really helpful and kind, thank you",
        ]
    ):
        call_note(
            reachable_customer(region=REGIONS[i % 4]), text, when=now - timedelta(hours=3 + 9 * i)
        )
    mentions_scan(now=now)
    boss = make_boss_ideas(now)
    assert Mention.objects.count() == 13 and Idea.objects.count() == 6 and boss


def store_visits(survey) -> None:
    """A manual list: some sent, some held back (no consent, surveyed recently, an open
    case), some answered."""
    for _ in range(4):
        sent_invitation(survey, reachable_customer())
    answer(survey, 5)
    answer(survey, 2)
    recently = reachable_customer()
    sent_invitation(make_survey("nps", name="Welcome"), recently)
    open_case(customer=(helped := reachable_customer()), subject="Broken kettle")
    for n, customer in enumerate([reachable_customer(consent=False), recently, helped]):
        held = survey_invite(survey=survey, customer=customer, trigger_key=f"manual:Stores:{n}")
        assert invitation_send(invitation_id=held.pk) == "suppressed"


def make_boss_ideas(now):
    from tests.cxportal.factories import UserFactory

    boss = UserFactory(team="supervisor", first_name="Sam", last_name="Supervisor")
    agent = UserFactory(team="service", first_name="Ali", last_name="Agent")
    with clock(now - timedelta(days=40)):
        quick = idea_submit(actor=agent, title="Text customers when a lift is fixed")
        slow = idea_submit(
            actor=agent,
            title="Show the parcel tracking link on the case page",
            description="Customers ask for it on nearly every delivery call.",
        )
        idea_submit(actor=boss, title="A quiet hour for calls from vulnerable customers")
    for idea, days in ((quick, 34), (slow, 18)):
        with clock(now - timedelta(days=days + 2)):
            idea = idea_move(actor=boss, idea=idea, status="reviewing")
            idea = idea_move(actor=boss, idea=idea, status="implementing")
        with clock(now - timedelta(days=days)):
            idea_move(actor=boss, idea=idea, status="implemented")
    declined = idea_submit(actor=agent, title="Free tea for every complaint")
    idea_move(actor=boss, idea=declined, status="declined", note="Lovely, but not this year.")
    idea_submit(actor=agent, title="Let customers choose a delivery slot in the app")
    idea_submit(actor=boss, title="Call back detractors within a day")
    return boss


def test_a_customer_answers_on_a_phone_with_the_keyboard(browser, live_server, tmp_path):
    with smtp_server() as smtp, readable_broker(tmp_path):
        mail_source(smtp)
        survey = make_survey("nps", name="After your case")
        invitation = sent_invitation(survey, reachable_customer(name="Ada Lovelace"))
        assert len(smtp.messages) == 0  # the message is queued; the link is in its body
        path = f"/s/{invitation_token(invitation)}/"
    context = browser.new_context(
        base_url=live_server.url,
        viewport=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        java_script_enabled=False,  # the page needs none
    )
    page = context.new_page()
    try:
        page.goto(path)
        expect(page.locator("h1")).to_have_text("How likely are you to recommend us to a friend?")
        from tests.browser.conftest import SCREENSHOTS

        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "feedback-public-phone.png"), full_page=True)

        # Sent with no score: the page asks for one, and keeps the comment.
        page.keyboard.press("Tab")  # the scale (no score chosen yet)
        page.keyboard.press("Tab")  # the comment
        page.keyboard.type("The parcel was late but the agent was kind.")
        page.keyboard.press("Tab")  # "You may contact me"
        page.keyboard.press("Space")
        page.keyboard.press("Tab")  # Send
        page.keyboard.press("Enter")
        expect(page.locator("#score-error")).to_have_text("Choose a score from 0 to 10.")
        expect(page.locator("#id_comment")).to_have_value(
            "The parcel was late but the agent was kind."
        )
        expect(page.locator("#id_contact_allowed")).to_be_checked()
        assert Response.objects.count() == 0
        page.screenshot(path=str(SCREENSHOTS / "feedback-public-phone-error.png"), full_page=True)

        # With the keyboard: Tab to the scale, arrows to 7, then send.
        page.keyboard.press("Tab")
        page.keyboard.press("ArrowRight")  # 0 → 1 (arrow keys choose within the group)
        for _ in range(6):
            page.keyboard.press("ArrowRight")
        expect(page.locator("input[name=score][value='7']")).to_be_checked()
        expect(page.locator("input[name=score][value='7']")).to_be_focused()
        page.screenshot(path=str(SCREENSHOTS / "feedback-public-phone-chosen.png"), full_page=True)
        page.focus("#id_contact_allowed")
        page.keyboard.press("Tab")
        page.keyboard.press("Enter")
        expect(page.locator("h1")).to_have_text("Thank you!")
        page.screenshot(path=str(SCREENSHOTS / "feedback-public-phone-thanks.png"), full_page=True)
        answer = Response.objects.get()
        assert (answer.score, answer.category, answer.contact_allowed) == (7, "passive", True)
        assert answer.comment == "The parcel was late but the agent was kind."

        page.goto(path)  # the link again
        expect(page.locator("h1")).to_have_text("You have already answered this survey. Thank you!")
    finally:
        context.close()


def test_staff_read_the_scorecard_themes_inbox_and_ideas(page, login, shot, tmp_path):
    with smtp_server() as smtp, readable_broker(tmp_path):
        mail_source(smtp)
        Theme.objects.all().delete()
        taxonomy()
        feedback_history()
        detractor = answer(
            make_survey("nps", name="After your case (detractors)", open_case_for_detractors=True),
            2,
            comment="Third call about the same late parcel. Nobody calls back.",
            contact=True,
            region="Wales",
        )
        store_visits(make_survey("csat", name="Store visit"))
    from tests.cxportal.factories import UserFactory

    boss = UserFactory(team="supervisor")
    login(boss.username)
    page.wait_for_url("**/home/supervisor/")
    page.get_by_role("link", name="Feedback", exact=True).click()
    page.wait_for_url("**/feedback/")
    expect(page.locator("h1")).to_have_text("Feedback scorecard")
    expect(page.locator(".tile").first).to_contain_text("n = ")
    page.select_option("#id_dimension", "region")
    page.get_by_role("button", name="Show").click()
    expect(page.locator(".legend-groups")).to_contain_text("London")
    shot("feedback-scorecard")

    page.get_by_role("link", name="Themes", exact=True).click()
    expect(page.locator(".riser").first).to_contain_text("Plastic in tea bags")
    shot("feedback-themes")

    page.get_by_role("link", name="Inbox", exact=True).click()
    expect(page.locator("#mention-rows")).to_contain_text("plastic")
    first = page.locator("#mention-rows tr").first
    first.get_by_role("button", name="Mark reviewed").click()  # htmx swaps the row
    expect(first.locator(".done-tag")).to_have_text("Reviewed")
    shot("feedback-inbox")

    page.get_by_role("link", name="Answers", exact=True).click()
    expect(page.locator(f"#response-{detractor.pk}")).to_have_class("low")
    shot("feedback-responses")
    page.locator(f"#response-{detractor.pk} a").first.click()
    expect(page.locator("blockquote.comment")).to_contain_text("Nobody calls back")
    page.fill("#id_outcome", "Called her back, parcel re-sent by express, apologised.")
    page.get_by_role("button", name="Record outcome").click()
    expect(page.locator(".messages")).to_contain_text("Follow-up recorded")
    shot("feedback-response")
    page.get_by_role("link", name="← Survey answers").click()

    page.get_by_role("link", name="Ideas", exact=True).click()
    expect(page.locator(".board")).to_contain_text("Implemented within 10 days")
    idea = page.locator("li.idea", has_text="Let customers choose a delivery slot")
    idea.locator("select[name=status]").select_option("declined")
    idea.get_by_role("button", name="Move").click()  # no note: refused, in place
    expect(page.locator("li.idea .row-error")).to_contain_text("Say why it is declined")
    shot("feedback-ideas")

    page.get_by_role("link", name="Surveys", exact=True).click()
    expect(page.locator("table.surveys")).to_contain_text("Store visit")
    shot("feedback-surveys")
