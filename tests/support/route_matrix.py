"""Every route of the portal, and who may use it: the authorization matrix (issue #9).

One ``Route`` per URL pattern name and method. ``tests/cxportal/test_authorization_matrix.py``
walks ``django.urls.get_resolver()`` and fails when a route has no entry here (or an entry
names a route that is gone), then calls every entry as every actor:

- anonymous: a page redirects to the login page, an API call is 401;
- a member of each team (service, marketing, sales, operations, supervisor) by the team's
  default role (``cxportal/roles.py``), and a user in no team: ``teams`` may (``ok``), the
  others are refused (``refused``: 403, or 404 where the object is another team's);
- partner keys (API routes): a key holding the route's ``scope`` succeeds on a read; a key
  holding every other scope is 403; a key on a staff page is not logged in.

Refused writes are made by the refused actors only (allowed writes are the apps' own tests)
and must change no row.

Adding a route: add its ``Route`` to ``PAGE_ROUTES``, ``API_ROUTES`` or ``PUBLIC_ROUTES``
below, with the url kwargs it needs taken from the world the test builds
(``kwargs={"case_id": "case"}``: the world's ``case``'s pk). The admin is covered as a
group (``ADMIN_PREFIX``).
"""

from dataclasses import dataclass, field

from cxportal.roles import API_SCOPES

TEAMS = ("service", "marketing", "sales", "operations", "supervisor")
EVERYONE = frozenset(TEAMS)
SUPERVISOR = frozenset({"supervisor"})
SERVICE = frozenset({"service", "supervisor"})  # who works cases and the service queue
MARKETING = frozenset({"marketing", "supervisor"})  # who builds campaigns and segments
SALES = frozenset({"sales", "supervisor"})  # the sales pipeline
OPERATIONS = frozenset({"operations", "supervisor"})  # who declares disruptions
CUSTOMER_WRITERS = frozenset({"service", "sales", "supervisor"})
NOT_MARKETING = frozenset({"service", "sales", "operations", "supervisor"})
NOBODY = frozenset()

PAGE, API, PUBLIC = "page", "api", "public"
SAFE = ("get", "head", "options")
#: A scope no partner key can hold: the route is for staff only.
STAFF_ONLY = "staff-only"
ALL_SCOPES = tuple(API_SCOPES)

#: Every URL under this prefix is the Django admin: anonymous and non-staff are sent to the
#: admin's login page; supervisors (``is_staff``) get in.
ADMIN_PREFIX = "admin/"


@dataclass(frozen=True)
class Route:
    name: str  # the URL pattern's name ("namespace:name"), or its regex when it has none
    method: str = "get"
    kind: str = PAGE
    #: url kwarg -> the world object (its pk) or value the URL is built from
    kwargs: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    query: str = ""  # "?customer={customer}": formatted from the world
    teams: frozenset[str] = EVERYONE  # who may, by their team's default role
    ok: int = 200  # the answer to whoever may (GET; anyone, for a public route)
    refused: int = 403  # the answer to a signed-in member whose role may not
    scope: str | None = None  # API: the partner scope it needs (STAFF_ONLY: no key may)
    body: str | None = None  # a write's body, by name (the test builds it from the world)
    #: public routes: the answer to a signed-in member when it differs from ``ok``
    ok_signed_in: int | None = None

    @property
    def id(self) -> str:
        return f"{self.name}:{self.method}"

    @property
    def safe(self) -> bool:
        return self.method in SAFE


def page(name: str, teams=EVERYONE, **kw) -> Route:
    return Route(name, "get", PAGE, teams=teams, **kw)


def post(name: str, teams, **kw) -> Route:
    return Route(name, "post", PAGE, teams=teams, **kw)


def api(name: str, method: str, scope: str, teams, **kw) -> Route:
    kw.setdefault("ok", 200)
    return Route(name, method, API, teams=teams, scope=scope, **kw)


CUSTOMER = {"customer_id": "customer"}
CASE = {"case_id": "case"}
FLAG = {"flag_id": "flag"}  # the service team's flag: 404 to everyone else but supervisors
DISRUPTION = {"disruption_id": "disruption"}
CAMPAIGN = {"campaign_id": "campaign"}

PAGE_ROUTES = [
    # Home: every member lands on their own team's home; the home of a team they are not
    # in is 404 (see test_another_teams_object_is_404).
    page("home", ok=302),
    page("team_home", kwargs={"slug": "own_team"}, refused=404),
    # Customers
    page("customers:list"),
    page("customers:detail", kwargs=CUSTOMER),
    # The timeline's next rows are for htmx; a plain GET goes to the 360 page.
    page("customers:timeline", kwargs=CUSTOMER, ok=302),
    post("customers:log_interaction", CUSTOMER_WRITERS, kwargs=CUSTOMER, body="interaction"),
    page("customers:export", SUPERVISOR, kwargs=CUSTOMER),
    page("customers:erase", SUPERVISOR, kwargs=CUSTOMER),
    post("customers:erase", SUPERVISOR, kwargs=CUSTOMER, body="erase"),
    page("customers:merge", SUPERVISOR, kwargs=CUSTOMER),
    post("customers:merge", SUPERVISOR, kwargs=CUSTOMER, body="merge"),
    post("customers:unmerge", SUPERVISOR, kwargs=CUSTOMER, body="unmerge"),
    # Channel health: configuration holds secrets; supervisors only.
    page("channels:health", SUPERVISOR),
    post("channels:retry", SUPERVISOR, kwargs={"source_id": "source"}, body="none"),
    # Cases
    page("cases:queue"),
    page("cases:new", SERVICE, query="?customer={customer}"),
    post("cases:new", SERVICE, query="?customer={customer}", body="case_new"),
    page("cases:sla_report", NOT_MARKETING),
    page("cases:detail", kwargs=CASE),
    post("cases:edit", SERVICE, kwargs=CASE, body="case_edit"),
    post("cases:reply", SERVICE, kwargs=CASE, body="reply"),
    post("cases:note", SERVICE, kwargs=CASE, body="note"),
    post("cases:resolve", SERVICE, kwargs=CASE, body="version"),
    post("cases:reopen", SERVICE, kwargs=CASE, body="version"),
    # Care: everyone who reads flags sees every queue; a flag is worked by its own team
    # (and supervisors). Anyone else gets 404 on it.
    page("care:queue", NOT_MARKETING),
    page("care:flag", SERVICE, kwargs=FLAG, refused=404),
    post("care:acknowledge", SERVICE, kwargs=FLAG, refused=404, body="none"),
    post("care:message", SERVICE, kwargs=FLAG, refused=404, body="care_message"),
    post("care:case", SERVICE, kwargs=FLAG, refused=404, body="care_case"),
    post("care:call_back", SERVICE, kwargs=FLAG, refused=404, body="call_back"),
    post("care:dismiss", SERVICE, kwargs=FLAG, refused=404, body="dismiss"),
    # Disruptions: everyone reads them; operations declares and updates them.
    page("disruptions:list"),
    page("disruptions:new", OPERATIONS),
    post("disruptions:new", OPERATIONS, body="disruption"),
    page("disruptions:detail", kwargs=DISRUPTION),
    page("disruptions:affected", NOT_MARKETING, kwargs=DISRUPTION),
    post("disruptions:update", OPERATIONS, kwargs=DISRUPTION, body="disruption_update"),
    post("disruptions:resolve", OPERATIONS, kwargs=DISRUPTION, body="version"),
    post("disruptions:cases_update", OPERATIONS, kwargs=DISRUPTION, body="cases_update"),
    # Feedback
    page("feedback:scorecard"),
    page("feedback:scorecard_csv"),
    page("feedback:themes"),
    page("feedback:inbox"),
    post("feedback:mention_review", SERVICE, kwargs={"mention_id": "mention"}, body="none"),
    page("feedback:responses"),
    page("feedback:response", kwargs={"response_id": "response"}),
    post(
        "feedback:response_follow_up",
        SERVICE,
        kwargs={"response_id": "response"},
        body="follow_up",
    ),
    page("feedback:ideas"),
    post("feedback:ideas", EVERYONE, body="idea"),  # every team may submit an idea
    post("feedback:idea_move", SUPERVISOR, kwargs={"idea_id": "idea"}, body="idea_move"),
    page("feedback:surveys"),
    page("feedback:survey_invite", SUPERVISOR, kwargs={"survey_id": "survey"}),
    post("feedback:survey_invite", SUPERVISOR, kwargs={"survey_id": "survey"}, body="invite"),
    # Campaigns: everyone reads them; marketing builds them; service reviews them.
    page("campaigns:list"),
    page("campaigns:new", MARKETING),
    post("campaigns:new", MARKETING, body="campaign"),
    page("campaigns:detail", kwargs=CAMPAIGN),
    post("campaigns:content", MARKETING, kwargs=CAMPAIGN, body="campaign_content"),
    post("campaigns:review", SERVICE, kwargs=CAMPAIGN, body="review"),
    post("campaigns:action", MARKETING, kwargs={**CAMPAIGN, "action": "pause"}, body="version"),
    page("campaigns:segments"),
    page("campaigns:segment_new", MARKETING),
    post("campaigns:segment_new", MARKETING, body="segment"),
    # Anyone who reads segments may count rules; nothing is saved.
    post("campaigns:segment_preview", EVERYONE, body="segment"),
    page("campaigns:segment", kwargs={"segment_id": "segment"}),  # read-only for non-builders
    post("campaigns:segment", MARKETING, kwargs={"segment_id": "segment"}, body="segment"),
    page("campaigns:pipeline", SALES),
    page("campaigns:opportunity_new", SALES, query="?customer={customer}"),
    post("campaigns:opportunity_new", SALES, query="?customer={customer}", body="opportunity"),
    page("campaigns:opportunity", SALES, kwargs={"opportunity_id": "opportunity"}),
    post("campaigns:opportunity", SALES, kwargs={"opportunity_id": "opportunity"}, body="opp"),
]

PK = {"pk": "customer"}
CASE_PK = {"pk": "case"}
CUSTOMERS_R, CUSTOMERS_W = "customers:read", "customers:write"
CASES_R, CASES_W = "cases:read", "cases:write"
FEEDBACK_R, FEEDBACK_W = "feedback:read", "feedback:write"
CAMPAIGNS_R = "campaigns:read"
CASE_READERS = frozenset({"service", "sales", "operations", "supervisor"})

API_ROUTES = [
    # Customers
    api("customer-list", "get", CUSTOMERS_R, EVERYONE),
    api("customer-list", "post", CUSTOMERS_W, CUSTOMER_WRITERS, body="customer"),
    api("customer-detail", "get", CUSTOMERS_R, EVERYONE, kwargs=PK),
    api("customer-detail", "patch", CUSTOMERS_W, CUSTOMER_WRITERS, kwargs=PK, body="rename"),
    api("customer-consent", "get", CUSTOMERS_R, EVERYONE, kwargs=PK),
    api("customer-consent", "post", CUSTOMERS_W, CUSTOMER_WRITERS, kwargs=PK, body="consent"),
    api("customer-contact-points", "get", CUSTOMERS_R, EVERYONE, kwargs=PK),
    api(
        "customer-contact-points",
        "post",
        CUSTOMERS_W,
        CUSTOMER_WRITERS,
        kwargs=PK,
        body="contact_point",
    ),
    api("customer-timeline", "get", CUSTOMERS_R, EVERYONE, kwargs=PK),
    # GDPR export and erase: supervisors, and partners holding customers:erase.
    api("customer-export", "get", "customers:erase", SUPERVISOR, kwargs=PK),
    api("customer-erase", "post", "customers:erase", SUPERVISOR, kwargs=PK, body="none"),
    api("customer-merge", "post", STAFF_ONLY, SUPERVISOR, kwargs=PK, body="api_merge"),
    api("customer-unmerge", "post", STAFF_ONLY, SUPERVISOR, kwargs=PK, body="api_unmerge"),
    api("interaction-bulk-list", "post", "interactions:write", CUSTOMER_WRITERS, body="bulk_i"),
    api("order-bulk-list", "post", "orders:write", CUSTOMER_WRITERS, body="bulk_o"),
    # Cases
    api("case-list", "get", CASES_R, EVERYONE),
    api("case-list", "post", CASES_W, SERVICE, body="api_case"),
    api("case-detail", "get", CASES_R, EVERYONE, kwargs=CASE_PK),
    api("case-detail", "patch", CASES_W, SERVICE, kwargs=CASE_PK, body="api_case_update"),
    api("case-add-note", "post", CASES_W, SERVICE, kwargs=CASE_PK, body="note"),
    api("case-assign", "post", CASES_W, SERVICE, kwargs=CASE_PK, body="api_assign"),
    api("case-change-status", "post", CASES_W, SERVICE, kwargs=CASE_PK, body="api_status"),
    api("case-deadline", "post", CASES_W, SERVICE, kwargs=CASE_PK, body="api_deadline"),
    api("case-events", "get", CASES_R, CASE_READERS, kwargs=CASE_PK),
    api("case-reopen", "post", CASES_W, SERVICE, kwargs=CASE_PK, body="version"),
    api("case-reply", "post", CASES_W, SERVICE, kwargs=CASE_PK, body="reply"),
    api("case-resolve", "post", CASES_W, SERVICE, kwargs=CASE_PK, body="version"),
    api("sla-policy-list", "get", CASES_R, CASE_READERS),
    api("sla-policy-detail", "get", CASES_R, CASE_READERS, kwargs={"pk": "sla_policy"}),
    api("disruption-list", "get", "disruptions:read", EVERYONE),
    api("disruption-detail", "get", "disruptions:read", EVERYONE, kwargs={"pk": "disruption"}),
    # Feedback
    api("survey-list", "get", FEEDBACK_R, EVERYONE),
    api("survey-detail", "get", FEEDBACK_R, EVERYONE, kwargs={"pk": "survey"}),
    api("survey-invitations", "get", FEEDBACK_R, SERVICE, kwargs={"pk": "survey"}),
    api("survey-invitations", "post", FEEDBACK_W, SUPERVISOR, kwargs={"pk": "survey"}, body="inv"),
    api("survey-response-list", "get", FEEDBACK_R, EVERYONE),
    api("survey-response-detail", "get", FEEDBACK_R, EVERYONE, kwargs={"pk": "response"}),
    api("scorecard-list", "get", FEEDBACK_R, EVERYONE),
    api("theme-trend-list", "get", FEEDBACK_R, EVERYONE),
    api("idea-list", "get", FEEDBACK_R, EVERYONE),
    api("idea-list", "post", STAFF_ONLY, EVERYONE, body="idea"),
    api("idea-detail", "get", FEEDBACK_R, EVERYONE, kwargs={"pk": "idea"}),
    api("idea-move", "post", STAFF_ONLY, SUPERVISOR, kwargs={"pk": "idea"}, body="idea_move"),
    # Campaigns
    api("segment-list", "get", CAMPAIGNS_R, EVERYONE),
    api("segment-list", "post", STAFF_ONLY, MARKETING, body="api_segment"),
    # Counting rules reads, it saves nothing: every reader may.
    api("segment-preview", "post", CAMPAIGNS_R, EVERYONE, body="api_segment"),
    api("segment-detail", "get", CAMPAIGNS_R, EVERYONE, kwargs={"pk": "segment"}),
    api("segment-detail", "patch", STAFF_ONLY, MARKETING, kwargs={"pk": "segment"}, body="rename"),
    api("segment-count", "get", CAMPAIGNS_R, EVERYONE, kwargs={"pk": "segment"}),
    api("campaign-list", "get", CAMPAIGNS_R, EVERYONE),
    api("campaign-list", "post", STAFF_ONLY, MARKETING, body="api_campaign"),
    api("campaign-detail", "get", CAMPAIGNS_R, EVERYONE, kwargs={"pk": "campaign"}),
    api("campaign-report", "get", CAMPAIGNS_R, EVERYONE, kwargs={"pk": "campaign"}),
    *(
        api(
            f"campaign-{action}",
            "post",
            STAFF_ONLY,
            MARKETING,
            kwargs={"pk": "campaign"},
            body="version",
        )
        for action in ("submit", "launch", "pause", "resume", "cancel")
    ),
    api("campaign-review", "post", STAFF_ONLY, SERVICE, kwargs={"pk": "campaign"}, body="review"),
    api(
        "contact-gate-list",
        "get",
        "contact_gate:read",
        EVERYONE,
        query="?customer={customer}&purpose=marketing&channel=email",
    ),
    api("conversion-list", "post", "campaigns:write", SUPERVISOR, body="conversion"),
    api("opportunity-list", "get", STAFF_ONLY, SALES),
    api("opportunity-list", "post", STAFF_ONLY, SALES, body="api_opportunity"),
    api("opportunity-detail", "get", STAFF_ONLY, SALES, kwargs={"pk": "opportunity"}),
    api(
        "opportunity-detail",
        "patch",
        STAFF_ONLY,
        SALES,
        kwargs={"pk": "opportunity"},
        body="opp_stage",
    ),
    # Webhook subscriptions: a partner key's own (another client's answers 404); no staff
    # member, supervisors included, manages them here (they use the admin).
    *(
        api(name, method, "webhooks:manage", NOBODY, kwargs=kwargs, body=body)
        for name, method, kwargs, body in (
            ("webhook-subscription-list", "get", {}, None),
            ("webhook-subscription-list", "post", {}, "subscription"),
            ("webhook-subscription-detail", "get", {"pk": "subscription"}, None),
            ("webhook-subscription-detail", "patch", {"pk": "subscription"}, "rename"),
            ("webhook-subscription-detail", "delete", {"pk": "subscription"}, None),
            ("webhook-subscription-deliveries", "get", {"pk": "subscription"}, None),
        )
    ),
]

#: No login: what anyone (signed in or not, with or without a key) gets.
PUBLIC_ROUTES = [
    Route("healthz", kind=PUBLIC),
    Route("login", kind=PUBLIC, ok_signed_in=302),  # signed in: on to their home
    # A wrong password: the form again (django-axes counts the failure).
    Route("login", "post", PUBLIC, body="bad_login", ok_signed_in=302),
    Route("logout", "post", PUBLIC, ok=302),  # to the login page
    Route("survey_answer", kind=PUBLIC, kwargs={"token": "survey_token"}),
    # The customer's answer, then the thank-you page.
    Route("survey_answer", "post", PUBLIC, kwargs={"token": "survey_token"}, ok=302, body="answer"),
    Route("track_open", kind=PUBLIC, kwargs={"token": "open_token"}),
    Route("track_click", kind=PUBLIC, kwargs={"token": "click_token"}, ok=302),
    # Providers push here; unsigned, it is refused and stores nothing.
    # A provider's handshake without the channel's verify token is refused.
    Route("webhook_receive", kind=PUBLIC, kwargs={"slug": "webhook_slug"}, ok=403),
    Route("webhook_receive", "post", PUBLIC, kwargs={"slug": "webhook_slug"}, ok=401, body="hook"),
    Route("api-schema", kind=PUBLIC),
    Route("api-docs", kind=PUBLIC),
    # The catch-all under /api/: any other path answers 404 in the API's error format.
    Route("^api/", kind=PUBLIC, ok=404),
]

MATRIX: list[Route] = [*PAGE_ROUTES, *API_ROUTES, *PUBLIC_ROUTES]
