"""Every write to customers. Topic modules: core (customers, contact points, consent,
interactions, identity resolution), ingest (bulk interactions and orders), merge, privacy
(GDPR export and erasure), inbox (channel events: store, process, sweep, sync)."""

from customers.services.core import (
    consent_set,
    contact_point_add,
    customer_create,
    customer_resolve,
    customer_update,
    interaction_log,
)
from customers.services.inbox import (
    channel_sync,
    channel_sync_retry,
    channels_sync_due,
    inbound_event_process,
    inbound_events_store,
    inbox_sweep,
)
from customers.services.ingest import (
    customer_bulk_import,
    interaction_bulk_ingest,
    order_bulk_upsert,
)
from customers.services.merge import customer_merge, customer_unmerge
from customers.services.privacy import customer_erase, customer_export

__all__ = [
    "channel_sync",
    "channel_sync_retry",
    "channels_sync_due",
    "inbound_event_process",
    "inbound_events_store",
    "inbox_sweep",
    "consent_set",
    "contact_point_add",
    "customer_bulk_import",
    "customer_create",
    "customer_erase",
    "customer_export",
    "customer_merge",
    "customer_resolve",
    "customer_unmerge",
    "customer_update",
    "interaction_bulk_ingest",
    "interaction_log",
    "order_bulk_upsert",
]
