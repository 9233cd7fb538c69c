from celery import shared_task
from django.core import management

from cxportal import outbound_webhooks


@shared_task(name="scans.sessions_clear_expired")
def sessions_clear_expired_task() -> None:
    """Delete expired staff sessions (Django's clearsessions), nightly from beat."""
    management.call_command("clearsessions")


@shared_task(name="outbound.webhook_deliver")
def webhook_deliver_task(delivery_id: int) -> str:
    return outbound_webhooks.webhook_deliver(delivery_id=delivery_id)


@shared_task(name="scans.webhooks_due")
def webhooks_due_task() -> int:
    return outbound_webhooks.webhooks_due_enqueue()
