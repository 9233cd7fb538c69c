"""Call logs and store visits from a CSV drop folder: columns, customers found by email /
phone / loyalty card, bad rows failed with a reason, only complete lines, replays once."""

import pytest

from customers.channels import adapter_for
from customers.channels.file_drop import drop_read
from customers.models import Channel, ContactPoint, Customer, InboundEvent, Interaction
from customers.services import (
    channel_sync,
    contact_point_add,
    customer_create,
    inbound_event_process,
)
from tests.customers.channel_support import ChannelSourceFactory

pytestmark = pytest.mark.django_db

HEADER = "external_id,occurred_at,email,phone,loyalty,name,direction,summary,notes\r\n"


def drop_source(folder, channel=Channel.PHONE, **fields):
    return ChannelSourceFactory(
        kind="csv_drop", channel=channel, secret="", settings={"path": str(folder)}, **fields
    )


def sync_and_process(source) -> str:
    result = channel_sync(source_id=source.pk)
    for event_id in InboundEvent.objects.filter(source=source, status="pending").values_list(
        "id", flat=True
    ):
        inbound_event_process(event_id=event_id)
    return result


def test_call_log_rows_land_on_the_right_customers(tmp_path):
    known = customer_create(actor=None, display_name="Ada Known")
    contact_point_add(actor=None, customer=known, kind="phone", value="+447700900123")
    (tmp_path / "calls-2026-05-01.csv").write_text(
        HEADER
        + "C-1,2026-05-01T09:30:00+01:00,,07700 900123,,,inbound,Parcel late,Courier lost it\r\n"
        + "C-2,1777000000,new.person@example.com,,,"
        + '"Nia New",outbound,,"Called back.\r\nAll good."\r\n'
        + "C-3,2026-05-01 10:00,,,LC-778899,,,,\r\n"
    )
    source = drop_source(tmp_path)

    assert sync_and_process(source) == "synced"

    prefix = f"phone:{source.slug}:"  # namespaced: another call centre's C-1 is another call
    by_id = {i.external_id.removeprefix(prefix): i for i in Interaction.objects.all()}
    assert set(by_id) == {"C-1", "C-2", "C-3"}
    assert {i.external_id for i in by_id.values()} == {
        prefix + "C-1",
        prefix + "C-2",
        prefix + "C-3",
    }
    assert {i.channel for i in by_id.values()} == {"phone"}
    assert by_id["C-1"].customer == known
    assert (by_id["C-1"].direction, by_id["C-1"].summary, by_id["C-1"].body) == (
        "inbound",
        "Parcel late",
        "Courier lost it",
    )
    assert by_id["C-1"].occurred_at.isoformat() == "2026-05-01T08:30:00+00:00"
    assert by_id["C-2"].customer.display_name == "Nia New"
    assert (by_id["C-2"].direction, by_id["C-2"].summary) == ("outbound", "Called back.")
    assert by_id["C-2"].body == "Called back.\r\nAll good."
    assert ContactPoint.objects.get(kind="loyalty", normalized="LC-778899").customer == (
        by_id["C-3"].customer
    )
    assert by_id["C-3"].summary == "Phone call"
    assert by_id["C-3"].recorded_by == f"channel:{source.slug}"


def test_store_visits_and_bad_rows_failed_with_the_reason(tmp_path):
    rows = [
        HEADER.strip(),
        "V-1,2026-05-02T11:00:00Z,ana@example.com,,,,,Returned a kettle,",
        "V-2,2026-05-02T11:05:00Z,,,,,,No customer given,",
        ",2026-05-02T11:06:00Z,bo@example.com,,,,,No id,",
        "V-4,yesterday,bo@example.com,,,,,Bad time,",
        "V-5,2026-05-02T11:08:00Z,bo@example.com,,,,sideways,Bad direction,",
        "V-6,2026-05-02T11:09:00Z,not-an-email,,,,,Bad email,",
        "V-7,2026-05-02T11:10:00Z,too,many,fields,here,x,y,z,extra",
        "V-8,2026-05-02T11:11:00Z,cy@example.com,,,,,Still read after the bad ones,",
    ]
    (tmp_path / "visits.csv").write_text("\n".join(rows) + "\n")
    at = [sum(len(row) + 1 for row in rows[:n]) for n in range(len(rows))]
    source = drop_source(tmp_path, channel=Channel.STORE)

    sync_and_process(source)

    assert sorted(Interaction.objects.values_list("channel", "external_id")) == [
        ("store", f"store:{source.slug}:V-1"),
        ("store", f"store:{source.slug}:V-8"),
    ]
    errors = dict(
        InboundEvent.objects.filter(status="failed").values_list("provider_event_id", "error")
    )
    assert errors == {
        "V-2": "No customer: give an email, phone or loyalty column.",
        f"malformed:visits.csv@{at[3]}": f"Malformed row at visits.csv@{at[3]}: external_id: "
        "the id must be 1 to 150 characters.",
        "V-4": "occurred_at 'yesterday' is not an ISO 8601 time or unix seconds.",
        "V-5": "direction 'sideways' is not one of inbound, outbound, internal.",
        "V-6": "'not-an-email' is not a valid email address.",
        f"malformed:visits.csv@{at[7]}": f"Malformed row at visits.csv@{at[7]}: the row has "
        "10 field(s), the header has 9.",
    }
    assert not Customer.objects.filter(display_name__in=["bo@example.com", "not-an-email"])


def test_two_drops_reusing_row_ids_keep_both_calls(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "calls.csv").write_text(HEADER + "C-1,1777000000,a@example.com,,,,,A,\r\n")
    (tmp_path / "b" / "calls.csv").write_text(HEADER + "C-1,1777000000,b@example.com,,,,,B,\r\n")
    one, two = drop_source(tmp_path / "a"), drop_source(tmp_path / "b")
    sync_and_process(one)
    sync_and_process(two)
    assert set(InboundEvent.objects.values_list("status", flat=True)) == {"processed"}
    assert sorted(Interaction.objects.values_list("external_id", "summary")) == sorted(
        [(f"phone:{one.slug}:C-1", "A"), (f"phone:{two.slug}:C-1", "B")]
    )


def test_a_resync_from_the_start_adds_nothing(tmp_path):
    (tmp_path / "calls.csv").write_text(
        HEADER + "C-1,2026-05-01T09:30:00Z,a@example.com,,,,,Hello,\n"
    )
    source = drop_source(tmp_path)
    sync_and_process(source)
    source.refresh_from_db()
    source.cursor = {}
    source.save()

    sync_and_process(source)

    assert Interaction.objects.count() == 1
    assert InboundEvent.objects.count() == 1


def test_partial_lines_quoted_line_breaks_and_bare_cr_line_ends(tmp_path):
    """The shared file-drop reader, as Python's csv module reads a file: a bare \\r ends a
    record outside quotes, line breaks inside quotes belong to the field, and a record with no
    line end yet is left for the next poll."""
    path = tmp_path / "calls.csv"
    path.write_bytes(
        b"external_id,notes\r\n"
        b'C-1,"two\nlines"\r\n'
        b"C-2,broken \r\rrest of it,,\r\n"
        b"C-3,still being writ"
    )
    records, cursor = drop_read(tmp_path, {}, 10)
    assert [(r.fields, r.error) for r in records] == [
        ({"external_id": "C-1", "notes": "two\nlines"}, ""),
        ({"external_id": "C-2", "notes": "broken "}, ""),
        ({}, "the row has 3 field(s), the header has 2"),
    ]
    assert cursor == {
        "file": "calls.csv",
        "offset": path.stat().st_size - len(b"C-3,still being writ"),
    }

    with path.open("ab") as f:
        f.write(b"ten\r\n")
    records, cursor = drop_read(tmp_path, cursor, 10)
    assert [r.fields for r in records] == [{"external_id": "C-3", "notes": "still being written"}]
    assert drop_read(tmp_path, cursor, 10) == ([], cursor)


def test_the_adapter_ignores_json_lines_and_other_files(tmp_path):
    (tmp_path / "notes.jsonl").write_text('{"external_id": "X"}\n')
    (tmp_path / "README.txt").write_text("hello\n")
    source = drop_source(tmp_path)
    assert adapter_for(source).poll({}, 10) == ([], {})
