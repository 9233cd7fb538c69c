from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination

from cxportal.validation import id_problem


class IdCursorPagination(CursorPagination):
    """Keyset pagination on the primary key: constant cost at any page depth."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def decode_cursor(self, request):
        """A malformed cursor is bad input (400 on ``cursor``), not a missing page; so is
        a well-formed one whose position is not an id (a crafted ``p=abc``)."""
        message = self.invalid_cursor_message
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            raise ValidationError({self.cursor_query_param: [message]}) from None
        position = cursor.position if cursor is not None else None
        if position is not None and not (
            position.isascii() and position.isdigit() and id_problem(int(position)) is None
        ):
            raise ValidationError({self.cursor_query_param: [message]})
        return cursor
