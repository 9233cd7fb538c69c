from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from cxportal.loadtest import Options, format_markdown, report_json, run


class Command(BaseCommand):
    help = (
        "Load test over HTTP: N staff users (logged in through the login form, think time "
        "between requests) doing their teams' work, plus a partner's interaction ingest "
        "stream, for --duration seconds against gunicorn (started here on DATABASE_URL, or "
        "--url of a running server). Prints a markdown table (per endpoint: requests, errors, "
        "p50/p95/p99) and writes JSON; exits 1 when a row's p95 reaches --p95-ms or any "
        "request fails."
    )

    def add_arguments(self, parser):
        parser.add_argument("--users", type=int, default=50, help="concurrent staff users")
        parser.add_argument("--duration", type=float, default=60, help="seconds of load")
        parser.add_argument(
            "--think",
            type=float,
            default=1.0,
            help="mean think time between a user's requests, seconds (each pause ± 50%%)",
        )
        parser.add_argument(
            "--ingest-rate",
            type=float,
            default=20,
            help="partner POSTs of one interaction per second (0: none)",
        )
        parser.add_argument(
            "--bulk-size", type=int, default=100, help="interactions per partner bulk POST"
        )
        parser.add_argument(
            "--bulk-every", type=float, default=5, help="seconds between bulk POSTs (0: none)"
        )
        parser.add_argument(
            "--p95-ms", type=float, default=300, help="fail when a row's p95 reaches this"
        )
        parser.add_argument("--seed", type=int, default=1, help="RNG seed (what users click)")
        parser.add_argument(
            "--url",
            default="",
            help="a running portal on this database (default: start gunicorn here)",
        )
        parser.add_argument(
            "--forwarded-proto",
            default="",
            help="with --url: send X-Forwarded-Proto (https for a production server reached "
            "without its TLS proxy)",
        )
        parser.add_argument(
            "--warmup",
            type=float,
            default=10,
            help="seconds of the same work before measuring (not recorded), so every server "
            "process has compiled its templates and connected, as in a running portal",
        )
        parser.add_argument("--workers", type=int, default=None, help="gunicorn processes")
        parser.add_argument("--threads", type=int, default=None, help="threads per process")
        parser.add_argument(
            "--debug",
            action="store_true",
            help="run gunicorn with the environment's settings instead of production ones "
            "(DJANGO_DEBUG=0, collected static files)",
        )
        parser.add_argument(
            "--json",
            default=str(Path(settings.VAR_DIR) / "loadtest.json"),
            help="where to write the JSON report",
        )

    def handle(self, *args, **opts):
        options = Options(
            users=opts["users"],
            duration=opts["duration"],
            think=opts["think"],
            ingest_rate=opts["ingest_rate"],
            bulk_size=opts["bulk_size"],
            bulk_every=opts["bulk_every"],
            p95_ms=opts["p95_ms"],
            seed=opts["seed"],
            url=opts["url"],
            forwarded_proto=opts["forwarded_proto"],
            workers=opts["workers"],
            threads=opts["threads"],
            production=not opts["debug"],
            warmup=opts["warmup"],
        )
        if options.users < 1 or options.duration <= 0:
            raise CommandError("--users and --duration must be positive.")

        def progress(message: str) -> None:
            self.stderr.write(f"  … {message}")
            self.stderr.flush()

        try:
            report = run(options, progress=progress)
        except RuntimeError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(format_markdown(report))
        path = Path(opts["json"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(report_json(report))
        self.stdout.write(f"\nJSON written to {path}")
        if not report.passed:
            raise CommandError("Load test failed: " + "; ".join(report.problems))
