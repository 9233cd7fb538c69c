import json
import sys
from pathlib import Path

from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection

from customers.models import Customer
from cxportal.benchmark import ONLY, Benchmark, format_table


class Command(BaseCommand):
    help = (
        "Measure the 360 page, the timeline API (page 1 and 100), search, bulk ingest and the "
        "case queues and page, the care scans and a disruption's affected customers, segment "
        "counts, a campaign's audience and sends on the "
        "current database (fill it first with `manage.py seed --customers N` and "
        "`manage.py seed_cases --cases N`, or pass --scale and --cases). "
        "Prints a table and writes JSON."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--scale",
            type=int,
            default=0,
            help="first seed up to this many customers (nothing is added when there are enough)",
        )
        parser.add_argument(
            "--cases",
            type=int,
            default=0,
            help="then seed up to this many cases (nothing is added when there are enough)",
        )
        parser.add_argument(
            "--responses",
            type=int,
            default=0,
            help="then seed up to this many survey answers (for the feedback scorecard rows)",
        )
        parser.add_argument("--repeat", type=int, default=50, help="samples per measure")
        parser.add_argument("--batches", type=int, default=5, help="bulk-ingest batches")
        parser.add_argument("--json", default="var/benchmark.json", help="where to write JSON")
        parser.add_argument(
            "--only",
            choices=ONLY,
            default=None,
            help="measure only this group of rows (care: the care scans and a disruption's "
            "affected customers; feedback: the survey scorecard; campaigns: segment counts, "
            "an audience built with the contact gate and send batches)",
        )

    def handle(
        self,
        *args,
        scale: int,
        cases: int,
        repeat: int,
        responses: int = 0,
        batches: int,
        json: str,
        only: str | None = None,
        **options,
    ):
        if connection.vendor != "postgresql":
            self.stderr.write("Note: not PostgreSQL; the figures in the README are PostgreSQL's.")
        missing = scale - Customer.objects.count()
        if missing > 0:
            call_command("seed", customers=missing, stdout=self.stdout, stderr=self.stderr)
        if cases > 0:
            call_command("seed_cases", cases=cases, stdout=self.stdout, stderr=self.stderr)
        if responses > 0:
            call_command(
                "seed_feedback",
                responses=responses,
                no_progress=True,
                stdout=self.stdout,
                stderr=self.stderr,
            )

        def progress(message: str) -> None:
            print(f"  … {message}", file=sys.stderr, flush=True)

        rows = Benchmark(repeat=repeat, batches=batches, progress=progress).run(only=only)
        self.stdout.write(format_table(rows))
        path = Path(json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_dumps([r.as_dict() for r in rows]))
        self.stdout.write(f"\nJSON written to {path}")


def _dumps(data) -> str:
    return json.dumps(data, indent=2)
