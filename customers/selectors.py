"""Reads of customers, shared by the staff UI, the API and tasks."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import Count, Max, Min, Prefetch, Q, QuerySet, prefetch_related_objects
from django.utils import timezone

from customers.filtersets import CustomerFilterSet
from customers.models import (
    Channel,
    ChannelSource,
    Consent,
    ConsentEvent,
    ContactPoint,
    Customer,
    CustomerMerge,
    CustomerPlace,
    ErasedIdentity,
    Holding,
    InboundEvent,
    Interaction,
    Order,
    Purpose,
)
from customers.normalize import guess_kind, identity_digest
from cxportal.dashboards import dashboard_figure


def customer_list(
    *, actor, filters: dict | None = None, include_erased: bool = False
) -> QuerySet[Customer]:
    """Live (not merged-away) customers the actor may see, newest first, filtered and searched
    with ``CustomerFilterSet`` (``q`` searches name, email, phone, social handle, order number).

    Erased customers are anonymous aggregates: left out of lists and searches unless
    ``include_erased`` (finding one customer by its id, e.g. the API's detail actions)."""
    qs = Customer.objects.restrict(actor, "view").live().order_by("-id")
    if not include_erased:
        qs = qs.filter(erased_at__isnull=True)
    if filters:
        filterset = CustomerFilterSet(data=filters, queryset=qs)
        qs = filterset.qs if filterset.is_valid() else qs.none()
    return qs


def customer_get(*, actor, customer_id: int) -> Customer:
    return Customer.objects.restrict(actor, "view").get(pk=customer_id)


def customer_timeline(
    *, customer: Customer, channel: str | None = None, include_internal: bool = True
) -> QuerySet[Interaction]:
    """One customer's interactions across every channel, newest first.

    Ordered by ``(-occurred_at, -id)``, which the ``interaction_timeline`` /
    ``interaction_channel`` indexes serve directly; page it with a keyset cursor
    (``cxportal.pagination.timeline_page`` in the UI, DRF's CursorPagination in the API).
    """
    qs = Interaction.objects.filter(customer=customer)
    if not include_internal:  # staff notes are for staff, never for partner apps
        qs = qs.exclude(direction=Interaction.Direction.INTERNAL)
    if channel:
        qs = qs.filter(channel=channel)
    return qs.order_by("-occurred_at", "-id")


def customer_stage_counts(*, actor) -> list[dict]:
    """Customers per lifecycle stage, in the stage order, for home-page charts (a count
    over every customer: shared, up to a minute old)."""

    def count() -> dict:
        return dict(
            Customer.objects.restrict(actor, "view")
            .live()
            .values_list("lifecycle_stage")
            .annotate(n=Count("id"))
            .order_by()
        )

    rows = dashboard_figure("customer-stages", count, actor=actor, perm="customers.view_customer")
    return [
        {"stage": value, "label": label, "count": rows.get(value, 0)}
        for value, label in Customer.Lifecycle.choices
    ]


def can_see_restricted(actor) -> bool:
    return bool(actor and actor.has_perm("customers.view_restricted_customer"))


# --- The customer 360 page ---------------------------------------------------------------

RECENT_ORDERS = 5
HOLDINGS_SHOWN = 25
PLACES_SHOWN = 25


def customer_360(*, actor, customer_id: int) -> Customer:
    """One customer for the 360 page, with everything the page shows fetched in a fixed
    number of queries: ``contact_points``, ``consents``, ``holdings_shown`` (active first),
    ``recent_orders`` (the 5 newest) and ``places_shown`` (with their place).

    A merged-away customer comes back bare (``merged_into_id`` set, nothing prefetched):
    the caller sends the reader to the survivor. ``Customer.DoesNotExist`` when the actor
    may not see customers or there is no such one."""
    customer = customer_get(actor=actor, customer_id=customer_id)
    if customer.merged_into_id:
        return customer
    prefetch_related_objects(
        [customer],
        "contact_points",
        "consents",
        Prefetch(
            "holdings",
            queryset=Holding.objects.order_by("-is_active", "-started_on", "-id")[:HOLDINGS_SHOWN],
            to_attr="holdings_shown",
        ),
        Prefetch(
            "orders",
            queryset=Order.objects.order_by("-placed_at", "-id")[:RECENT_ORDERS],
            to_attr="recent_orders",
        ),
        Prefetch(
            "places",
            queryset=CustomerPlace.objects.select_related("place").order_by(
                "relation", "place__name"
            )[:PLACES_SHOWN],
            to_attr="places_shown",
        ),
    )
    return customer


@dataclass(frozen=True)
class ConsentCell:
    purpose: str
    purpose_label: str
    status: str  # "granted", "withdrawn" or "" (never asked)
    consent: Consent | None


def consent_grid(*, customer: Customer) -> list[tuple[str, str, list[ConsentCell]]]:
    """Channel × purpose: ``[(channel, channel label, [cell per purpose])]`` from the
    customer's (prefetched) consents; a pair never asked has status ``""``."""
    current = {(c.channel, c.purpose): c for c in customer.consents.all()}
    return [
        (
            channel,
            channel_label,
            [
                ConsentCell(
                    purpose=purpose,
                    purpose_label=purpose_label,
                    status=current[(channel, purpose)].status
                    if (channel, purpose) in current
                    else "",
                    consent=current.get((channel, purpose)),
                )
                for purpose, purpose_label in Purpose.choices
            ],
        )
        for channel, channel_label in Channel.choices
    ]


def contact_consent(*, customer_id: int, channel: str, purpose: str) -> tuple[bool, str]:
    """May we contact the customer on ``channel`` for ``purpose``, and if not, why.

    Service messages (about their own case, order or journey) need no opt-in but respect an
    opt-out; marketing and feedback research need the customer's explicit consent."""
    status = (
        Consent.objects.filter(customer_id=customer_id, channel=channel, purpose=purpose)
        .values_list("status", flat=True)
        .first()
    )
    if status == Consent.Status.WITHDRAWN:
        return False, f"the customer withdrew consent to {purpose} messages here."
    if purpose != Purpose.SERVICE and status != Consent.Status.GRANTED:
        return False, f"no consent to {purpose} messages here."
    return True, ""


def customer_sendable_addresses(*, customer_id: int) -> dict[str, str]:
    """The address each sending channel would use: ``{"email": ..., "sms": ...}`` (the
    primary contact point of the kind, else the newest)."""
    points = (
        ContactPoint.objects.filter(customer_id=customer_id, kind__in=["email", "phone"])
        .order_by("kind", "-is_primary", "-id")
        .values_list("kind", "normalized")
    )
    addresses: dict[str, str] = {}
    for kind, normalized in points:
        addresses.setdefault("email" if kind == "email" else "sms", normalized)
    return addresses


def customer_exact_match(*, actor, query: str) -> Customer | None:
    """The one customer an exact identifier names (email, phone, @handle or order number),
    or None when the query is not such an identifier or it names no one or several
    (the same @handle on two networks). One query."""
    query = (query or "").strip()
    if not query:
        return None
    if guess_kind(query) is not None:
        qs = customer_list(actor=actor, filters={"q": query})
    else:
        qs = (
            Customer.objects.restrict(actor, "view")
            .live()
            .filter(erased_at__isnull=True)
            .filter(pk__in=Order.objects.filter(external_id=query).values("customer_id"))
        )
    hits = list(qs.only("pk")[:2])
    return hits[0] if len(hits) == 1 else None


def is_erased_identity(*, kind: str, normalized: str) -> bool:
    """Whether this contact point (kind and *normalized* value) belonged to a customer whose
    personal data was erased: such a person is never marketed to again. One indexed query."""
    digest = identity_digest(kind, normalized)
    return ErasedIdentity.objects.filter(kind=kind, digest=digest).exists()


# --- The customers API ---------------------------------------------------------------------

CONSENT_HISTORY_SHOWN = 100


def customer_detail_list(*, actor) -> QuerySet[Customer]:
    """``customer_list`` with what a customer's API detail shows prefetched: contact points
    and current consent (two queries, whatever the number of rows). Erased customers are
    included: one is found by its id."""
    return customer_list(actor=actor, include_erased=True).prefetch_related(
        "contact_points", "consents"
    )


def customer_merge_list(*, customer: Customer) -> QuerySet[CustomerMerge]:
    """Merges into or from the customer, newest first, with both customers."""
    return (
        CustomerMerge.objects.filter(Q(survivor=customer) | Q(merged=customer))
        .select_related("survivor", "merged")
        .order_by("-id")
    )


def customer_merge_get(
    *, customer: Customer, merge_id: int | None = None, as_survivor: bool = False
) -> CustomerMerge | None:
    """One merge of the customer: ``merge_id`` (into or from it; only into it with
    ``as_survivor``), or without an id the open merge that took this customer away.
    None when there is no such merge."""
    if merge_id is not None:
        qs = (
            CustomerMerge.objects.filter(survivor=customer)
            if as_survivor
            else customer_merge_list(customer=customer)
        )
        return qs.filter(pk=merge_id).first()
    return (
        CustomerMerge.objects.filter(merged=customer, undone_at__isnull=True)
        .order_by("-id")
        .first()
    )


def customer_volumes(*, customer: Customer) -> dict[str, int]:
    """How much a customer has: ``{"orders": n, "interactions": n}`` (two indexed counts)."""
    return {
        "orders": Order.objects.filter(customer=customer).count(),
        "interactions": Interaction.objects.filter(customer=customer).count(),
    }


def customer_contact_points(*, customer: Customer) -> QuerySet[ContactPoint]:
    return ContactPoint.objects.filter(customer=customer).order_by("kind", "id")


def customer_consents(*, customer: Customer) -> QuerySet[Consent]:
    return Consent.objects.filter(customer=customer).order_by("channel", "purpose")


def customer_consent_history(
    *, customer: Customer, limit: int = CONSENT_HISTORY_SHOWN
) -> QuerySet[ConsentEvent]:
    """The latest ``limit`` consent changes, newest first (``consentevent_customer`` index)."""
    return ConsentEvent.objects.filter(customer=customer).order_by("-occurred_at", "-id")[:limit]


def contact_point_owners(*, points: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """``{(kind, normalized): customer_id}`` for those of ``points`` someone already has.
    One query on the (kind, normalized) unique index."""
    if not points:
        return {}
    wanted = set(points)
    rows = ContactPoint.objects.filter(
        kind__in={kind for kind, _ in wanted}, normalized__in={norm for _, norm in wanted}
    ).values_list("kind", "normalized", "customer_id")
    return {(kind, norm): owner for kind, norm, owner in rows if (kind, norm) in wanted}


# Channels ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelHealth:
    """One channel's health: when it last synced or failed (and why), how far processing is
    behind (``lag_seconds``: age of the oldest pending event), the ``backlog`` of pending
    events, and traffic over the last hour."""

    source: ChannelSource
    backlog: int
    oldest_pending_at: datetime | None
    events_last_hour: int
    failed_last_hour: int
    last_received_at: datetime | None
    now: datetime

    @property
    def lag_seconds(self) -> float:
        if self.oldest_pending_at is None:
            return 0.0
        return max((self.now - self.oldest_pending_at).total_seconds(), 0.0)

    @property
    def events_per_minute(self) -> float:
        return round(self.events_last_hour / 60, 2)

    @property
    def failing(self) -> bool:
        """The last sync failed (and nothing succeeded since)."""
        last_error_at, last_success_at = self.source.last_error_at, self.source.last_success_at
        return last_error_at is not None and (
            last_success_at is None or last_error_at > last_success_at
        )


def channel_health_list(*, now: datetime | None = None) -> list[ChannelHealth]:
    """Every configured channel with its health. Three queries whatever the number of
    channels or events: the sources, the pending backlog per source (the pending partial
    index), the last hour's events per source (the ``(source, received_at)`` index)."""
    now = now or timezone.now()
    sources = list(ChannelSource.objects.order_by("name"))
    pending = {
        row["source_id"]: row
        for row in InboundEvent.objects.filter(status=InboundEvent.Status.PENDING)
        .values("source_id")
        .annotate(n=Count("id"), oldest=Min("received_at"))
        .order_by()
    }
    hour = {
        row["source_id"]: row
        for row in InboundEvent.objects.filter(
            source_id__in=[source.pk for source in sources],  # the (source, received_at) index
            received_at__gte=now - timedelta(hours=1),
        )
        .values("source_id")
        .annotate(
            n=Count("id"),
            failed=Count("id", filter=Q(status=InboundEvent.Status.FAILED)),
            latest=Max("received_at"),
        )
        .order_by()
    }
    return [
        ChannelHealth(
            source=source,
            backlog=pending.get(source.pk, {}).get("n", 0),
            oldest_pending_at=pending.get(source.pk, {}).get("oldest"),
            events_last_hour=hour.get(source.pk, {}).get("n", 0),
            failed_last_hour=hour.get(source.pk, {}).get("failed", 0),
            last_received_at=hour.get(source.pk, {}).get("latest"),
            now=now,
        )
        for source in sources
    ]


def channel_traffic(
    *, source_ids: Sequence[int], now: datetime | None = None, minutes: int = 60
) -> dict[int, list[int]]:
    """Events received per minute over the last ``minutes``, per channel source of
    ``source_ids``: ``{source id: [count of the oldest minute, ..., count of the current
    minute]}``. One query whatever the number of channels (naming the sources lets it use
    the ``(source, received_at)`` index); sources with no traffic are absent."""
    from django.db.models.functions import TruncMinute

    now = now or timezone.now()
    start = now.replace(second=0, microsecond=0) - timedelta(minutes=minutes - 1)
    rows = (
        InboundEvent.objects.filter(
            source_id__in=list(source_ids), received_at__gte=start, received_at__lte=now
        )
        .annotate(minute=TruncMinute("received_at", tzinfo=UTC))
        .values("source_id", "minute")
        .annotate(n=Count("id"))
        .order_by()
    )
    traffic: dict[int, list[int]] = {}
    for row in rows:
        index = int((row["minute"] - start).total_seconds() // 60)
        if 0 <= index < minutes:
            traffic.setdefault(row["source_id"], [0] * minutes)[index] += row["n"]
    return traffic
