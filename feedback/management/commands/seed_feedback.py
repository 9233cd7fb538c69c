"""`manage.py seed_feedback --responses N`: survey answers up to N (see feedback/seed.py)."""

import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from feedback.models import Response
from feedback.seed import seed_feedback


class Command(BaseCommand):
    help = (
        "Seed up to N survey answers spread over the last 52 weeks (NPS, CSAT and CES mixed; "
        "channel, team and region filled; COPY on PostgreSQL), for benchmarks. Running it "
        "again with the same N adds nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--responses", type=int, required=True, help="how many in all")
        parser.add_argument("--seed", type=int, default=1, help="RNG seed (deterministic data)")
        parser.add_argument("--batch", type=int, default=20_000, help="answers per chunk")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, responses: int, seed: int, batch: int, no_progress: bool, **opts):
        if responses < 0 or batch < 1:
            raise CommandError("--responses must be >= 0 and --batch >= 1.")
        missing = responses - Response.objects.count()
        bar = tqdm(total=max(missing, 0), unit=" answers", file=sys.stderr,
                   dynamic_ncols=True, disable=no_progress or missing <= 0)  # fmt: skip

        def progress(done: int, rows: int) -> None:
            bar.update(done - bar.n)
            elapsed = bar.format_dict["elapsed"] or 1e-9
            bar.set_postfix(rows=f"{rows:,}", rows_per_s=f"{rows / elapsed:,.0f}")

        with bar:
            result = seed_feedback(
                responses=responses, seed=seed, batch=batch, on_progress=progress
            )
        added = result.counts["feedback_response"]
        if not added:
            self.stdout.write(
                f"Nothing to do: {result.existing:,} answers already (asked for {responses:,})."
            )
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {added:,} answers ({result.existing + added:,} in all) and "
                f"{result.counts['feedback_response_themes']:,} theme links in "
                f"{result.elapsed:.1f} s ({result.rows / max(result.elapsed, 1e-9):,.0f} rows/s)."
            )
        )
