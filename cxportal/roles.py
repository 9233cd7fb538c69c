"""Default permissions of each team (DESIGN.md, "Roles").

Keys are "app_label.model"; values the actions granted (Django's view/add/change/delete and
custom permission codenames). Models that do not exist yet are skipped, so a later app only
has to add its row here. Supervisors edit the resulting groups in admin; see
``team_grant_default_permissions`` for how their edits are kept.
"""

ALL = ("view", "add", "change", "delete")
READ = ("view",)

CUSTOMER_DATA = (
    "customers.contactpoint",
    "customers.consent",
    "customers.holding",
    "customers.order",
    "customers.customerplace",
    "customers.interaction",
)


def _each(models: tuple[str, ...], actions: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    return {model: actions for model in models}


DEFAULT_PERMISSIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "service": {
        "customers.customer": ("view", "add", "change", "view_restricted_customer"),
        **_each(CUSTOMER_DATA, ("view", "add", "change")),
        "customers.consentevent": READ,
        "customers.place": READ,
    },
    "marketing": {
        "customers.customer": READ,
        **_each(CUSTOMER_DATA, READ),
        "customers.consentevent": READ,
        "customers.place": READ,
    },
    "sales": {
        "customers.customer": ("view", "add", "change"),
        **_each(CUSTOMER_DATA, ("view", "add", "change")),
        "customers.consentevent": READ,
        "customers.place": READ,
    },
    "operations": {
        "customers.customer": READ,
        **_each(CUSTOMER_DATA, READ),
        "customers.place": ALL,
    },
    "supervisor": {
        "customers.customer": (
            *ALL,
            "view_restricted_customer",
            "merge_customer",
            "erase_customer",
        ),
        **_each(CUSTOMER_DATA, ALL),
        "customers.consentevent": READ,
        "customers.place": ALL,
        "customers.customermerge": READ,
        "customers.erasedidentity": READ,
        # Channel configuration (holds secrets) and the raw inbox: supervisors only.
        "customers.channelsource": ALL,
        "customers.inboundevent": ALL,
        "cxportal.auditevent": READ,
        "cxportal.apiclient": ALL,
        "cxportal.team": ("view", "change"),
        "auth.group": ALL,
        "auth.user": ALL,
    },
}

# Where each team lands after login, and what its home page leads with.
TEAM_ORDER = ("supervisor", "service", "operations", "sales", "marketing")

# Scopes a partner API client can hold. Each API viewset names the scope it needs.
API_SCOPES: dict[str, str] = {
    "customers:read": "Read customers (no restricted fields)",
    "customers:write": "Create and update customers, their contact points and consent",
    "customers:erase": "Export and erase a customer's personal data (GDPR)",
    "interactions:write": "Send interactions (bulk) to customers' timelines",
    "orders:write": "Send orders (bulk upsert by external id)",
}
