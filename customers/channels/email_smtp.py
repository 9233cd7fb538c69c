"""Outbound email of an ``email_imap`` channel, through Django's email backend.

Settings (in the channel's ``settings``; the password is ``ChannelSource.secret``)::

    {"from_address": "support@brand.example",
     "smtp_host": "smtp.example.com", "smtp_port": 587, "smtp_username": "support@brand.example",
     "smtp_use_tls": true, "smtp_use_ssl": false, "smtp_timeout": 30}

Without ``smtp_host`` the project's default mailer is used (``MAILERS["default"]``, or the
older ``EMAIL_BACKEND`` / ``EMAIL_HOST``… settings) with ``DEFAULT_FROM_EMAIL``.
``smtp_username`` defaults to the IMAP ``username``; an empty one sends without logging in.

The Message-ID is chosen before sending (``new_message_id``) so a retried send carries the
same one: a receiving mail system, and our own inbox, can tell a repeat from a new message.
Errors: a 5xx answer (bad recipient, wrong password) raises ``SendFailed``; a 4xx answer, a
refused connection, a dropped connection or a timeout raises ``ConnectionError`` /
``TimeoutError`` (try again later).
"""

import smtplib
from collections.abc import Sequence
from email.utils import make_msgid
from typing import Any

from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives, mailers
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.backends.smtp import EmailBackend as SmtpBackend
from django.core.validators import validate_email

from customers.channels.base import SendFailed


def from_address(settings: dict[str, Any]) -> str:
    return str(settings.get("from_address") or django_settings.DEFAULT_FROM_EMAIL)


def new_message_id(settings: dict[str, Any]) -> str:
    """A fresh ``<...@domain>`` Message-ID in the domain of the channel's from address."""
    domain = from_address(settings).rpartition("@")[2].strip(" >") or None
    return make_msgid(domain=domain)


def _mailer(settings: dict[str, Any], password: str) -> BaseEmailBackend:
    """The channel's own SMTP backend, or the project's default mailer without
    ``smtp_host``. (Django 6.1 mailers: a backend built with an ``alias`` takes its options
    from the arguments, never from the deprecated ``EMAIL_*`` settings.)"""
    if not settings.get("smtp_host"):
        return mailers.default
    username = str(settings.get("smtp_username", settings.get("username", "")) or "")
    return SmtpBackend(
        alias="channel",
        host=str(settings["smtp_host"]),
        port=int(settings.get("smtp_port") or 25),
        username=username,
        password=password if username else "",
        use_tls=bool(settings.get("smtp_use_tls", False)),
        use_ssl=bool(settings.get("smtp_use_ssl", False)),
        timeout=float(settings.get("smtp_timeout", 30)),
    )


def email_send(
    *,
    settings: dict[str, Any],
    password: str,
    to: str,
    subject: str,
    body: str,
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    html: str = "",
) -> str:
    """Send one plain-text email (with ``html`` as its HTML alternative when given); returns
    its Message-ID (the provider id of the message)."""
    try:
        validate_email(to)
    except ValidationError:
        raise SendFailed(f"{to!r} is not an email address.") from None
    message_id = message_id or new_message_id(settings)
    headers = {"Message-ID": message_id}
    if in_reply_to:
        headers["In-Reply-To"] = in_reply_to
        refs = [r for r in references if r and r != in_reply_to][-10:]
        headers["References"] = " ".join([*refs, in_reply_to])
    message = EmailMultiAlternatives(
        subject=" ".join(subject.split()),  # no header injection through a subject
        body=body,
        from_email=from_address(settings),
        to=[to],
        headers=headers,
    )
    if html:
        message.attach_alternative(html, "text/html")
    try:
        _mailer(settings, password).send_messages([message])
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        if codes and all(400 <= code < 500 for code in codes):
            raise ConnectionError(
                f"The mail server deferred the recipient: {exc.recipients}"
            ) from exc
        raise SendFailed(f"The mail server refused the recipient: {exc.recipients}") from exc
    except smtplib.SMTPResponseException as exc:
        detail = (
            exc.smtp_error.decode("utf-8", "replace")
            if isinstance(exc.smtp_error, bytes)
            else exc.smtp_error
        )
        if 400 <= exc.smtp_code < 500:
            raise ConnectionError(f"The mail server answered {exc.smtp_code}: {detail}") from exc
        raise SendFailed(f"The mail server answered {exc.smtp_code}: {detail}") from exc
    except smtplib.SMTPServerDisconnected as exc:
        raise ConnectionError(f"The mail server closed the connection: {exc}") from exc
    except smtplib.SMTPException as exc:  # e.g. STARTTLS or AUTH not offered: configuration
        raise SendFailed(f"Could not send through the mail server: {exc}") from exc
    except OSError as exc:  # refused, unreachable, timed out (TimeoutError is an OSError)
        if isinstance(exc, TimeoutError):
            raise
        raise ConnectionError(f"The mail server is unreachable: {exc}") from exc
    return message_id
