"""`manage.py loadtest`: staff users logged in through the form and a partner's ingest stream,
over HTTP against a real gunicorn (production settings) on the test database."""

import io
import json
import socket
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from customers.models import Interaction
from cxportal.loadtest import Failure, Recorder, percentile, report_build, teams_allocate
from cxportal.models import APIClient

PARTNER_ONE = "partner ingest, 1 interaction per POST"
PARTNER_BULK = "partner ingest, bulk of 10"


@pytest.mark.real_services
@pytest.mark.django_db(transaction=True)
def test_loadtest_drives_gunicorn_and_reports_every_endpoint(tmp_path):
    call_command("seed", customers=40, interactions_per_customer=3, stdout=io.StringIO())
    call_command("seed_cases", cases=30, stdout=io.StringIO())
    out, err, report_path = io.StringIO(), io.StringIO(), tmp_path / "loadtest.json"

    call_command(
        "loadtest",
        users=3,
        duration=4,
        warmup=1,
        think=0.2,
        ingest_rate=5,
        bulk_size=10,
        bulk_every=2,
        workers=2,
        threads=2,
        p95_ms=60_000,  # this test is about the harness; the shared test machine is no yardstick
        json=str(report_path),
        stdout=out,
        stderr=err,
    )

    report = json.loads(report_path.read_text())
    rows = {row["name"]: row for row in report["rows"]}
    assert report["passed"], report["problems"]
    assert report["settings"]["teams"] == {"service": 1, "sales": 1, "operations": 1}
    accounts = get_user_model().objects.filter(username__startswith="loadtest-")
    assert dict(accounts.values_list("username", "groups__team__slug")) == {
        "loadtest-service-01": "service",
        "loadtest-sales-01": "sales",
        "loadtest-operations-01": "operations",
    }
    assert report["logins"] == {
        "count": 3,
        "p50_ms": report["logins"]["p50_ms"],
        "max_ms": report["logins"]["max_ms"],
        "errors": 0,
    }
    # Staff pages were really served (a user's first task is never empty), partner ingest ran
    # on schedule (5/s for 4 s; bulk at 1 s and 3 s), and nothing failed.
    staff = [row for row in report["rows"] if row["kind"] == "staff"]
    assert sum(row["requests"] for row in staff) >= 6
    assert rows[PARTNER_ONE]["requests"] == 20
    assert rows[PARTNER_BULK]["requests"] == 2
    total = report["total"]
    assert total["requests"] == sum(row["requests"] for row in report["rows"])
    assert total["errors"] == 0 and report["failures"] == []
    for row in [*report["rows"], total]:
        assert 0 < row["p50_ms"] <= row["p95_ms"] <= row["p99_ms"] <= row["max_ms"], row
    # Every ingested interaction is in the database, and the run's partner key is switched off.
    run = report["settings"]["run"]
    assert Interaction.objects.filter(external_id__startswith=f"loadtest-{run}-").count() == 40
    assert not APIClient.objects.get(name=f"loadtest-partner-{run}").is_active

    # The markdown for the README: one line per endpoint and the total, and the verdict.
    table = out.getvalue()
    assert "| endpoint | requests | req/s | errors | p50 ms | p95 ms | p99 ms | max ms |" in table
    assert f"| {PARTNER_ONE} | 20 |" in table
    assert "| **all requests** |" in table
    assert "PASS: every row's p95 under 60,000 ms and no errors" in table
    assert "think time of 0.2 s ± 50%" in table
    assert "production settings" in table
    assert "requests, 0 errors; last" in err.getvalue()  # the progress line
    # The CPU gunicorn's workers spent is measured (Linux /proc), and said in the report.
    assert report["settings"]["server_cpu_seconds"] > 0
    assert "CPU time while the load ran" in table

    # gunicorn is stopped afterwards.
    address = urlsplit(report["settings"]["url"])
    with pytest.raises(OSError), socket.create_connection((address.hostname, address.port), 1):
        pass


def _recorder(samples: dict[str, list[float]], failures: dict[str, int] | None = None):
    recorder = Recorder()
    for name, values in samples.items():
        kind = "partner" if name.startswith("partner") else "staff"
        for i, ms in enumerate(values):
            failed = i < (failures or {}).get(name, 0)
            failure = Failure(name, "GET", "/x/", 500, "boom") if failed else None
            recorder.add(kind, name, ms, failure)
    return recorder


def test_report_fails_on_a_slow_row_or_any_error():
    settings_ = {"p95_ms": 300}
    fast = {"360 page": [20.0] * 99 + [900.0], "partner ingest": [10.0] * 50}

    ok = report_build(_recorder(fast), seconds=10, p95_ms=300, settings_=settings_)
    assert ok.passed and ok.problems == []
    assert ok.total.requests == 150 and ok.total.p95_ms == 20.0 and ok.total.max_ms == 900.0
    assert [row.name for row in ok.rows] == ["360 page", "partner ingest"]  # staff first

    slow = {"360 page": [20.0] * 90 + [400.0] * 10}
    report = report_build(_recorder(slow), seconds=10, p95_ms=300, settings_=settings_)
    assert not report.passed
    assert "360 page: p95 400 ms ≥ 300 ms" in report.problems

    failing = report_build(
        _recorder(fast, failures={"partner ingest": 1}), seconds=10, p95_ms=300, settings_=settings_
    )
    assert failing.problems == ["partner ingest: 1 errors", "all requests: 1 errors"]
    assert failing.failures[0].status == 500

    empty = report_build(Recorder(), seconds=10, p95_ms=300, settings_=settings_)
    assert not empty.passed and empty.problems == ["no requests were made"]


def test_percentiles_are_nearest_rank():
    samples = [float(n) for n in range(1, 101)]
    assert [percentile(samples, q) for q in (0.5, 0.95, 0.99, 1.0)] == [50, 95, 99, 100]
    assert percentile([7.0], 0.95) == 7.0


@pytest.mark.parametrize(
    ("users", "teams"),
    [
        (50, {"service": 20, "sales": 8, "operations": 8, "marketing": 8, "supervisor": 6}),
        (5, {"service": 1, "sales": 1, "operations": 1, "marketing": 1, "supervisor": 1}),
        (3, {"service": 1, "sales": 1, "operations": 1}),
        (1, {"service": 1}),
    ],
)
def test_staff_users_are_spread_over_the_teams(users, teams):
    allocated = teams_allocate(users)
    assert len(allocated) == users
    assert {slug: allocated.count(slug) for slug in set(allocated)} == teams
