"""`manage.py seed_cases --cases N`: realistic cases up to N (see cases/seed.py)."""

import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from cases.models import Case
from cases.seed import seed_cases


class Command(BaseCommand):
    help = (
        "Seed up to N realistic cases for the customers in the database, with their history "
        "and SLA clocks (COPY on PostgreSQL). Running it again with the same N adds nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--cases", type=int, required=True, help="how many cases in all")
        parser.add_argument("--seed", type=int, default=1, help="RNG seed (deterministic data)")
        parser.add_argument("--batch", type=int, default=20_000, help="cases per chunk")

    def handle(self, *args, cases: int, seed: int, batch: int, **options):
        if cases < 0 or batch < 1:
            raise CommandError("--cases must be >= 0 and --batch >= 1.")
        bar = None

        def progress(done: int, rows: int) -> None:
            nonlocal bar
            if bar is None:
                return
            bar.update(done - bar.n)
            elapsed = bar.format_dict["elapsed"] or 1e-9
            bar.set_postfix(rows=f"{rows:,}", rows_per_s=f"{rows / elapsed:,.0f}")

        missing = cases - Case.objects.count()
        if missing > 0:
            bar = tqdm(total=missing, unit=" cases", file=sys.stderr, dynamic_ncols=True)
        try:
            result = seed_cases(cases=cases, seed=seed, batch=batch, on_progress=progress)
        except ValueError as error:
            raise CommandError(str(error)) from None
        finally:
            if bar is not None:
                bar.close()
        added = result.counts["cases_case"]
        if not added:
            self.stdout.write(
                f"Nothing to do: {result.existing:,} cases already (asked for {cases:,})."
            )
            return
        for table, count in result.counts.items():
            self.stdout.write(f"  {table:<16}  {count:>12,}")
        if result.policies_created:
            self.stdout.write(f"  {result.policies_created} default SLA policies created")
        if result.agents_created:
            self.stdout.write(f"  {result.agents_created} service agents created")
        if result.skipped_fk_checks:
            self.stdout.write("  (foreign-key triggers skipped: rows consistent by construction)")
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {added:,} cases ({result.existing + added:,} in all), "
                f"{result.rows:,} rows in {result.elapsed:.1f} s "
                f"({result.rows / max(result.elapsed, 1e-9):,.0f} rows/s)."
            )
        )
