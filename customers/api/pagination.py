"""Keyset cursor pagination for the timeline API."""

from django.db.models import Q
from django.utils.dateparse import parse_datetime
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import Cursor, CursorPagination, _reverse_ordering

from cxportal.validation import datetime_problem, id_problem


class TimelineCursorPagination(CursorPagination):
    """DRF's cursor pagination over ``(-occurred_at, -id)`` as a true keyset.

    DRF keeps only the first ordering field in its cursor and steps over ties with an
    OFFSET (capped at 1,000), so many interactions sharing one ``occurred_at`` (a bulk
    import) cost more page after page and, past the cap, skip or repeat rows. Here the
    cursor holds ``occurred_at`` *and* ``id``: every position is unique, the offset is
    always 0, and page 100 is one indexed range read like page 1
    (``occurred_at <= t AND (occurred_at < t OR id < n)`` on the ``interaction_timeline``
    index). A malformed cursor is a 400, not a 404.
    """

    ordering = ("-occurred_at", "-id")
    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100
    template = None

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.page_size = self.get_page_size(request)
        self.base_url = request.build_absolute_uri()
        self.cursor = self.decode_cursor(request)
        reverse = bool(self.cursor and self.cursor.reverse)
        position = self.cursor.position if self.cursor else None

        queryset = queryset.order_by(
            *(_reverse_ordering(self.ordering) if reverse else self.ordering)
        )
        if position is not None:
            when, pk = _position_parse(position)
            if reverse:  # a "previous" link: rows newer than the cursor
                queryset = queryset.filter(occurred_at__gte=when).filter(
                    Q(occurred_at__gt=when) | Q(pk__gt=pk)
                )
            else:
                queryset = queryset.filter(occurred_at__lte=when).filter(
                    Q(occurred_at__lt=when) | Q(pk__lt=pk)
                )

        results = list(queryset[: self.page_size + 1])
        self.page = results[: self.page_size]
        following = (
            self._get_position_from_instance(results[-1], self.ordering)
            if len(results) > len(self.page)
            else None
        )
        if reverse:
            self.page.reverse()
            self.has_next, self.has_previous = position is not None, following is not None
            self.next_position, self.previous_position = position, following
        else:
            self.has_next, self.has_previous = following is not None, position is not None
            self.next_position, self.previous_position = following, position
        return self.page

    def decode_cursor(self, request):
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            raise ValidationError(
                {self.cursor_query_param: [self.invalid_cursor_message]}
            ) from None
        if cursor is None:
            return None
        if cursor.position is not None:
            _position_parse(cursor.position)
        return Cursor(offset=0, reverse=cursor.reverse, position=cursor.position)

    def _get_position_from_instance(self, instance, ordering):
        return f"{instance.occurred_at.isoformat()}|{instance.pk}"


def _position_parse(position: str):
    stamp, _, pk = position.rpartition("|")
    try:
        when = parse_datetime(stamp)
    except ValueError:
        when = None
    if when is None or datetime_problem(when) or not pk.isdigit() or id_problem(int(pk)):
        raise ValidationError({"cursor": [TimelineCursorPagination.invalid_cursor_message]})
    return when, int(pk)
