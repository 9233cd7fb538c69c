"""Social listening and forums, polled: posts from a file drop or an HTTP endpoint.

Settings:

- ``network`` (required): ``twitter``, ``facebook``, ``forum``… — the customers' handles
  become social contact points of that network.
- ``brand_handles``: the brand's own accounts. A post by one of them is the channel
  speaking: an *outbound* interaction on the timeline of the customer it answers
  (``reply_to_author``, else the first ``@mention`` that is not a brand handle). A brand
  post that answers no customer (a broadcast) is not a customer interaction: its event
  fails with that reason.
- Either ``path``: a drop folder (or one file) of ``.csv`` / ``.jsonl`` files, read in name
  order with the cursor ``{"file", "offset"}`` (see ``file_drop.py``: only complete lines;
  ``settle_seconds``, default 60);
- or ``url``: ``GET <url>?since=<cursor.since>&limit=<n>`` answering the posts after
  ``since`` in order, as JSON lines, a JSON array, or CSV (``Content-Type: text/csv``); the
  cursor becomes ``{"since": <id of the last post>}``. ``timeout`` (seconds, default 10);
  the ``secret``, when set, is sent as ``Authorization: Bearer <secret>``.
- ``columns`` (optional): ``{"id": "tweet_id", ...}`` when an export names its columns
  differently; without it the usual names are recognised (below).

A post (one CSV row or JSON object)::

    {"id": "1790", "author": "@jane_doe", "author_name": "Jane Doe",
     "text": "@BrandCare my parcel is late", "created_at": "2026-05-01T09:30:00Z",
     "in_reply_to": "1788", "reply_to_author": ""}

Recognised column names: id (``tweet_id``, ``post_id``), author (``author_id``, ``user``,
``handle``, ``screen_name``), text (``body``, ``message``), created_at (``time``,
``timestamp``, ``date``), in_reply_to (``in_response_to_tweet_id``, ``parent_id``).
``created_at`` is ISO 8601, unix seconds, or Twitter's ``Tue Oct 31 22:10:47 +0000 2017``.
An id written as a float by a spreadsheet (``3.0``) is read as ``3``. External ids are
``<network>:<id>``, the same as the social webhook's, so a post that reaches us both ways is
one interaction. A malformed row (wrong number of fields, bad JSON, no id) is stored as an
event that fails with the reason; it never stops the poll.
"""

import io
import json
import re
import urllib.error
import urllib.request
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from customers.channels.base import (
    ChannelAdapter,
    EventIgnored,
    EventUnusable,
    InteractionDraft,
    RawEvent,
    event_id_of,
    register,
)
from customers.channels.file_drop import (
    RAW_KEPT,
    SETTLE_SECONDS,
    DropRecord,
    drop_read,
    records_read,
)
from customers.channels.social_webhook import SocialWebhookAdapter

ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "tweet_id", "post_id"),
    "author": ("author", "author_id", "user", "handle", "screen_name"),
    "author_name": ("author_name", "name", "user_name"),
    "text": ("text", "body", "message"),
    "created_at": ("created_at", "time", "timestamp", "date"),
    "in_reply_to": ("in_reply_to", "in_response_to_tweet_id", "parent_id", "reply_to_id"),
    "reply_to_author": ("reply_to_author",),
}
TWITTER_TIME = "%a %b %d %H:%M:%S %z %Y"
MAX_BODY = 50 * 1024 * 1024
_MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9_]{1,50})")
_FLOAT_ID = re.compile(r"^(\d+)\.0+$")


def _handle(value: str) -> str:
    return value.strip().lstrip("@").lower()


def _post_id(value: Any) -> str:
    """A post id as text; "3.0" (a spreadsheet's float) → "3"; ValueError when unusable."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = event_id_of(value)
    match = _FLOAT_ID.match(text)
    return match.group(1) if match else text


def _time(value: Any) -> Any:
    """Twitter's export format → ISO 8601; anything else is left for ``parse_time``."""
    if isinstance(value, str):
        try:
            return datetime.strptime(value.strip(), TWITTER_TIME).isoformat()
        except ValueError:
            pass
    return value


@register("social_feed")
class SocialFeedAdapter(ChannelAdapter):
    polled = True

    @property
    def network(self) -> str:
        return str(self.settings.get("network", "")).strip().lower()

    @property
    def brand_handles(self) -> set[str]:
        return {_handle(h) for h in self.settings.get("brand_handles", []) if isinstance(h, str)}

    # Polling ---------------------------------------------------------------------------

    def poll(self, cursor: dict[str, Any], limit: int) -> tuple[list[RawEvent], dict[str, Any]]:
        if not self.network:
            raise ValueError("The channel has no network configured (settings.network).")
        if self.settings.get("url"):
            return self._poll_url(cursor, limit)
        if not self.settings.get("path"):
            raise ValueError("The channel needs settings.path (a drop folder) or settings.url.")
        records, new_cursor = drop_read(
            self.settings["path"],
            cursor,
            limit,
            settle_seconds=float(self.settings.get("settle_seconds", SETTLE_SECONDS)),
        )
        return [self.event_of(record) for record in records], new_cursor

    def _poll_url(self, cursor: dict[str, Any], limit: int) -> tuple[list[RawEvent], dict]:
        url = str(self.settings["url"])
        if urlsplit(url).scheme not in ("http", "https"):
            raise ValueError(f"settings.url must be http(s), not {url!r}.")
        since = str(cursor.get("since") or "")
        query = urlencode({"since": since, "limit": limit} if since else {"limit": limit})
        request = urllib.request.Request(  # noqa: S310 - scheme checked above
            f"{url}{'&' if '?' in url else '?'}{query}", headers={"Accept": "application/json"}
        )
        if self.source.secret:
            # Not sent on to wherever the feed redirects (another host must not get it).
            request.add_unredirected_header("Authorization", f"Bearer {self.source.secret}")
        try:
            with urllib.request.urlopen(  # noqa: S310
                request, timeout=float(self.settings.get("timeout", 10))
            ) as response:
                body = response.read(MAX_BODY + 1)
                content_type = response.headers.get_content_type()
        except urllib.error.HTTPError as exc:
            if exc.code >= 500 or exc.code == 429:
                raise ConnectionError(f"The feed answered HTTP {exc.code}.") from None
            raise ValueError(f"The feed answered HTTP {exc.code}: {exc.reason}.") from None
        except urllib.error.URLError as exc:
            raise ConnectionError(f"The feed is unreachable: {exc.reason}.") from None
        if len(body) > MAX_BODY:
            raise ValueError(f"The feed answered more than {MAX_BODY} bytes; lower the limit.")
        name = f"since={since or '-'}"
        if content_type in ("text/csv", "application/csv"):
            records, _ = records_read(io.BytesIO(body), name=name, fmt="csv", limit=limit)
        elif body.lstrip()[:1] == b"[":
            try:
                items = json.loads(body)
            except ValueError as exc:
                raise ValueError(f"The feed's answer is not valid JSON: {exc}") from None
            records = [
                DropRecord(name, index, fields=item)
                if isinstance(item, dict)
                else DropRecord(name, index, error="a post must be a JSON object")
                for index, item in enumerate(items)
            ]
        else:
            records, _ = records_read(io.BytesIO(body), name=name, fmt="jsonl", limit=limit)
        events = [self.event_of(record) for record in records[:limit]]
        last = next((e for e in reversed(events) if "malformed" not in e.payload), None)
        return events, {"since": last.payload["id"]} if last else dict(cursor)

    # Reading ---------------------------------------------------------------------------

    def field_of(self, fields: dict[str, Any], name: str) -> Any:
        columns = self.settings.get("columns") or {}
        if name in columns:
            return fields.get(columns[name])
        lowered = {str(key).strip().lower(): value for key, value in fields.items()}
        return next((lowered[a] for a in ALIASES[name] if lowered.get(a) not in (None, "")), None)

    def event_of(self, record: DropRecord) -> RawEvent:
        """One post → one raw event: ``<network>:<post id>``, the post in a common shape.
        A record that cannot be read, or has no id, is kept as a malformed event (named by
        where it was) so it fails with its reason instead of vanishing."""
        network = self.network
        if not record.error:
            try:
                post_id = _post_id(self.field_of(record.fields, "id"))
            except ValueError as exc:
                record = DropRecord(
                    record.file,
                    record.offset,
                    error=f"id: {exc}",
                    raw=json.dumps(record.fields, default=str)[:RAW_KEPT],
                )
        if record.error:
            return RawEvent(
                f"malformed:{record.origin}"[:200],
                {"malformed": record.error, "origin": record.origin, "raw": record.raw},
            )
        reply_to = self.field_of(record.fields, "in_reply_to")
        try:
            reply_to = _post_id(reply_to) if reply_to not in (None, "") else None
        except ValueError:
            reply_to = None
        text = self.field_of(record.fields, "text")
        post = {
            "id": post_id,
            "network": network,
            "author": str(self.field_of(record.fields, "author") or ""),
            "author_name": str(self.field_of(record.fields, "author_name") or ""),
            "text": "" if text is None else str(text),
            "created_at": _time(self.field_of(record.fields, "created_at")),
            "in_reply_to": reply_to,
            "reply_to_author": str(self.field_of(record.fields, "reply_to_author") or ""),
            "origin": record.origin,
        }
        return RawEvent(f"{network}:{post_id}", post)

    def to_interaction(self, payload: dict[str, Any]) -> InteractionDraft:
        if "malformed" in payload:
            raise EventUnusable(
                f"Malformed row at {payload.get('origin', '?')}: {payload['malformed']}."
            )
        post = dict(payload)
        brands = self.brand_handles
        author = str(post.get("author") or "")
        if _handle(author) in brands and not str(post.get("reply_to_author") or "").strip():
            answered = next(
                (
                    m
                    for m in _MENTION.findall(str(post.get("text") or ""))
                    if m.lower() not in brands
                ),
                None,
            )
            if answered is None:
                raise EventIgnored(
                    f"A brand broadcast: @{author.lstrip('@')} posted to no customer "
                    "(no reply_to_author and no customer @mention), so it is on no timeline."
                )
            post["reply_to_author"] = answered
        # The same mapping as the social webhook: brand posts are outbound, threads by id.
        return SocialWebhookAdapter(self.source).to_interaction(post)
