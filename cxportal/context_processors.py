from django.core.cache import cache
from django.utils.functional import SimpleLazyObject

from cxportal.navigation import navigation_for


def navigation(request):
    return {"nav_items": navigation_for(request)}


def _banner_row(disruption) -> dict:
    """What the banner needs, plain (it is cached for every user alike)."""
    places = disruption.first_place or ""
    if disruption.place_count > 1:
        places += f" and {disruption.place_count - 1} more"
    return {
        "id": disruption.pk,
        "title": disruption.title,
        "status": disruption.status,
        "status_label": disruption.get_status_display(),
        "severity": disruption.severity,
        "severity_label": disruption.get_severity_display(),
        "kind_label": disruption.get_kind_display(),
        "accessibility_impact": disruption.accessibility_impact,
        "accessibility_label": disruption.get_accessibility_impact_display()
        if disruption.accessibility_impact
        else "",
        "accessibility_note": disruption.accessibility_note,
        "places": places,
        "starts_at": disruption.starts_at,
        "ends_at": disruption.ends_at,
    }


def _banner_rows() -> list[dict]:
    from cases.selectors import BANNER_CACHE_KEY, BANNER_SECONDS, disruptions_for_banner

    rows = cache.get(BANNER_CACHE_KEY)
    if rows is None:
        rows = [_banner_row(d) for d in disruptions_for_banner()]
        cache.set(BANNER_CACHE_KEY, rows, BANNER_SECONDS)
    return rows


def disruptions_banner(request):
    """Live disruptions for the banner on every staff page: one query at most, none while
    the shared cache holds them (``BANNER_SECONDS``); only evaluated when a page shows the
    banner (htmx fragments don't), and only for signed-in staff who may see disruptions."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or getattr(user, "api_client", None):
        return {}

    def rows() -> list[dict]:
        return _banner_rows() if user.has_perm("cases.view_disruption") else []

    return {"disruptions_banner": SimpleLazyObject(rows)}
