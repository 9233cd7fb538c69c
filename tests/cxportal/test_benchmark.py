"""`manage.py benchmark` runs end to end on a small database and reports every row."""

import json

import pytest
from django.core.management import call_command

from customers.models import Interaction

pytestmark = pytest.mark.django_db(transaction=True)

ROWS = [
    "360 page (staff, HTML)",
    "timeline API, page 1",
    "timeline API, page 100",
    "search by email (API)",
    "search by order number (API)",
    "search by surname (API, first page)",
    "bulk ingest, new (1,000/batch)",
    "bulk ingest, replayed",
    "webhook accept (signed SMS, one per request)",
    "inbox processing, one task per event",
    "inbox processing, set-based page of 1,000",
]


def test_benchmark_seeds_measures_and_writes_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    call_command("benchmark", scale=20, repeat=3, batches=1, json=str(out))

    table = capsys.readouterr().out
    rows = {row["name"]: row for row in json.loads(out.read_text())}
    assert list(rows) == ROWS
    for name in ROWS:
        assert name in table
    # Pages and API calls: timed, with their query counts and the bare SQL beside them.
    for name in ROWS[:6]:
        assert rows[name]["p50_ms"] > 0 and rows[name]["queries"] >= 1, name
        assert rows[name]["sql_p50_ms"] is not None, name
    # Page 100 is as cheap in queries as page 1: keyset, no OFFSET walk.
    assert rows["timeline API, page 100"]["queries"] <= rows["timeline API, page 1"]["queries"]
    # Replaying a batch writes nothing new: fewer queries than the first time.
    assert (
        rows["bulk ingest, replayed"]["queries"] < rows["bulk ingest, new (1,000/batch)"]["queries"]
    )
    for name in ROWS[6:]:
        assert rows[name]["rate"] > 0, name
    assert Interaction.objects.filter(external_id__startswith="bench-").count() >= 1000
