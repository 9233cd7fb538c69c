"""Every write to customers. Topic modules: core (customers, contact points, consent,
interactions, identity resolution), ingest (bulk interactions and orders), merge, privacy
(GDPR export and erasure)."""

from customers.services.core import (
    consent_set,
    contact_point_add,
    customer_create,
    customer_resolve,
    customer_update,
    interaction_log,
)

__all__ = [
    "consent_set",
    "contact_point_add",
    "customer_create",
    "customer_resolve",
    "customer_update",
    "interaction_log",
]
