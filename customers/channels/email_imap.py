"""Email: a mailbox polled over IMAP, replies sent over SMTP (``email_smtp.py``).

Settings (``ChannelSource.settings``; the password is ``ChannelSource.secret``)::

    {"host": "imap.example.com", "port": 993, "username": "support@brand.example",
     "mailbox": "INBOX", "ssl": true, "starttls": false, "timeout": 30,
     "max_message_bytes": 26214400,
     # outbound, see email_smtp.py:
     "from_address": "support@brand.example", "smtp_host": "smtp.example.com", ...}

Polling (``poll(cursor, limit)``), cursor ``{"uidvalidity": V, "last_uid": U}``:

- The mailbox is opened read-only (EXAMINE) and bodies are fetched with ``BODY.PEEK[]``, so
  syncing never marks mail read. Messages are found by UID (``UID SEARCH UID U+1:*``), not
  by ``UNSEEN``: mail already read in another client still counts.
- When the server's UIDVALIDITY differs from the cursor's (the mailbox was recreated or
  rebuilt) the UIDs mean something new: the sync starts again from the first message. Events
  are keyed by Message-ID (or, without one, a hash of the raw message), so what was already
  stored is not stored again.
- At most ``limit`` messages per poll, oldest UID first; a full page makes ``channel_sync``
  come back at once for the rest.
- Every UID read becomes exactly one event. A message that cannot be read (over
  ``max_message_bytes``, MIME the email package cannot make sense of, text in an unknown
  character set, a FETCH the server refuses) becomes an event whose payload carries
  ``"error"``: it is marked failed with that reason, and the fetch goes on.

Payload of an event: ``uid``, ``uidvalidity``, ``size``, ``internal_date``, ``message_id``,
``from``, ``from_name``, ``to``, ``subject``, ``date``, ``in_reply_to``, ``references``,
``text`` (text/plain, or text/html stripped to text), ``attachments`` (file name, type and
encoded size: their content is not kept) and, for a message that could not be read,
``error`` and up to 256 KB of the raw message (``raw_base64``).

``to_interaction``: From → an email contact point (a mail from one of our own addresses —
``from_address``, ``username``, ``own_addresses`` — is outbound, on the timeline of its first
other recipient); Subject → summary; the text → body; Date (else the server's arrival time)
→ occurred_at; Message-ID (else ``sha256:<hash of the raw message>``) → external_id;
In-Reply-To (else the last References entry) → in_reply_to, so replies thread with what
they answer.
"""

import base64
import contextlib
import hashlib
import imaplib
import re
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import getaddresses, parsedate_to_datetime
from html import unescape
from typing import Any

from django.utils.html import strip_tags

from customers.channels import email_smtp
from customers.channels.base import (
    ChannelAdapter,
    EventUnusable,
    InteractionDraft,
    RawEvent,
    parse_time,
    register,
    summary_of,
)
from customers.models import ContactPoint, Interaction
from customers.services.core import ContactInput

#: Messages per body FETCH, and bytes per body FETCH (whichever is reached first).
FETCH_CHUNK = 100
FETCH_CHUNK_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_MESSAGE_BYTES = 25 * 1024 * 1024
#: The text kept in the inbox payload (the timeline keeps ``Interaction.BODY_MAX`` of it).
TEXT_MAX = 1_000_000
RAW_KEPT = 256 * 1024
ID_MAX = 200

_ANGLE_ID = re.compile(r"<[^<>\s]+>")
_FETCH_ITEM = {
    "uid": re.compile(rb"\bUID (\d+)"),
    "size": re.compile(rb"\bRFC822\.SIZE (\d+)"),
    "internal_date": re.compile(rb'\bINTERNALDATE "([^"]+)"'),
}
_HIDDEN_HTML = re.compile(r"<(script|style|head)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_BLOCK_HTML = re.compile(r"<\s*(br|/p|/div|/li|/tr|/h\d)\b[^>]*>", re.IGNORECASE)


def message_id_key(value: str | None) -> str:
    """A Message-ID as a dedupe key and external id: the first ``<...>`` token (or the
    trimmed text), hashed when too long for the columns that hold it."""
    text = (value or "").strip()
    found = _ANGLE_ID.search(text)
    key = found.group(0) if found else text
    if len(key) > ID_MAX:
        key = "sha256:" + hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()
    return key


def _clean(value: Any) -> Any:
    """JSON- and PostgreSQL-safe text: bytes smuggled into headers as surrogates are read as
    UTF-8 (what 8-bit headers nearly always are), NUL characters dropped."""
    if isinstance(value, str):
        if any("\ud800" <= c <= "\udfff" for c in value):
            value = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def html_to_text(html: str) -> str:
    text = _BLOCK_HTML.sub("\n", _HIDDEN_HTML.sub("", html))
    lines = (" ".join(line.split()) for line in unescape(strip_tags(text)).splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _header(message: EmailMessage, name: str) -> str:
    value = message.get(name)
    return "" if value is None else str(value)


def _raw_header(message: EmailMessage, name: str) -> str:
    """A header that needs no decoding (ids, dates), unfolded, without the email package's
    header parsing (the slowest part of reading a message)."""
    name = name.lower()
    for key, value in message.raw_items():
        if key.lower() == name:
            return " ".join(str(value).split())
    return ""


def _addresses(message: EmailMessage, name: str) -> list[tuple[str, str]]:
    """(display name, address) pairs of an address header; [] when it is unreadable."""
    try:
        header = message.get(name)
        if header is None:
            return []
        return [(a.display_name, a.addr_spec) for a in header.addresses]
    except (AttributeError, IndexError, TypeError, ValueError):
        values = message.get_all(name, failobj=[])
        return [(n, a) for n, a in getaddresses([str(v) for v in values]) if a]


def _date(message: EmailMessage) -> str | None:
    raw = _raw_header(message, "date")
    if not raw:
        return None
    try:
        parsed = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).isoformat()


def _text(message: EmailMessage) -> str:
    """The readable text: text/plain, else text/html stripped. LookupError for a text part in
    a character set Python does not know."""
    if message.is_multipart():
        part = message.get_body(preferencelist=("plain", "html"))
    else:  # most mail: one part, no need to search for the body
        part = message if message.get_content_maintype() == "text" else None
    if part is None:
        return ""
    content = part.get_content()
    if not isinstance(content, str):
        return ""
    return html_to_text(content) if part.get_content_subtype() == "html" else content.strip()


def _attachments(message: EmailMessage) -> list[dict[str, Any]]:
    if not message.is_multipart():
        return []
    found = []
    for part in message.iter_attachments():
        encoded = part.get_payload()
        found.append(
            {
                "filename": part.get_filename() or "",
                "content_type": part.get_content_type(),
                "encoded_size": len(encoded) if isinstance(encoded, str | bytes) else 0,
            }
        )
    return found


def read_message(
    raw: bytes, *, uid: int, uidvalidity: int, internal_date: str | None = None
) -> RawEvent:
    """One fetched message as an inbox event. Never raises: whatever the email package
    cannot read becomes ``payload["error"]``."""
    payload: dict[str, Any] = {
        "uid": uid,
        "uidvalidity": uidvalidity,
        "size": len(raw),
        "internal_date": internal_date,
    }
    message_id = ""
    # Untrusted input: the email package can raise almost anything on a broken message, and
    # one broken message must never stop the fetch.
    try:
        message = message_from_bytes(raw, policy=policy.default)
        message_id = message_id_key(_raw_header(message, "message-id"))
        sender = _addresses(message, "from")
        references = _ANGLE_ID.findall(_raw_header(message, "references"))
        payload.update(
            message_id=message_id,
            **{"from": sender[0][1] if sender else "", "from_name": sender[0][0] if sender else ""},
            to=[address for _, address in _addresses(message, "to") + _addresses(message, "cc")],
            subject=_header(message, "subject"),
            date=_date(message),
            in_reply_to=message_id_key(_raw_header(message, "in-reply-to"))
            or (message_id_key(references[-1]) if references else ""),
            references=[message_id_key(r) for r in references][-20:],
            attachments=_attachments(message),
        )
        text = _text(message)
    except LookupError as exc:
        payload["error"] = f"The message text is in a character set we cannot read ({exc})."
    except Exception as exc:  # see above: untrusted input
        payload["error"] = f"The message could not be read: {type(exc).__name__}: {exc}"
    else:
        if len(text) > TEXT_MAX:
            text, payload["text_truncated"] = text[:TEXT_MAX], True
        payload["text"] = text
    if "error" in payload:
        payload["raw_base64"] = base64.b64encode(raw[:RAW_KEPT]).decode()
        payload["raw_truncated"] = len(raw) > RAW_KEPT
    # Without a Message-ID, a hash of the message: stable when the mailbox is rebuilt.
    event_id = message_id or "sha256:" + hashlib.sha256(raw).hexdigest()
    payload["message_id"] = event_id
    return RawEvent(event_id, _clean(payload))


def _too_large(
    headers: bytes, *, uid: int, uidvalidity: int, size: int, limit: int, internal_date: str | None
) -> RawEvent:
    event = read_message(headers, uid=uid, uidvalidity=uidvalidity, internal_date=internal_date)
    payload = {k: v for k, v in event.payload.items() if not k.startswith("raw_")}
    payload.update(size=size, text="")
    payload["error"] = (
        f"The message is {size / 1e6:.1f} MB, over this channel's limit of "
        f"{limit / 1e6:.1f} MB (max_message_bytes); it was not downloaded."
    )
    return RawEvent(event.provider_event_id, payload)


def _quote(mailbox: str) -> str:
    return '"' + mailbox.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _uid_set(uids: list[int]) -> str:
    """``[1, 2, 3, 7]`` → ``"1:3,7"``."""
    ranges: list[str] = []
    start = prev = uids[0]
    for uid in uids[1:] + [None]:
        if uid is not None and uid == prev + 1:
            prev = uid
            continue
        ranges.append(str(start) if start == prev else f"{start}:{prev}")
        if uid is not None:
            start = prev = uid
    return ",".join(ranges)


def _fetched(data: list) -> Iterator[tuple[dict[str, Any], bytes | None]]:
    """imaplib's FETCH answer as ``({"uid", "size", "internal_date"}, literal or None)``."""
    for item in data:
        head, literal = (item[0], item[1]) if isinstance(item, tuple) else (item, None)
        if not isinstance(head, bytes):
            continue
        found = {key: pattern.search(head) for key, pattern in _FETCH_ITEM.items()}
        if found["uid"] is None:
            continue
        yield (
            {
                "uid": int(found["uid"].group(1)),
                "size": int(found["size"].group(1)) if found["size"] else None,
                "internal_date": _internal_date(found["internal_date"]),
            },
            literal,
        )


def _internal_date(match: re.Match | None) -> str | None:
    if match is None:
        return None
    try:
        return datetime.strptime(match.group(1).decode(), "%d-%b-%Y %H:%M:%S %z").isoformat()
    except ValueError:
        return None


class MailboxError(Exception):
    """The mailbox cannot be opened (wrong name, no permission): a configuration problem."""


@register("email_imap")
class EmailImapAdapter(ChannelAdapter):
    polled = True
    sends = True
    #: ``send`` takes ``message_id`` / ``in_reply_to`` / ``references`` (see outbound.py).
    threads_replies = True

    # Inbound ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _connect(self) -> Iterator[imaplib.IMAP4]:
        s = self.settings
        host, timeout = str(s.get("host", "")), float(s.get("timeout", 30))
        if not host:
            raise MailboxError("The channel has no IMAP host configured.")
        use_ssl = bool(s.get("ssl", True))
        port = int(s.get("port") or (993 if use_ssl else 143))
        try:
            if use_ssl:
                imap: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                    host, port, ssl_context=ssl.create_default_context(), timeout=timeout
                )
            else:
                imap = imaplib.IMAP4(host, port, timeout=timeout)
                if s.get("starttls"):
                    imap.starttls(ssl.create_default_context())
        except imaplib.IMAP4.abort as exc:
            raise ConnectionError(
                f"IMAP server {host}:{port} dropped the connection: {exc}"
            ) from exc
        try:
            imap.login(str(s.get("username", "")), self.source.secret)
            yield imap
        except imaplib.IMAP4.abort as exc:  # the connection broke mid-way: try again later
            raise ConnectionError(f"IMAP connection to {host}:{port} broke: {exc}") from exc
        finally:
            with contextlib.suppress(Exception):
                imap.logout()

    def poll(self, cursor: dict[str, Any], limit: int) -> tuple[list[RawEvent], dict[str, Any]]:
        mailbox = str(self.settings.get("mailbox") or "INBOX")
        max_bytes = int(self.settings.get("max_message_bytes") or DEFAULT_MAX_MESSAGE_BYTES)
        with self._connect() as imap:
            status, answer = imap.select(_quote(mailbox), readonly=True)
            if status != "OK":
                raise MailboxError(f"Cannot open mailbox {mailbox!r}: {answer}")
            _, values = imap.response("UIDVALIDITY")
            uidvalidity = int(values[0]) if values and values[0] else 0
            last_uid = int(cursor.get("last_uid") or 0)
            if cursor.get("uidvalidity") != uidvalidity:
                last_uid = 0  # new UIDs: read from the start, the event ids dedupe
            status, data = imap.uid("SEARCH", "UID", f"{last_uid + 1}:*")
            if status != "OK":
                raise MailboxError(f"UID SEARCH failed in {mailbox!r}: {data}")
            # ``U+1:*`` also matches the highest UID when nothing is newer: filter.
            uids = sorted({int(u) for u in b" ".join(d or b"" for d in data).split()} - {0})
            page = [uid for uid in uids if uid > last_uid][:limit]
            events = self._fetch(imap, page, uidvalidity=uidvalidity, max_bytes=max_bytes)
        new_last = page[-1] if page else last_uid
        return events, {"uidvalidity": uidvalidity, "last_uid": new_last}

    def _fetch(
        self, imap: imaplib.IMAP4, uids: list[int], *, uidvalidity: int, max_bytes: int
    ) -> list[RawEvent]:
        if not uids:
            return []
        meta: dict[int, dict[str, Any]] = {}
        for start in range(0, len(uids), 500):
            _, data = imap.uid(
                "FETCH", _uid_set(uids[start : start + 500]), "(UID RFC822.SIZE INTERNALDATE)"
            )
            meta.update((info["uid"], info) for info, _ in _fetched(data))
        events: dict[int, RawEvent] = {}
        chunk: list[int] = []
        chunk_bytes = 0
        for uid in uids:
            info = meta.get(uid)
            if info is None:
                continue  # expunged since the search
            size = info["size"] or 0
            if size > max_bytes:
                events[uid] = self._oversized(imap, info, uidvalidity, max_bytes)
                continue
            if chunk and (len(chunk) >= FETCH_CHUNK or chunk_bytes + size > FETCH_CHUNK_BYTES):
                events.update(self._bodies(imap, chunk, meta, uidvalidity))
                chunk, chunk_bytes = [], 0
            chunk.append(uid)
            chunk_bytes += size
        if chunk:
            events.update(self._bodies(imap, chunk, meta, uidvalidity))
        return [events[uid] for uid in uids if uid in events]

    def _bodies(
        self, imap: imaplib.IMAP4, uids: list[int], meta: dict, uidvalidity: int
    ) -> dict[int, RawEvent]:
        """``UID FETCH (BODY.PEEK[])`` of a chunk; when the server refuses the chunk, each
        message alone, so one it cannot return is recorded failed and the rest still come."""
        status, data = imap.uid("FETCH", _uid_set(uids), "(UID BODY.PEEK[])")
        read: dict[int, RawEvent] = {}
        if status == "OK":
            for info, literal in _fetched(data):
                if literal is not None and info["uid"] in meta:
                    uid = info["uid"]
                    read[uid] = read_message(
                        literal,
                        uid=uid,
                        uidvalidity=uidvalidity,
                        internal_date=meta[uid]["internal_date"],
                    )
        missing = [uid for uid in uids if uid not in read]
        if len(uids) > 1 and missing:
            for uid in missing:
                read.update(self._bodies(imap, [uid], meta, uidvalidity))
        elif missing:
            uid = missing[0]
            reason = (data[0] or b"").decode("utf-8", "replace") if data else ""
            read[uid] = RawEvent(
                f"imap:{uidvalidity}:{uid}",
                {
                    "uid": uid,
                    "uidvalidity": uidvalidity,
                    "internal_date": meta[uid]["internal_date"],
                    "error": f"The IMAP server did not return the message: {status} {reason}",
                },
            )
        return read

    def _oversized(
        self, imap: imaplib.IMAP4, info: dict, uidvalidity: int, max_bytes: int
    ) -> RawEvent:
        _, data = imap.uid("FETCH", str(info["uid"]), "(UID BODY.PEEK[HEADER])")
        headers = next((literal for _, literal in _fetched(data) if literal), b"")
        return _too_large(
            headers,
            uid=info["uid"],
            uidvalidity=uidvalidity,
            size=info["size"],
            limit=max_bytes,
            internal_date=info["internal_date"],
        )

    def own_addresses(self) -> set[str]:
        s = self.settings
        found = [s.get("from_address"), s.get("username"), *(s.get("own_addresses") or [])]
        return {str(a).strip().lower() for a in found if isinstance(a, str) and "@" in a}

    def to_interaction(self, payload: dict[str, Any]) -> InteractionDraft:
        if payload.get("error"):
            raise EventUnusable(str(payload["error"]))
        sender = str(payload.get("from") or "").strip()
        if not sender:
            raise EventUnusable("The message has no sender address (From).")
        direction, contact, name = Interaction.Direction.INBOUND, sender, payload.get("from_name")
        own = self.own_addresses()
        if sender.lower() in own:
            others = [a for a in payload.get("to") or [] if str(a).strip().lower() not in own]
            if not others:
                raise EventUnusable("A message from our own address to no customer.")
            direction, contact, name = Interaction.Direction.OUTBOUND, str(others[0]), ""
        message_id = str(payload.get("message_id") or "")
        if not message_id:
            raise EventUnusable("The event has no message id.")
        when = payload.get("date") or payload.get("internal_date")
        subject = str(payload.get("subject") or "").strip()
        text = str(payload.get("text") or "")
        return InteractionDraft(
            contact=ContactInput(kind=ContactPoint.Kind.EMAIL, value=contact),
            channel=self.source.channel,
            direction=direction,
            occurred_at=parse_time(when, "Date"),
            summary=summary_of(subject) or summary_of(text) or "(no subject)",
            body=text,
            external_id=message_id,
            in_reply_to=str(payload.get("in_reply_to") or "") or None,
            display_name=str(name or "")[:200],
        )

    # Outbound ---------------------------------------------------------------------------

    def new_message_id(self) -> str:
        return email_smtp.new_message_id(self.settings)

    def send(
        self,
        *,
        to: str,
        subject: str,
        body: str,
        message_id: str | None = None,
        in_reply_to: str | None = None,
        references: list[str] | tuple[str, ...] = (),
        html: str = "",
    ) -> str:
        return email_smtp.email_send(
            settings=self.settings,
            password=self.source.secret,
            to=to,
            subject=subject,
            body=body,
            message_id=message_id,
            in_reply_to=in_reply_to,
            references=references,
            html=html,
        )
