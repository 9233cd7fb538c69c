"""A campaign from draft to report: service review, audience with the gate in SQL, sending
in batches that never send twice, tracking, the service follow-up."""

import pytest
from django.core.exceptions import ValidationError

from campaigns.models import Delivery
from campaigns.services import (
    audience_build,
    campaign_launch,
    campaign_review,
    campaign_send_batch,
    campaign_submit,
    case_follow_up_send,
    delivery_clicked,
    delivery_convert,
    delivery_opened,
    track_token,
)
from cases.services import case_resolve
from customers.services.outbound import interaction_send
from cxportal.errors import StaleVersion
from tests.campaigns.factories import campaign, marketable
from tests.cases.factories import open_case
from tests.customers.test_outbound import mail_source

pytestmark = pytest.mark.django_db


@pytest.fixture
def marketer(staff):
    return staff("marketing")


@pytest.fixture
def reviewer(staff):
    return staff("service")


def approved(marketer, reviewer, **fields):
    c = campaign(marketer, **fields)
    c = campaign_submit(actor=marketer, campaign=c, version=c.version)
    return campaign_review(
        actor=reviewer, campaign=c, version=c.version, decision="approved", comment="Clear."
    )


def test_marketing_cannot_approve_its_own_campaign(marketer, reviewer, staff):
    c = campaign(marketer)
    c = campaign_submit(actor=marketer, campaign=c, version=c.version)
    with pytest.raises(ValidationError, match="Only the service team"):
        campaign_review(actor=marketer, campaign=c, version=c.version, decision="approved")
    c = campaign_review(
        actor=reviewer,
        campaign=c,
        version=c.version,
        decision="sent_back",
        comment="“Free upgrade” will confuse customers on legacy plans.",
    )
    assert c.status == "draft"
    with pytest.raises(ValidationError, match="cannot be"):
        campaign_launch(actor=marketer, campaign=c, version=c.version)
    with pytest.raises(StaleVersion):
        campaign_submit(actor=marketer, campaign=c, version=1)


def test_the_audience_is_built_with_the_gate_and_sent_once(
    marketer, reviewer, smtp, django_capture_on_commit_callbacks
):
    mail_source(smtp)
    ok = [marketable(marketer, n) for n in range(4)]
    no_consent = marketable(marketer, 10, consent=False)
    complaining = marketable(marketer, 11)
    open_case(actor=reviewer, customer=complaining, category="complaint")
    marketable(marketer, 12, region="South")  # not in the segment
    c = approved(marketer, reviewer)
    with django_capture_on_commit_callbacks(execute=False):
        c = campaign_launch(actor=marketer, campaign=c, version=c.version)
    assert (c.status, c.audience_size) == ("sending", 6)
    assert audience_build(campaign=c) == 6  # repeating adds nothing
    suppressed = dict(
        Delivery.objects.filter(status="suppressed").values_list("customer_id", "reason")
    )
    assert suppressed == {no_consent.pk: "no_consent", complaining.pk: "open_case"}
    assert set(Delivery.objects.values_list("variant", flat=True)) <= {"A", "B"}

    # A customer who complains after launch is skipped at send time, with the reason.
    open_case(actor=reviewer, customer=ok[3], category="complaint")
    with django_capture_on_commit_callbacks(execute=False):
        assert campaign_send_batch(campaign_id=c.pk, limit=2) == 2
        assert campaign_send_batch(campaign_id=c.pk, limit=2) == 2
        assert campaign_send_batch(campaign_id=c.pk, limit=2) == 0  # a redelivered batch
    late = Delivery.objects.get(customer=ok[3])
    assert (late.status, late.reason, late.reason_at_send) == ("suppressed", "open_case", True)
    sent = Delivery.objects.filter(status="sent")
    assert sent.count() == 3
    c.refresh_from_db()
    assert c.status == "sent"
    for delivery in sent:
        assert interaction_send(interaction_id=delivery.interaction_id) == "sent"
        assert interaction_send(interaction_id=delivery.interaction_id) == "sent"
    assert len(smtp.messages) == 3
    mail = smtp.messages[0]
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert "/t/c/" in text and "brand.example" not in text.split("/t/c/")[0][-30:]
    assert "/t/o/" in html and "<img" in html
    assert mail["Subject"].startswith(("Spring, Mia!", "Fresh for spring"))


def test_tracking_opens_clicks_and_conversions(marketer, reviewer, smtp):
    mail_source(smtp)
    customer = marketable(marketer, 1)
    c = approved(marketer, reviewer)
    campaign_launch(actor=marketer, campaign=c, version=c.version)
    campaign_send_batch(campaign_id=c.pk)
    delivery = Delivery.objects.get(customer=customer)
    assert delivery_opened(token=track_token(delivery.pk)) is True
    assert delivery_opened(token=track_token(delivery.pk)) is False  # first open counts
    url = "https://brand.example/spring"
    assert delivery_clicked(token=track_token(delivery.pk, url)) == url
    assert delivery_clicked(token="forged") is None
    delivery = delivery_convert(actor=None, delivery=delivery, value="49.90")
    assert str(delivery.conversion_value) == "49.90" and delivery.clicked_at is not None
    with pytest.raises(ValidationError):
        delivery_convert(actor=None, delivery=delivery, value="lots")


def test_a_resolved_case_follow_up_carries_content_only_when_the_gate_allows(
    marketer, reviewer, smtp
):
    mail_source(smtp)
    approved(
        marketer,
        reviewer,
        name="Loyalty",
        eligible_for_service_follow_up=True,
        follow_up_text="Members get 10% off their next order.",
    )
    happy = marketable(marketer, 1)
    case = open_case(actor=reviewer, customer=happy, origin_channel="email")
    case_resolve(actor=reviewer, case=case, version=case.version)
    delivery = case_follow_up_send(case_id=case.pk)
    assert delivery is not None and delivery.via_follow_up
    assert "10% off" in delivery.interaction.body
    assert case_follow_up_send(case_id=case.pk) is None  # once per customer and campaign

    unhappy = marketable(marketer, 2)
    complaint = open_case(actor=reviewer, customer=unhappy, category="complaint")
    case_resolve(actor=reviewer, case=complaint, version=complaint.version)
    assert case_follow_up_send(case_id=complaint.pk) is None  # a recent complaint: no pitch
    assert not Delivery.objects.filter(customer=unhappy).exists()


def test_the_audience_is_the_one_the_reviewer_saw(marketer, reviewer):
    from campaigns.services import segment_save

    north = marketable(marketer, 1)
    marketable(marketer, 2, region="South")
    c = campaign(marketer)
    c = campaign_submit(actor=marketer, campaign=c, version=c.version)
    # The segment is widened after the review started: the campaign keeps its audience.
    segment_save(
        actor=marketer,
        name=c.segment.name,
        rules={"all": [{"field": "region", "op": "in", "value": ["North", "South"]}]},
        team=c.team,
        segment=c.segment,
    )
    c = campaign_review(actor=reviewer, campaign=c, version=c.version, decision="approved")
    c = campaign_launch(actor=marketer, campaign=c, version=c.version)
    assert list(Delivery.objects.values_list("customer_id", flat=True)) == [north.pk]


def test_three_variants_share_the_audience_evenly_by_default(marketer):
    c = campaign(
        marketer,
        variants=[{"subject": f"S{n}", "body": f"Body {n}"} for n in range(3)],
    )
    assert [v.weight for v in c.variants.order_by("key")] == [34, 33, 33]


@pytest.mark.django_db(transaction=True)
def test_an_empty_batch_does_not_call_it_sent_while_another_worker_holds_the_last_rows(
    marketer, reviewer, smtp, django_capture_on_commit_callbacks
):
    """Batches take their rows with SKIP LOCKED: a batch that finds none free must not mark
    the campaign sent while another batch (another worker) still holds queued rows, or those
    would stay queued for ever on a "sent" campaign if that worker then died."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("row locks and SKIP LOCKED are PostgreSQL's; SQLite runs one writer")
    import psycopg

    mail_source(smtp)
    for n in range(2):
        marketable(marketer, n)
    c = approved(marketer, reviewer)
    with django_capture_on_commit_callbacks(execute=False):
        c = campaign_launch(actor=marketer, campaign=c, version=c.version)
    queued = list(Delivery.objects.filter(status="queued").values_list("pk", flat=True))
    assert len(queued) == 2
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    other_worker = psycopg.connect(**params)
    try:
        other_worker.execute(
            "SELECT id FROM campaigns_delivery WHERE id = ANY(%s) FOR UPDATE", [queued]
        )
        with django_capture_on_commit_callbacks(execute=False):
            assert campaign_send_batch(campaign_id=c.pk) == 0
        c.refresh_from_db()
        assert c.status == "sending"
    finally:
        other_worker.rollback()  # that worker dies: its rows go back to the queue
        other_worker.close()
    with django_capture_on_commit_callbacks(execute=False):
        assert campaign_send_batch(campaign_id=c.pk) == 2
        assert campaign_send_batch(campaign_id=c.pk) == 0
    c.refresh_from_db()
    assert c.status == "sent"


def test_a_follow_up_lost_with_the_broker_is_decided_by_the_sweeper_once(
    marketer, reviewer, smtp, broker, django_capture_on_commit_callbacks
):
    """The follow-up task lives only in the broker: a case resolved while it was away is
    handed over again by the sweep, and whatever runs twice sends once."""
    from datetime import timedelta

    from django.utils import timezone

    from campaigns.models import FollowUp
    from campaigns.services import case_follow_ups_sweep
    from cases.models import Case

    mail_source(smtp)
    approved(
        marketer,
        reviewer,
        name="Loyalty",
        eligible_for_service_follow_up=True,
        follow_up_text="Members get 10% off their next order.",
    )
    case = open_case(actor=reviewer, customer=marketable(marketer, 1), origin_channel="email")
    unhappy = open_case(actor=reviewer, customer=marketable(marketer, 2), category="complaint")
    with django_capture_on_commit_callbacks(execute=False):  # the nudges never arrive
        case_resolve(actor=reviewer, case=case, version=case.version)
        case_resolve(actor=reviewer, case=unhappy, version=unhappy.version)
    assert case_follow_ups_sweep() == 0  # just resolved: its task may still be on the way
    Case.objects.filter(pk__in=[case.pk, unhappy.pk]).update(
        resolved_at=timezone.now() - timedelta(minutes=10)
    )
    assert case_follow_ups_sweep() == 2
    assert {args[0] for name, args in broker() if name == "outbound.case_follow_up"} == {
        case.pk,
        unhappy.pk,
    }
    delivery = case_follow_up_send(case_id=case.pk)
    assert delivery is not None and "10% off" in delivery.interaction.body
    assert case_follow_up_send(case_id=case.pk) is None  # a redelivered task: nothing more
    assert case_follow_up_send(case_id=unhappy.pk) is None  # the gate: decided, no pitch
    assert dict(FollowUp.objects.values_list("case_id", "delivery_id")) == {
        case.pk: delivery.pk,
        unhappy.pk: None,
    }
    assert case_follow_ups_sweep() == 0
    assert Delivery.objects.filter(via_follow_up=True).count() == 1
