"""Sentiment and themes of a piece of text (a survey comment, a post, a call note).

Sentiment is VADER's compound score (a lexicon-based analyser made for short social text),
from -1 (very negative) to +1. Themes are the supervisor's taxonomy (``Theme.keywords``):
a theme matches when one of its keywords or phrases occurs as whole words, ignoring case.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

#: Words VADER scores as positive that, written to a service, ask for something rather than
#: praise it: "please help, my order has not arrived!" is a complaint (+0.60 with them,
#: -0.52 without). Found on real customer-support posts (docs/feedback.md).
SERVICE_REQUEST_WORDS = ("help", "helps", "please", "support", "supports")


@lru_cache(maxsize=1)
def _analyser() -> SentimentIntensityAnalyzer:
    analyser = SentimentIntensityAnalyzer()
    for word in SERVICE_REQUEST_WORDS:
        analyser.lexicon.pop(word, None)
    return analyser


def sentiment_of(text: str) -> float | None:
    text = (text or "").strip()
    if not text:
        return None
    return round(_analyser().polarity_scores(text)["compound"], 3)


@dataclass(frozen=True)
class ThemeMatcher:
    """Compiled once per set of themes: ``matches(text)`` gives the theme ids found."""

    patterns: tuple[tuple[int, re.Pattern], ...]

    @classmethod
    def build(cls, themes: Iterable[tuple[int, list[str]]]) -> "ThemeMatcher":
        patterns = []
        for theme_id, keywords in themes:
            words = [w.strip() for w in keywords or [] if isinstance(w, str) and w.strip()]
            if not words:
                continue
            alternatives = "|".join(
                r"\s+".join(re.escape(part) for part in w.split())
                for w in sorted(words, key=len, reverse=True)
            )
            patterns.append((theme_id, re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.I)))
        return cls(tuple(patterns))

    def matches(self, text: str) -> list[int]:
        return [theme_id for theme_id, pattern in self.patterns if pattern.search(text or "")]
