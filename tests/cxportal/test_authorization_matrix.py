"""The authorization matrix over every route and page (issue #9, item 3).

``tests/support/route_matrix.py`` says, for every URL pattern, who may use it. Here:

1. completeness: every route the URLconf resolves has an entry, every entry still exists,
   and a method a page does not list answers 405;
2. every entry as every actor: anonymous, each team by its default role, a user in no team,
   partner keys with and without the route's scope; a refused write changes no row; no
   answer that succeeds shows a restricted field to a role that may not see it;
3. another team's object (a care flag, a team's home, another partner's webhook
   subscription) answers 404;
4. restricted fields (a customer's accessibility note, internal case notes) are shown to
   the roles that may see them and masked for the others, on pages and in the API;
5. the Django admin as a group: anonymous and non-staff members are sent to its login
   page; supervisors get in.

The world is built once per module (``demo_seed`` plus an object of each kind through the
services) inside a transaction that is rolled back at the end; each test rolls back its own
changes as usual.
"""

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from tests.support.route_matrix import (
    ADMIN_PREFIX,
    ALL_SCOPES,
    API,
    API_ROUTES,
    MATRIX,
    PAGE,
    PUBLIC,
    STAFF_ONLY,
    TEAMS,
    Route,
)

pytestmark = pytest.mark.django_db

ACCESS_NOTE = "Authz-matrix access note 7319"  # the customer's restricted field
INTERNAL_NOTE = "Authz-matrix internal note 4410"  # an internal case note
HOOK = "https://hooks.partner.example/cx"
#: Roles that may see restricted customer fields / internal case notes (cxportal/roles.py).
SEES_RESTRICTED = {"service", "supervisor"}
SEES_INTERNAL = {"service", "supervisor"}

ANONYMOUS, NO_TEAM, KEY_WITH, KEY_WITHOUT = "anonymous", "no-team", "key-with", "key-without"
WHERE = "tests/support/route_matrix.py"
#: Apps whose rows a refused write must leave alone.
DOMAIN_APPS = ("cxportal", "customers", "cases", "feedback", "campaigns", "auth")
#: Rows a request may touch without anyone writing: a key's last use, a login time.
NOT_WRITES = {"cxportal.apiclient", "auth.user"}


# --- The URLconf -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Pattern:
    key: str  # the namespaced name, or the regex when the pattern has none
    path: str  # the whole pattern, for messages
    methods: tuple[str, ...]  # an API view's routed methods; () for a plain view


def url_patterns(resolver=None, prefix: str = "", namespace: str = "") -> list[Pattern]:
    """Every pattern of the URLconf, recursively, namespaced includes too."""
    found = []
    for p in (resolver or get_resolver()).url_patterns:
        if isinstance(p, URLResolver):
            ns = f"{namespace}{p.namespace}:" if p.namespace else namespace
            found += url_patterns(p, prefix + str(p.pattern), ns)
        elif isinstance(p, URLPattern):
            key = f"{namespace}{p.name}" if p.name else str(p.pattern)
            actions = getattr(p.callback, "actions", None) or {}
            found.append(Pattern(key, prefix + str(p.pattern), tuple(sorted(actions))))
    return found


def is_admin(pattern: Pattern) -> bool:
    return pattern.path.startswith(ADMIN_PREFIX)


# --- The world ---------------------------------------------------------------------------------
class World(dict):
    """Objects by name (``world["case"]``), and the actors' clients and keys."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _keys(world: World) -> None:
    """A key per scope (holding just it) and one holding every scope but it."""
    from tests.cxportal.factories import make_api_key

    world["key_with"], world["key_without"] = {}, {}
    for scope in ALL_SCOPES:
        extra = ["disruptions:read"] if scope == "webhooks:manage" else []
        world["key_with"][scope] = make_api_key([scope, *extra])
        world["key_without"][scope] = make_api_key([s for s in ALL_SCOPES if s != scope])
    world["key_without"][STAFF_ONLY] = make_api_key(list(ALL_SCOPES))


def build_world() -> World:
    from django.contrib.auth import get_user_model

    from campaigns.models import Delivery
    from campaigns.services import (
        audience_build,
        campaign_launch,
        campaign_review,
        campaign_submit,
        opportunity_save,
        track_token,
    )
    from cases.care import care_flag_raise
    from cases.models import CareFlag, Disruption, SlaPolicy
    from cases.services import case_note_add
    from customers.models import ChannelSource, Place
    from customers.services import consent_set, customer_create
    from customers.services.core import ContactInput
    from cxportal.demo import demo_seed
    from cxportal.models import APIClient
    from cxportal.outbound_webhooks import webhook_subscription_create
    from feedback.models import Mention
    from feedback.services.ideas import idea_submit
    from feedback.services.mentions import mentions_scan
    from feedback.services.surveys import invitation_token, response_submit, survey_invite
    from tests.campaigns.factories import campaign, marketable, segment
    from tests.cases.factories import open_case
    from tests.customers.channel_support import social_source
    from tests.cxportal.factories import UserFactory
    from tests.feedback.test_api import survey

    demo_seed(customers=3)  # a populated portal: every page renders real rows
    mentions_scan()
    users = {u.username: u for u in get_user_model().objects.filter(username__in=TEAMS)}
    boss, agent, marketer, seller = (
        users[t] for t in ("supervisor", "service", "marketing", "sales")
    )
    w = World(users=users, no_team=UserFactory())

    customer = customer_create(
        actor=boss,
        display_name="Authz Matrix Customer",
        region="North",
        preferred_channel="email",
        accessibility_needs=True,
        accessibility_note=ACCESS_NOTE,
        contact_points=[ContactInput("email", "authz.matrix@example.com")],
    )
    for purpose in ("marketing", "feedback"):
        consent_set(
            actor=boss,
            customer=customer,
            channel="email",
            purpose=purpose,
            granted=True,
            source="signup form",
        )
    w["customer"] = customer
    w["other_customer"] = marketable(boss, 9001)
    case = open_case(actor=agent, customer=customer, subject="Authz matrix case")
    case_note_add(actor=agent, case=case, body=INTERNAL_NOTE)
    case.refresh_from_db()
    w["case"] = case
    w["sla_policy"] = SlaPolicy.objects.order_by("pk").first()

    # Care flags are team business: one in the service queue, one in operations'.
    w["flag"] = care_flag_raise(
        kind=CareFlag.Kind.REPEAT_CONTACT,
        customer=customer,
        dedupe_key="authz:service",
        summary="Contacted us three times",
    )
    w["ops_flag"] = care_flag_raise(
        kind=CareFlag.Kind.DISRUPTION_IMPACT,
        customer=customer,
        dedupe_key="authz:operations",
        summary="Affected by the lift outage",
    )
    assert w.flag.team.slug == "service" and w.ops_flag.team.slug == "operations"
    w["disruption"] = Disruption.objects.order_by("pk").first()
    w["place"] = Place.objects.order_by("pk").first()
    w["source"] = ChannelSource.objects.order_by("pk").first()
    w["webhook_slug"] = social_source().slug  # a channel that takes webhooks

    s = survey(name="Authz matrix survey")
    invitation = survey_invite(survey=s, customer=customer, trigger_key="authz:answered")
    w["response"] = response_submit(
        token=invitation_token(invitation), score=9, comment="Helpful", contact_allowed=True
    )
    fresh = survey_invite(survey=s, customer=w.other_customer, trigger_key="authz:open")
    w["survey"], w["survey_token"] = s, invitation_token(fresh)
    w["mention"] = Mention.objects.order_by("pk").first()
    assert w.mention is not None, "no mention in the world: feedback:mention_review is untested"
    w["idea"] = idea_submit(actor=agent, title="Authz matrix idea")

    seg = segment(marketer, name="Authz matrix North")
    camp = campaign(marketer, seg, name="Authz matrix campaign")
    camp = campaign_submit(actor=marketer, campaign=camp, version=camp.version)
    camp = campaign_review(
        actor=agent, campaign=camp, version=camp.version, decision="approved", comment="Clear."
    )
    camp = campaign_launch(actor=marketer, campaign=camp, version=camp.version)
    audience_build(campaign=camp)
    camp.refresh_from_db()
    delivery = Delivery.objects.filter(campaign=camp).order_by("pk").first()
    assert delivery is not None, "the campaign reached nobody"
    w.update(segment=seg, campaign=camp, delivery=delivery)
    w["open_token"] = track_token(delivery.pk)
    w["click_token"] = track_token(delivery.pk, "https://brand.example/spring")
    w["opportunity"] = opportunity_save(actor=seller, customer=customer, title="Fibre upgrade")

    _keys(w)
    owner = APIClient.objects.get(prefix=w.key_with["webhooks:manage"].split(".")[0])
    w["subscription"] = webhook_subscription_create(
        actor=None,
        api_client=owner,
        name="Journey planner",
        url=HOOK,
        events=["disruption.published"],
    )
    stranger = APIClient.objects.get(prefix=w.key_without["webhooks:manage"].split(".")[0])
    w["other_subscription"] = webhook_subscription_create(
        actor=None,
        api_client=stranger,
        name="Someone else's",
        url=HOOK,
        events=["disruption.published"],
    )
    w["sessions"] = {}  # each actor signs in once; a test's client carries the cookie
    for actor, user in [*users.items(), (NO_TEAM, w.no_team)]:
        client = Client()
        client.force_login(user)
        w.sessions[actor] = client.cookies[settings.SESSION_COOKIE_NAME].value
    return w


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """Built once for the module, rolled back after it."""
    from cxportal import outbound_webhooks

    with pytest.MonkeyPatch.context() as patch, django_db_blocker.unblock():
        # DNS is the boundary: the partner's hook host resolves to a public address.
        patch.setattr(outbound_webhooks, "_resolve", lambda host, port: ["93.184.215.14"])
        with transaction.atomic():
            yield build_world()
            transaction.set_rollback(True)


# --- Calling a route ---------------------------------------------------------------------------
def url_of(route: Route, world: World, actor: str = "") -> str:
    if route.name == "^api/":
        return "/api/no-such-endpoint/"
    kwargs = {}
    for name, source in route.kwargs.items():
        if source == "own_team":
            kwargs[name] = actor if actor in TEAMS else "service"
        elif source in world:
            value = world[source]
            kwargs[name] = getattr(value, "pk", value)
        else:
            kwargs[name] = source  # a literal (a campaign action's slug)
    query = route.query.format(**{k: getattr(v, "pk", v) for k, v in world.items()})
    return reverse(route.name, kwargs=kwargs) + query


def body_of(route: Route, world: World):
    """A valid-looking body: if a refusal were missing, the write would go through."""
    w = world
    later = (timezone.now() + timedelta(days=2)).isoformat()
    target = next((w[v] for v in route.kwargs.values() if v in w), None)
    version = getattr(target, "version", 1)
    variants = {"a_subject": "Hello", "a_body": "Hi {first_name}", "a_weight": 100}
    rules = {"all": [{"field": "region", "op": "eq", "value": "North"}]}
    bodies = {
        None: None,
        "none": {},
        "interaction": {
            "channel": "phone",
            "direction": "inbound",
            "summary": "Called about the refund",
            "body": "Refused?",
        },
        "erase": {"confirm": "erase"},
        "merge": {"merged_id": w.other_customer.pk},
        "unmerge": {"merge_id": 1},
        "case_new": {"subject": "Refused case", "category": "general", "priority": "normal"},
        "case_edit": {
            "version": version,
            "subject": "Changed",
            "category": w.case.category,
            "priority": w.case.priority,
            "team": w.case.team_id,
            "status": "open",
        },
        "reply": {"body": "We are on it."},
        "note": {"body": "Refused internal note"},
        "version": {"version": version, "note": "Done", "public_message": "Over now."},
        "care_message": {"subject": "Sorry", "body": "We are sorry about this."},
        "care_case": {"subject": "From the flag", "category": "general", "priority": "normal"},
        "call_back": {"summary": "Called back"},
        "dismiss": {"reason": "Not needed"},
        "disruption": {
            "title": "Refused works",
            "kind": "planned",
            "severity": "minor",
            "places": [w.place.pk],
            "starts_at": later,
            "public_message": "Works.",
        },
        "disruption_update": {"version": version, "public_message": "Later.", "severity": "minor"},
        "cases_update": {"body": "An update to every linked case."},
        "follow_up": {"outcome": "Called them back"},
        "idea": {"title": "Refused idea"},
        "idea_move": {"status": "reviewing"},
        "invite": {"customer_ids": str(w.customer.pk), "label": "authz"},
        "campaign": {
            "name": "Refused campaign",
            "channel": "email",
            "segment": w.segment.pk,
            **variants,
        },
        "campaign_content": {"version": version, **variants},
        "review": {"version": version, "decision": "approved", "comment": "Clear."},
        "segment": {"action": "save", "name": "Refused segment", "rules_json": json.dumps(rules)},
        "opportunity": {"title": "Refused", "stage": "prospect", "owner": w.users["sales"].pk},
        "opp": {"title": "Refused", "stage": "won", "owner": w.users["sales"].pk},
        # API bodies (JSON)
        "customer": {"display_name": "Refused Customer"},
        "rename": {"name": "Renamed", "display_name": "Renamed"},
        "consent": {"channel": "email", "purpose": "marketing", "granted": False, "source": "api"},
        "contact_point": {"kind": "email", "value": "refused@example.com"},
        "api_merge": {"merged_id": w.other_customer.pk},
        "api_unmerge": {"merge_id": 1},
        "bulk_i": {
            "items": [
                {
                    "customer": {"kind": "email", "value": "authz.matrix@example.com"},
                    "channel": "app",
                    "external_id": "authz-1",
                    "occurred_at": timezone.now().isoformat(),
                    "summary": "Refused",
                }
            ]
        },
        "bulk_o": {
            "items": [
                {
                    "customer": {"kind": "email", "value": "authz.matrix@example.com"},
                    "external_id": "AUTHZ-1",
                    "placed_at": timezone.now().isoformat(),
                    "shipping_method": "express",
                }
            ]
        },
        "api_case": {"customer": w.customer.pk, "subject": "Another one"},
        "api_case_update": {"version": version, "subject": "Card lost"},
        "api_assign": {"version": version, "assignee": None},
        "api_status": {"version": version, "status": "open"},
        "api_deadline": {
            "version": version,
            "customer_deadline": later,
            "customer_deadline_reason": "Holiday",
        },
        "inv": {"customer": w.other_customer.pk, "label": "authz"},
        "api_segment": {"name": "North and South", "rules": rules},
        "api_campaign": {
            "name": "Summer",
            "channel": "sms",
            "segment": w.segment.pk,
            "variants": [{"body": "Hello {first_name}"}],
        },
        "conversion": {"delivery": w.delivery.pk, "value": "12.50"},
        "api_opportunity": {"customer": w.customer.pk, "title": "Fibre upgrade"},
        "opp_stage": {"stage": "lead"},
        "subscription": {"name": "Refused", "url": HOOK, "events": ["disruption.published"]},
        # Public
        "bad_login": {"username": "service", "password": "not-the-password"},
        "hook": {"id": "authz-1", "text": "unsigned"},
        "answer": {"score": "9", "comment": "Great"},
    }
    return bodies[route.body]


def client_for(world: World, actor: str, route: Route | None = None) -> Client:
    """A fresh client: signed in as that team's member, in no team, anonymous, or carrying a
    partner key (with the route's scope, or every other one)."""
    client = Client()
    if actor in TEAMS or actor == NO_TEAM:
        client.cookies[settings.SESSION_COOKIE_NAME] = world.sessions[actor]
    elif actor in (KEY_WITH, KEY_WITHOUT):
        scope = (route.scope if route and route.scope else STAFF_ONLY) if route else STAFF_ONLY
        keys = world.key_with if actor == KEY_WITH else world.key_without
        key = keys.get(scope) or world.key_without[STAFF_ONLY]
        client.defaults["HTTP_AUTHORIZATION"] = f"Api-Key {key}"
    return client


def call(client: Client, route: Route, url: str, world: World):
    body = body_of(route, world)
    method = getattr(client, route.method)
    if route.kind == PAGE or route.name in ("login", "logout", "survey_answer"):
        return method(url, body or {}) if not route.safe else method(url)
    if route.safe:
        return method(url)
    return method(url, json.dumps(body or {}), content_type="application/json")


def written() -> str:
    """A fingerprint of every row the apps hold (equal before and after a refusal). Plain
    SQL: the ORM would take 25 times as long over the ~50 tables."""
    tables = [
        model._meta.db_table
        for model in apps.get_models(include_auto_created=True)
        if model._meta.app_label in DOMAIN_APPS and model._meta.label_lower not in NOT_WRITES
    ]
    digest = hashlib.sha256()
    with connection.cursor() as cursor:
        for table in tables:
            # Table names from the app registry, quoted: no outside input.
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)} ORDER BY 1")  # noqa: S608
            digest.update(f"{table}:{cursor.fetchall()!r}".encode())
    return digest.hexdigest()


# --- 1. Completeness ---------------------------------------------------------------------------
def test_every_route_has_an_entry_and_every_entry_a_route():
    routes = [p for p in url_patterns() if not is_admin(p)]
    by_key = {(r.name, r.method) for r in MATRIX}
    names = {r.name for r in MATRIX}
    missing = [f"{p.key} ({p.path})" for p in routes if p.key not in names] + [
        f"{p.key} {m.upper()} ({p.path})"
        for p in routes
        for m in p.methods
        if m not in ("head", "options") and (p.key, m) not in by_key
    ]
    assert not missing, (
        f"Routes without an entry in the authorization matrix: {missing}. Add a Route for "
        f"each (who may use it, and how to build its URL) to PAGE_ROUTES, API_ROUTES or "
        f"PUBLIC_ROUTES in {WHERE}."
    )
    known = {p.key: p for p in routes}
    stale = [
        r.id
        for r in MATRIX
        if r.name not in known or (known[r.name].methods and r.method not in known[r.name].methods)
    ]
    assert not stale, f"Entries in {WHERE} for routes that no longer exist: {stale}"
    apis = {p.key for p in routes if p.methods}
    wrong_kind = [r.id for r in MATRIX if (r.kind == API) != (r.name in apis)]
    assert not wrong_kind, f"API entries must be the API's routes and only those: {wrong_kind}"


def test_the_admin_is_covered_as_a_group():
    admin = [p for p in url_patterns() if is_admin(p)]
    assert len(admin) > 50, "the admin's URLs were not found"
    assert not [r for r in MATRIX if r.name.startswith("admin:")]


UNLISTED = [
    (name, method)
    for name in sorted({r.name for r in MATRIX if r.kind != API and r.name != "^api/"})
    for method in ("get", "post")
    if (name, method) not in {(r.name, r.method) for r in MATRIX}
]


@pytest.mark.parametrize(("name", "method"), UNLISTED, ids=[f"{n}:{m}" for n, m in UNLISTED])
def test_a_method_a_page_does_not_list_answers_405(world, name, method):
    """So a page's entries cover every method it takes."""
    route = next(r for r in MATRIX if r.name == name)
    client = client_for(world, "supervisor")
    before = written()
    response = getattr(client, method)(url_of(route, world, "supervisor"))
    assert response.status_code == 405, (
        f"{name} answers {method.upper()} with {response.status_code}: add an entry for it "
        f"in {WHERE}"
    )
    assert written() == before


# --- 2. Every entry as every actor -------------------------------------------------------------
def actors_of(route: Route) -> list[str]:
    if route.kind == PUBLIC:
        return [ANONYMOUS, "service", KEY_WITHOUT]
    people = [ANONYMOUS, *TEAMS, NO_TEAM]
    if route.kind == PAGE:
        people.append(KEY_WITHOUT)  # a key is no login on a page
    else:
        if route.scope != STAFF_ONLY:
            people.append(KEY_WITH)
        people.append(KEY_WITHOUT)
    if route.safe:
        return people
    # Writes: only those refused (allowed writes are the apps' own tests).
    return [a for a in people if a not in route.teams and a != KEY_WITH]


CASES = [(r, a) for r in MATRIX for a in actors_of(r)]


def expected(route: Route, actor: str) -> int:
    if route.kind == PUBLIC:
        if actor in TEAMS and route.ok_signed_in is not None:
            return route.ok_signed_in
        return route.ok
    if route.kind == PAGE:
        if actor in (ANONYMOUS, KEY_WITHOUT):
            return 302
        return route.ok if actor in route.teams else route.refused
    if actor == ANONYMOUS:
        return 401
    if actor == KEY_WITH:
        return route.ok
    return route.ok if actor in route.teams else 403


def shows_restricted_to(route: Route, actor: str) -> tuple[bool, bool]:
    """(accessibility note, internal notes) this actor may be shown on this route."""
    if actor == KEY_WITH and route.name == "customer-export":
        return True, True  # the GDPR export is everything held (scope customers:erase)
    return actor in SEES_RESTRICTED, actor in SEES_INTERNAL


@pytest.mark.parametrize(("route", "actor"), CASES, ids=[f"{r.id}-{a}" for r, a in CASES])
def test_route_as_actor(world, route, actor):
    url = url_of(route, world, actor)
    client = client_for(world, actor, route)
    # A refused write changes nothing (a public route's refusal is a 4xx).
    refused = actor not in route.teams if route.kind != PUBLIC else route.ok >= 400
    before = None if route.safe or not refused else written()
    response = call(client, route, url, world)
    want = expected(route, actor)
    assert response.status_code == want, (
        f"{route.method.upper()} {url} as {actor}: {response.status_code}, expected {want} "
        f"({WHERE})"
    )
    if route.kind == PAGE and want == 302 and actor in (ANONYMOUS, KEY_WITHOUT):
        assert response["Location"].startswith(reverse("login") + "?next="), response["Location"]
    if route.kind == API and want in (401, 403):
        code = "not_authenticated" if want == 401 else "permission_denied"
        assert response.json()["code"] == code, response.json()
    if before is not None:
        assert written() == before, f"a refused {route.method.upper()} {url} as {actor} wrote"
    if response.status_code == 200:
        access, internal = shows_restricted_to(route, actor)
        text = b"".join(response) if response.streaming else response.content
        if not access:
            assert ACCESS_NOTE.encode() not in text, f"{url} shows {actor} an accessibility note"
        if not internal:
            assert INTERNAL_NOTE.encode() not in text, f"{url} shows {actor} an internal note"


# --- 3. Another team's object ------------------------------------------------------------------
FLAG_ROUTES = [r for r in MATRIX if r.kwargs.get("flag_id") == "flag"]


@pytest.mark.parametrize("route", FLAG_ROUTES, ids=[r.id for r in FLAG_ROUTES])
def test_another_teams_care_flag_is_404_and_untouched(world, route):
    """Service works its own flags only; operations' flag is 404 to it (and the other way
    round), and supervisors work every team's."""
    for actor, flag, status in (
        ("service", "ops_flag", 404),
        ("operations", "flag", 404),
        ("operations", "ops_flag", 200),
        ("supervisor", "ops_flag", 200),
    ):
        if not route.safe and status == 200:
            continue  # allowed writes are the cases app's tests
        mine = Route(
            route.name, route.method, route.kind, kwargs={"flag_id": flag}, body=route.body
        )
        before = written()
        response = call(client_for(world, actor), mine, url_of(mine, world), world)
        assert response.status_code == status, (actor, flag, response.status_code)
        assert written() == before


def test_another_teams_home_is_404(world):
    for actor in TEAMS:
        client = client_for(world, actor)
        for team in TEAMS:
            response = client.get(reverse("team_home", args=[team]))
            assert response.status_code == (200 if team == actor else 404), (actor, team)


SUBSCRIPTION_ROUTES = [r for r in API_ROUTES if r.kwargs.get("pk") == "subscription"]


@pytest.mark.parametrize("route", SUBSCRIPTION_ROUTES, ids=[r.id for r in SUBSCRIPTION_ROUTES])
def test_another_partners_webhook_subscription_is_404(world, route):
    from cxportal.models import WebhookSubscription

    mine = Route(
        route.name, route.method, route.kind, kwargs={"pk": "other_subscription"}, body=route.body
    )
    client = client_for(world, KEY_WITH, route)  # holds webhooks:manage; not its subscription
    before = written()
    response = call(client, mine, url_of(mine, world), world)
    assert response.status_code == 404, response.content
    assert response.json()["code"] == "not_found"
    assert written() == before
    assert WebhookSubscription.objects.filter(pk=world.other_subscription.pk).exists()
    listed = client.get(reverse("webhook-subscription-list")).json()["results"]
    assert [s["id"] for s in listed] == [world.subscription.pk]


# --- 4. Restricted fields ----------------------------------------------------------------------
@pytest.mark.parametrize("actor", [*TEAMS, KEY_WITH])
def test_restricted_customer_fields_only_for_roles_that_may(world, actor):
    """A customer's accessibility note on the 360 page and in the API: service and
    supervisors see it; marketing, sales, operations and partner keys never do (not even
    the field's name in the API)."""
    customer = world.customer
    api_route = next(r for r in API_ROUTES if r.name == "customer-detail" and r.method == "get")
    api = client_for(world, actor, api_route).get(reverse("customer-detail", args=[customer.pk]))
    assert api.status_code == 200
    listed = client_for(world, actor, api_route).get(
        reverse("customer-list"), {"q": customer.display_name}
    )
    rows = [row for row in listed.json()["results"] if row["id"] == customer.pk]
    assert rows, listed.json()
    may = actor in SEES_RESTRICTED
    for body in (api.json(), rows[0]):
        if may:
            assert body["accessibility_note"] == ACCESS_NOTE
            assert body["accessibility_needs"] is True
        else:
            assert "accessibility_note" not in body and "accessibility_needs" not in body, body
    if actor in TEAMS:
        page = client_for(world, actor).get(reverse("customers:detail", args=[customer.pk]))
        assert page.status_code == 200
        assert (ACCESS_NOTE in page.content.decode()) is may


@pytest.mark.parametrize("actor", [*TEAMS, KEY_WITH])
def test_internal_case_notes_only_for_roles_that_may(world, actor):
    case = world.case
    events_route = next(r for r in API_ROUTES if r.name == "case-events")
    events = client_for(world, actor, events_route).get(reverse("case-events", args=[case.pk]))
    may = actor in SEES_INTERNAL
    if actor == KEY_WITH or actor in events_route.teams:
        assert events.status_code == 200
        assert (INTERNAL_NOTE in events.content.decode()) is may
    if actor in TEAMS:
        page = client_for(world, actor).get(reverse("cases:detail", args=[case.pk]))
        assert page.status_code == 200
        assert (INTERNAL_NOTE in page.content.decode()) is may


def test_a_refused_restricted_write_is_400_and_writes_nothing(world):
    """Sales may change customers, but not their restricted fields."""
    client = client_for(world, "sales")
    before = written()
    response = client.patch(
        reverse("customer-detail", args=[world.customer.pk]),
        json.dumps({"accessibility_note": "Changed by sales"}),
        content_type="application/json",
    )
    assert response.status_code == 400, response.content
    assert "accessibility_note" in response.json()["errors"]
    assert written() == before


# --- 5. The admin, as a group ------------------------------------------------------------------
ADMIN_CATCH_ALL = "/admin/no-such-page/"


def admin_urls(world: World) -> list[tuple[str, str]]:
    """(pattern, URL) for every admin pattern, with a real object where the model has one."""
    from django.contrib import admin

    pk_of = {}  # "admin:<app>_<model>_" -> a row's pk (or one that does not exist)
    for model in admin.site._registry:
        row = model._default_manager.order_by("pk").values_list("pk", flat=True).first()
        pk_of[f"admin:{model._meta.app_label}_{model._meta.model_name}_"] = row or 999_999
    customer_type = ContentType.objects.get_for_model(type(world.customer))
    urls = []
    for p in url_patterns():
        if not is_admin(p) or p.key in ("admin:login", "admin:logout"):
            continue
        if p.key == "admin:view_on_site":
            url = reverse(p.key, args=[customer_type.pk, world.customer.pk])
        elif p.key == "admin:app_list":
            url = reverse(p.key, kwargs={"app_label": "customers"})
        elif p.key.startswith("admin:"):
            prefix = max((k for k in pk_of if p.key.startswith(k)), key=len, default="")
            args = [pk_of.get(prefix, 999_999)] * len(re.findall(r"<[^>]+>", p.path))
            url = reverse(p.key, args=args)
        elif "<path:object_id>" in p.path:  # the old change URL, which redirects
            app, model = p.path.split("/")[1:3]
            object_id = pk_of.get(f"admin:{app}_{model}_", 999_999)
            url = "/" + p.path.replace("<path:object_id>", str(object_id))
        else:
            url = ADMIN_CATCH_ALL
        urls.append((p.key, url))
    return urls


def test_the_admin_refuses_anonymous_and_non_staff_members(world):
    urls = admin_urls(world)
    login = reverse("admin:login")
    failures = []
    for actor in (ANONYMOUS, NO_TEAM, "service", "marketing", "sales", "operations"):
        client = client_for(world, actor)
        for _key, url in urls:
            response = client.get(url)
            if response.status_code != 302 or not response["Location"].startswith(login):
                failures.append((actor, url, response.status_code))
    assert not failures, f"admin pages not sent to the admin login: {failures[:20]}"


def test_supervisors_get_into_every_admin_page(world):
    """Every admin page answers a supervisor without a 500 or a trip to the login page;
    the index, each app and every model's list are open to them."""
    client = client_for(world, "supervisor")
    login = reverse("admin:login")
    failures = []
    listed = 0
    for key, url in admin_urls(world):
        response = client.get(url)
        location = response.get("Location", "")
        must_open = key in ("admin:index", "admin:app_list") or key.endswith("_changelist")
        listed += key.endswith("_changelist")
        # The catch-all, and "view on site" (no model has a page of its own outside admin).
        lost = url == ADMIN_CATCH_ALL or key == "admin:view_on_site"
        fine = (200, 302, 403, 404) if lost else (200, 302, 403)
        if (must_open and response.status_code != 200) or (
            response.status_code not in fine or location.startswith(login)
        ):
            failures.append((url, response.status_code))
    assert not failures, failures
    assert listed > 30
    assert client_for(world, ANONYMOUS).get(login).status_code == 200
