"""The social webhook adapter: subscription handshake, X-Hub-Signature-256, posts and replies
on the right customer's timeline."""

import json

import pytest

from customers.channels import adapter_for
from customers.models import ContactPoint, InboundEvent, Interaction
from customers.services import inbound_event_process
from tests.customers.channel_support import hub_headers, post_json, social_source

pytestmark = pytest.mark.django_db


def url(source) -> str:
    return f"/webhooks/{source.slug}/"


def post(n: int, **fields) -> dict:
    entry = {
        "id": str(1000 + n),
        "author": "@Jane_Doe",
        "author_name": "Jane Doe",
        "text": f"@BrandCare my parcel is late ({n})",
        "created_at": "2026-05-01T09:30:00+01:00",
    }
    entry.update(fields)
    return entry


def deliver(client, source, *entries, sign=hub_headers):
    return post_json(client, url(source), {"entry": list(entries)}, sign=sign)


def test_handshake_answers_the_challenge_when_the_token_matches(client):
    source = social_source()
    query = {"hub.mode": "subscribe", "hub.verify_token": "let-me-in", "hub.challenge": "c-123"}
    response = client.get(url(source), query)
    assert response.status_code == 200
    assert response.content == b"c-123"
    assert response["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize(
    "query",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "c"},
        {"hub.mode": "unsubscribe", "hub.verify_token": "let-me-in", "hub.challenge": "c"},
        {"hub.mode": "subscribe", "hub.verify_token": "let-me-in"},
        {},
    ],
)
def test_handshake_refuses_otherwise(client, query):
    response = client.get(url(social_source()), query)
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"


def test_handshake_without_a_configured_token_is_refused(client):
    source = social_source(settings={"verify_token": ""})
    query = {"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "c"}
    assert client.get(url(source), query).status_code == 403


def test_signed_delivery_is_stored_with_network_prefixed_ids(client):
    source = social_source()
    response = deliver(client, source, post(1), post(2, network="facebook"))
    assert response.status_code == 202
    assert response.json() == {"accepted": 2, "duplicates": 0}
    assert sorted(InboundEvent.objects.values_list("provider_event_id", flat=True)) == [
        "facebook:1002",
        "twitter:1001",
    ]
    assert deliver(client, source, post(1)).json() == {"accepted": 0, "duplicates": 1}


def test_unsigned_tampered_and_wrongly_signed_deliveries_store_nothing(client):
    source = social_source()
    assert deliver(client, source, post(1), sign=None).status_code == 401
    body = json.dumps({"entry": [post(1)]}).encode()
    tampered = client.post(
        url(source),
        body.replace(b"late", b"lost"),
        content_type="application/json",
        **hub_headers(body),
    )
    assert tampered.status_code == 403 and tampered.json()["code"] == "bad_signature"
    wrong = deliver(client, source, post(1), sign=lambda b: hub_headers(b, secret="nope"))
    assert wrong.status_code == 403
    assert not InboundEvent.objects.exists()


@pytest.mark.parametrize(
    "payload", [{"entries": []}, [post(1)], {"entry": [post(1, id=None)]}, {"entry": ["x"]}]
)
def test_malformed_delivery_is_400(client, payload):
    response = post_json(client, url(social_source()), payload, sign=hub_headers)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert not InboundEvent.objects.exists()


def test_a_post_and_the_brand_reply_thread_on_the_customer_timeline(client):
    source = social_source()
    deliver(
        client,
        source,
        post(1),
        post(
            2,
            author="brandcare",
            text="@Jane_Doe sorry, we are on it",
            in_reply_to="1001",
            reply_to_author="Jane_Doe",
        ),
        post(3, in_reply_to=1002, text="thanks"),
    )
    for event in InboundEvent.objects.order_by("id"):
        assert inbound_event_process(event_id=event.pk).status == "processed", event.error
    question, answer, thanks = Interaction.objects.order_by("external_id")
    assert question.external_id == "twitter:1001" and question.direction == "inbound"
    assert answer.direction == "outbound" and answer.in_reply_to == question
    assert thanks.in_reply_to == answer
    assert {question.customer_id, answer.customer_id, thanks.customer_id} == {question.customer_id}
    customer = question.customer
    assert customer.display_name == "Jane Doe"
    assert ContactPoint.objects.get().normalized == "twitter:jane_doe"


def test_a_brand_post_that_answers_nobody_fails_with_the_reason():
    source = social_source()
    adapter = adapter_for(source)
    from customers.channels.base import EventUnusable

    with pytest.raises(EventUnusable, match="reply_to_author"):
        adapter.to_interaction({**post(1, author="@BrandCare"), "network": "twitter"})


def test_unknown_network_fails_the_event_with_the_reason(client):
    source = social_source()
    deliver(client, source, post(1, network="myspace"))
    event = inbound_event_process(event_id=InboundEvent.objects.get().pk)
    assert event.status == "failed"
    assert "Unknown social network 'myspace'" in event.error
