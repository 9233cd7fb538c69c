"""Keyset pagination for staff pages: "older than id N", constant cost at any depth."""

from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils.dateparse import parse_datetime

from cxportal.validation import datetime_problem, id_problem


@dataclass
class KeysetPage:
    items: list
    next_before: int | None


def keyset_page(qs: QuerySet, *, before: str | int | None, size: int) -> KeysetPage:
    """``qs`` must be ordered by ``-id``. Returns ``size`` rows and the cursor for the next."""
    try:
        before_id = int(before) if before not in (None, "") else None
    except (TypeError, ValueError):
        before_id = None
    if before_id is not None:
        qs = qs.filter(pk__lt=before_id)
    rows = list(qs[: size + 1])
    has_more = len(rows) > size
    rows = rows[:size]
    return KeysetPage(items=rows, next_before=rows[-1].pk if has_more else None)


@dataclass
class TimelinePage:
    items: list
    next_cursor: str | None


def _cursor_encode(occurred_at, pk: int) -> str:
    return f"{occurred_at.isoformat()}_{pk}"


def _cursor_decode(cursor: str | None):
    """``(occurred_at, id)`` from a cursor, or None for anything malformed: not a date-time
    (``2025-13-45``), out of the range we store (year 1 at +05:00 would overflow in the
    query), or an id out of range."""
    if not cursor:
        return None
    stamp, _, pk = cursor.rpartition("_")
    try:
        when = parse_datetime(stamp) if stamp else None
    except ValueError:  # well-formed but impossible: month 13, February 30
        return None
    if when is None or datetime_problem(when) or not pk.isdigit() or id_problem(int(pk)):
        return None
    return when, int(pk)


def timeline_page(qs: QuerySet, *, cursor: str | None, size: int) -> TimelinePage:
    """Keyset page of a queryset ordered by ``(-occurred_at, -id)``: rows strictly older than
    the cursor ``"<iso occurred_at>_<id>"``. A malformed cursor starts from the top."""
    from django.db.models import Q

    after = _cursor_decode(cursor)
    if after is not None:
        when, pk = after
        # The plain ``<=`` bound lets PostgreSQL read an index range instead of scanning.
        qs = qs.filter(occurred_at__lte=when).filter(Q(occurred_at__lt=when) | Q(pk__lt=pk))
    rows = list(qs[: size + 1])
    has_more = len(rows) > size
    rows = rows[:size]
    last = rows[-1] if rows and has_more else None
    return TimelinePage(
        items=rows, next_cursor=_cursor_encode(last.occurred_at, last.pk) if last else None
    )
