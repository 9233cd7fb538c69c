"""Keyset pagination for staff pages: "older than id N", constant cost at any depth."""

from dataclasses import dataclass

from django.db.models import QuerySet


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
