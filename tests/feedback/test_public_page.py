"""The public survey page a customer opens from the link we sent: no login, no JavaScript
(a plain form POST, CSRF-protected), answered once; a used, expired or tampered link
explains itself; a score off the scale is said on the form and nothing is written. The
pages are private: never cached, never indexed, the link never sent to another site as a
referrer."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from feedback.models import Response, SurveyInvitation
from feedback.services.surveys import invitation_token
from tests.feedback.test_views import clock, make_survey, reachable_customer, sent_invitation

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser():
    """A customer's browser: no login, CSRF checked as in production."""
    return Client(enforce_csrf_checks=True)


@pytest.fixture
def link(source):
    """``link(kind)``: the path of a fresh invitation's survey page."""

    def make(kind: str = "nps", **fields) -> tuple[str, SurveyInvitation]:
        invitation = sent_invitation(make_survey(kind, **fields), reachable_customer())
        return f"/s/{invitation_token(invitation)}/", invitation

    return make


@pytest.fixture
def source(smtp):
    from tests.customers.test_outbound import mail_source

    return mail_source(smtp)


def csrf_of(html: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)


def assert_private(response) -> None:
    assert "no-store" in response["Cache-Control"]
    assert response["X-Robots-Tag"] == "noindex, nofollow"
    assert response["Referrer-Policy"] == "same-origin"  # the link never leaves the site
    if response.content:  # a page, not the redirect to the thank-you page
        assert '<meta name="robots" content="noindex, nofollow">' in response.content.decode()


def test_the_page_asks_the_question_without_login_script_or_staff_chrome(browser, link):
    path, invitation = link("nps")
    response = browser.get(path)
    assert response.status_code == 200
    assert_private(response)
    html = response.content.decode()
    assert "How likely are you to recommend us to a friend?" in html
    assert re.findall(r'<input type="radio" name="score" value="(\d+)"', html) == [
        str(n) for n in range(11)
    ]
    assert "0 = Not at all likely" in html and "10 = Extremely likely" in html
    assert 'name="comment"' in html and "You may contact me about my answer" in html
    assert '<form method="post" action="' + path + '"' in html
    assert "<script" not in html and "hx-" not in html
    assert "CX Portal" not in html and "Log out" not in html and "portal.css" not in html
    assert "disruption" not in html.lower()


@pytest.mark.parametrize(
    "kind,values,ends",
    [
        ("csat", 5, ("1 = Very dissatisfied", "5 = Very satisfied")),
        ("ces", 7, ("1 = Very difficult", "7 = Very easy")),
    ],
)
def test_each_kind_has_its_own_scale(browser, link, kind, values, ends):
    path, _ = link(kind)
    html = browser.get(path).content.decode()
    options = re.findall(r'<input type="radio" name="score" value="(\d+)"', html)
    assert options == [str(n) for n in range(1, values + 1)]
    assert all(end in html for end in ends)


def test_an_answer_by_plain_post_is_recorded_once_and_thanked(browser, link):
    path, invitation = link("nps")
    form = browser.get(path).content.decode()
    response = browser.post(
        path,
        {
            "csrfmiddlewaretoken": csrf_of(form),
            "score": "9",
            "comment": "Quick and friendly",
            "contact_allowed": "on",
        },
    )
    assert response.status_code == 302 and response["Location"] == f"{path}?thanks=1"
    assert_private(response)
    thanks = browser.get(response["Location"])
    assert thanks.status_code == 200 and "Thank you!" in thanks.content.decode()
    assert_private(thanks)
    answer = Response.objects.get()
    assert (answer.score, answer.category, answer.comment) == (9, "promoter", "Quick and friendly")
    assert answer.contact_allowed and answer.customer_id == invitation.customer_id
    assert answer.channel == "email"
    invitation.refresh_from_db()
    assert invitation.status == "answered"

    # The second time, the link explains itself; a second POST changes nothing.
    again = browser.get(path)
    assert again.status_code == 410
    assert "You have already answered this survey. Thank you!" in again.content.decode()
    assert_private(again)
    repost = browser.post(path, {"csrfmiddlewaretoken": csrf_of(form), "score": "0"})
    assert repost.status_code == 410 and "already answered" in repost.content.decode()
    assert Response.objects.count() == 1 and Response.objects.get().score == 9


def test_without_the_checkbox_the_answer_is_counted_without_the_name(browser, link):
    path, _ = link("csat")
    form = browser.get(path).content.decode()
    browser.post(path, {"csrfmiddlewaretoken": csrf_of(form), "score": "2"})
    answer = Response.objects.get()
    assert (answer.score, answer.category, answer.customer, answer.care_flag) == (
        2,
        "dissatisfied",
        None,
        None,
    )


@pytest.mark.parametrize(
    "data,message",
    [
        ({"score": "11"}, "Choose a score from 0 to 10."),
        ({"score": "-1"}, "Choose a score from 0 to 10."),
        ({"score": "ten"}, "Choose a score from 0 to 10."),
        ({}, "Choose a score from 0 to 10."),
        ({"score": "5", "comment": "bad\x00byte"}, "Null characters are not allowed."),
    ],
)
def test_a_wrong_answer_is_said_on_the_form_and_nothing_is_written(browser, link, data, message):
    path, invitation = link("nps")
    form = browser.get(path).content.decode()
    posted = {
        "csrfmiddlewaretoken": csrf_of(form),
        "comment": "Kept as typed",
        "contact_allowed": "on",
        **data,
    }
    response = browser.post(path, posted)
    assert response.status_code == 200
    assert_private(response)
    html = response.content.decode()
    assert f'role="alert">{message}</p>' in html
    if "comment" not in data:
        assert ">Kept as typed</textarea>" in html
    assert (
        'name="contact_allowed" id="id_contact_allowed" aria-describedby="contact-hint" checked'
        in html
    )
    assert Response.objects.count() == 0
    invitation.refresh_from_db()
    assert invitation.status == "sent"
    # Then answered properly, it counts.
    ok = browser.post(path, {"csrfmiddlewaretoken": csrf_of(html), "score": "10"})
    assert ok.status_code == 302 and Response.objects.get().score == 10


def test_the_chosen_score_stays_chosen_when_the_comment_is_refused(browser, link):
    path, _ = link("nps")
    form = browser.get(path).content.decode()
    html = browser.post(
        path, {"csrfmiddlewaretoken": csrf_of(form), "score": "7", "comment": "x\x00"}
    ).content.decode()
    assert '<input type="radio" name="score" value="7" checked>' in html
    assert html.count(" checked>") == 1


def test_an_expired_link_explains_itself(browser, source):
    survey = make_survey(valid_days=14)
    long_ago = timezone.now() - timedelta(days=20)
    with clock(long_ago):
        invitation = sent_invitation(survey, reachable_customer(), now=long_ago)
    path = f"/s/{invitation_token(invitation)}/"
    response = browser.get(path)
    assert response.status_code == 410
    assert_private(response)
    closed = (invitation.expires_at).strftime("%d %B %Y")
    assert f"This survey closed on {closed}. Thank you all the same." in response.content.decode()
    assert "<form" not in response.content.decode()
    post = browser.post(path, {"score": "9"})  # no CSRF token either: refused before anything
    assert post.status_code == 403
    assert Response.objects.count() == 0


def test_a_tampered_or_cut_off_link_explains_itself(browser, link):
    path, invitation = link("nps")
    token = invitation_token(invitation)
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    for bad in (f"/s/{tampered}/", f"/s/{token[:10]}/", "/s/nonsense/"):
        response = browser.get(bad)
        assert response.status_code == 404, bad
        assert_private(response)
        html = response.content.decode()
        assert "This link is not valid. It may have been cut off" in html
        assert "<form" not in html
    # A well-signed link to an invitation that is gone.
    from django.core import signing

    from feedback.services.surveys import TOKEN_SALT

    gone = signing.dumps({"i": 999999}, salt=TOKEN_SALT, compress=True)
    response = browser.get(f"/s/{gone}/")
    assert response.status_code == 410
    assert "This survey is no longer available." in response.content.decode()


def test_a_post_without_the_csrf_token_is_refused(browser, link):
    path, invitation = link("nps")
    response = browser.post(path, {"score": "9"})
    assert response.status_code == 403
    assert Response.objects.count() == 0
    invitation.refresh_from_db()
    assert invitation.status == "sent"


def test_thanks_is_only_shown_for_an_answered_link(browser, link):
    path, _ = link("nps")
    response = browser.get(f"{path}?thanks=1")  # not answered yet: the survey itself
    assert response.status_code == 200 and 'name="score"' in response.content.decode()


def test_only_get_and_post(link):
    path, _ = link("nps")
    assert Client().put(path).status_code == 405
