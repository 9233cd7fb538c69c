"""`manage.py seed --customers N`: realistic customers at any scale (see customers/seed.py)."""

import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from customers.seed import seed_customers


class Command(BaseCommand):
    help = (
        "Add N realistic customers with contact points, consent, holdings, orders, places and "
        "interactions (COPY on PostgreSQL). Additive: running it again adds N more."
    )

    def add_arguments(self, parser):
        parser.add_argument("--customers", type=int, required=True)
        parser.add_argument("--interactions-per-customer", type=int, default=10)
        parser.add_argument("--seed", type=int, default=1, help="RNG seed (deterministic data)")
        parser.add_argument("--batch", type=int, default=50_000, help="customers per chunk")

    def handle(self, *args, customers, interactions_per_customer, seed, batch, **options):
        if customers < 1 or interactions_per_customer < 0 or batch < 1:
            raise CommandError("--customers and --batch must be >= 1, interactions >= 0.")
        bar = tqdm(total=customers, unit=" customers", file=sys.stderr, dynamic_ncols=True)

        def progress(done: int, rows: int) -> None:
            bar.update(done - bar.n)
            elapsed = bar.format_dict["elapsed"] or 1e-9
            bar.set_postfix(rows=f"{rows:,}", rows_per_s=f"{rows / elapsed:,.0f}")

        try:
            result = seed_customers(
                customers=customers,
                interactions_per_customer=interactions_per_customer,
                seed=seed,
                batch=batch,
                on_progress=progress,
            )
        finally:
            bar.close()
        width = max(len(table) for table in result.counts)
        for table, count in result.counts.items():
            self.stdout.write(f"  {table:<{width}}  {count:>12,}")
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {customers:,} customers (ids {result.first_customer_id}"
                f"–{result.last_customer_id}), {result.rows:,} rows in {result.elapsed:.1f} s "
                f"({result.rows / max(result.elapsed, 1e-9):,.0f} rows/s); "
                f"{result.places_created} new places."
            )
        )
        if result.skipped_fk_checks:
            self.stdout.write("  (foreign-key triggers skipped: rows consistent by construction)")
