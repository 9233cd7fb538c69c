"""The main navigation: only sections that exist and that the user may open."""

from dataclasses import dataclass

from django.urls import reverse

from cxportal.selectors import team_home_for_user


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str
    active: bool


# (label, url name, permission needed or None, active when path starts with)
SECTIONS = [
    ("Customers", "customers:list", "customers.view_customer", "/customers/"),
    ("Cases", "cases:queue", "cases.view_case", "/cases/"),
    ("Care", "care:queue", "cases.view_careflag", "/care/"),
    ("Disruptions", "disruptions:list", "cases.view_disruption", "/disruptions/"),
    ("Feedback", "feedback:scorecard", "feedback.view_response", "/feedback/"),
    ("Campaigns", "campaigns:list", "campaigns.view_campaign", "/campaigns/"),
    ("Sales", "campaigns:pipeline", "campaigns.view_opportunity", "/campaigns/pipeline/"),
    ("Channels", "channels:health", "customers.view_channelsource", "/channels/"),
]


def navigation_for(request) -> list[NavItem]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return []
    path = request.path
    items = []
    team = team_home_for_user(user=user)
    if team is not None:
        home = reverse("team_home", args=[team.slug])
        items.append(NavItem("Home", home, path == home))
    # The longest matching prefix is the active section (/campaigns/pipeline/ is Sales).
    active = max((p for *_, p in SECTIONS if path.startswith(p)), key=len, default=None)
    for label, url_name, perm, prefix in SECTIONS:
        if perm is None or user.has_perm(perm):
            items.append(NavItem(label, reverse(url_name), prefix == active))
    if user.is_staff:
        items.append(NavItem("Admin", reverse("admin:index"), path.startswith("/admin/")))
    items.append(NavItem("API docs", reverse("api-docs"), path.startswith("/api/docs")))
    return items
