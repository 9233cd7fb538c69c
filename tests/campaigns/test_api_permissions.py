"""Who may call each campaigns API endpoint: anonymous, unknown key, partner key with and
without the scope, and every team by its default role. A refused call writes nothing."""

from dataclasses import dataclass

import pytest
from django.utils import timezone

from campaigns.models import Campaign, Delivery, Opportunity, ReviewComment, Segment, Variant
from campaigns.services import (
    campaign_launch,
    campaign_pause,
    campaign_review,
    campaign_submit,
    opportunity_save,
)
from customers.models import Customer
from cxportal.models import AuditEvent
from tests.campaigns.factories import campaign, marketable, segment
from tests.campaigns.test_api import client_as, member
from tests.support.api_matrix import (
    TEAMS,
    api_call,
    assert_anonymous_refused,
    assert_keys_refused,
    assert_team_answer,
    assert_unknown_key_refused,
)

pytestmark = pytest.mark.django_db
EVERYONE = set(TEAMS)
BUILDERS = {"marketing", "supervisor"}
REVIEWERS = {"service", "supervisor"}
SALES = {"sales", "supervisor"}
CONVERTERS = {"supervisor"}
SCOPES = ("campaigns:read", "campaigns:write", "contact_gate:read")
READ, WRITE, GATE = SCOPES
RULES = {"all": [{"field": "region", "op": "in", "value": ["North", "South"]}]}


@dataclass
class World:
    campaign: Campaign
    segment: Segment
    customer: Customer
    delivery: Delivery | None
    opportunity: Opportunity


def written() -> dict[str, int]:
    """Rows of everything these endpoints write: equal before and after a refusal."""
    counts = {
        model.__name__: model.objects.count()
        for model in (Segment, Campaign, Variant, ReviewComment, Delivery, Opportunity, AuditEvent)
    }
    counts["converted"] = Delivery.objects.filter(converted_at__isnull=False).count()
    counts["statuses"] = sorted(Campaign.objects.values_list("status", "version"))
    counts["names"] = sorted(Segment.objects.values_list("name", flat=True))
    counts["stages"] = sorted(Opportunity.objects.values_list("stage", flat=True))
    return counts


def _body(kind: str | None, w: World) -> dict | None:
    version = w.campaign.version
    return {
        None: None,
        "segment": {"name": "North and South", "rules": RULES},
        "segment_update": {"name": "Renamed"},
        "preview": {"rules": RULES},
        "campaign": {
            "name": "Summer",
            "channel": "sms",
            "segment": w.segment.pk,
            "variants": [{"body": "Hello {first_name}"}],
        },
        "version": {"version": version},
        "review": {"version": version, "decision": "approved", "comment": "Clear."},
        "conversion": {"delivery": w.delivery.pk if w.delivery else 0, "value": "12.50"},
        "opportunity": {"customer": w.customer.pk, "title": "Fibre upgrade"},
        "opportunity_update": {"stage": "lead"},
    }[kind]


# (name, method, path, body kind, success code, teams whose default role may call it, the
#  partner scope it needs (None: staff only))
ENDPOINTS = [
    ("seg_list", "get", "segments/", None, 200, EVERYONE, READ),
    ("seg_retrieve", "get", "segments/{segment}/", None, 200, EVERYONE, READ),
    ("seg_count", "get", "segments/{segment}/count/", None, 200, EVERYONE, READ),
    ("seg_preview", "post", "segments/preview/", "preview", 200, EVERYONE, READ),
    ("seg_create", "post", "segments/", "segment", 201, BUILDERS, None),
    ("seg_update", "patch", "segments/{segment}/", "segment_update", 200, BUILDERS, None),
    ("list", "get", "campaigns/", None, 200, EVERYONE, READ),
    ("retrieve", "get", "campaigns/{id}/", None, 200, EVERYONE, READ),
    ("report", "get", "campaigns/{id}/report/", None, 200, EVERYONE, READ),
    ("create", "post", "campaigns/", "campaign", 201, BUILDERS, None),
    ("submit", "post", "campaigns/{id}/submit/", "version", 200, BUILDERS, None),
    ("review", "post", "campaigns/{id}/review/", "review", 200, REVIEWERS, None),
    ("launch", "post", "campaigns/{id}/launch/", "version", 200, BUILDERS, None),
    ("pause", "post", "campaigns/{id}/pause/", "version", 200, BUILDERS, None),
    ("resume", "post", "campaigns/{id}/resume/", "version", 200, BUILDERS, None),
    ("cancel", "post", "campaigns/{id}/cancel/", "version", 200, BUILDERS, None),
    (
        "gate",
        "get",
        "contact-gate/?customer={customer}&purpose=marketing&channel=email",
        None,
        200,
        EVERYONE,
        GATE,
    ),
    ("conversion", "post", "conversions/", "conversion", 201, CONVERTERS, WRITE),
    ("opp_list", "get", "opportunities/", None, 200, SALES, None),
    ("opp_retrieve", "get", "opportunities/{opp}/", None, 200, SALES, None),
    ("opp_create", "post", "opportunities/", "opportunity", 201, SALES, None),
    ("opp_update", "patch", "opportunities/{opp}/", "opportunity_update", 200, SALES, None),
]
IDS = [e[0] for e in ENDPOINTS]
PARAMS = ("name", "method", "path", "body", "ok", "allowed", "scope")
# How far along its life each endpoint needs the campaign.
STAGE = {"review": 1, "launch": 2, "pause": 3, "conversion": 3, "resume": 4}


@pytest.fixture
def world(request) -> World:
    marketer, reviewer = member("marketing"), member("service")
    customer = marketable(marketer, 1)
    seg = segment(marketer)
    c = campaign(marketer, seg)
    stage = STAGE.get(request.node.callspec.params["name"], 0)
    if stage >= 1:
        c = campaign_submit(actor=marketer, campaign=c, version=c.version)
    if stage >= 2:
        c = campaign_review(actor=reviewer, campaign=c, version=c.version, decision="approved")
    if stage >= 3:
        c = campaign_launch(actor=marketer, campaign=c, version=c.version)
    if stage >= 4:
        c = campaign_pause(actor=marketer, campaign=c, version=c.version)
    delivery = None
    if stage == 3:  # what sending leaves behind: the message went out
        delivery = Delivery.objects.get(campaign=c, customer=customer)
        Delivery.objects.filter(pk=delivery.pk).update(status="sent", sent_at=timezone.now())
    opportunity = opportunity_save(actor=None, customer=customer, title="Broadband")
    return World(c, seg, customer, delivery, opportunity)


def _endpoint(method: str, path: str, body_kind: str | None, w: World):
    """``call(client)``: this endpoint's request, made with that client."""
    url = "/api/v1/" + path.format(
        id=w.campaign.pk, segment=w.segment.pk, customer=w.customer.pk, opp=w.opportunity.pk
    )
    body = _body(body_kind, w)
    return lambda client: api_call(client, method, url, body)


@pytest.mark.parametrize(PARAMS, ENDPOINTS, ids=IDS)
def test_anonymous_is_401_and_writes_nothing(
    api, world, name, method, path, body, ok, allowed, scope
):
    assert_anonymous_refused(api, _endpoint(method, path, body, world), written)


@pytest.mark.parametrize(PARAMS, ENDPOINTS, ids=IDS)
def test_unknown_key_is_401(api, partner, world, name, method, path, body, ok, allowed, scope):
    partner(list(SCOPES))  # a real client exists; not this key
    assert_unknown_key_refused(api, _endpoint(method, path, body, world))


@pytest.mark.parametrize(PARAMS, ENDPOINTS, ids=IDS)
def test_key_without_the_scope_is_403_and_writes_nothing(
    partner, world, name, method, path, body, ok, allowed, scope
):
    # Every other scope of the app, and an unrelated one; staff-only endpoints refuse all.
    others = [s for s in SCOPES if s != scope]
    clients = {str(s): partner(s) for s in (others, ["customers:read", "customers:write"])}
    assert_keys_refused(clients, _endpoint(method, path, body, world), written)


@pytest.mark.parametrize(
    PARAMS, [e for e in ENDPOINTS if e[-1]], ids=[e[0] for e in ENDPOINTS if e[-1]]
)
def test_key_with_the_scope_succeeds(partner, world, name, method, path, body, ok, allowed, scope):
    response = _endpoint(method, path, body, world)(partner([scope]))
    assert response.status_code == ok, response.json()


@pytest.mark.parametrize("team", [*TEAMS, None])
@pytest.mark.parametrize(PARAMS, ENDPOINTS, ids=IDS)
def test_each_team_by_its_default_role(world, team, name, method, path, body, ok, allowed, scope):
    call = _endpoint(method, path, body, world)
    # None: in no team at all
    assert_team_answer(client_as(team), call, written, allowed=team in allowed, ok=ok)
