"""Reading a drop folder: CSV or JSON-lines files that another system writes, polled with a
cursor. Shared by the polled adapters (``social_feed``, ``csv_drop``); it is not a kind
itself (no ``@register``).

The folder (or one file) at ``path`` is read in file-name order, so name dropped files so
they sort in arrival order (a timestamp prefix: ``2026-05-01T0930-posts.csv``). The cursor
is ``{"file": <name>, "offset": <byte offset after the last record read>}``: files named
before the cursor's file are done; the cursor's file continues at ``offset`` (a file that
shrank below it was replaced and is read again — replays are deduplicated downstream).

Only complete records are read: a line still being written (no line end yet) waits for the
next poll, unless the file is *settled* — a newer file exists, or it has not changed for
``settle_seconds`` — in which case its last line counts even without a line end.

- ``.csv``: the first record is the header; quoted fields may hold line breaks; a record
  ends at ``\\n``, ``\\r\\n`` or ``\\r`` outside quotes (as Python's ``csv`` module reads it).
  A row whose number of fields differs from the header's is malformed.
- ``.jsonl`` / ``.ndjson``: one JSON object per line.

Other files (``README.txt``, ``*.part``, dot files) are ignored. Blank lines are skipped.
A malformed record never stops the read: it comes back with ``error`` set, so the adapter
stores it as an event that fails with the reason.
"""

import csv
import io
import json
import logging
import os
import re
import stat as stat_module
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

logger = logging.getLogger(__name__)

CSV_SUFFIXES = frozenset({".csv"})
JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson"})
#: Bytes read at a time.
CHUNK = 256 * 1024
#: A record longer than this is reported as malformed (its bytes are skipped, not kept).
MAX_RECORD = 1024 * 1024
#: How much of a malformed record is kept in the inbox for a person to look at.
RAW_KEPT = 2000
SETTLE_SECONDS = 60

_CSV_TOKENS = re.compile(rb'["\r\n]')
_LINE_END = re.compile(rb"\n")


@dataclass(frozen=True, slots=True)
class DropRecord:
    """One record of a dropped file: its fields (CSV: header → value; JSON lines: the
    object), or ``error`` with the reason it could not be read. ``origin`` is
    ``<file>@<byte offset>``: stable, so it can name a record that has no id of its own."""

    file: str
    offset: int
    fields: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    raw: str = ""

    @property
    def origin(self) -> str:
        return f"{self.file}@{self.offset}"


def file_format(name: str) -> str | None:
    suffix = Path(name).suffix.lower()
    if suffix in CSV_SUFFIXES:
        return "csv"
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    return None


def _spans(stream: BinaryIO, start: int, *, quoted: bool, final: bool) -> Iterator[tuple]:
    """``(offset, end, data)`` of each complete record from byte ``start``; ``data`` is the
    record without its line end (None when it was longer than ``MAX_RECORD``). ``end`` is
    where the next record starts. ``quoted``: CSV rules (line ends inside quotes belong to
    the field; ``\\r`` alone ends a record); otherwise only ``\\n`` ends one. ``final``: a
    last record without a line end counts."""
    pattern = _CSV_TOKENS if quoted else _LINE_END
    buf = b""  # the bytes of the current (unfinished) record; starts at ``base``
    base = record = start  # ``record``: where the current record started (may be < base)
    scanned = 0  # how far into ``buf`` tokens were looked at
    in_quotes = too_long = eof = False
    while True:
        if not eof:
            chunk = stream.read(CHUNK)
            eof = not chunk
            buf += chunk
        cut = 0  # everything before ``cut`` was yielded
        pos = scanned
        while (match := pattern.search(buf, pos)) is not None:
            token, at, pos = match.group(), match.start(), match.end()
            if token == b'"':
                in_quotes = not in_quotes
                continue
            if in_quotes:
                continue
            end = pos
            if token == b"\r":
                if pos >= len(buf) and not eof:
                    pos = at  # a \n may follow in the next chunk: look again then
                    break
                if buf[pos : pos + 1] == b"\n":
                    end = pos = pos + 1
            yield record, base + end, None if too_long else buf[cut:at]
            too_long = False
            cut, record = end, base + end
        scanned = max(pos if match is not None else len(buf), cut) - cut
        buf, base = buf[cut:], base + cut
        if len(buf) > MAX_RECORD:  # keep scanning for its end, but not its bytes
            too_long, buf, base, scanned = True, b"", base + len(buf), 0
        if eof:
            if (buf or too_long) and final:
                yield record, base + len(buf), None if too_long else buf
            return


def _decoded(data: bytes | None) -> tuple[str, str]:
    """(text, error)."""
    if data is None:
        return "", f"the record is longer than {MAX_RECORD} bytes"
    try:
        return data.decode("utf-8").removeprefix("\ufeff"), ""
    except UnicodeDecodeError as exc:
        return data.decode("utf-8", "replace"), f"not UTF-8 text ({exc.reason} at byte {exc.start})"


def _csv_row(text: str) -> list[str]:
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if len(rows) != 1:
        raise csv.Error("not one CSV row")
    return rows[0]


def _parse(name: str, offset: int, data: bytes | None, fmt: str, header: list[str]) -> DropRecord:
    text, error = _decoded(data)
    raw = text[:RAW_KEPT]
    if error:
        return DropRecord(name, offset, error=error, raw=raw)
    if fmt == "jsonl":
        try:
            value = json.loads(text)
        except ValueError as exc:
            return DropRecord(name, offset, error=f"not valid JSON ({exc})", raw=raw)
        if not isinstance(value, dict):
            return DropRecord(name, offset, error="a line must be a JSON object", raw=raw)
        return DropRecord(name, offset, fields=value)
    try:
        row = _csv_row(text)
    except csv.Error as exc:
        return DropRecord(name, offset, error=f"not a CSV row ({exc})", raw=raw)
    if len(row) != len(header):
        return DropRecord(
            name,
            offset,
            error=f"the row has {len(row)} field(s), the header has {len(header)}",
            raw=raw,
        )
    return DropRecord(name, offset, fields=dict(zip(header, row, strict=True)))


def records_read(
    stream: BinaryIO, *, name: str, fmt: str, start: int = 0, final: bool = True, limit: int
) -> tuple[list[DropRecord], int]:
    """Up to ``limit`` records of one stream (a file, or an HTTP body in a ``BytesIO``)
    from byte ``start``; returns them and the byte offset after the last one read (``start``
    when there was nothing complete). A CSV header is read from byte 0 first."""
    header: list[str] = []
    if fmt == "csv":
        stream.seek(0)
        first = next(_spans(stream, 0, quoted=True, final=final), None)
        if first is None:
            return [], start
        text, error = _decoded(first[2])
        try:
            header = [] if error else [column.strip() for column in _csv_row(text)]
        except csv.Error:
            header = []
        if not header:  # nothing in this file can be read: report it once, skip it
            bad = DropRecord(name, 0, error="the CSV header cannot be read", raw=text[:RAW_KEPT])
            return [bad], stream.seek(0, io.SEEK_END)
        start = max(start, first[1])
    stream.seek(start)
    records: list[DropRecord] = []
    read_to = start
    for offset, end, data in _spans(stream, start, quoted=fmt == "csv", final=final):
        read_to = end
        if data is not None and not data.strip():
            continue  # a blank line
        records.append(_parse(name, offset, data, fmt, header))
        if len(records) >= limit:
            break
    return records, read_to


def drop_read(
    path: str | Path,
    cursor: dict[str, Any],
    limit: int,
    *,
    settle_seconds: float = SETTLE_SECONDS,
    formats: tuple[str, ...] = ("csv", "jsonl"),
) -> tuple[list[DropRecord], dict[str, Any]]:
    """The next ``limit`` records of a drop folder (or one file) after ``cursor``, and the
    cursor after them. Raises ``FileNotFoundError`` when ``path`` does not exist.

    Only regular files that are really in the folder are read: a symlink (or anything that
    resolves outside the folder) is skipped, and files are opened with ``O_NOFOLLOW`` so one
    swapped for a symlink after the listing is not followed either. Whoever can drop a file
    must not be able to make the channel read (and store) files elsewhere on the server."""
    root = Path(path)
    if root.is_dir():
        inside = root.resolve()
        files = sorted(
            p
            for p in root.iterdir()
            if not p.is_symlink()
            and p.is_file()
            and p.resolve().parent == inside
            and not p.name.startswith(".")
            and file_format(p.name) in formats
        )
    elif root.is_file():
        files = [root]
    else:
        raise FileNotFoundError(f"The drop folder {str(root)!r} does not exist.")
    done_file, done_offset = str(cursor.get("file") or ""), int(cursor.get("offset") or 0)
    records: list[DropRecord] = []
    new_cursor = dict(cursor)
    for index, file in enumerate(files):
        if done_file and file.name < done_file:
            continue
        offset = done_offset if file.name == done_file else 0
        try:
            stream = _open_regular(file, follow=root.is_file())
        except OSError:  # swapped for a symlink or something else since the listing
            logger.warning("Drop folder %s: skipped %s (not a regular file)", root, file.name)
            continue
        with stream:
            stat = os.fstat(stream.fileno())
            if offset > stat.st_size:
                offset = 0  # replaced by a shorter file: read it again
            if offset == stat.st_size and offset:
                new_cursor = {"file": file.name, "offset": offset}
                continue
            settled = index < len(files) - 1 or time.time() - stat.st_mtime >= settle_seconds
            got, end = records_read(
                stream,
                name=file.name,
                fmt=file_format(file.name) or "csv",
                start=offset,
                final=settled,
                limit=limit - len(records),
            )
        records += got
        new_cursor = {"file": file.name, "offset": end}
        if len(records) >= limit or end < stat.st_size:
            break  # a full page, or a file still being written: later files wait
    return records, new_cursor


def _open_regular(file: Path, *, follow: bool) -> BinaryIO:
    """``file`` opened for reading; OSError when it is not a regular file, or (unless
    ``follow``: a single file the supervisor configured) when it is a symlink."""
    flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
    if not follow:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(file, flags)
    if not stat_module.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(f"{file} is not a regular file")
    return os.fdopen(fd, "rb")
