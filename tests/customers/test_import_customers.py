from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from customers.models import ContactPoint, Customer
from cxportal.models import AuditEvent

pytestmark = pytest.mark.django_db

GOOD_AND_BAD = """display_name,email,phone,region,lifecycle_stage,preferred_channel,language
Ada Lovelace,ada@example.com,07700 900001,North,active,email,en
Alan Turing,alan@example.com,,South,,sms,
Bad Email,not-an-email,,East,active,email,en
Grace Hopper,,+1 202 555 0143,West,at_risk,phone,en
"Multi, Line",multi@example.com,,"East
side",new,,fr
No Contact,,,North,active,email,en
Bad Stage,stage@example.com,,North,royalty,email,en
Ada Again,ADA@example.com,,,,,
"""


def run(path, *args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("import_customers", str(path), "--no-progress", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_bad_rows_are_reported_by_line_and_rerun_changes_nothing(tmp_path):
    path = tmp_path / "customers.csv"
    path.write_text(GOOD_AND_BAD, encoding="utf-8")
    out, err = run(path, "--batch-size", "3")
    lines = err.strip().splitlines()
    assert lines[0].startswith("line 4: email: 'not-an-email' is not a valid email address")
    assert lines[1].startswith("line 8: email: An email or a phone is needed")
    assert lines[2].startswith("line 9: lifecycle_stage: Unknown value 'royalty'")
    assert len(lines) == 3
    assert out.strip() == "4 created, 0 updated, 1 unchanged, 3 rejected."

    ada = Customer.objects.get(display_name="Ada Lovelace")
    assert (ada.lifecycle_stage, ada.region, ada.preferred_channel) == ("active", "North", "email")
    assert set(ada.contact_points.values_list("normalized", flat=True)) == {
        "ada@example.com",
        "+447700900001",
    }
    multi = Customer.objects.get(display_name="Multi, Line")
    assert (multi.region, multi.language) == ("East\nside", "fr")
    assert Customer.objects.get(display_name="Alan Turing").lifecycle_stage == "prospect"
    assert not Customer.objects.filter(display_name="Ada Again").exists()
    counts = (Customer.objects.count(), ContactPoint.objects.count(), AuditEvent.objects.count())
    assert counts[0] == 4

    out, err = run(path)
    assert out.strip() == "0 created, 0 updated, 5 unchanged, 3 rejected."
    assert "line 4:" in err
    assert (Customer.objects.count(), ContactPoint.objects.count(), AuditEvent.objects.count()) == (
        counts
    )


def test_unknown_column_stops_before_writing(tmp_path):
    path = tmp_path / "customers.csv"
    path.write_text("display_name,email,shoe_size\nAda,ada@example.com,5\n", encoding="utf-8")
    with pytest.raises(CommandError, match="Unknown column.*shoe_size"):
        run(path)
    assert not Customer.objects.exists()


def test_row_with_too_many_values_is_rejected(tmp_path):
    path = tmp_path / "customers.csv"
    path.write_text(
        "\ufeffdisplay_name,email\nAda,ada@example.com,extra\nAlan,alan@example.com\n",
        encoding="utf-8",
    )
    out, err = run(path)
    assert err.strip() == "line 2: more values than the header has columns."
    assert out.strip() == "1 created, 0 updated, 0 unchanged, 1 rejected."


def test_missing_file_and_bad_encoding_are_command_errors(tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        run(tmp_path / "nope.csv")
    path = tmp_path / "latin1.csv"
    path.write_bytes("display_name,email\nJosé,jose@example.com\n".encode("latin-1"))
    with pytest.raises(CommandError, match="not UTF-8"):
        run(path)


def test_progress_bar_goes_to_stderr(tmp_path, capsys):
    path = tmp_path / "customers.csv"
    path.write_text("display_name,email\nAda,ada@example.com\n", encoding="utf-8")
    out = StringIO()
    call_command("import_customers", str(path), stdout=out)
    assert "1 created" in out.getvalue()
    assert "1/1" in capsys.readouterr().err
