"""Outbound email of the ``email_imap`` channel through Django's SMTP backend, against a real
SMTP server (aiosmtpd) the test starts."""

import pytest

from customers.channels import SendFailed, adapter_for
from customers.models import Channel
from tests.customers.channel_support import ChannelSourceFactory
from tests.support.mail_servers import smtp_server
from tests.support.services import free_port

pytestmark = pytest.mark.django_db


def mail_adapter(settings: dict, secret: str = ""):
    source = ChannelSourceFactory(
        kind="email_imap", channel=Channel.EMAIL, secret=secret, settings=settings
    )
    return adapter_for(source)


def test_send_delivers_a_plain_text_mail_and_returns_its_message_id(smtp):
    adapter = mail_adapter(smtp.settings())
    message_id = adapter.send(
        to="jane@example.com", subject="Your order", body="It ships today.\nThanks."
    )
    assert message_id.startswith("<") and message_id.endswith("@brand.example>")
    assert smtp.envelopes == [("support@brand.example", ["jane@example.com"])]
    (mail,) = smtp.messages
    assert mail["Message-ID"] == message_id
    assert (mail["From"], mail["To"], mail["Subject"]) == (
        "support@brand.example",
        "jane@example.com",
        "Your order",
    )
    assert mail.get_content() == "It ships today.\nThanks.\n"
    assert mail["In-Reply-To"] is None


def test_a_reply_carries_its_chosen_message_id_and_the_thread_headers(smtp):
    adapter = mail_adapter(smtp.settings())
    chosen = adapter.new_message_id()
    sent = adapter.send(
        to="jane@example.com",
        subject="Re: Where is my order?",
        body="On its way.",
        message_id=chosen,
        in_reply_to="<msg-2@example.com>",
        references=["<msg-1@example.com>", "<msg-2@example.com>"],
    )
    assert sent == chosen
    (mail,) = smtp.messages
    assert mail["Message-ID"] == chosen
    assert mail["In-Reply-To"] == "<msg-2@example.com>"
    assert mail["References"] == "<msg-1@example.com> <msg-2@example.com>"


def test_a_subject_cannot_inject_headers(smtp):
    mail_adapter(smtp.settings()).send(
        to="jane@example.com", subject="Hi\r\nBcc: all@example.com", body="x"
    )
    (mail,) = smtp.messages
    assert mail["Subject"] == "Hi Bcc: all@example.com" and mail["Bcc"] is None
    assert smtp.envelopes[0][1] == ["jane@example.com"]


def test_it_logs_in_with_the_channel_secret():
    with smtp_server(authenticate=("support", "s3cret")) as server:
        settings = server.settings(smtp_username="support", smtp_timeout=5)
        mail_adapter(settings, secret="s3cret").send(to="jane@example.com", subject="s", body="b")
        assert len(server.messages) == 1
        # Without credentials the server refuses for good.
        anonymous = server.settings(smtp_timeout=5)
        with pytest.raises(SendFailed, match="530"):
            mail_adapter(anonymous).send(to="jane@example.com", subject="s", body="b")
        assert len(server.messages) == 1


def test_a_refused_recipient_is_send_failed_and_a_deferred_one_is_transient(smtp):
    adapter = mail_adapter(smtp.settings())
    smtp.refuse = "550 5.1.1 No such user"
    with pytest.raises(SendFailed, match="No such user"):
        adapter.send(to="nobody@example.com", subject="s", body="b")
    smtp.refuse = "450 4.2.1 Mailbox busy, try later"
    with pytest.raises(ConnectionError, match="deferred"):
        adapter.send(to="busy@example.com", subject="s", body="b")
    assert smtp.messages == []


def test_nobody_listening_is_transient():
    adapter = mail_adapter({"smtp_host": "127.0.0.1", "smtp_port": free_port()})
    with pytest.raises(ConnectionError, match="unreachable"):
        adapter.send(to="jane@example.com", subject="s", body="b")


def test_not_an_address_is_send_failed(smtp):
    with pytest.raises(SendFailed, match="not an email address"):
        mail_adapter(smtp.settings()).send(to="jane at example", subject="s", body="b")
    assert smtp.messages == []


def test_without_smtp_host_the_projects_default_mailer_is_used(smtp, settings):
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": smtp.host, "port": smtp.port},
        }
    }
    settings.DEFAULT_FROM_EMAIL = "portal@brand.example"
    message_id = mail_adapter({"host": "imap.brand.example"}).send(
        to="jane@example.com", subject="s", body="b"
    )
    (mail,) = smtp.messages
    assert mail["From"] == "portal@brand.example" and mail["Message-ID"] == message_id
