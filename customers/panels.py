"""Extension point of the customer 360 page: panels that later apps add.

``customers`` is the lowest domain layer, so it never imports cases, feedback or campaigns.
Those apps add what they know about a customer (open cases, care flags, disruptions,
feedback, campaigns) by registering a *panel provider* from their ``AppConfig.ready``::

    # cases/apps.py
    class CasesConfig(AppConfig):
        name = "cases"

        def ready(self):
            from customers.panels import register_customer_panel
            from cases.panels import open_cases_panel

            register_customer_panel(open_cases_panel, order=10)

    # cases/panels.py
    def open_cases_panel(request, customer):
        cases = list(case_list_open(actor=request.user, customer=customer)[:5])  # a selector
        if not cases:
            return None  # nothing to say: the page shows no slot at all
        return "Open cases", "cases/_customer_panel.html", {"cases": cases}

A provider is called with the request and the customer on every render of the page and
returns ``None`` (no slot is shown, never an empty "coming soon" box) or
``(title, template name, context)``. It must check the user's permissions itself, do its
reads through its app's selectors and keep its query count constant (no N+1); its own
tests pin that. Panels are shown in ``order``, then registration order.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.safestring import SafeString

PanelProvider = Callable[[HttpRequest, Any], tuple[str, str, dict] | None]

_providers: list[tuple[int, int, PanelProvider]] = []


@dataclass(frozen=True)
class CustomerPanel:
    title: str
    html: SafeString


def register_customer_panel(provider: PanelProvider, *, order: int = 100) -> PanelProvider:
    """Add a panel provider to the customer page; registering the same one twice is a no-op.
    Returns the provider, so it can be used as a decorator."""
    if all(fn is not provider for _, _, fn in _providers):
        _providers.append((order, len(_providers), provider))
        _providers.sort(key=lambda entry: entry[:2])
    return provider


def unregister_customer_panel(provider: PanelProvider) -> None:
    _providers[:] = [entry for entry in _providers if entry[2] is not provider]


def customer_panels(request: HttpRequest, customer) -> list[CustomerPanel]:
    """The rendered panels that have something to show for this customer."""
    panels = []
    for _, _, provider in list(_providers):
        result = provider(request, customer)
        if result is None:
            continue
        title, template, context = result
        html = render_to_string(template, {"customer": customer, **context}, request=request)
        panels.append(CustomerPanel(title=title, html=html))
    return panels


# --- Actions on timeline entries -----------------------------------------------------------
# The same idea for each entry of the timeline: a higher app adds a link ("Open a case")
# next to every entry. A provider is called once per render of a timeline (never per entry)
# with the request and the customer, checks the user's permissions itself and returns a
# ``TimelineAction`` or None. The entry's id is appended to the action's URL as
# ``interaction=<id>``, so a page of entries costs no extra query::
#
#     def open_case_action(request, customer):
#         if not request.user.has_perm("cases.add_case"):
#             return None
#         return TimelineAction("Open a case", f"/cases/new/?customer={customer.pk}")
#
#     register_timeline_action(open_case_action)


@dataclass(frozen=True)
class TimelineAction:
    label: str
    url: str

    @property
    def url_prefix(self) -> str:
        """The URL ready for the entry's id: ``…?customer=7&interaction=``."""
        return f"{self.url}{'&' if '?' in self.url else '?'}interaction="


TimelineActionProvider = Callable[[HttpRequest, Any], TimelineAction | None]

_action_providers: list[tuple[int, int, TimelineActionProvider]] = []


def register_timeline_action(
    provider: TimelineActionProvider, *, order: int = 100
) -> TimelineActionProvider:
    """Add an action to every timeline entry; registering the same one twice is a no-op."""
    if all(fn is not provider for _, _, fn in _action_providers):
        _action_providers.append((order, len(_action_providers), provider))
        _action_providers.sort(key=lambda entry: entry[:2])
    return provider


def unregister_timeline_action(provider: TimelineActionProvider) -> None:
    _action_providers[:] = [entry for entry in _action_providers if entry[2] is not provider]


def timeline_actions(request: HttpRequest | None, customer) -> list[TimelineAction]:
    """The actions offered on each timeline entry of this customer, for this user."""
    if request is None or customer is None or customer.erased_at or customer.merged_into_id:
        return []
    actions = []
    for _, _, provider in list(_action_providers):
        action = provider(request, customer)
        if action is not None:
            actions.append(action)
    return actions
