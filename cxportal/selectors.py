"""Reads of the core layer."""

from django.db.models import QuerySet

from cxportal.models import AuditEvent, Team
from cxportal.roles import TEAM_ORDER


def team_list_for_user(*, user) -> list[Team]:
    """The user's teams, most privileged first. Cached on the user object per request."""
    if not getattr(user, "is_authenticated", False) or getattr(user, "api_client", None):
        return []
    cached = getattr(user, "_cx_teams", None)
    if cached is None:
        teams = list(Team.objects.filter(group__user=user))
        cached = sorted(teams, key=lambda t: TEAM_ORDER.index(t.slug))
        user._cx_teams = cached
    return cached


def team_home_for_user(*, user) -> Team | None:
    teams = team_list_for_user(user=user)
    return teams[0] if teams else None


def audit_list(*, target_type: str | None = None, target_id: str | None = None) -> QuerySet:
    qs = AuditEvent.objects.select_related("actor_user", "actor_api_client")
    if target_type:
        qs = qs.filter(target_type=target_type)
    if target_id:
        qs = qs.filter(target_id=target_id)
    return qs.order_by("-id")
