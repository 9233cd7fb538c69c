"""Cases for tests, made through the services (as a staff member would make them)."""

from datetime import datetime

from cases.models import Case, SlaPolicy
from cases.services import case_open
from customers.models import Place
from cxportal.models import Team
from tests.customers.factories import CustomerFactory


def team(slug: str = "service") -> Team:
    return Team.objects.get(slug=slug)


def sla_policy(
    *,
    team_slug: str = "service",
    first_response_minutes: int = 60,
    resolution_minutes: int = 8 * 60,
    priority: str = "",
    category: str = "",
    pause_statuses: tuple[str, ...] = ("waiting", "on_hold"),
    name: str = "",
) -> SlaPolicy:
    return SlaPolicy.objects.create(
        name=name or f"{team_slug} {priority or 'any'} {category or 'any'}",
        team=team(team_slug),
        priority=priority,
        category=category,
        first_response_minutes=first_response_minutes,
        resolution_minutes=resolution_minutes,
        pause_statuses=list(pause_statuses),
    )


def open_case(
    *,
    actor=None,
    customer=None,
    subject: str = "Card not arrived",
    now: datetime | None = None,
    **kw,
) -> Case:
    return case_open(
        actor=actor, customer=customer or CustomerFactory(), subject=subject, now=now, **kw
    )


def place_network(*, with_region: bool = False) -> dict[str, Place]:
    """A line with two stations and an unrelated station; ``with_region`` adds a region with
    a store. Keyed ``line``, ``bank``, ``oval`` (``north``, ``store``) and ``else``."""
    line = Place.objects.create(kind="line", code="L-CENTRAL", name="Central line")
    bank = Place.objects.create(kind="station", code="S-BANK", name="Bank", parent=line)
    oval = Place.objects.create(kind="station", code="S-OVAL", name="Oval", parent=line)
    places = {"line": line, "bank": bank, "oval": oval}
    if with_region:
        north = Place.objects.create(kind="region", code="R-NORTH", name="North")
        store = Place.objects.create(
            kind="store", code="ST-LEEDS", name="Leeds store", parent=north
        )
        places |= {"north": north, "store": store}
    places["else"] = Place.objects.create(kind="station", code="S-ELSE", name="Elsewhere")
    return places
