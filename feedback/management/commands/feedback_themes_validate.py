"""`manage.py feedback_themes_validate [--file EXPORT.csv]`: the active themes and the
sentiment score run over real customer posts, with what they find and what they miss."""

import os
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from feedback.models import Theme
from feedback.theme_check import theme_check, theme_check_report

SHARED_DIR = Path(os.environ.get("CXPORTAL_SHARED_DIR") or settings.BASE_DIR.parent / "shared")
DEFAULT_FILE = SHARED_DIR / "data" / "social" / "customer_support_twitter_5k.csv"


class Command(BaseCommand):
    help = (
        "Run the active themes and VADER sentiment over the inbound customer posts of a "
        "social export (default: the shared customer-support tweets) and print: posts read, "
        "share negative/neutral/positive, each theme's count with examples, the share with "
        "no theme and the words those posts use most (to extend the taxonomy in admin). "
        "Malformed rows are reported and skipped. Changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--file", type=Path, default=DEFAULT_FILE, help="a CSV export")
        parser.add_argument("--examples", type=int, default=2, help="example posts per theme")
        parser.add_argument("--words", type=int, default=25, help="top unmatched words shown")

    def handle(self, *args, file: Path, examples: int, words: int, **options):
        if not file.is_file():
            raise CommandError(f"{file}: no such file.")
        themes = list(
            Theme.objects.filter(is_active=True)
            .order_by("name")
            .values_list("pk", "name", "keywords")
        )
        if not themes:
            raise CommandError(
                "No active themes: add some in admin, or run `manage.py feedback_themes_default`."
            )
        check = theme_check(file, themes)
        self.stdout.write(theme_check_report(check, examples=examples, words=words))
