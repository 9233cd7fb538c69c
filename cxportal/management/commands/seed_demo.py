from django.core.management.base import BaseCommand

from cxportal.demo import DEMO_PASSWORD, demo_seed


class Command(BaseCommand):
    help = "Load demo users and customers (idempotent: a second run duplicates nothing)."

    def add_arguments(self, parser):
        parser.add_argument("--customers", type=int, default=60)

    def handle(self, *args, customers: int, **options):
        done = demo_seed(customers=customers)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo ready: {done['users']} users (password {DEMO_PASSWORD!r}), "
                f"{done['new_customers']} new customers ({done['customers']} in all)."
            )
        )
