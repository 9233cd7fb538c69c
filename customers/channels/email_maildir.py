"""Email from a local Maildir: a mail folder on disk that a mail server (or a person) delivers
into, polled like a mailbox. The demo's mailbox is one (``cxportal/demo.py``).

Settings (``ChannelSource.settings``)::

    {"path": "/var/mail/support/Maildir", "max_message_bytes": 26214400,
     # replies go out over SMTP exactly as for email_imap (see email_smtp.py):
     "from_address": "support@brand.example", "smtp_host": "smtp.example.com", ...}

``path`` is a Maildir: a folder with ``new/`` (delivered, not yet seen by a mail client),
``cur/`` (seen) and ``tmp/`` (being delivered, never read here).

Polling (``poll(cursor, limit)``), cursor ``{"last": "<base name of the last message read>"}``:

- Messages are the files of ``new/`` and ``cur/`` (dot files skipped), read in name order:
  Maildir names start with the delivery time (``1714550000.M20P31.host``), so name order is
  arrival order. A file name's *base* is what comes before ``:`` — a mail client that reads a
  message moves it from ``new/`` to ``cur/`` and appends flags (``:2,S``), which keeps the
  base. The cursor holds the base, and comparisons are on the base, so a message read in
  another client is neither read twice nor missed. Name new files so they sort after the
  ones already there (start them with the time).
- Only regular files are read: a symlink is never followed (it could point anywhere).
- The mailbox is never changed: files are opened read-only, nothing is moved, flagged or
  deleted. A file moved between listing and reading is looked up again under its base name.
- Every message file becomes exactly one event, parsed by ``email_imap.read_message`` (the
  same payload, ``to_interaction`` and dedupe keys as IMAP: the same mail arriving through
  both is stored once). A message over ``max_message_bytes``, one the email package cannot
  read, or a file that cannot be opened becomes an event whose payload carries ``"error"``:
  it is marked failed with that reason, and the poll goes on.

Payload: as ``email_imap`` (``message_id``, ``from``, ``to``, ``subject``, ``date``,
``text``, ``attachments``…), with ``file`` (the name it was read under) instead of
``uid``/``uidvalidity``, and the file's modification time as ``internal_date`` (the
timeline time of a message without a usable Date header).
"""

import os
import stat as stat_module
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from customers.channels.base import RawEvent, register
from customers.channels.email_imap import (
    DEFAULT_MAX_MESSAGE_BYTES,
    EmailImapAdapter,
    _too_large,
    read_message,
)

#: Where a message's headers end (enough of a too-big message to say whose it is).
HEADERS_MAX = 64 * 1024
FOLDERS = ("new", "cur")


def base_name(name: str) -> str:
    """``1714550000.M20P31.host:2,S`` → ``1714550000.M20P31.host``."""
    return name.partition(":")[0]


def _messages(root: Path) -> dict[str, Path]:
    """Every message file of ``new/`` and ``cur/``, by base name (a file moved from ``new/``
    to ``cur/`` while we list counts once)."""
    if not (root / "new").is_dir() or not (root / "cur").is_dir():
        raise FileNotFoundError(
            f"The Maildir {str(root)!r} does not exist (it needs new/, cur/ and tmp/ folders)."
        )
    found: dict[str, Path] = {}
    for folder in FOLDERS:
        with os.scandir(root / folder) as entries:  # no stat per file: big mailboxes list fast
            for entry in entries:
                # Regular files only: a symlink could point anywhere (a secret outside).
                if not entry.name.startswith(".") and entry.is_file(follow_symlinks=False):
                    found.setdefault(base_name(entry.name), Path(entry.path))
    return found


def _relocated(root: Path, base: str) -> Path | None:
    """Where a message with this base name is now (another client moved it), if anywhere."""
    for folder in FOLDERS:
        with os.scandir(root / folder) as entries:
            for entry in entries:
                if base_name(entry.name) == base and entry.is_file(follow_symlinks=False):
                    return Path(entry.path)
    return None


def _open_regular(path: Path) -> BinaryIO:
    """``path`` opened read-only; OSError when it is a symlink (swapped in since the listing)
    or not a regular file (a FIFO would block the poll)."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | os.O_CLOEXEC
    fd = os.open(path, flags)
    if not stat_module.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(f"{path.name} is not a regular file")
    return os.fdopen(fd, "rb")


@register("email_maildir")
class EmailMaildirAdapter(EmailImapAdapter):
    """Reads a Maildir instead of an IMAP server; maps and answers mail like ``email_imap``
    (``to_interaction``, ``send`` over SMTP)."""

    polled = True

    def poll(self, cursor: dict[str, Any], limit: int) -> tuple[list[RawEvent], dict[str, Any]]:
        path = str(self.settings.get("path") or "").strip()
        if not path:
            raise FileNotFoundError("The channel has no Maildir path configured.")
        root = Path(path)
        max_bytes = int(self.settings.get("max_message_bytes") or DEFAULT_MAX_MESSAGE_BYTES)
        last = base_name(str(cursor.get("last") or ""))
        found = _messages(root)
        page = sorted(base for base in found if base > last)[:limit]
        events = [self._read(root, base, found[base], max_bytes) for base in page]
        events = [event for event in events if event is not None]
        return events, {"last": page[-1] if page else last}

    def _read(self, root: Path, base: str, path: Path, max_bytes: int) -> RawEvent | None:
        """One message file as an event; None when it was deleted before we could read it."""
        for _ in range(3):  # moved new/ → cur/ (or flagged) under our feet: find it again
            try:
                return self._event(path, max_bytes)
            except FileNotFoundError:
                moved = _relocated(root, base)
                if moved is None:
                    return None
                path = moved
            except OSError as exc:  # no permission, an I/O error…
                return RawEvent(
                    f"maildir:{base}",
                    {"file": path.name, "error": f"The message file cannot be read: {exc}"},
                )
        return None

    def _event(self, path: Path, max_bytes: int) -> RawEvent:
        with _open_regular(path) as stream:
            stat = os.fstat(stream.fileno())
            arrived = datetime.fromtimestamp(stat.st_mtime, tz=UTC).isoformat()
            if stat.st_size > max_bytes:
                head = stream.read(HEADERS_MAX)
                end = min(
                    (i for i in (head.find(b"\r\n\r\n"), head.find(b"\n\n")) if i >= 0),
                    default=len(head),
                )
                event = _too_large(
                    head[:end],
                    uid=0,
                    uidvalidity=0,
                    size=stat.st_size,
                    limit=max_bytes,
                    internal_date=arrived,
                )
            else:
                event = read_message(stream.read(), uid=0, uidvalidity=0, internal_date=arrived)
        payload = {k: v for k, v in event.payload.items() if k not in ("uid", "uidvalidity")}
        payload["file"] = path.name
        return RawEvent(event.provider_event_id, payload)
