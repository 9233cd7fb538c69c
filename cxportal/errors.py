"""Errors worth retrying: the database or the broker was briefly away, a partner timed out.

Core (no app imports), so services of every app and the Celery wiring share one list. Any
other exception is a fault of the input or the code: retrying it repeats it.
"""

from django.db import InterfaceError as DatabaseInterfaceError
from django.db import OperationalError as DatabaseOperationalError
from kombu.exceptions import OperationalError as BrokerOperationalError

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionError,
    TimeoutError,
    DatabaseOperationalError,
    DatabaseInterfaceError,
    BrokerOperationalError,
)


class StaleVersion(Exception):
    """A write based on an old version of a record (someone else saved it meanwhile).

    Nothing was written. The API answers 409 with ``code: "conflict"``; staff pages show the
    message and the current values."""

    def __init__(self, message: str, *, current_version: int) -> None:
        super().__init__(message)
        self.current_version = current_version
