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
