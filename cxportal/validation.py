"""Values that parse but cannot be stored, caught before they reach the database.

Python accepts things our databases refuse, and each refusal would be a 500 for input that
is merely bad: a NUL character (PostgreSQL text and jsonb reject it), a lone surrogate such
as ``"\\ud800"`` (not encodable as UTF-8), a date-time of year 1 with a positive offset
(``OverflowError`` when converted to UTC), an id over 2**63 - 1 (``OverflowError`` on
SQLite, out of range for bigint). The services, forms, filters, serializers and the channel
inbox all check with these helpers, so every one answers the same clear message.

``*_problem`` functions return the message (or None); ``validate_*`` raise Django's
``ValidationError`` and work as form, model and DRF field validators.
"""

import re
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError

#: Date-times outside these years (after conversion to UTC) are refused: nothing we hold
#: happened before 1900 or is planned after 2200, and both bounds are far from the edges
#: (years 1 and 9999) where converting between time zones overflows.
MIN_YEAR, MAX_YEAR = 1900, 2200
#: The largest id a bigint primary key holds.
MAX_ID = 2**63 - 1

_SURROGATE = re.compile("[\ud800-\udfff]")

NUL_MESSAGE = "Null characters are not allowed."
SURROGATE_MESSAGE = "Contains a lone surrogate (\\ud800-\\udfff), which is not valid Unicode."
DATETIME_MESSAGE = f"A date-time between the years {MIN_YEAR} and {MAX_YEAR} is needed."
ID_MESSAGE = f"An id from 1 to {MAX_ID} is needed."


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text, or None."""
    if "\x00" in value:
        return NUL_MESSAGE
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return SURROGATE_MESSAGE
    return None


def validate_text(value: Any) -> None:
    if isinstance(value, str) and (problem := text_problem(value)):
        raise ValidationError(problem, code="invalid_text")


def datetime_problem(value: datetime) -> str | None:
    """Why ``value`` is out of the range we store, or None. Naive values are judged as
    given (they are made aware in the default time zone later, which cannot overflow
    inside the range); aware ones after conversion to UTC."""
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        return DATETIME_MESSAGE
    if value.tzinfo is not None:
        try:
            utc = value.astimezone(UTC)
        except (OverflowError, ValueError):
            return DATETIME_MESSAGE
        if not MIN_YEAR <= utc.year <= MAX_YEAR:
            return DATETIME_MESSAGE
    return None


def validate_datetime(value: Any) -> None:
    if isinstance(value, datetime) and (problem := datetime_problem(value)):
        raise ValidationError(problem, code="out_of_range")


def id_problem(value: int) -> str | None:
    """Why ``value`` cannot be a primary key, or None."""
    return None if 0 < value <= MAX_ID else ID_MESSAGE


def json_sanitized(value: Any) -> Any:
    """``value`` (parsed JSON) with NUL characters removed and lone surrogates replaced by
    U+FFFD in every string and key, so PostgreSQL's jsonb accepts it. Returns ``value``
    itself, untouched, when it is clean (the common case: no copy)."""
    if isinstance(value, str):
        return _text_sanitized(value) if text_problem(value) else value
    if isinstance(value, dict):
        items = [(json_sanitized(k), json_sanitized(v)) for k, v in value.items()]
        if all(k is k0 and v is v0 for (k, v), (k0, v0) in zip(items, value.items(), strict=True)):
            return value
        return dict(items)
    if isinstance(value, list):
        items = [json_sanitized(v) for v in value]
        if all(v is v0 for v, v0 in zip(items, value, strict=True)):
            return value
        return items
    return value


def _text_sanitized(value: str) -> str:
    return _SURROGATE.sub("\ufffd", value.replace("\x00", ""))


def text_field(errors: dict, field: str, value: Any, *, required: bool, limit: int) -> str:
    """A text input of a service, trimmed; a problem goes into ``errors[field]`` (the
    service raises them all at once). None counts as empty; another type is refused."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors[field] = ["Text is needed."]
        return ""
    value = value.strip()
    if required and not value:
        errors[field] = ["This field is required."]
    elif len(value) > limit:
        errors[field] = [f"At most {limit} characters."]
    elif problem := text_problem(value):
        errors[field] = [problem]
    return value
