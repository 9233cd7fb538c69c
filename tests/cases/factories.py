"""Cases for tests, made through the services (as a staff member would make them)."""

from datetime import datetime

from cases.models import Case, SlaPolicy
from cases.services import case_open
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
