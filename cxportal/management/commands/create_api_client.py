from django.core.management.base import BaseCommand, CommandError

from cxportal.roles import API_SCOPES
from cxportal.services import api_client_create


class Command(BaseCommand):
    help = "Create a partner API client and print its key (shown once, stored hashed)."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument(
            "--scopes",
            required=True,
            help=f"Comma-separated; known: {', '.join(sorted(API_SCOPES))}",
        )
        parser.add_argument("--rate", default="", help="Throttle, e.g. 600/min (default setting)")

    def handle(self, *args, name, scopes, rate, **options):
        from cxportal.models import APIClient

        if APIClient.objects.filter(name=name).exists():
            raise CommandError(f"An API client named {name!r} already exists.")
        try:
            client, key = api_client_create(
                name=name, scopes=[s.strip() for s in scopes.split(",") if s.strip()], rate=rate
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stderr.write(
            f"Created API client {client.name!r} with scopes {', '.join(client.scopes)}.\n"
            "This key is shown once; store it now. Send it as: Authorization: Api-Key <key>"
        )
        self.stdout.write(key)
