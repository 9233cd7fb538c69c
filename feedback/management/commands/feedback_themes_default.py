"""`manage.py feedback_themes_default`: add the default theme taxonomy (missing themes only)."""

from django.core.management.base import BaseCommand

from feedback.services.themes import DEFAULT_THEMES, themes_ensure_defaults


class Command(BaseCommand):
    help = (
        "Add the default themes a customer-experience team starts from (delivery, refunds and "
        "billing, app and website, account, customer service, ...). Only missing themes are "
        "added, by name: a theme a supervisor edited or switched off is left as it is."
    )

    def handle(self, *args, **options):
        made = themes_ensure_defaults()
        self.stdout.write(
            f"{len(made)} of {len(DEFAULT_THEMES)} default themes added"
            + (f": {', '.join(t.name for t in made)}." if made else " (all there already).")
        )
