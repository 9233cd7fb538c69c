"""`manage.py replay_social`: a social export through the real social feed adapter and the
inbox — on a small file always, and on ../shared's 5,000 real customer-support tweets."""

import csv
import io
import re
import time
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from customers.models import ChannelSource, ContactPoint, Customer, InboundEvent, Interaction
from tests.support.services import SHARED_DIR, missing_service

pytestmark = pytest.mark.django_db

TWITTER = SHARED_DIR / "data" / "social" / "customer_support_twitter_5k.csv"
COLUMNS = ",tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id"
MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9_]{1,50})")


def replay(path: Path, *args: str) -> str:
    out = io.StringIO()
    call_command("replay_social", str(path), "--no-progress", *args, stdout=out)
    return out.getvalue()


def totals() -> tuple[int, ...]:
    return (
        Interaction.objects.count(),
        InboundEvent.objects.count(),
        Customer.objects.count(),
        ContactPoint.objects.count(),
        Interaction.objects.filter(in_reply_to__isnull=False).count(),
    )


def test_replay_of_a_small_export(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(
        COLUMNS + "\n"
        "0,1,AcmeHelp,False,Tue Oct 31 22:10:47 +0000 2017,@1001 Sorry! DM us.,2,3.0\n"
        "1,2,1001,True,Tue Oct 31 22:11:45 +0000 2017,@AcmeHelp done,,1.0\n"
        "2,3,1001,True,Tue Oct 31 22:08:27 +0000 2017,@AcmeHelp my order is late,1,\n"
        "3,4,1002,True,Tue Oct 31 22:20:00 +0000 2017,@AcmeHelp hello \r\rbroken,5,\n"
    )

    output = replay(path)

    assert "Created the channel source 'twitter-replay'" in output
    assert "5 post(s) read, 5 new; the channel now has 3 on timelines, 2 failed." in output
    assert "the row has 6 field(s), the header has 8" in output
    assert "the row has 3 field(s), the header has 8" in output
    source = ChannelSource.objects.get(slug="twitter-replay")
    assert (source.kind, source.is_active, source.settings["brand_handles"]) == (
        "social_feed",
        False,
        ["AcmeHelp"],
    )
    thread = {i.external_id: i for i in Interaction.objects.select_related("in_reply_to")}
    assert {i.customer.contact_points.get().normalized for i in thread.values()} == {"twitter:1001"}
    assert thread["twitter:1"].direction == "outbound"
    assert thread["twitter:1"].in_reply_to == thread["twitter:3"]
    assert thread["twitter:2"].in_reply_to == thread["twitter:1"]
    assert thread["twitter:1"].recorded_by == "channel:twitter-replay"
    before = totals()

    assert "5 post(s) read, 0 new" in replay(path)
    assert totals() == before


def test_replay_refuses_what_it_cannot_read(tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        replay(tmp_path / "missing.csv")
    (tmp_path / "export.xlsx").write_bytes(b"PK")
    with pytest.raises(CommandError, match=r"\.csv, \.jsonl or \.ndjson"):
        replay(tmp_path / "export.xlsx")


def expected_from(path: Path) -> dict:
    """What the replay must produce, worked out from the file with the csv module alone."""
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header = rows[0]
    good = [dict(zip(header, row, strict=True)) for row in rows[1:] if len(row) == len(header)]
    malformed = [row for row in rows[1:] if row and len(row) != len(header)]
    brands = {r["author_id"] for r in good if not r["author_id"].isdigit()}
    answered = {}  # brand post id -> the customer it answers (first @mention not a brand)
    for r in good:
        if r["author_id"] in brands:
            mentions = [m for m in MENTION.findall(r["text"]) if m not in brands]
            if mentions:
                answered[r["tweet_id"]] = mentions[0]
    landed = {
        r["tweet_id"]: r for r in good if r["author_id"] not in brands or r["tweet_id"] in answered
    }
    parent_of = {
        tid: r["in_response_to_tweet_id"].removesuffix(".0")
        for tid, r in landed.items()
        if r["in_response_to_tweet_id"]
    }
    return {
        "good": len(good),
        "malformed": len(malformed),
        "interactions": len(landed),
        "inbound": sum(1 for r in landed.values() if r["author_id"] not in brands),
        "customers": {r["author_id"] for r in good if r["author_id"].isdigit()}
        | set(answered.values()),
        "customer_of": {
            f"twitter:{tid}": answered.get(tid, r["author_id"]).lower() for tid, r in landed.items()
        },
        "links": {f"twitter:{c}": f"twitter:{p}" for c, p in parent_of.items() if p in landed},
        "replies_to_missing": sum(1 for p in parent_of.values() if p not in landed),
    }


def test_replay_of_5000_real_customer_support_tweets():
    if not TWITTER.is_file():
        missing_service(f"{TWITTER} is absent (the shared data sets live beside the checkout)")
    expected = expected_from(TWITTER)
    # The file as it is: 4,999 well-formed rows; one post's text holds bare carriage
    # returns, which split it into two malformed rows (6 and 3 fields) and a blank line.
    assert (expected["good"], expected["malformed"]) == (4999, 2)

    started = time.monotonic()
    output = replay(TWITTER)
    elapsed = time.monotonic() - started

    assert elapsed < 45, f"replaying 5,000 posts took {elapsed:.1f}s"
    events = InboundEvent.objects.filter(source__slug="twitter-replay")
    assert events.count() == expected["good"] + expected["malformed"]
    assert not events.filter(status="pending").exists()
    malformed = list(
        events.filter(provider_event_id__startswith="malformed:").values_list("error", flat=True)
    )
    at = "Malformed row at customer_support_twitter_5k.csv"
    assert sorted(malformed) == [
        f"{at}@426729: the row has 6 field(s), the header has 8.",
        f"{at}@426795: the row has 3 field(s), the header has 8.",
    ]
    # Brand broadcasts (a brand posting to no customer) are on no timeline, with the reason.
    broadcasts = events.filter(status="ignored")
    assert not events.filter(status="failed").exclude(provider_event_id__startswith="malformed:")
    assert broadcasts.count() == expected["good"] - expected["interactions"] == 19
    assert all("brand broadcast" in error for error in broadcasts.values_list("error", flat=True))
    assert f"{expected['good'] + 2} post(s) read" in output

    # Every other post landed once, on the right customer.
    assert Interaction.objects.count() == expected["interactions"] == 4980
    assert Interaction.objects.filter(direction="inbound").count() == expected["inbound"] == 2777
    handles = dict(
        ContactPoint.objects.filter(kind="social", network="twitter").values_list(
            "customer_id", "value"
        )
    )
    assert set(handles.values()) == expected["customers"]
    assert Customer.objects.count() == len(expected["customers"])
    customer_of = {
        external_id: handles[customer_id].lower()
        for external_id, customer_id in Interaction.objects.values_list(
            "external_id", "customer_id"
        )
    }
    assert customer_of == expected["customer_of"]

    # Replies are threaded with what they answer, exactly when that is in the file.
    links = dict(
        Interaction.objects.filter(in_reply_to__isnull=False).values_list(
            "external_id", "in_reply_to__external_id"
        )
    )
    assert links == expected["links"]
    assert len(links) == 3655
    assert (
        Interaction.objects.filter(
            in_reply_to__isnull=True, in_reply_to_external_id__isnull=False
        ).count()
        == expected["replies_to_missing"]
    )

    before = totals()
    assert "0 new" in replay(TWITTER)
    assert totals() == before
