"""The default theme taxonomy and `manage.py feedback_themes_validate`: on a small export
always, and on ../shared's 2,777 real inbound customer-support tweets (docs/feedback.md,
"Themes on real posts")."""

import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from cxportal.models import AuditEvent
from feedback.models import Theme
from feedback.services.themes import DEFAULT_THEMES, themes_ensure_defaults
from feedback.theme_check import theme_check
from tests.support.services import SHARED_DIR, missing_service

pytestmark = pytest.mark.django_db

TWITTER = SHARED_DIR / "data" / "social" / "customer_support_twitter_5k.csv"
HEADER = ",tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id"
DELIVERY, BILLING = "Delivery & late orders", "Refunds & billing"
SERVICE = "Customer service & waiting"


def validate(path: Path, *args: str) -> str:
    out = io.StringIO()
    call_command("feedback_themes_validate", "--file", str(path), *args, stdout=out)
    return out.getvalue()


def active_themes() -> list[tuple[int, str, list[str]]]:
    return list(Theme.objects.filter(is_active=True).values_list("pk", "name", "keywords"))


def test_the_default_taxonomy_is_added_once_and_supervisors_edits_stay():
    assert 10 <= len(DEFAULT_THEMES) <= 15
    made = themes_ensure_defaults()
    assert sorted(t.name for t in made) == sorted(DEFAULT_THEMES)
    assert AuditEvent.objects.filter(action="theme.create").count() == len(DEFAULT_THEMES)
    delivery = Theme.objects.get(name=DELIVERY)
    delivery.keywords = ["parcel"]
    delivery.save()
    Theme.objects.filter(name=SERVICE).update(is_active=False)

    out = io.StringIO()
    call_command("feedback_themes_default", stdout=out)

    assert "0 of" in out.getvalue() and "all there already" in out.getvalue()
    assert Theme.objects.count() == len(DEFAULT_THEMES)
    assert Theme.objects.get(name=DELIVERY).keywords == ["parcel"]
    assert not Theme.objects.get(name=SERVICE).is_active


def test_validation_of_a_small_export_reports_every_number(tmp_path):
    themes_ensure_defaults()
    path = tmp_path / "posts.csv"
    path.write_text(
        HEADER + "\n"
        "0,1,AcmeHelp,False,Tue Oct 31 22:10:47 +0000 2017,@1001 Sorry about the parcel!,,\n"
        "1,2,1001,True,Tue Oct 31 22:11:45 +0000 2017,@AcmeHelp my parcel never arrived,,\n"
        "2,3,1002,True,Tue Oct 31 22:12:00 +0000 2017,@AcmeHelp charged twice. Awful,,\n"
        "3,4,1003,True,Tue Oct 31 22:13:00 +0000 2017,@AcmeHelp thank you so much!,,\n"
        "4,5,1004,True,Tue Oct 31 22:14:00 +0000 2017,@AcmeHelp zebra zebra,,\n"
        "5,6,1005,True,Tue Oct 31 22:15:00 +0000 2017,@AcmeHelp hello \r\rbroken,,\n"
    )

    check = theme_check(path, active_themes())
    output = validate(path, "--examples", "1")

    assert (check.rows, check.n, check.outbound) == (5, 4, 1)
    assert [p.themes for p in check.posts] == [
        (DELIVERY,),
        (BILLING,),
        ("Thanks & praise",),
        (),
    ]
    assert check.sentiment_counts == {"negative": 1, "neutral": 2, "positive": 1}
    assert "6 field(s), the header has 8" in check.malformed[0]
    assert "3 field(s), the header has 8" in check.malformed[1]
    assert "5 rows read, 2 malformed (reported, skipped)" in output
    assert "malformed row at posts.csv@" in output
    assert "Posts read: 4 inbound customer posts (1 outbound brand posts left out)." in output
    assert "negative 25.0% (≤ -0.05), neutral 50.0%, positive 25.0% (≥ 0.05)" in output
    assert "3 posts (75.0%) have at least one" in output
    assert "No theme: 1 posts (25.0%), of which 1 have 3 words or fewer" in output
    assert "Top words in posts with no theme: zebra (1)." in output
    assert "Fraud & security" in output  # every active theme is listed, found or not


def test_validation_refuses_a_missing_file_and_an_empty_taxonomy(tmp_path):
    path = tmp_path / "posts.csv"
    path.write_text(HEADER + "\n")
    with pytest.raises(CommandError, match="no such file"):
        validate(tmp_path / "missing.csv")
    with pytest.raises(CommandError, match="feedback_themes_default"):
        validate(path)


def test_themes_and_sentiment_on_2777_real_customer_posts():
    if not TWITTER.is_file():
        missing_service(f"{TWITTER} is absent (the shared data sets live beside the checkout)")
    themes_ensure_defaults()

    check = theme_check(TWITTER, active_themes())
    output = validate(TWITTER)

    # The file: 4,999 good rows (2,777 by customers), two malformed ones reported.
    assert (check.rows, check.n, check.outbound) == (4999, 2777, 2222)
    assert [m.split(": ", 1)[0] for m in check.malformed] == [
        "customer_support_twitter_5k.csv@426729",
        "customer_support_twitter_5k.csv@426795",
    ]
    assert "Posts read: 2,777 inbound customer posts" in output

    # Most posts get a theme; what is left is mostly chatter and one campaign.
    themed = check.n - len(check.unmatched)
    assert themed / check.n >= 0.60, f"only {themed} of {check.n} posts have a theme"
    assert check.unmatched_short >= 150  # "@brand Just did", a bare link: nothing to theme
    counts = check.theme_counts
    assert all(n >= 10 for n in counts.values()), counts  # no dead theme
    assert max(counts.values()) / check.n < 0.25, counts  # and none that takes everything
    top_unmatched = [word for word, _ in check.unmatched_words(10)]
    assert {"halloween", "boorito"} <= set(top_unmatched)  # a campaign to add a theme for

    # Known posts get the theme a person would give them.
    themes_of = {post.id: set(post.themes) for post in check.posts}
    assert DELIVERY in themes_of["3560"]  # "my order ... it's not arrived!"
    assert DELIVERY in themes_of["2565"]  # "Where is my order?"
    assert BILLING in themes_of["156"]  # "... charged my credit card twice"
    assert SERVICE in themes_of["3"]  # "sent several private messages and no one is responding"
    assert "Network & outage" in themes_of["5108"]  # "internet has been down"
    assert "Product quality & faults" in themes_of["2767"]  # "found a hair in food"
    assert "Account & login" in themes_of["5021"]  # "can't log into my account ... password"
    assert "Cancellations & subscriptions" in themes_of["1736"]  # "cancel my Prime membership"
    assert "Thanks & praise" in themes_of["155"]  # "Thank you ... for resolving my issue"

    # Customer-support tweets: a good share negative, but thanks are common too.
    shares = {k: v / check.n for k, v in check.sentiment_counts.items()}
    assert 0.20 <= shares["negative"] <= 0.40, shares
    assert 0.30 <= shares["positive"] <= 0.50, shares
    scores = {post.id: post.sentiment for post in check.posts}
    assert scores["3560"] < -0.05 and scores["155"] > 0.5
