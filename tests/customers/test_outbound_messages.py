"""Messages we start (proactive care, disruption notices): the customer's preferred channel
when it is allowed, consent respected, sent after the commit through a real SMTP server or
SMS provider, never twice."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from customers.models import Interaction
from customers.services import consent_set, customer_create
from customers.services.core import ContactInput
from customers.services.outbound import (
    customer_message_route,
    customer_message_send,
    interaction_send,
    outbound_sweep,
)
from tests.customers.channel_support import sms_source
from tests.customers.test_outbound import mail_source

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent(staff):
    return staff("service")


def jane(agent, *, preferred="email", points=("email", "phone")):
    contacts = {
        "email": ContactInput("email", "Jane.Doe@Example.com"),
        "phone": ContactInput("phone", "+44 7700 900123"),
    }
    return customer_create(
        actor=agent,
        display_name="Jane Doe",
        preferred_channel=preferred,
        contact_points=[contacts[p] for p in points],
    )


def test_a_service_message_goes_out_by_email_once(agent, smtp, django_capture_on_commit_callbacks):
    mail_source(smtp)
    customer = jane(agent)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        message = customer_message_send(
            actor=agent,
            customer=customer,
            purpose="service",
            subject="Your line is closed on Saturday",
            body="Rail replacement buses run from the station forecourt.",
        )
    assert len(callbacks) == 1  # handed to the broker after the commit
    assert (message.channel, message.direction, message.delivery_status) == (
        "email",
        "outbound",
        "queued",
    )
    assert message.outbound_to == "jane.doe@example.com" and message.in_reply_to is None
    assert interaction_send(interaction_id=message.pk) == "sent"
    assert interaction_send(interaction_id=message.pk) == "sent"  # a redelivery sends nothing
    (mail,) = smtp.messages
    assert mail["To"] == "jane.doe@example.com"
    assert mail["Subject"] == "Your line is closed on Saturday"
    assert mail["Message-ID"] == message.external_id and mail["In-Reply-To"] is None


def test_the_preferred_channel_comes_first_and_sms_goes_through_the_provider(agent, provider):
    sms_source(settings={"api_url": provider.url, "from_number": "+447700900999"})
    customer = jane(agent, preferred="sms")
    message = customer_message_send(
        actor=agent, customer=customer, purpose="service", body="Your order is running late."
    )
    assert (message.channel, message.outbound_to) == ("sms", "+447700900123")
    assert interaction_send(interaction_id=message.pk) == "sent"
    assert [r["body"]["to"] for r in provider.received] == ["+447700900123"]


def test_consent_decides_and_every_refusal_says_why(agent, smtp, provider):
    mail_source(smtp)
    sms_source(settings={"api_url": provider.url})
    customer = jane(agent)
    consent_set(
        actor=agent,
        customer=customer,
        channel="email",
        purpose="service",
        granted=False,
        source="test",
    )
    route, reasons = customer_message_route(customer_id=customer.pk, purpose="service")
    assert route.channel == "sms"  # email withdrawn: the next channel
    assert reasons == ["Email: the customer withdrew consent to service messages here."]
    # Marketing needs an explicit yes.
    route, reasons = customer_message_route(customer_id=customer.pk, purpose="marketing")
    assert route is None
    assert "SMS: no consent to marketing messages here." in reasons
    consent_set(
        actor=agent,
        customer=customer,
        channel="sms",
        purpose="marketing",
        granted=True,
        source="test",
    )
    route, _ = customer_message_route(customer_id=customer.pk, purpose="marketing")
    assert route.channel == "sms"


def test_no_route_is_a_clear_error_and_writes_nothing(agent):
    customer = jane(agent, points=("phone",))
    before = Interaction.objects.count()
    with pytest.raises(ValidationError) as error:
        customer_message_send(actor=agent, customer=customer, purpose="service", body="Hello")
    problem = error.value.message_dict["channel"][0]
    assert "Email: no address on file." in problem
    assert "SMS: no channel is set up to send." in problem
    with pytest.raises(ValidationError) as error:
        customer_message_send(
            actor=agent, customer=customer, purpose="gossip", body="", channel="phone"
        )
    assert set(error.value.message_dict) == {"purpose", "body"}
    assert Interaction.objects.count() == before


def test_a_message_whose_channel_was_switched_off_fails_with_the_reason(agent, smtp):
    source = mail_source(smtp)
    message = customer_message_send(
        actor=agent, customer=jane(agent), purpose="service", body="Hello"
    )
    source.is_active = False
    source.save()
    assert interaction_send(interaction_id=message.pk) == "failed"
    message.refresh_from_db()
    assert "switched off" in message.delivery_error
    assert smtp.messages == []


def test_the_sweeper_resends_started_messages_left_queued(agent, smtp, broker):
    mail_source(smtp)
    message = customer_message_send(
        actor=agent, customer=jane(agent), purpose="service", body="Hello"
    )
    Interaction.objects.filter(pk=message.pk).update(
        occurred_at=timezone.now() - timedelta(minutes=30)
    )
    assert outbound_sweep() == 1
    assert broker() == [("outbound.interaction_send", [message.pk])]
