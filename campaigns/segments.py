"""Segment rules: JSON a marketer builds, compiled to one SQL query over customers.

A rule is a group or a condition::

    {"all": [rule, ...]}      every rule holds
    {"any": [rule, ...]}      at least one holds
    {"not": rule}             the rule does not hold
    {"field": "region", "op": "in", "value": ["North", "South"]}

Fields and their operators:

| field | ops | value |
|---|---|---|
| lifecycle_stage | eq, in | a stage or a list |
| region | eq, in | a region or a list |
| preferred_channel | eq, in | a channel or a list |
| language | eq, in | a language code or a list |
| holding | has | words in a product/plan name ("Broadband") |
| place | uses | a place code (customers who use, follow or call it home) |
| consent | granted | {"channel": "email", "purpose": "marketing"} |
| last_contact | within_days, older_than_days | days since their last inbound contact |
| nps_category | eq | promoter, passive or detractor (their latest year of answers) |
| orders | count_gte | orders placed, at least |
| order_placed | within_days | an order placed within N days |

``segment_compile`` validates and returns a ``Q``; every problem is reported with its path
(``all.2.value``) so the rule builder can point at it.
"""

from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from customers.models import (
    Channel,
    Consent,
    Customer,
    CustomerPlace,
    Holding,
    Interaction,
    Order,
    Purpose,
)
from feedback.models import Response

MAX_DEPTH = 5
MAX_RULES = 50
SIMPLE = {
    "lifecycle_stage": Customer.Lifecycle.values,
    "region": None,
    "preferred_channel": Channel.values,
    "language": None,
}
FIELDS = {
    **{name: ("eq", "in") for name in SIMPLE},
    "holding": ("has",),
    "place": ("uses",),
    "consent": ("granted",),
    "last_contact": ("within_days", "older_than_days"),
    "nps_category": ("eq",),
    "orders": ("count_gte",),
    "order_placed": ("within_days",),
}


class _Compiler:
    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}
        self.count = 0
        self.now = timezone.now()

    def error(self, path: str, message: str) -> Q:
        self.errors.setdefault(path or "rules", []).append(message)
        return Q()

    def rule(self, rule: Any, path: str, depth: int) -> Q:
        self.count += 1
        if self.count > MAX_RULES:
            return self.error(path, f"At most {MAX_RULES} rules in a segment.")
        if depth > MAX_DEPTH:
            return self.error(path, f"Groups nest at most {MAX_DEPTH} deep.")
        if not isinstance(rule, dict):
            return self.error(path, "A rule is an object: a group or a condition.")
        for group in ("all", "any"):
            if group in rule:
                items = rule[group]
                if not isinstance(items, list) or not items:
                    return self.error(_join(path, group), "A non-empty list of rules.")
                parts = [
                    self.rule(item, _join(path, f"{group}.{i}"), depth + 1)
                    for i, item in enumerate(items)
                ]
                combined = parts[0]
                for part in parts[1:]:
                    combined = combined & part if group == "all" else combined | part
                return combined
        if "not" in rule:
            return ~self.rule(rule["not"], _join(path, "not"), depth + 1)
        return self.condition(rule, path)

    def condition(self, rule: dict, path: str) -> Q:
        field, op, value = rule.get("field"), rule.get("op"), rule.get("value")
        if field not in FIELDS:
            return self.error(_join(path, "field"), f"Unknown field. One of: {', '.join(FIELDS)}.")
        if op not in FIELDS[field]:
            return self.error(_join(path, "op"), f"For {field}: {', '.join(FIELDS[field])}.")
        at = _join(path, "value")
        customer = OuterRef("pk")
        if field in SIMPLE:
            values = value if op == "in" else [value]
            if not isinstance(values, list) or not values:
                return self.error(at, "A non-empty list." if op == "in" else "A value.")
            if not all(isinstance(v, str) and v for v in values):
                return self.error(at, "Text values.")
            allowed = SIMPLE[field]
            if allowed is not None and not set(values) <= set(allowed):
                return self.error(at, f"One of: {', '.join(allowed)}.")
            return Q(**{f"{field}__in": values})
        if field == "holding":
            if not isinstance(value, str) or not value.strip():
                return self.error(at, "Words in a product or plan name.")
            return Q(
                Exists(
                    Holding.objects.filter(
                        customer=customer, is_active=True, name__icontains=value.strip()
                    )
                )
            )
        if field == "place":
            if not isinstance(value, str) or not value.strip():
                return self.error(at, "A place code.")
            return Q(
                Exists(CustomerPlace.objects.filter(customer=customer, place__code=value.strip()))
            )
        if field == "consent":
            if (
                not isinstance(value, dict)
                or value.get("channel") not in Channel.values
                or (value.get("purpose") not in Purpose.values)
            ):
                return self.error(at, '{"channel": "email", "purpose": "marketing"}.')
            return Q(
                Exists(
                    Consent.objects.filter(
                        customer=customer,
                        channel=value["channel"],
                        purpose=value["purpose"],
                        status=Consent.Status.GRANTED,
                    )
                )
            )
        if field == "nps_category":
            if value not in ("promoter", "passive", "detractor"):
                return self.error(at, "promoter, passive or detractor.")
            return Q(
                Exists(
                    Response.objects.filter(
                        customer=customer,
                        kind="nps",
                        category=value,
                        answered_at__gte=self.now - timedelta(days=365),
                    )
                )
            )
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 36500:
            return self.error(at, "A whole number from 0 to 36500.")
        since = self.now - timedelta(days=value)
        if field == "last_contact":
            recent = Interaction.objects.filter(
                direction=Interaction.Direction.INBOUND, occurred_at__gte=since
            ).values("customer_id")
            return Q(pk__in=recent) if op == "within_days" else ~Q(pk__in=recent)
        if field == "order_placed":
            return Q(Exists(Order.objects.filter(customer=customer, placed_at__gte=since)))
        # orders: count_gte
        if value <= 0:
            return Q()
        many = (
            Order.objects.values("customer_id")
            .annotate(n=Count("id"))
            .filter(n__gte=value)
            .values("customer_id")
        )
        return Q(pk__in=many)


def _join(path: str, part: str) -> str:
    return f"{path}.{part}" if path else part


def segment_compile(rules: Any) -> Q:
    """The rules as a ``Q`` over ``Customer``; ValidationError naming each bad part."""
    compiler = _Compiler()
    q = compiler.rule(rules, "", 1)
    if compiler.errors:
        raise ValidationError(compiler.errors)
    return q


def segment_customers(rules: Any) -> QuerySet[Customer]:
    """Live, not erased customers the rules select (one SQL query when evaluated)."""
    return Customer.objects.filter(merged_into__isnull=True, erased_at__isnull=True).filter(
        segment_compile(rules)
    )
