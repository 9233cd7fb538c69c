"""`manage.py benchmark` runs end to end on a small database and reports every row."""

import io
import json
import re
from datetime import time

import pytest
from django.core.management import call_command

from campaigns.models import Campaign, Delivery, GateSettings, Segment
from cases.models import CareFlag, CareScan, Case, Disruption, DisruptionCustomer
from customers.models import ChannelSource, Interaction, Order
from cxportal.models import AuditEvent

pytestmark = pytest.mark.django_db(transaction=True)

CASE_ROWS = [
    "cases queue API (team + status filter)",
    "cases queue page (staff, HTML)",
    "case page (staff, HTML)",
]
CARE_ROWS = [
    "care scan, full",
    "care scan, incremental after 1,000 changes",
    "disruption affected customers (5% of customers)",
]
CAMPAIGN_ROWS = [
    "segment count preview: region + lifecycle stage",
    "segment count preview: has a holding",
    "segment count preview: contact in 90 days + email marketing consent",
    "campaign audience build with the gate",
    "send enqueue rate (batches of 200)",
]
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

    captured = capsys.readouterr()
    table = captured.out
    rows = {row["name"]: row for row in json.loads(out.read_text())}
    expected = ROWS + CARE_ROWS + CAMPAIGN_ROWS
    if "no queued deliveries: skipping the send row" in captured.err:
        # 20 random customers may leave the gate nobody to send to: the benchmark says so.
        expected = [name for name in expected if not name.startswith("send enqueue rate")]
    assert list(rows) == expected
    assert "run `manage.py seed_cases --cases N` for the case rows" in captured.err
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
    for name in CARE_ROWS:
        assert rows[name]["p50_ms"] > 0 and "target" in rows[name]["note"], name
    assert Interaction.objects.filter(external_id__startswith="bench-").count() >= 1000


def test_benchmark_seeds_cases_and_measures_the_case_rows(tmp_path, capsys):
    out = tmp_path / "bench.json"
    call_command("benchmark", scale=20, cases=60, repeat=3, batches=1, json=str(out))

    assert Case.objects.count() == 60
    captured = capsys.readouterr()
    printed = captured.out
    names = [row["name"] for row in json.loads(out.read_text())]
    expected = ROWS[:6] + CASE_ROWS + ROWS[6:] + CARE_ROWS + CAMPAIGN_ROWS
    if "no queued deliveries: skipping the send row" in captured.err:
        # 20 random customers may leave the gate nobody to send to: the row says so.
        expected = expected[:-1]
    assert names == expected
    rows = {row["name"]: row for row in json.loads(out.read_text())}
    for name in CASE_ROWS:
        assert rows[name]["p50_ms"] > 0 and rows[name]["queries"] >= 1, name
        assert rows[name]["sql_p50_ms"] is not None and rows[name]["ratio"] is not None, name
        assert "60 cases" in rows[name]["note"], name
    assert "case page" in printed


def test_only_care_measures_the_care_rows_and_cleans_up(tmp_path, capsys):
    call_command("seed", customers=40, stdout=io.StringIO())
    call_command("seed_cases", cases=60, stdout=io.StringIO())
    orders = {o.pk: (o.promised_by, o.updated_at) for o in Order.objects.all()}
    cases = dict(Case.objects.values_list("pk", "updated_at"))
    out = tmp_path / "care.json"
    call_command("benchmark", only="care", repeat=3, json=str(out))

    rows = {row["name"]: row for row in json.loads(out.read_text())}
    assert list(rows) == CARE_ROWS
    for name in CARE_ROWS:
        assert rows[name]["p50_ms"] > 0 and rows[name]["queries"] >= 1, name
        assert rows[name]["p95_ms"] >= rows[name]["p50_ms"], name
    assert "target < 10 s" in rows["care scan, full"]["note"]
    assert "each after" in rows["care scan, incremental after 1,000 changes"]["note"]
    affected = rows["disruption affected customers (5% of customers)"]["note"]
    assert "customers affected" in affected and "target < 2 s" in affected
    err = capsys.readouterr().err
    for name in CARE_ROWS:
        assert name in err  # each row prints its time and rows as it goes
    # Scans ran (full, then incremental), flags stay; what was touched is back as it was.
    assert CareScan.objects.filter(since__isnull=True).count() >= 3
    assert CareScan.objects.filter(since__isnull=False).count() >= 4
    assert CareFlag.objects.exists()
    assert {o.pk: (o.promised_by, o.updated_at) for o in Order.objects.all()} == orders
    assert dict(Case.objects.values_list("pk", "updated_at")) == cases
    assert not Disruption.objects.exists() and not DisruptionCustomer.objects.exists()


def test_only_campaigns_counts_builds_sends_and_cleans_up(tmp_path, capsys):
    call_command("seed", customers=200, stdout=io.StringIO())
    interactions, audit = Interaction.objects.count(), AuditEvent.objects.count()
    out = tmp_path / "campaigns.json"
    call_command("benchmark", only="campaigns", repeat=3, batches=2, json=str(out))

    rows = {row["name"]: row for row in json.loads(out.read_text())}
    assert list(rows) == CAMPAIGN_ROWS
    for name in CAMPAIGN_ROWS[:3]:
        assert rows[name]["p50_ms"] > 0 and rows[name]["queries"] >= 1, name
        assert "customers, counted 3 times; target < 2 s" in rows[name]["note"], name
    build = rows["campaign audience build with the gate"]
    assert build["rate"] > 0 and "target < 30 s" in build["note"]
    assert "queued; suppressed: " in build["note"] and "no_consent" in build["note"]
    send = rows["send enqueue rate (batches of 200)"]
    assert send["rate"] > 0 and send["queries"] >= 1
    assert "written on the timeline and handed to the broker" in send["note"]
    assert re.search(r": [1-9][\d,]* written", send["note"])  # queued messages, not failed
    err = capsys.readouterr().err
    for name in CAMPAIGN_ROWS:
        assert name in err
    # Nothing the rows wrote stays: campaign, deliveries, messages, segments, audit entries,
    # the benchmark email channel and the gate settings.
    assert not Campaign.objects.exists() and not Delivery.objects.exists()
    assert not Segment.objects.exists()
    assert Interaction.objects.count() == interactions
    assert AuditEvent.objects.count() == audit
    assert not ChannelSource.objects.filter(slug="bench-email").exists()
    assert not GateSettings.objects.exists()


def test_only_campaigns_puts_the_gate_settings_back(tmp_path):
    call_command("seed", customers=30, stdout=io.StringIO())
    GateSettings.objects.create(quiet_hours_start=time(22, 0), quiet_hours_end=time(7, 0))
    call_command("benchmark", only="campaigns", repeat=3, batches=1, json=str(tmp_path / "c.json"))

    gate = GateSettings.objects.get()
    assert (gate.quiet_hours_start, gate.quiet_hours_end) == (time(22, 0), time(7, 0))
