from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination


class IdCursorPagination(CursorPagination):
    """Keyset pagination on the primary key: constant cost at any page depth."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def decode_cursor(self, request):
        """A malformed cursor is bad input (400 on ``cursor``), not a missing page."""
        try:
            return super().decode_cursor(request)
        except NotFound:
            message = self.invalid_cursor_message
            raise ValidationError({self.cursor_query_param: [message]}) from None
