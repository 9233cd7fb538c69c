"""The care queue: acknowledge, act (message, case, call back) or dismiss; all audited."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from cases.care import (
    care_flag_acknowledge,
    care_flag_call_back,
    care_flag_dismiss,
    care_flag_message,
    care_flag_open_case,
    care_scan,
)
from cases.models import CareFlag, MessageTemplate
from customers.models import Order
from customers.services import customer_create
from customers.services.core import ContactInput
from customers.services.outbound import interaction_send
from cxportal.models import AuditEvent
from tests.customers.test_outbound import mail_source

pytestmark = pytest.mark.django_db


@pytest.fixture
def ops(staff):
    return staff("operations")


@pytest.fixture
def flag(ops):
    customer = customer_create(
        actor=ops,
        display_name="Ada Lovelace",
        preferred_channel="email",
        contact_points=[ContactInput("email", "ada@example.com")],
    )
    Order.objects.create(
        customer=customer,
        external_id="EXP-1",
        placed_at=timezone.now() - timedelta(days=1),
        shipping_method="express",
        promised_by=timezone.now() - timedelta(hours=1),
    )
    care_scan()
    return CareFlag.objects.get()


def test_acknowledge_then_message_the_customer_from_a_template(ops, flag, smtp):
    mail_source(smtp)
    template = MessageTemplate.objects.create(
        name="Late order",
        kind="late_order",
        subject="Your order {order} is running late",
        body="Hello {first_name}, order {order} missed its {promised_by} slot. New date soon.",
    )
    flag = care_flag_acknowledge(actor=ops, flag=flag)
    assert (flag.status, flag.acknowledged_by) == ("acknowledged", ops.username)
    flag = care_flag_message(actor=ops, flag=flag, template=template, body="")
    assert (flag.status, flag.action, flag.handled_by) == ("actioned", "message", ops.username)
    message = flag.action_interaction
    assert message.summary == "Your order EXP-1 is running late"
    assert message.body.startswith("Hello Ada, order EXP-1 missed its ")
    assert interaction_send(interaction_id=message.pk) == "sent"
    assert smtp.messages[0]["To"] == "ada@example.com"
    actions = list(
        AuditEvent.objects.filter(target_type="cases.careflag").values_list("action", flat=True)
    )
    assert sorted(actions) == ["careflag.acknowledge", "careflag.actioned"]
    # Done is done: no second action.
    with pytest.raises(ValidationError, match="actioned already"):
        care_flag_dismiss(actor=ops, flag=flag, reason="oops")


def test_dismiss_needs_a_reason(ops, flag):
    with pytest.raises(ValidationError) as error:
        care_flag_dismiss(actor=ops, flag=flag, reason="  ")
    assert error.value.message_dict == {"reason": ["Say why this needs no action."]}
    flag = care_flag_dismiss(actor=ops, flag=flag, reason="Customer collected it in store")
    assert (flag.status, flag.dismissed_reason) == ("dismissed", "Customer collected it in store")
    # A rescan does not raise it again while the order is still late.
    assert care_scan(full=True).raised["late_order"] == 0


def test_open_a_case_or_call_back(ops, staff, flag):
    agent = staff("service")
    flag = care_flag_open_case(actor=agent, flag=flag, subject="Late express order EXP-1")
    assert flag.action_case.subject == "Late express order EXP-1"
    assert flag.action_case.customer == flag.customer


def test_call_back_goes_on_the_timeline(ops, flag):
    flag = care_flag_call_back(
        actor=ops, flag=flag, summary="Called about EXP-1", note="Courier delivers tomorrow"
    )
    call = flag.action_interaction
    assert (call.channel, call.direction, call.summary) == (
        "phone",
        "outbound",
        "Called about EXP-1",
    )


def test_a_message_with_no_way_to_reach_the_customer_changes_nothing(ops, flag):
    # No sending channel is configured: the flag stays open, nothing written.
    with pytest.raises(ValidationError) as error:
        care_flag_message(actor=ops, flag=flag, body="Sorry, it is late.")
    assert "no channel is set up to send" in error.value.message_dict["channel"][0]
    flag.refresh_from_db()
    assert flag.status == "open" and flag.action_interaction is None


def test_a_cleared_flag_cannot_be_acted_on(ops, flag):
    Order.objects.update(delivered_at=timezone.now(), status="delivered")
    care_scan()
    with pytest.raises(ValidationError, match="cause is gone"):
        care_flag_acknowledge(actor=ops, flag=flag)
