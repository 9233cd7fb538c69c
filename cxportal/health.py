"""Is the database reachable? Is the broker? Used by /healthz."""

import os
from pathlib import Path

from django.conf import settings
from django.db import connection
from kombu import Connection


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}".strip()[:300]


def database_check() -> str | None:
    """None when the database answers, else what went wrong."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any failure means "not reachable"
        return _describe(exc)
    return None


def broker_check() -> str | None:
    """None when the Celery broker accepts connections, else what went wrong."""
    url = settings.CELERY_BROKER_URL
    if url.startswith("filesystem://"):
        folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
        if not os.access(folder, os.W_OK):
            return f"broker folder {folder} is missing or not writable"
        return None
    try:
        with Connection(url, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1, timeout=3)
            _ = conn.default_channel  # opens a channel: a real round trip to the broker
    except Exception as exc:
        return _describe(exc)
    return None
