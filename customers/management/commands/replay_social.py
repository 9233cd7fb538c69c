"""`manage.py replay_social FILE.csv [--source SLUG]`: a social export through the real
social feed adapter and the channel inbox, safe to rerun."""

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from customers.channels.base import adapter_for
from customers.channels.file_drop import drop_read, file_format
from customers.models import Channel, ChannelSource, InboundEvent
from customers.services.inbox_batch import inbound_events_ingest

HELP = """Replay a social media export (CSV or JSON lines) into the timeline through the
social feed adapter, exactly as a polled feed channel would: every post is stored in the
channel inbox (one event per post id) and processed into an interaction on its customer.

  - Customers are the authors' handles on --network (numeric ids are fine); a new handle
    makes a new prospect.
  - Brands are the channel: authors that are not numeric ids (Twitter's customer-support
    export anonymises customers as numbers) are added to the source's brand_handles, and
    their posts become outbound interactions on the customer they answer.
  - Replies are threaded with the post they answer (in_reply_to), whichever came first.
  - A malformed row is reported with its position and reason and does not stop the replay.
  - Running it again adds nothing: post ids deduplicate.

The channel source (--source, default twitter-replay) is created when missing (inactive:
it is only fed by this command). Columns: see customers/channels/social_feed.py; Twitter's
export (tweet_id, author_id, created_at, text, in_response_to_tweet_id) works as it is."""

PAGE = 500


class Command(BaseCommand):
    help = HELP

    def create_parser(self, prog_name, subcommand, **kwargs):
        from argparse import RawDescriptionHelpFormatter

        kwargs["formatter_class"] = RawDescriptionHelpFormatter
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="the export: .csv, .jsonl or .ndjson")
        parser.add_argument("--source", default="twitter-replay", help="channel source slug")
        parser.add_argument("--network", default="twitter", help="social network of the handles")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, file: Path, source: str, network: str, no_progress: bool, **options):
        if not file.is_file():
            raise CommandError(f"{file}: no such file.")
        if file_format(file.name) is None:
            raise CommandError(f"{file}: a .csv, .jsonl or .ndjson file is needed.")
        channel_source = self._source(source, network)
        # Read with the source's own adapter, pointed at this file (the saved source keeps
        # its settings: it may be a live drop-folder channel).
        reading = ChannelSource(
            pk=channel_source.pk,
            slug=channel_source.slug,
            kind=channel_source.kind,
            channel=channel_source.channel,
            settings={**channel_source.settings, "path": str(file.resolve()), "settle_seconds": 0},
        )
        adapter = adapter_for(reading)
        brands = self._brands(adapter, file)
        if brands - set(channel_source.settings.get("brand_handles", [])):
            settings = dict(channel_source.settings)
            settings["brand_handles"] = sorted(set(settings.get("brand_handles", [])) | brands)
            channel_source.settings = settings
            channel_source.save(update_fields=["settings"])

        bar = tqdm(total=file.stat().st_size, unit="B", unit_scale=True, file=sys.stderr,
                   dynamic_ncols=True, disable=no_progress)  # fmt: skip
        cursor: dict = {}
        posts = new = 0
        with bar:
            while True:
                events, cursor = adapter.poll(cursor, PAGE)
                if not events:
                    break
                posts += len(events)
                new += inbound_events_ingest(source=channel_source, events=events)["new"]
                bar.n = cursor.get("offset", bar.n)
                bar.refresh()
        self._report(channel_source, posts, new)

    def _source(self, slug: str, network: str) -> ChannelSource:
        source, created = ChannelSource.objects.get_or_create(
            slug=slug,
            defaults={
                "name": f"{network.title()} replay ({slug})",
                "kind": ChannelSource.Kind.SOCIAL_FEED,
                "channel": Channel.SOCIAL,
                "is_active": False,
                "settings": {"network": network, "brand_handles": []},
            },
        )
        if source.kind != ChannelSource.Kind.SOCIAL_FEED:
            raise CommandError(f"Channel source {slug!r} is a {source.kind} channel, not a feed.")
        if created:
            self.stdout.write(f"Created the channel source {slug!r} ({network}).")
        return source

    def _brands(self, adapter, file: Path) -> set[str]:
        """Authors that are not numeric ids."""
        records, _ = drop_read(file, {}, limit=sys.maxsize, settle_seconds=0)
        authors = {str(adapter.field_of(r.fields, "author") or "").strip() for r in records}
        return {a.lstrip("@") for a in authors if a and not a.lstrip("@").isdigit()}

    def _report(self, source: ChannelSource, posts: int, new: int) -> None:
        events = InboundEvent.objects.filter(source=source)
        failed = list(
            events.filter(status=InboundEvent.Status.FAILED)
            .order_by("id")
            .values_list("provider_event_id", "error")
        )
        ignored = events.filter(status=InboundEvent.Status.IGNORED).count()
        self.stdout.write(
            f"{posts} post(s) read, {new} new; the channel now has "
            f"{events.filter(status=InboundEvent.Status.PROCESSED).count()} on timelines, "
            f"{len(failed)} failed"
            + (f", {ignored} ignored (brand posts to no customer)." if ignored else ".")
        )
        for event_id, error in failed:
            self.stdout.write(f"  {event_id}: {error}")
