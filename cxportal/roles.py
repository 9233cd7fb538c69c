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


CASE_CONFIG = (
    "cases.slapolicy",
    "cases.routingrule",
    "cases.businesscalendar",
    "cases.holiday",
)


DISRUPTION_READ = ("cases.disruption", "cases.disruptionupdate", "cases.disruptioncustomer")


FEEDBACK_READ = ("feedback.response", "feedback.mention", "feedback.survey", "feedback.theme")
IDEAS = {"feedback.idea": ("view", "add")}


CAMPAIGNS_READ = (
    "campaigns.campaign",
    "campaigns.segment",
    "campaigns.variant",
    "campaigns.reviewcomment",
    "campaigns.delivery",
)


def _each(models: tuple[str, ...], actions: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    return {model: actions for model in models}


DEFAULT_PERMISSIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "service": {
        "customers.customer": ("view", "add", "change", "view_restricted_customer"),
        **_each(CUSTOMER_DATA, ("view", "add", "change")),
        "customers.consentevent": READ,
        "customers.place": READ,
        "cases.case": ("view", "add", "change", "view_internal_note", "reply_case"),
        "cases.caseevent": ("view", "add"),
        **_each(CASE_CONFIG, READ),
        # Care flags: act on them (their own team's queue).
        "cases.careflag": ("view", "change"),
        "cases.messagetemplate": READ,
        **_each(DISRUPTION_READ, READ),
        # Feedback: read, close the loop (record follow-ups), review mentions.
        **_each(FEEDBACK_READ, READ),
        "feedback.response": ("view", "change"),
        "feedback.mention": ("view", "change"),
        "feedback.surveyinvitation": READ,
        **IDEAS,
        # Campaigns: read, and review them before they launch.
        **_each(CAMPAIGNS_READ, READ),
        "campaigns.campaign": ("view", "review_campaign"),
        "campaigns.reviewcomment": ("view", "add"),
    },
    "marketing": {
        "customers.customer": READ,
        **_each(CUSTOMER_DATA, READ),
        "customers.consentevent": READ,
        "customers.place": READ,
        # Cases: status only (no internal notes), so nobody pitches into an open complaint.
        "cases.case": READ,
        "cases.disruption": READ,
        "cases.disruptionupdate": READ,
        # Feedback: read, and the themes page.
        **_each(FEEDBACK_READ, READ),
        **IDEAS,
        # Campaigns: full (but never the review of their own campaigns).
        "campaigns.campaign": ("view", "add", "change"),
        "campaigns.segment": ALL,
        "campaigns.variant": ALL,
        "campaigns.reviewcomment": READ,
        "campaigns.delivery": READ,
    },
    "sales": {
        "customers.customer": ("view", "add", "change"),
        **_each(CUSTOMER_DATA, ("view", "add", "change")),
        "customers.consentevent": READ,
        "customers.place": READ,
        "cases.case": READ,
        "cases.caseevent": READ,
        **_each(CASE_CONFIG, READ),
        "cases.careflag": READ,
        **_each(DISRUPTION_READ, READ),
        **_each(FEEDBACK_READ, READ),
        **IDEAS,
        **_each(CAMPAIGNS_READ, READ),
        # The sales pipeline.
        "campaigns.opportunity": ALL,
    },
    "operations": {
        "customers.customer": READ,
        **_each(CUSTOMER_DATA, READ),
        "customers.place": ALL,
        "cases.case": READ,
        "cases.caseevent": READ,
        **_each(CASE_CONFIG, READ),
        # Care flags: act on order and disruption flags (the operations queue).
        "cases.careflag": ("view", "change"),
        "cases.messagetemplate": READ,
        # Disruptions: declare, update, resolve.
        "cases.disruption": ALL,
        "cases.disruptionupdate": ("view", "add"),
        "cases.disruptioncustomer": READ,
        "cases.disruptionnotice": READ,
        **_each(FEEDBACK_READ, READ),
        **IDEAS,
        **_each(CAMPAIGNS_READ, READ),
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
        "cases.case": (*ALL, "view_internal_note", "reply_case"),
        "cases.caseevent": ("view", "add"),
        "cases.caseinteraction": READ,
        **_each(CASE_CONFIG, ALL),
        "cases.carerule": ALL,
        "cases.careflag": ("view", "change"),
        "cases.carescan": READ,
        "cases.messagetemplate": ALL,
        "cases.disruption": ALL,
        "cases.disruptionupdate": ("view", "add"),
        "cases.disruptioncustomer": READ,
        "cases.disruptionnotice": READ,
        "feedback.survey": ALL,
        "feedback.surveyinvitation": ("view", "add"),
        "feedback.response": ("view", "change"),
        "feedback.mention": ("view", "change"),
        "feedback.theme": ALL,
        "feedback.idea": ("view", "add", "change"),
        **_each(CAMPAIGNS_READ, ALL),
        "campaigns.campaign": (*ALL, "review_campaign"),
        "campaigns.opportunity": ALL,
        "campaigns.gatesettings": ("view", "add", "change"),  # one row (admin allows one)
        "cxportal.webhooksubscription": ALL,
        "cxportal.webhookdelivery": READ,
        "cxportal.auditevent": READ,
        "cxportal.apiclient": ALL,
        "cxportal.team": ("view", "change"),
        "auth.group": ALL,
        "auth.user": ALL,
        # Login lockouts (django-axes): see who is locked out, and unlock by deleting the row.
        "axes.accessattempt": ("view", "delete"),
        "axes.accessfailurelog": READ,
        "axes.accesslog": READ,
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
    "cases:read": "Read cases, their history (no internal notes) and SLA policies",
    "cases:write": "Open, update, assign, reply to, resolve and reopen cases",
    "disruptions:read": "Read scheduled and active disruptions (public facts only)",
    "feedback:read": "Read surveys, responses, the scorecard, themes and ideas",
    "feedback:write": "Invite customers to surveys",
    "campaigns:read": "Read segments, campaigns and their reports",
    "campaigns:write": "Report conversions of campaign messages",
    "contact_gate:read": "Ask the contact gate whether a customer may be contacted",
    "webhooks:manage": "Manage the client's own webhook subscriptions and read their deliveries",
}
