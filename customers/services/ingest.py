"""Bulk writes from partners and files: interactions (idempotent on channel + external id),
orders (upserted by external id) and the CSV customer import.

Every bulk service is set-based, whatever the batch size: it validates every item first,
looks up what already exists and every contact point in one query each, creates the
prospects it needs in bulk, and writes each table with one statement. The query count of a
call does not grow with its items.

Two kinds of bad input:

- A batch whose *shape* is wrong (not a list, more than ``MAX_ITEMS`` items, an item that
  is not an object, an unknown field, a field of the wrong JSON type) is a bug in the caller:
  ``BulkInputError`` is raised and nothing is written.
- An item whose *values* are wrong (unknown channel, malformed email, unknown customer,
  text too long, ...) is rejected with its reasons and writes nothing, not even a prospect;
  it never blocks the good items of the batch. That includes values the database would
  refuse (``cxportal.validation``): an id over 2**63 - 1, a number too big for a float, a
  date-time outside 1900..2200 in UTC, text with a NUL or a lone surrogate.

Concurrency: inserts use ``ON CONFLICT`` (``ignore_conflicts`` / ``update_conflicts``) in a
stable order, so two processes sending the same batch at once neither fail nor duplicate.
"""

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from customers.models import Channel, ContactPoint, Customer, Interaction, Order
from customers.normalize import normalize_contact, normalize_email, normalize_phone
from cxportal.services import actor_label, audit_record
from cxportal.validation import datetime_problem, id_problem, text_problem

MAX_ITEMS = 1000
SUMMARY_MAX = Interaction._meta.get_field("summary").max_length
INTERACTION_EXTERNAL_ID_MAX = Interaction._meta.get_field("external_id").max_length
ORDER_EXTERNAL_ID_MAX = Order._meta.get_field("external_id").max_length
# An interaction may be stamped a little ahead of our clock, not days ahead.
FUTURE_TOLERANCE = timedelta(hours=24)

CREATED, UPDATED, UNCHANGED, REJECTED = "created", "updated", "unchanged", "rejected"
STATUSES = (CREATED, UPDATED, UNCHANGED, REJECTED)

Key = tuple[str, str]  # a contact point: (kind, normalized value)

# Choice values as tuples once (``TextChoices.values`` builds a new list on every call).
CHANNELS = tuple(Channel.values)
DIRECTIONS = tuple(Interaction.Direction.values)
CONTACT_KINDS = tuple(ContactPoint.Kind.values)
SHIPPING_METHODS = tuple(Order.Shipping.values)
ORDER_STATUSES = tuple(Order.Status.values)
LIFECYCLE_STAGES = tuple(Customer.Lifecycle.values)


@dataclass(frozen=True, slots=True)
class ItemResult:
    """What happened to one item of a batch. ``id`` is the interaction / order / customer."""

    index: int
    status: str
    id: int | None = None
    customer_id: int | None = None
    errors: dict[str, Any] | None = None


class BulkInputError(Exception):
    """The batch itself is malformed; nothing was written. ``errors`` maps item indexes
    (as strings) or ``"items"`` to per-field messages."""

    def __init__(self, message: str, errors: dict[str, Any]) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors


# --- Shape ---------------------------------------------------------------------------------

_TEXT = (str,)
_ID = (str, int)
_WHEN = (str, datetime)
_NUMBER = (int, float)
_MONEY = (str, int, float, Decimal)

CONTACT_SHAPE: dict[str, tuple[type, ...]] = {"kind": _TEXT, "value": _TEXT, "network": _TEXT}
INTERACTION_SHAPE: dict[str, tuple[type, ...]] = {
    "customer_id": (int,),
    "contact": (dict,),
    "channel": _TEXT,
    "direction": _TEXT,
    "occurred_at": _WHEN,
    "summary": _TEXT,
    "body": _TEXT,
    "external_id": _ID,
    "sentiment": _NUMBER,
}
ORDER_SHAPE: dict[str, tuple[type, ...]] = {
    "customer_id": (int,),
    "contact": (dict,),
    "external_id": _ID,
    "placed_at": _WHEN,
    "shipping_method": _TEXT,
    "promised_by": _WHEN,
    "delivered_at": _WHEN,
    "status": _TEXT,
    "total": _MONEY,
}
_TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    dict: "an object",
    datetime: "a date-time",
    Decimal: "a decimal",
}


def _describe(types: tuple[type, ...]) -> str:
    return " or ".join(dict.fromkeys(_TYPE_NAMES[t] for t in types))


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, list):
        return "a list"
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def _printable(name: str) -> str:
    """A name from the input, safe to put in the answer (a lone surrogate cannot be
    encoded as UTF-8)."""
    return ascii(name) if text_problem(name) else name


def _shape_problems(item: Any, shape: dict[str, tuple[type, ...]]) -> dict[str, Any]:
    if not isinstance(item, dict):
        return {"non_field_errors": [f"Expected an object, got {_json_type(item)}."]}
    problems: dict[str, Any] = {}
    for name, value in item.items():
        expected = shape.get(name)
        if expected is None:
            problems[_printable(str(name))] = [f"Unknown field; known: {', '.join(shape)}."]
        elif value is None:
            continue  # null is the same as absent
        elif isinstance(value, bool) or not isinstance(value, expected):
            problems[name] = [f"Expected {_describe(expected)}, got {_json_type(value)}."]
        elif name == "contact":
            nested = _shape_problems(value, CONTACT_SHAPE)
            if nested:
                problems[name] = nested
    return problems


def _check_shape(items: Any, shape: dict[str, tuple[type, ...]]) -> None:
    if not isinstance(items, list):
        raise BulkInputError(
            "Expected a list of items.", {"items": [f"Expected a list, got {_json_type(items)}."]}
        )
    if len(items) > MAX_ITEMS:
        raise BulkInputError(
            f"At most {MAX_ITEMS} items per batch; got {len(items)}. Nothing was written.",
            {"items": [f"At most {MAX_ITEMS} items per batch; got {len(items)}."]},
        )
    errors = {}
    for index, item in enumerate(items):
        problems = _shape_problems(item, shape)
        if problems:
            errors[str(index)] = problems
    if errors:
        raise BulkInputError(f"{len(errors)} item(s) are malformed; nothing was written.", errors)


# --- Values --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _CustomerRef:
    """An item's customer: by id, or by a contact point (kind, normalized) to find or create."""

    customer_id: int | None = None
    key: Key | None = None
    value: str = ""
    network: str = ""


def _customer_ref(item: dict, errors: dict[str, Any]) -> _CustomerRef | None:
    customer_id, contact = item.get("customer_id"), item.get("contact")
    if customer_id is None and contact is None:
        errors["customer"] = ["Name the customer by customer_id or by contact."]
        return None
    if customer_id is not None and contact is not None:
        errors["customer"] = ["Give either customer_id or contact, not both."]
        return None
    if customer_id is not None:
        if problem := id_problem(customer_id):
            errors["customer_id"] = [problem]
            return None
        return _CustomerRef(customer_id=customer_id)
    kind = contact.get("kind") or ""
    value = (contact.get("value") or "").strip()
    network = (contact.get("network") or "").strip().lower() if kind == "social" else ""
    if kind not in CONTACT_KINDS:
        errors["contact"] = {"kind": [f"Unknown kind {kind!r}; one of {', '.join(CONTACT_KINDS)}."]}
        return None
    for field, text in (("value", value), ("network", network)):
        if problem := text_problem(text):
            errors["contact"] = {field: [problem]}
            return None
    if len(value) > ContactPoint._meta.get_field("value").max_length:
        errors["contact"] = {"value": ["Too long."]}
        return None
    try:
        normalized = normalize_contact(kind, value, network)
    except ValidationError as exc:
        errors["contact"] = {"value": exc.messages}
        return None
    return _CustomerRef(key=(kind, normalized), value=value, network=network)


def _choice(item: dict, field: str, choices: Iterable[str], errors: dict, default: str = "") -> str:
    value = item.get(field)
    if value is None or value == "":
        if not default:
            errors[field] = ["This field is required."]
        return default
    if value not in choices:
        errors[field] = [f"Unknown value {value!r}; one of {', '.join(choices)}."]
    return value


def _when(item: dict, field: str, errors: dict, *, required: bool) -> datetime | None:
    value = item.get(field)
    if value is None or value == "":
        if required:
            errors[field] = ["This field is required."]
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            errors[field] = [f"{value!r} is not an ISO 8601 date-time."]
            return None
    if problem := datetime_problem(value):
        errors[field] = [problem]
        return None
    if timezone.is_naive(value):
        value = timezone.make_aware(value, timezone.get_default_timezone())
    return value


def _external_id(item: dict, errors: dict, max_length: int) -> str:
    value = item.get("external_id")
    value = str(value).strip() if value is not None else ""
    if not value:
        errors["external_id"] = ["This field is required: it makes replays safe."]
    elif len(value) > max_length:
        errors["external_id"] = [f"At most {max_length} characters."]
    elif problem := text_problem(value):
        errors["external_id"] = [problem]
    return value


def _text(item: dict, field: str, errors: dict, max_length: int) -> str:
    value = item.get(field) or ""
    if len(value) > max_length:
        errors[field] = [f"At most {max_length} characters; got {len(value)}."]
    elif problem := text_problem(value):
        errors[field] = [problem]
    return value


def _sentiment(value: int | float | None, errors: dict) -> float | None:
    if value is None:
        return None
    try:
        value = float(value)
    except OverflowError:  # an integer too big for a float
        value = math.inf
    if not (math.isfinite(value) and -1 <= value <= 1):
        errors["sentiment"] = ["A number from -1 (negative) to 1 (positive)."]
        return None
    return value


@dataclass(slots=True)
class _InteractionItem:
    ref: _CustomerRef
    channel: str
    direction: str
    occurred_at: datetime
    summary: str
    body: str
    external_id: str
    sentiment: float | None


def _interaction_clean(item: dict, now: datetime) -> tuple[_InteractionItem | None, dict]:
    errors: dict[str, Any] = {}
    ref = _customer_ref(item, errors)
    channel = _choice(item, "channel", CHANNELS, errors)
    direction = _choice(item, "direction", DIRECTIONS, errors)
    occurred_at = _when(item, "occurred_at", errors, required=True)
    if occurred_at is not None and occurred_at > now + FUTURE_TOLERANCE:
        errors["occurred_at"] = ["More than a day in the future."]
    summary = _text(item, "summary", errors, SUMMARY_MAX)
    body = _text(item, "body", errors, Interaction.BODY_MAX)
    external_id = _external_id(item, errors, INTERACTION_EXTERNAL_ID_MAX)
    sentiment = _sentiment(item.get("sentiment"), errors)
    if errors:
        return None, errors
    return _InteractionItem(
        ref, channel, direction, occurred_at, summary, body, external_id, sentiment
    ), errors


@dataclass(slots=True)
class _OrderItem:
    ref: _CustomerRef
    external_id: str
    placed_at: datetime
    shipping_method: str
    promised_by: datetime | None
    delivered_at: datetime | None
    status: str
    total: Decimal | None


_TOTAL_FIELD = Order._meta.get_field("total")


def _order_clean(item: dict) -> tuple[_OrderItem | None, dict]:
    errors: dict[str, Any] = {}
    ref = _customer_ref(item, errors)
    external_id = _external_id(item, errors, ORDER_EXTERNAL_ID_MAX)
    placed_at = _when(item, "placed_at", errors, required=True)
    shipping = _choice(item, "shipping_method", SHIPPING_METHODS, errors)
    promised_by = _when(item, "promised_by", errors, required=False)
    delivered_at = _when(item, "delivered_at", errors, required=False)
    status = _choice(item, "status", ORDER_STATUSES, errors, default=Order.Status.PLACED)
    if placed_at is not None:
        for field, value in (("promised_by", promised_by), ("delivered_at", delivered_at)):
            if value is not None and value < placed_at:
                errors[field] = ["Cannot be before placed_at."]
    if status == Order.Status.DELIVERED and delivered_at is None and "delivered_at" not in errors:
        errors["delivered_at"] = ["Required when the status is delivered."]
    total = item.get("total")
    if total is not None:
        try:
            total = _TOTAL_FIELD.clean(str(total) if isinstance(total, float) else total, None)
        except ValidationError as exc:
            errors["total"] = exc.messages
    if errors:
        return None, errors
    return _OrderItem(
        ref, external_id, placed_at, shipping, promised_by, delivered_at, status, total
    ), errors


def _rejected(index: int, errors: dict[str, Any]) -> ItemResult:
    return ItemResult(index=index, status=REJECTED, errors=errors)


# --- Customers: by id, by contact point, new prospects ----------------------------------------


def _keys_q(keys: Iterable[Key]) -> Q:
    by_kind: dict[str, list[str]] = {}
    for kind, normalized in keys:
        by_kind.setdefault(kind, []).append(normalized)
    query = Q(pk__in=[])
    for kind, values in sorted(by_kind.items()):
        query |= Q(kind=kind, normalized__in=sorted(values))
    return query


def _survivors(links: dict[int, int | None]) -> dict[int, int]:
    """``{customer id: merged_into id}`` → ``{customer id: live survivor id}``. Loads the
    customers merged into (one query per level of a merge chain; none without merges)."""
    for _level in range(10):
        pending = {into for into in links.values() if into and into not in links}
        if not pending:
            break
        links.update(Customer.objects.filter(pk__in=pending).values_list("pk", "merged_into_id"))
    survivors = {}
    for start in links:
        current, seen = start, {start}
        while links.get(current) and links[current] not in seen:
            current = links[current]
            seen.add(current)
        survivors[start] = current
    return survivors


def _contact_owners(keys: Iterable[Key]) -> dict[Key, tuple[int, int | None]]:
    """``{(kind, normalized): (customer id, its merged_into id)}`` for the keys known."""
    rows = ContactPoint.objects.filter(_keys_q(keys)).values_list(
        "kind", "normalized", "customer_id", "customer__merged_into_id"
    )
    return {(kind, norm): (cid, into) for kind, norm, cid, into in rows}


def _contact_points_claim(points: list[ContactPoint]) -> dict[Key, int]:
    """Insert contact points, skipping any a concurrent request inserted first (no
    IntegrityError), and return who owns each key now."""
    points = sorted(points, key=lambda p: (p.kind, p.normalized))  # stable lock order
    ContactPoint.objects.bulk_create(points, ignore_conflicts=True)
    rows = ContactPoint.objects.filter(_keys_q((p.kind, p.normalized) for p in points))
    return {(k, n): cid for k, n, cid in rows.values_list("kind", "normalized", "customer_id")}


def _identity(customer: int | Customer) -> tuple[str, int]:
    """Tell stored customers (ids) and customers of this batch (unsaved objects) apart."""
    return ("stored", customer) if isinstance(customer, int) else ("new", id(customer))


def _customers_drop_unclaimed(customers: list[Customer], owners: dict[Key, int], keys) -> set[int]:
    """Delete the new customers that lost every one of their contact points to a concurrent
    request (so no empty prospect is left behind); returns their ids."""
    claimed = {owners.get(key) for key in keys}
    lost = {c.pk for c in customers if c.pk not in claimed}
    if lost:
        Customer.objects.filter(pk__in=lost).delete()
    return lost


def _customers_resolve(
    refs: dict[int, _CustomerRef],
) -> tuple[dict[int, int], dict[int, dict], list[int]]:
    """Find each item's live customer, creating one prospect per unknown contact point.

    Returns ``({index: customer id}, {index: errors}, [new prospect ids])``.
    """
    ids = {ref.customer_id for ref in refs.values() if ref.customer_id}
    keys = {ref.key: ref for ref in refs.values() if ref.key}
    links: dict[int, int | None] = {}
    erased: set[int] = set()
    if ids:
        rows = Customer.objects.filter(pk__in=ids).values_list("pk", "merged_into_id", "erased_at")
        for pk, into, erased_at in rows:
            links[pk] = into
            if erased_at is not None:
                erased.add(pk)
    owners: dict[Key, int] = {}
    if keys:
        for key, (cid, into) in _contact_owners(keys).items():
            owners[key] = cid
            links[cid] = into
    survivors = _survivors(links)

    new_keys = sorted(key for key in keys if key not in owners)
    prospects: list[int] = []
    if new_keys:
        customers = [
            Customer(
                display_name=keys[key].value[:200], lifecycle_stage=Customer.Lifecycle.PROSPECT
            )
            for key in new_keys
        ]
        Customer.objects.bulk_create(customers)
        points = [
            ContactPoint(
                customer_id=customer.pk,
                kind=key[0],
                network=keys[key].network,
                value=keys[key].value,
                normalized=key[1],
                is_primary=True,
            )
            for key, customer in zip(new_keys, customers, strict=True)
        ]
        claimed = _contact_points_claim(points)
        lost = _customers_drop_unclaimed(customers, claimed, new_keys)
        prospects = [c.pk for c in customers if c.pk not in lost]
        for key in new_keys:
            owners[key] = claimed[key]
            survivors.setdefault(claimed[key], claimed[key])

    found: dict[int, int] = {}
    errors: dict[int, dict] = {}
    for index, ref in refs.items():
        if ref.customer_id:
            if ref.customer_id not in links:
                errors[index] = {"customer_id": [f"No customer with id {ref.customer_id}."]}
            elif ref.customer_id in erased:
                errors[index] = {"customer_id": [f"Customer {ref.customer_id} was erased."]}
            else:
                found[index] = survivors[ref.customer_id]
        else:
            found[index] = survivors[owners[ref.key]]
    return found, errors, prospects


def _audit_batch(*, actor: Any, action: str, model: type, after: dict) -> None:
    """One audit event per batch, targeted at the model's content type ("a bulk write to
    customers.interaction"); the actor (user or partner client) is on the event itself."""
    audit_record(
        actor=actor, action=action, target=ContentType.objects.get_for_model(model), after=after
    )


def result_counts(results: list[ItemResult]) -> dict[str, int]:
    """``{created, updated, unchanged, rejected}`` → how many items of each."""
    counts = dict.fromkeys(STATUSES, 0)
    for result in results:
        counts[result.status] += 1
    return counts


# --- Interactions ----------------------------------------------------------------------------


def _interaction_keys_q(keys: Iterable[tuple[str, str]]) -> Q:
    by_channel: dict[str, list[str]] = {}
    for channel, external_id in keys:
        by_channel.setdefault(channel, []).append(external_id)
    query = Q(pk__in=[])
    for channel, external_ids in sorted(by_channel.items()):
        query |= Q(channel=channel, external_id__in=external_ids)
    return query


@transaction.atomic
def interaction_bulk_ingest(*, actor: Any, items: list[dict]) -> list[ItemResult]:
    """Add up to ``MAX_ITEMS`` interactions to customers' timelines, idempotently.

    Each item names its customer by ``customer_id`` or by ``contact`` (``{kind, value,
    network?}``; an unknown contact point becomes a new prospect, once per batch), plus
    ``channel``, ``direction``, ``occurred_at``, ``summary``, ``body``, ``external_id``
    (required) and optional ``sentiment`` (-1..1). An item whose ``(channel, external_id)`` is
    already stored is ``unchanged`` (stored interactions are never rewritten); a merged
    customer resolves to its survivor. Returns one ``ItemResult`` per item, in order.
    Raises ``BulkInputError`` (nothing written) when the batch is malformed.
    """
    _check_shape(items, INTERACTION_SHAPE)
    now = timezone.now()
    results: list[ItemResult | None] = [None] * len(items)
    pending: dict[int, _InteractionItem] = {}
    first_of: dict[tuple[str, str], int] = {}
    for index, item in enumerate(items):
        data, errors = _interaction_clean(item, now)
        if data is None:
            results[index] = _rejected(index, errors)
            continue
        first = first_of.setdefault((data.channel, data.external_id), index)
        if first != index:
            message = f"Item {first} has the same channel and external_id."
            results[index] = _rejected(index, {"external_id": [message]})
            continue
        pending[index] = data

    if pending:
        stored = Interaction.objects.filter(_interaction_keys_q(first_of)).values_list(
            "channel", "external_id", "pk", "customer_id"
        )
        for channel, external_id, pk, customer_id in stored:
            index = first_of[(channel, external_id)]
            if pending.pop(index, None) is not None:
                results[index] = ItemResult(index, UNCHANGED, id=pk, customer_id=customer_id)

    prospects: list[int] = []
    if pending:
        found, ref_errors, prospects = _customers_resolve({i: d.ref for i, d in pending.items()})
        for index, errors in ref_errors.items():
            del pending[index]
            results[index] = _rejected(index, errors)
        _interactions_insert(pending, found, results, recorded_by=actor_label(actor))

    counts = result_counts(results)
    if counts[CREATED] or prospects:
        _audit_batch(
            actor=actor,
            action="interaction.bulk_ingest",
            model=Interaction,
            after={**counts, "items": len(items), "prospects_created": prospects},
        )
    return results


def _interactions_insert(
    pending: dict[int, _InteractionItem],
    customers: dict[int, int],
    results: list[ItemResult | None],
    *,
    recorded_by: str,
) -> None:
    """Insert in one statement, skipping rows a concurrent request inserted first, then read
    back which rows are ours: ``created_at`` is stamped per row at insert, so a row whose
    stamp is not the one we sent was written by someone else (``unchanged``)."""
    if not pending:
        return
    ordered = sorted(pending, key=lambda i: (pending[i].channel, pending[i].external_id))
    objs = [
        Interaction(
            customer_id=customers[index],
            channel=data.channel,
            direction=data.direction,
            occurred_at=data.occurred_at,
            summary=data.summary,
            body=data.body,
            external_id=data.external_id,
            sentiment=data.sentiment,
            recorded_by=recorded_by,
        )
        for index in ordered
        for data in (pending[index],)
    ]
    Interaction.objects.bulk_create(objs, ignore_conflicts=True)
    keys = [(obj.channel, obj.external_id) for obj in objs]
    stored = {
        (channel, external_id): (pk, customer_id, created_at)
        for channel, external_id, pk, customer_id, created_at in Interaction.objects.filter(
            _interaction_keys_q(keys)
        ).values_list("channel", "external_id", "pk", "customer_id", "created_at")
    }
    for index, obj, key in zip(ordered, objs, keys, strict=True):
        row = stored.get(key)
        if row is None:  # inserted and deleted by someone else meanwhile
            results[index] = _rejected(index, {"external_id": ["Not stored; please retry."]})
            continue
        pk, customer_id, created_at = row
        ours = created_at == obj.created_at and customer_id == obj.customer_id
        results[index] = ItemResult(
            index, CREATED if ours else UNCHANGED, id=pk, customer_id=customer_id
        )


# --- Orders ----------------------------------------------------------------------------------

ORDER_FIELDS = (
    "customer_id",
    "placed_at",
    "shipping_method",
    "promised_by",
    "delivered_at",
    "status",
    "total",
)


@transaction.atomic
def order_bulk_upsert(*, actor: Any, items: list[dict]) -> list[ItemResult]:
    """Create or update up to ``MAX_ITEMS`` orders by ``external_id``.

    Each item is the order's full current state: ``external_id``, the customer
    (``customer_id`` or ``contact``, as for interactions), ``placed_at``, ``shipping_method``,
    optional ``promised_by``, ``delivered_at``, ``status`` (default placed) and ``total``.
    An absent optional field is stored empty. Items equal to what is stored are
    ``unchanged`` and not written. Returns one ``ItemResult`` per item, in order.
    """
    _check_shape(items, ORDER_SHAPE)
    results: list[ItemResult | None] = [None] * len(items)
    pending: dict[int, _OrderItem] = {}
    first_of: dict[str, int] = {}
    for index, item in enumerate(items):
        data, errors = _order_clean(item)
        if data is None:
            results[index] = _rejected(index, errors)
            continue
        first = first_of.setdefault(data.external_id, index)
        if first != index:
            message = f"Item {first} has the same external_id."
            results[index] = _rejected(index, {"external_id": [message]})
            continue
        pending[index] = data

    prospects: list[int] = []
    if pending:
        stored = {
            row["external_id"]: row
            for row in Order.objects.filter(
                external_id__in=[d.external_id for d in pending.values()]
            ).values("pk", "external_id", *ORDER_FIELDS)
        }
        found, ref_errors, prospects = _customers_resolve({i: d.ref for i, d in pending.items()})
        for index, errors in ref_errors.items():
            del pending[index]
            results[index] = _rejected(index, errors)
        writes: list[tuple[int, Order]] = []
        for index, data in sorted(pending.items(), key=lambda pair: pair[1].external_id):
            order = Order(
                customer_id=found[index],
                external_id=data.external_id,
                placed_at=data.placed_at,
                shipping_method=data.shipping_method,
                promised_by=data.promised_by,
                delivered_at=data.delivered_at,
                status=data.status,
                total=data.total,
            )
            row = stored.get(data.external_id)
            if row is not None and all(row[f] == getattr(order, f) for f in ORDER_FIELDS):
                results[index] = ItemResult(
                    index, UNCHANGED, id=row["pk"], customer_id=row["customer_id"]
                )
            else:
                writes.append((index, order))
        if writes:
            Order.objects.bulk_create(
                [order for _, order in writes],
                update_conflicts=True,
                unique_fields=["external_id"],
                update_fields=[*(f.removesuffix("_id") for f in ORDER_FIELDS), "updated_at"],
            )
            for index, order in writes:
                status = UPDATED if order.external_id in stored else CREATED
                results[index] = ItemResult(
                    index, status, id=order.pk, customer_id=order.customer_id
                )

    counts = result_counts(results)
    if counts[CREATED] or counts[UPDATED] or prospects:
        _audit_batch(
            actor=actor,
            action="order.bulk_upsert",
            model=Order,
            after={**counts, "items": len(items), "prospects_created": prospects},
        )
    return results


# --- Customers from a file -----------------------------------------------------------------

IMPORT_COLUMNS = (
    "display_name",
    "email",
    "phone",
    "region",
    "lifecycle_stage",
    "preferred_channel",
    "language",
)


@dataclass(slots=True)
class _ImportRow:
    keys: list[tuple[Key, str]]  # (key, value as given)
    fields: dict[str, str]


def _import_clean(row: dict[str, str]) -> tuple[_ImportRow | None, dict]:
    errors: dict[str, Any] = {}
    row = {k: (v or "").strip() for k, v in row.items()}
    for column, value in row.items():
        if problem := text_problem(value):
            errors[_printable(str(column))] = [problem]
    name = row.get("display_name", "")
    if not name:
        errors["display_name"] = ["This field is required."]
    elif len(name) > 200:
        errors["display_name"] = ["At most 200 characters."]
    keys = []
    for kind, normalize in (("email", normalize_email), ("phone", normalize_phone)):
        if row.get(kind):
            try:
                keys.append(((kind, normalize(row[kind])), row[kind]))
            except ValidationError as exc:
                errors[kind] = exc.messages
    if not keys and not errors:
        errors["email"] = ["An email or a phone is needed, so a rerun finds the customer."]
    fields = {"display_name": name}
    stage = row.get("lifecycle_stage")
    if stage:
        fields["lifecycle_stage"] = _choice(row, "lifecycle_stage", LIFECYCLE_STAGES, errors)
    if row.get("preferred_channel"):
        fields["preferred_channel"] = _choice(row, "preferred_channel", CHANNELS, errors)
    if row.get("region"):
        fields["region"] = _text(row, "region", errors, 100)
    if row.get("language"):
        fields["language"] = _text(row, "language", errors, 10)
    if errors:
        return None, errors
    return _ImportRow(keys=keys, fields=fields), errors


@transaction.atomic
def customer_bulk_import(*, actor: Any, rows: list[dict[str, str]]) -> list[ItemResult]:
    """Import up to ``MAX_ITEMS`` customers (``IMPORT_COLUMNS``; values are strings).

    A row is matched to an existing customer by its email or phone contact point, so a
    rerun of the same file changes nothing: a matched row is ``unchanged`` (or ``updated``
    when it brings a contact point the customer lacked); its other columns never overwrite
    what staff keep. A row whose email and phone belong to different customers is rejected.
    Rows of one batch sharing an email or phone are one customer.
    """
    if len(rows) > MAX_ITEMS:
        raise BulkInputError(
            f"At most {MAX_ITEMS} rows per batch; got {len(rows)}.",
            {"items": [f"At most {MAX_ITEMS} rows per batch."]},
        )
    results: list[ItemResult | None] = [None] * len(rows)
    clean: dict[int, _ImportRow] = {}
    for index, row in enumerate(rows):
        data, errors = _import_clean(row)
        if data is None:
            results[index] = _rejected(index, errors)
        else:
            clean[index] = data
    if not clean:
        return results

    all_keys = {key for data in clean.values() for key, _ in data.keys}
    known = _contact_owners(all_keys)
    survivors = _survivors({cid: into for cid, into in known.values()})
    owner: dict[Key, int | Customer] = {key: survivors[cid] for key, (cid, _) in known.items()}

    new_customers: list[Customer] = []
    first_row: dict[int, int] = {}  # id(new customer) → the row that creates it
    new_points: list[tuple[Key, str, int | Customer]] = []
    targets: dict[int, tuple[int | Customer, bool]] = {}  # index → (customer, gains a point)
    for index, data in clean.items():
        owners = {_identity(o): o for key, _ in data.keys if (o := owner.get(key)) is not None}
        if len(owners) > 1:
            results[index] = _rejected(
                index, {"email": ["The email and the phone belong to different customers."]}
            )
            continue
        target = next(iter(owners.values()), None)
        if target is None:
            target = Customer(**data.fields)
            new_customers.append(target)
            first_row[id(target)] = index
        missing = [(key, value) for key, value in data.keys if key not in owner]
        for key, value in missing:
            owner[key] = target
            new_points.append((key, value, target))
        targets[index] = (target, bool(missing))

    for customer in new_customers:
        customer.full_clean(validate_unique=False, validate_constraints=False)
    Customer.objects.bulk_create(new_customers)
    claimed: dict[Key, int] = {}
    if new_points:
        claimed = _contact_points_claim(
            [
                ContactPoint(
                    customer_id=target if isinstance(target, int) else target.pk,
                    kind=key[0],
                    value=value,
                    normalized=key[1],
                )
                for key, value, target in new_points
            ]
        )
    lost = _customers_drop_unclaimed(
        new_customers, claimed, [key for key, _, t in new_points if isinstance(t, Customer)]
    )
    for index, (target, gained) in targets.items():
        if isinstance(target, int):
            status = UPDATED if gained else UNCHANGED
        elif target.pk in lost:  # a concurrent import created this person first
            target = claimed[clean[index].keys[0][0]]
            status = UNCHANGED
        else:
            target = target.pk
            status = CREATED if first_row[id(targets[index][0])] == index else UNCHANGED
            status = UPDATED if status == UNCHANGED and gained else status
        results[index] = ItemResult(index, status, id=target, customer_id=target)

    counts = result_counts(results)
    if counts[CREATED] or counts[UPDATED]:
        _audit_batch(
            actor=actor,
            action="customer.bulk_import",
            model=Customer,
            after={
                **counts,
                "items": len(rows),
                "customers_created": [c.pk for c in new_customers if c.pk not in lost],
            },
        )
    return results
