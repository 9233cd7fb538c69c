"""Checking the theme taxonomy and the sentiment score on real posts (a social export, e.g.
../shared/data/social/customer_support_twitter_5k.csv): how many posts each theme finds,
with examples, which posts no theme finds and the words they use most — what a supervisor
needs to extend the taxonomy. Used by ``manage.py feedback_themes_validate``.

The export is read as the social feed channel reads it (``customers.channels.file_drop``):
a malformed row is reported with its position and reason and never stops the read. Only
inbound posts (written by customers; the ``inbound`` column, when there is one) count.
"""

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from customers.channels.file_drop import records_read
from feedback.analysis import ThemeMatcher, sentiment_of

#: VADER's usual cut-offs for its compound score.
NEGATIVE_AT, POSITIVE_AT = -0.05, 0.05
EXAMPLE_WORDS = 6  # an example post says something: at least this many words
EXAMPLE_CHARS = 140
SHORT_WORDS = 3

_HANDLE_OR_LINK = re.compile(r"@\w+|https?://\S+")
_WORD = re.compile(r"[^\W\d_](?:[^\W\d_]|['’])+")
# Words that say nothing about a topic (English function words and chat fillers).
_STOPWORDS = """a about above after again against all also am an and any are aren't as at be because
    been before being below between both but by can can't cannot could couldn't did didn't do
    does doesn't doing don't done down during each even few for from further get gets getting
    got had hadn't has hasn't have haven't having he her here hers him his how i i'd i'll i'm
    i've if in into is isn't it it's its just know let let's like lol me more most much my
    need no nor not now of off ok okay on once one only or other our out over own please really
    same see she should so some still such than that that's the their them then there there's
    these they they're this those through to too u under until up ur us very via want was
    wasn't way we we're well were what what's when where which while who why will with won't
    would wouldn't yes yet you you're your yours hi hey hello im dont cant amp thing things
    going go make made say said back"""
STOPWORDS = frozenset(_STOPWORDS.split())


@dataclass(frozen=True)
class Post:
    id: str
    text: str
    sentiment: float | None
    themes: tuple[str, ...]
    hits: tuple[int, ...] = ()  # keywords found, per theme (same order as ``themes``)

    def hits_of(self, theme: str) -> int:
        return self.hits[self.themes.index(theme)] if theme in self.themes else 0


@dataclass
class ThemeCheck:
    """What the taxonomy finds in a set of posts."""

    origin: str
    rows: int = 0
    malformed: list[str] = field(default_factory=list)  # "<file>@<offset>: <reason>"
    outbound: int = 0
    posts: list[Post] = field(default_factory=list)
    theme_names: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.posts)

    def share(self, count: int) -> float:
        return round(100 * count / self.n, 1) if self.n else 0.0

    @property
    def sentiment_counts(self) -> dict[str, int]:
        counts = {"negative": 0, "neutral": 0, "positive": 0}
        for post in self.posts:
            counts[sentiment_label(post.sentiment)] += 1
        return counts

    @property
    def theme_counts(self) -> dict[str, int]:
        counts = Counter(name for post in self.posts for name in post.themes)
        return {name: counts[name] for name in self.theme_names}

    def negative_share(self, theme: str) -> float:
        """The share of this theme's posts that read negative."""
        posts = [post for post in self.posts if theme in post.themes]
        negative = sum(1 for post in posts if sentiment_label(post.sentiment) == "negative")
        return round(100 * negative / len(posts), 1) if posts else 0.0

    def examples(self, theme: str, limit: int = 2) -> list[str]:
        """Posts of this theme that say something."""
        found = [
            post
            for post in self.posts
            if theme in post.themes and len(_words(post.text)) >= EXAMPLE_WORDS
        ]
        # About this theme alone first, then those using most of its keywords.
        found.sort(key=lambda post: (len(post.themes), -post.hits_of(theme)))
        return [_shorten(post.text) for post in found[:limit]]

    @property
    def unmatched(self) -> list[Post]:
        return [post for post in self.posts if not post.themes]

    @property
    def unmatched_short(self) -> int:
        """Posts with no theme that hardly say anything ("@brand Just did", a link)."""
        return sum(1 for post in self.unmatched if len(_words(post.text)) <= SHORT_WORDS)

    def unmatched_words(self, limit: int = 25) -> list[tuple[str, int]]:
        """The words most posts without a theme use (each post counts a word once)."""
        counts: Counter[str] = Counter()
        for post in self.unmatched:
            counts.update({w for w in _words(post.text) if len(w) >= 3 and w not in STOPWORDS})
        return counts.most_common(limit)


def sentiment_label(score: float | None) -> str:
    if score is None:
        return "neutral"
    if score <= NEGATIVE_AT:
        return "negative"
    return "positive" if score >= POSITIVE_AT else "neutral"


def _words(text: str) -> list[str]:
    plain = _HANDLE_OR_LINK.sub(" ", text).casefold().replace("’", "'")
    return _WORD.findall(plain)


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= EXAMPLE_CHARS else text[: EXAMPLE_CHARS - 1] + "…"


def _field(fields: dict, *names: str) -> str:
    for name in names:
        if name in fields:
            return str(fields[name] or "")
    return ""


def theme_check(path: Path, themes: Iterable[tuple[int, str, list[str]]]) -> ThemeCheck:
    """Read the export at ``path`` and run sentiment and the themes (``(id, name,
    keywords)``) over its inbound posts. ``FileNotFoundError`` when it is missing."""
    themes = list(themes)
    matcher = ThemeMatcher.build((pk, keywords) for pk, _, keywords in themes)
    names = {pk: name for pk, name, _ in themes}
    check = ThemeCheck(origin=path.name, theme_names=[name for _, name, _ in themes])
    with path.open("rb") as stream:
        records, _ = records_read(stream, name=path.name, fmt="csv", limit=10**9)
    for record in records:
        if record.error:
            check.malformed.append(f"{record.origin}: {record.error}")
            continue
        check.rows += 1
        inbound = _field(record.fields, "inbound").strip().lower()
        if inbound in {"false", "0", "no"}:
            check.outbound += 1
            continue
        text = _field(record.fields, "text", "body", "message")
        found = [(pk, len(pattern.findall(text))) for pk, pattern in matcher.patterns]
        found = [(pk, hits) for pk, hits in found if hits]
        check.posts.append(
            Post(
                id=_field(record.fields, "tweet_id", "id", "post_id"),
                text=text,
                sentiment=sentiment_of(text),
                themes=tuple(names[pk] for pk, _ in found),
                hits=tuple(hits for _, hits in found),
            )
        )
    return check


def theme_check_report(check: ThemeCheck, *, examples: int = 2, words: int = 25) -> str:
    """The check in words and numbers, as the command prints it (Markdown-friendly)."""
    lines = [
        f"File: {check.origin}: {check.rows:,} rows read, {len(check.malformed)} malformed "
        "(reported, skipped)."
    ]
    lines += [f"  - malformed row at {problem}" for problem in check.malformed]
    lines.append(
        f"Posts read: {check.n:,} inbound customer posts "
        f"({check.outbound:,} outbound brand posts left out)."
    )
    s = check.sentiment_counts
    lines.append(
        f"Sentiment (VADER compound): negative {check.share(s['negative'])}% (≤ {NEGATIVE_AT}), "
        f"neutral {check.share(s['neutral'])}%, "
        f"positive {check.share(s['positive'])}% (≥ {POSITIVE_AT})."
    )
    themed = check.n - len(check.unmatched)
    several = sum(1 for post in check.posts if len(post.themes) > 1)
    lines.append(
        f"Themes: {len(check.theme_names)} active; {themed:,} posts ({check.share(themed)}%) "
        f"have at least one, {several:,} ({check.share(several)}%) more than one."
    )
    counts = check.theme_counts
    width = max((len(name) for name in counts), default=0)
    lines.append(f"  {'theme':<{width}}  {'posts':>5}  {'share':>6}  negative")
    for name, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        lines.append(
            f"  {name:<{width}}  {count:>5,}  {check.share(count):>5}%  "
            f"{check.negative_share(name):>7}%"
        )
        lines += [f"      “{text}”" for text in check.examples(name, examples)]
    unmatched = len(check.unmatched)
    lines.append(
        f"No theme: {unmatched:,} posts ({check.share(unmatched)}%), of which "
        f"{check.unmatched_short:,} have {SHORT_WORDS} words or fewer once @handles and "
        "links are left out."
    )
    top = ", ".join(f"{word} ({n})" for word, n in check.unmatched_words(words))
    lines.append(f"Top words in posts with no theme: {top or '—'}.")
    return "\n".join(lines)
