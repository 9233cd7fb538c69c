from celery import shared_task
from django.core import management


@shared_task(name="scans.sessions_clear_expired")
def sessions_clear_expired_task() -> None:
    """Delete expired staff sessions (Django's clearsessions), nightly from beat."""
    management.call_command("clearsessions")
