"""Phone call logs and store visits from CSV files dropped in a folder, polled.

The source's ``channel`` says what the rows are: ``phone`` (a call centre's call log) or
``store`` (visits logged by the stores' till or clienteling app). Settings: ``path`` (the
drop folder, or one file), ``settle_seconds`` (default 60). Files are read in name order,
only complete lines (see ``file_drop.py``); the cursor is ``{"file", "offset"}``.

Columns (first line = header; any order; unknown columns are ignored):

=============  ==========================================================================
external_id    required. The call's / visit's id in the phone system or POS, unique within
               the source; the same id sent again is the same interaction. On the timeline
               it becomes ``<channel>:<source slug>:<external_id>``, so two systems that
               reuse ids never overwrite each other.
occurred_at    required. ISO 8601 (``2026-05-01T09:30:00+01:00``; without an offset: UTC)
               or unix seconds.
email          the customer, by one of email, phone (international or national in the
phone          default region) or loyalty (card number); the first one given is used. An
loyalty        unknown one becomes a new prospect.
name           optional: the customer's name, for a new prospect.
direction      ``inbound`` (the customer called / came in; the default), ``outbound`` (we
               called them) or ``internal`` (a staff note).
summary        one line for the timeline (default: the first line of notes, else "Phone
               call" / "Store visit").
notes          free text: what was said or done.
=============  ==========================================================================

A row that cannot be used (wrong number of fields, no external_id, no customer, a bad
time, an unknown direction) becomes an event that fails with the reason; it never stops the
poll.
"""

from typing import Any

from customers.channels.base import (
    ChannelAdapter,
    EventUnusable,
    InteractionDraft,
    RawEvent,
    event_id_of,
    parse_time,
    register,
    summary_of,
)
from customers.channels.file_drop import SETTLE_SECONDS, DropRecord, drop_read
from customers.models import Channel, ContactPoint, Interaction
from customers.services.core import ContactInput

CONTACT_COLUMNS = (
    ("email", ContactPoint.Kind.EMAIL),
    ("phone", ContactPoint.Kind.PHONE),
    ("loyalty", ContactPoint.Kind.LOYALTY),
)
DEFAULT_SUMMARY = {Channel.PHONE: "Phone call", Channel.STORE: "Store visit"}


@register("csv_drop")
class CsvDropAdapter(ChannelAdapter):
    polled = True

    def poll(self, cursor: dict[str, Any], limit: int) -> tuple[list[RawEvent], dict[str, Any]]:
        if not self.settings.get("path"):
            raise ValueError("The channel needs settings.path (the drop folder).")
        records, new_cursor = drop_read(
            self.settings["path"],
            cursor,
            limit,
            settle_seconds=float(self.settings.get("settle_seconds", SETTLE_SECONDS)),
            formats=("csv",),
        )
        return [self.event_of(record) for record in records], new_cursor

    def event_of(self, record: DropRecord) -> RawEvent:
        row = {str(k).strip().lower(): (v or "").strip() for k, v in record.fields.items()}
        error = record.error
        if not error:
            try:
                return RawEvent(event_id_of(row.get("external_id") or ""), row)
            except ValueError as exc:
                error = f"external_id: {exc}"
        return RawEvent(
            f"malformed:{record.origin}"[:200],
            {"malformed": error, "origin": record.origin, "raw": record.raw or str(row)[:2000]},
        )

    def to_interaction(self, payload: dict[str, Any]) -> InteractionDraft:
        if "malformed" in payload:
            raise EventUnusable(
                f"Malformed row at {payload.get('origin', '?')}: {payload['malformed']}."
            )
        contact = next(
            (
                ContactInput(kind=kind, value=payload[column])
                for column, kind in CONTACT_COLUMNS
                if payload.get(column)
            ),
            None,
        )
        if contact is None:
            raise EventUnusable("No customer: give an email, phone or loyalty column.")
        direction = payload.get("direction") or Interaction.Direction.INBOUND
        if direction not in Interaction.Direction.values:
            raise EventUnusable(
                f"direction {direction!r} is not one of {', '.join(Interaction.Direction.values)}."
            )
        occurred = payload.get("occurred_at") or ""
        when = parse_time(float(occurred) if occurred.isdigit() else occurred, "occurred_at")
        notes = payload.get("notes") or ""
        channel = self.source.channel
        summary = (payload.get("summary") or "")[:200] or summary_of(notes)
        return InteractionDraft(
            contact=contact,
            channel=channel,
            direction=direction,
            occurred_at=when,
            summary=summary or DEFAULT_SUMMARY.get(channel, "Logged contact"),
            body=notes,
            # Namespaced by source: two call centres (or stores' tills) may reuse ids.
            external_id=f"{channel}:{self.source.slug}:{payload['external_id']}",
            display_name=(payload.get("name") or "")[:200],
        )
