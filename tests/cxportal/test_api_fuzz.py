"""API fuzzing (issue #9): schemathesis over every operation of ``/api/schema/``.

The schema is the one partners download, fetched from the app itself through WSGI (no
server); the requests go through the same WSGI handler, inside the test's transaction.

Every operation is fuzzed as a caller who may use it:

- ``test_api_as_partner``: a partner API key holding every scope, over every operation a
  partner key may call, with all of schemathesis' phases (its deterministic coverage phase:
  boundary values, missing and wrong-typed fields, unexpected methods; then random positive
  and negative data);
- ``test_api_staff_only``: a supervisor's session over the operations only staff may call
  (merges, segment and campaign writes, ideas, the sales pipeline), with the same phases;
- ``test_api_as_supervisor``: the same session over the operations both may call, with
  valid random data only: what differs for staff is what they are shown (restricted
  fields, internal notes), and the partner run has already thrown bad input at that code.

A few real objects are seeded first (customers, cases, a disruption, a survey with an
answer, an idea, a segment and campaign, an opportunity, a webhook subscription). The
generated ``{id}`` in a path, and the ids a body names (``customer``, ``segment``,
``merged_id`` …), are often swapped for a seeded one, and a ``version`` often for the row's
current version, so the fuzzing gets past the 404s, 400s and 409s to the code behind them.

Checks: no 5xx (``not_a_server_error``); every answer's status code is one the schema
documents for the operation (``status_code_conformance``: a 401/403/429 would mean the
caller or the schema is wrong, as the callers may use every operation they are given and
throttling is lifted); its content type is documented (``content_type_conformance``); its
body matches the documented schema (``response_schema_conformance``; error bodies too, as
``{message, code, errors}``). Derandomized, without a database of past failures, so every
run sends the same requests.
"""

import re
from datetime import timedelta

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.urls import resolve
from django.utils import timezone
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from customers.api.privacy import STAFF_ONLY
from cxportal.api.throttling import ActorRateThrottle
from cxportal.api.webhooks import PartnerKeyOnly
from cxportal.roles import API_SCOPES
from cxportal.wsgi import application

pytestmark = pytest.mark.django_db

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
FUZZ = settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    database=None,
    # A failure is reported as found: shrinking it would cost minutes for little.
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
    print_blob=False,
)


def _config(*, coverage: bool, modes: list[str]) -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "generation": {
                # The callers authenticate below: generated Cookie or Authorization values
                # would only replace their credentials.
                "with-security-parameters": False,
                "deterministic": True,
                "database": "none",
                "mode": modes[0] if len(modes) == 1 else "all",
            },
            "phases": {"coverage": {"enabled": coverage}},
        }
    )


#: Every phase, valid and invalid data.
schema = schemathesis.openapi.from_wsgi(
    "/api/schema/", application, config=_config(coverage=True, modes=["positive", "negative"])
)
#: Random valid data only (the same schema document).
positive_schema = schemathesis.openapi.from_dict(
    schema.raw_schema, config=_config(coverage=False, modes=["positive"])
)
positive_schema.app = application


# --- who may call what ------------------------------------------------------------------


def _view(operation):
    match = resolve(re.sub(r"\{[^}]+\}", "1", operation.path))
    return match.func.cls, match.func.actions[operation.method.lower()]


def partner_may_call(ctx) -> bool:
    cls, action = _view(ctx.operation)
    return getattr(cls, "action_scopes", {}).get(action) != STAFF_ONLY


def staff_may_call(ctx) -> bool:
    cls, _action = _view(ctx.operation)
    return PartnerKeyOnly not in cls.permission_classes


def staff_only(ctx) -> bool:
    return staff_may_call(ctx) and not partner_may_call(ctx)


def both_may_call(ctx) -> bool:
    return staff_may_call(ctx) and partner_may_call(ctx)


# --- aiming at seeded rows -------------------------------------------------------------------

#: Path collection ("customers") → ids of the rows seeded for the current test.
SEEDED: dict[str, list[int]] = {}
#: Body fields that name a row → the collection it is in.
BODY_REFERENCES = {
    "customer": "customers",
    "customer_id": "customers",
    "merged_id": "customers",
    "segment": "segments",
    "campaign": "campaigns",
}


def _collection(path: str) -> str:
    return path.removeprefix("/api/v1/").split("/", 1)[0]


def _current_version(collection: str, pk) -> int | None:
    from campaigns.models import Campaign
    from cases.models import Case

    model = {"cases": Case, "campaigns": Campaign}.get(collection)
    if model is None or not isinstance(pk, int):
        return None
    return model.objects.filter(pk=pk).values_list("version", flat=True).first()


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def path_parameters_aimed(context, path_parameters):
    """Mostly a seeded row's id; sometimes the generated value (an unknown id → 404)."""
    ids = SEEDED.get(_collection(context.operation.path))
    if not ids or "id" not in (path_parameters or {}):
        return st.just(path_parameters)
    seeded = st.sampled_from(ids).map(lambda pk: {**path_parameters, "id": pk})
    return st.one_of(seeded, seeded, st.just(path_parameters))


def case_aimed(context, case):
    """Integer ids in the body may become seeded rows' ids, and an integer ``version`` the
    row's current one (read when the case is drawn, so it follows earlier writes)."""
    body = case.body
    if not isinstance(body, dict):
        return st.just(case)
    choices = {
        name: st.one_of(st.none(), st.sampled_from(SEEDED[collection]))
        for name, collection in BODY_REFERENCES.items()
        if _is_int(body.get(name)) and SEEDED.get(collection)
    }
    if _is_int(body.get("version")):
        choices["version"] = st.booleans()

    def aim(picked: dict):
        for name, value in picked.items():
            if name == "version":
                pk = (case.path_parameters or {}).get("id")
                current = _current_version(_collection(context.operation.path), pk)
                if value and current is not None:
                    body["version"] = current
            elif value is not None:
                body[name] = value
        return case

    return st.fixed_dictionaries(choices).map(aim) if choices else st.just(case)


for _schema in (schema, positive_schema):
    _schema.hook("flatmap_path_parameters")(path_parameters_aimed)
    _schema.hook("flatmap_case")(case_aimed)


def seed(boss, client) -> dict[str, list[int]]:
    """A little of everything, made through the services."""
    from campaigns.services import opportunity_save
    from cases.disruptions import disruption_declare
    from cases.services import case_note_add, case_resolve
    from cxportal.api.authentication import APIClientPrincipal
    from cxportal.models import Team
    from cxportal.outbound_webhooks import webhook_subscription_create
    from feedback.models import Survey
    from feedback.services.ideas import idea_submit
    from feedback.services.surveys import invitation_token, response_submit, survey_invite
    from feedback.services.themes import themes_ensure_defaults
    from tests.campaigns.factories import campaign, marketable, segment
    from tests.cases.factories import open_case, place_network, sla_policy

    themes_ensure_defaults()
    people = [marketable(boss, n) for n in range(3)]
    policy = sla_policy()
    cases = [open_case(actor=boss, customer=people[n]) for n in range(2)]
    case_note_add(actor=boss, case=cases[0], body="Called the customer back.")
    resolved = open_case(actor=boss, customer=people[2], subject="Refund")
    resolved = case_resolve(actor=boss, case=resolved, version=resolved.version, note="Done.")
    places = place_network()
    disruption = disruption_declare(
        actor=boss,
        notify=False,
        title="Lift out of service at Bank",
        kind="incident",
        starts_at=timezone.now() - timedelta(hours=1),
        places=[places["bank"]],
        public_message="The lift at Bank is out of service.",
    )
    survey = Survey.objects.create(
        name="After your case",
        kind="nps",
        question="How likely are you to recommend us?",
        trigger="manual",
        delay_hours=0,
        team=Team.objects.get(slug="service"),
    )
    invitation = survey_invite(survey=survey, customer=people[0], trigger_key="fuzz:1")
    answer = response_submit(
        token=invitation_token(invitation), score=3, comment="Late again.", contact_allowed=True
    )
    idea = idea_submit(actor=boss, title="Say when the lift is back")
    north = segment(boss)
    offer = campaign(boss, north)
    opportunity = opportunity_save(actor=boss, customer=people[1], title="Family plan")
    subscription = webhook_subscription_create(
        actor=APIClientPrincipal(client),
        api_client=client,
        name="Disruptions feed",
        url="https://partner.example/hooks",
        events=["disruption.published"],
    )
    return {
        "customers": [c.pk for c in people],
        "cases": [c.pk for c in cases] + [resolved.pk],
        "sla-policies": [policy.pk],
        "disruptions": [disruption.pk],
        "surveys": [survey.pk],
        "responses": [answer.pk],
        "ideas": [idea.pk],
        "segments": [north.pk],
        "campaigns": [offer.pk],
        "opportunities": [opportunity.pk],
        "webhook-subscriptions": [subscription.pk],
    }


# --- the world and the callers ------------------------------------------------------------


@pytest.fixture
def wsgi_requests_in_test_transaction():
    """Django's test client keeps the test's transaction across requests by not closing the
    connection when a request starts and ends; the WSGI handler schemathesis calls must too."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def no_throttle(monkeypatch):
    """Thousands of requests a minute from one caller: a 429 here would be noise."""
    rates = {**ActorRateThrottle.THROTTLE_RATES, "api_client": "100000/min", "staff": "100000/min"}
    monkeypatch.setattr(ActorRateThrottle, "THROTTLE_RATES", rates)


@pytest.fixture
def public_dns(monkeypatch):
    """Webhook URLs must resolve to public addresses; the fuzzed hosts are made up, so each
    resolves to one public address instead of asking the network's DNS."""
    monkeypatch.setattr("cxportal.outbound_webhooks._resolve", lambda host, port: ["8.8.8.8"])


@pytest.fixture
def world(boss, wsgi_requests_in_test_transaction, no_throttle, public_dns):
    from cxportal.services import api_client_create

    client, key = api_client_create(name="fuzzer", scopes=list(API_SCOPES))
    SEEDED.clear()
    SEEDED.update(seed(boss, client))
    yield {"key": key, "boss": boss}
    SEEDED.clear()


@pytest.fixture
def as_partner(world):
    return {"headers": {"Authorization": f"Api-Key {world['key']}"}}


@pytest.fixture
def as_supervisor(world, client):
    """A real login session, with the CSRF cookie and header an unsafe method needs."""
    client.force_login(world["boss"])
    token = "f" * 32
    return {
        "headers": {"X-CSRFToken": token},
        "cookies": {"sessionid": client.cookies["sessionid"].value, "csrftoken": token},
    }


# --- the fuzzing -----------------------------------------------------------------------------


@schema.include(partner_may_call).parametrize()
@FUZZ
def test_api_as_partner(case, as_partner):
    case.call_and_validate(**as_partner, checks=CHECKS)


@schema.include(staff_only).parametrize()
@FUZZ
def test_api_staff_only(case, as_supervisor):
    case.call_and_validate(**as_supervisor, checks=CHECKS)


@positive_schema.include(both_may_call).parametrize()
@FUZZ
def test_api_as_supervisor(case, as_supervisor):
    assert case.meta.generation.mode is GenerationMode.POSITIVE
    case.call_and_validate(**as_supervisor, checks=CHECKS)


def test_every_operation_is_fuzzed_by_a_caller_who_may_use_it():
    """The three runs above leave no operation out (a new endpoint joins by itself)."""
    everything = {op.ok().label for op in schema.get_all_operations()}
    partner = {op.ok().label for op in schema.include(partner_may_call).get_all_operations()}
    staff = {op.ok().label for op in schema.include(staff_may_call).get_all_operations()}
    assert len(everything) >= 70
    assert partner | staff == everything
    assert "POST /api/v1/customers/{id}/merge/" in staff - partner
    assert "GET /api/v1/webhook-subscriptions/" in partner - staff
