"""`manage.py import_customers FILE.csv`: customers from a spreadsheet, safe to rerun."""

import csv
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from customers.services import customer_bulk_import
from customers.services.ingest import IMPORT_COLUMNS, MAX_ITEMS, STATUSES, ItemResult

HELP = """Import customers from a CSV file (UTF-8, first line = column names).

Columns (any order; only display_name is required, plus an email or a phone on each row):
  display_name       the customer's name (up to 200 characters)
  email              email address; matched case-insensitively
  phone              phone number, international (+44...) or national in the default region
  region             free text, e.g. North
  lifecycle_stage    prospect, new, active, at_risk or lapsed (default prospect)
  preferred_channel  email, sms, app, phone, social, store or web
  language           language code, e.g. en (default en)

A row whose email or phone is already known is matched to that customer and changes
nothing (it only adds a contact point the customer lacked), so rerunning a file changes
nothing. Rows are imported in batches; a bad row is reported with its line number and
reason and does not stop the others. Ends with a summary: created / updated / unchanged /
rejected."""


class Command(BaseCommand):
    help = HELP

    def create_parser(self, prog_name, subcommand, **kwargs):
        from argparse import RawDescriptionHelpFormatter

        kwargs["formatter_class"] = RawDescriptionHelpFormatter
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="CSV file to import")
        parser.add_argument(
            "--batch-size", type=int, default=MAX_ITEMS, help=f"rows per batch (1–{MAX_ITEMS})"
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, file: Path, batch_size: int, no_progress: bool, **options):
        if not 1 <= batch_size <= MAX_ITEMS:
            raise CommandError(f"--batch-size must be from 1 to {MAX_ITEMS}.")
        if not file.is_file():
            raise CommandError(f"{file}: no such file.")
        with file.open("rb") as raw:
            total_lines = sum(chunk.count(b"\n") for chunk in iter(lambda: raw.read(1 << 20), b""))
        counts = dict.fromkeys(STATUSES, 0)
        bar = tqdm(
            total=max(total_lines - 1, 0),
            unit=" rows",
            file=sys.stderr,
            dynamic_ncols=True,
            disable=no_progress,
        )
        try:
            with file.open(encoding="utf-8-sig", newline="") as handle:
                reader = csv.DictReader(handle)
                batch: list[tuple[int, dict]] = []
                line = 1
                try:
                    self._check_header(reader.fieldnames)
                    line = 2
                    for row in reader:
                        batch.append((line, row))
                        line = reader.line_num + 1
                        if len(batch) == batch_size:
                            self._import(batch, counts, bar)
                            batch = []
                except UnicodeDecodeError:
                    raise CommandError(f"{file}: not UTF-8 text (near line {line}).") from None
                except csv.Error as exc:
                    raise CommandError(f"{file}, line {reader.line_num}: {exc}") from None
                if batch:
                    self._import(batch, counts, bar)
        finally:
            bar.close()
        self.stdout.write(
            f"{counts['created']} created, {counts['updated']} updated, "
            f"{counts['unchanged']} unchanged, {counts['rejected']} rejected."
        )

    def _check_header(self, fieldnames: list[str] | None) -> None:
        columns = [name.strip() for name in fieldnames or []]
        unknown = sorted(set(columns) - set(IMPORT_COLUMNS))
        if unknown:
            raise CommandError(
                f"Unknown column(s): {', '.join(unknown)}. Known: {', '.join(IMPORT_COLUMNS)}."
            )
        if "display_name" not in columns or not {"email", "phone"} & set(columns):
            raise CommandError("The file needs a display_name column and an email or phone one.")

    def _import(self, batch: list[tuple[int, dict]], counts: dict, bar: tqdm) -> None:
        rows, lines, reports = [], [], []
        for line, row in batch:
            if None in row:  # more values than columns
                counts["rejected"] += 1
                reports.append(f"line {line}: more values than the header has columns.")
                continue
            rows.append({(key or "").strip(): value for key, value in row.items()})
            lines.append(line)
        results: list[ItemResult] = customer_bulk_import(actor=None, rows=rows) if rows else []
        for result in results:
            counts[result.status] += 1
            if result.errors:
                reasons = "; ".join(
                    f"{field}: {' '.join(messages)}" for field, messages in result.errors.items()
                )
                reports.append(f"line {lines[result.index]}: {reasons}")
        if reports:
            reports.sort(key=lambda text: int(text.split(":", 1)[0].removeprefix("line ")))
            with tqdm.external_write_mode(file=sys.stderr):
                for report in reports:
                    self.stderr.write(report)
        bar.update(len(batch))
