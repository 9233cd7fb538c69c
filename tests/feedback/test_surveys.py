"""Surveys end to end through the services: invite once, send with consent (or say why
not), answer once on a signed link, close the loop with detractors."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from cases.models import CareFlag
from cases.services import case_resolve
from customers.services import consent_set, customer_create
from customers.services.core import ContactInput
from cxportal.models import Team
from feedback.models import Response, Survey, SurveyInvitation, Theme
from feedback.services.surveys import (
    LinkProblem,
    invitation_send,
    invitation_token,
    invitations_expire,
    invitations_fallback_due,
    invitations_send_due,
    response_follow_up_record,
    response_submit,
    score_category,
    survey_invite,
    surveys_for_case_resolved,
    surveys_triggers_scan,
)
from tests.cases.factories import open_case
from tests.customers.test_outbound import mail_source

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent(staff):
    return staff("service")


def survey(**fields) -> Survey:
    return Survey.objects.create(
        name=fields.pop("name", "After your case"),
        kind=fields.pop("kind", "nps"),
        question="How likely are you to recommend us to a friend?",
        trigger=fields.pop("trigger", "case_resolved"),
        delay_hours=fields.pop("delay_hours", 0),
        team=Team.objects.get(slug="service"),
        **fields,
    )


def customer(agent, n=1, *, feedback_consent=True, phone=False):
    points = [ContactInput("email", f"c{n}@example.com")]
    if phone:
        points.append(ContactInput("phone", f"+4477009001{n:02d}"))
    person = customer_create(
        actor=agent, display_name=f"Customer {n}", region="North", contact_points=points
    )
    if feedback_consent:
        for channel in ("email", "sms"):
            consent_set(
                actor=agent,
                customer=person,
                channel=channel,
                purpose="feedback",
                granted=True,
                source="signup form",
            )
    return person


def sent_invitation(agent, smtp, s=None, person=None, key="case:1") -> SurveyInvitation:
    mail_source(smtp)
    s = s or survey()
    invitation = survey_invite(survey=s, customer=person or customer(agent), trigger_key=key)
    assert invitation_send(invitation_id=invitation.pk) == "sent"
    invitation.refresh_from_db()
    return invitation


def test_scores_fall_into_categories():
    assert [score_category("nps", s) for s in (0, 6, 7, 8, 9, 10)] == [
        "detractor",
        "detractor",
        "passive",
        "passive",
        "promoter",
        "promoter",
    ]
    assert [score_category("csat", s) for s in (1, 2, 3, 4, 5)] == [
        "dissatisfied",
        "dissatisfied",
        "neutral",
        "satisfied",
        "satisfied",
    ]
    assert [score_category("ces", s) for s in (1, 3, 4, 5, 7)] == [
        "hard",
        "hard",
        "neutral",
        "easy",
        "easy",
    ]


def test_a_resolved_case_invites_once_and_the_link_goes_out_by_email(agent, smtp):
    mail_source(smtp)
    s = survey(delay_hours=2)
    person = customer(agent)
    case = open_case(actor=agent, customer=person)
    case_resolve(actor=agent, case=case, version=case.version)
    (invitation,) = surveys_for_case_resolved(case_id=case.pk)
    assert surveys_for_case_resolved(case_id=case.pk) == [invitation]  # a replay
    assert invitation.trigger_key == f"case:{case.pk}" and invitation.status == "scheduled"
    assert invitations_send_due() == 0  # the delay is not over
    later = timezone.now() + timedelta(hours=3)
    assert invitations_send_due(now=later) == 1
    invitation.refresh_from_db()
    assert (invitation.status, invitation.channel) == ("sent", "email")
    assert "/s/" in invitation.interaction.body and s.question in invitation.interaction.body
    assert SurveyInvitation.objects.count() == 1


def test_sampling_decides_the_same_way_every_time(agent):
    half = survey(sampling_rate=0.5)
    person = customer(agent)
    picked = [survey_invite(survey=half, customer=person, trigger_key=f"k{i}") for i in range(200)]
    chosen = sum(1 for p in picked if p is not None)
    assert 70 < chosen < 130
    again = [survey_invite(survey=half, customer=person, trigger_key=f"k{i}") for i in range(200)]
    assert [a is None for a in again] == [p is None for p in picked]


def test_fatigue_guard_open_case_and_quiet_period(agent, smtp):
    mail_source(smtp)
    s = survey()
    person = customer(agent)
    open_case(actor=agent, customer=person)
    first = survey_invite(survey=s, customer=person, trigger_key="case:1")
    assert invitation_send(invitation_id=first.pk) == "suppressed"
    first.refresh_from_db()
    assert "open case" in first.suppressed_reason

    other = customer(agent, 2)
    sent = survey_invite(survey=s, customer=other, trigger_key="case:2")
    assert invitation_send(invitation_id=sent.pk) == "sent"
    again = survey_invite(survey=s, customer=other, trigger_key="case:3")
    assert invitation_send(invitation_id=again.pk) == "suppressed"
    again.refresh_from_db()
    assert "quiet period" in again.suppressed_reason


def test_no_feedback_consent_means_no_survey_with_the_reason(agent, smtp):
    mail_source(smtp)
    s = survey()
    invitation = survey_invite(
        survey=s, customer=customer(agent, feedback_consent=False), trigger_key="case:1"
    )
    assert invitation_send(invitation_id=invitation.pk) == "suppressed"
    invitation.refresh_from_db()
    assert "no consent to feedback messages" in invitation.suppressed_reason
    assert smtp.messages == []


def test_no_answer_after_n_days_asks_again_by_sms(agent, smtp, provider):
    from tests.customers.channel_support import sms_source

    mail_source(smtp)
    sms_source(settings={"api_url": provider.url})
    s = survey(fallback_channel="sms", fallback_after_days=3)
    invitation = survey_invite(survey=s, customer=customer(agent, phone=True), trigger_key="x")
    invitation_send(invitation_id=invitation.pk)
    assert invitations_fallback_due() == 0
    assert invitations_fallback_due(now=timezone.now() + timedelta(days=4)) == 1
    invitation.refresh_from_db()
    assert invitation.fallback_sent_at is not None
    assert invitations_fallback_due(now=timezone.now() + timedelta(days=5)) == 0  # once


def test_an_answer_is_taken_once_and_the_link_explains_itself(agent, smtp):
    invitation = sent_invitation(agent, smtp)
    token = invitation_token(invitation)
    with pytest.raises(ValidationError) as error:
        response_submit(token=token, score=11)
    assert error.value.message_dict == {"score": ["Choose a score from 0 to 10."]}
    response = response_submit(token=token, score=9, comment="Quick and kind, thank you!")
    assert (response.category, response.customer, response.region) == ("promoter", None, "North")
    assert response.sentiment > 0.3
    with pytest.raises(LinkProblem, match="already answered"):
        response_submit(token=token, score=9)
    with pytest.raises(LinkProblem, match="not valid"):
        response_submit(token=token[:-3] + "abc", score=9)
    assert Response.objects.count() == 1


def test_an_expired_link_says_when_it_closed(agent, smtp):
    invitation = sent_invitation(agent, smtp)
    SurveyInvitation.objects.filter(pk=invitation.pk).update(
        expires_at=timezone.now() - timedelta(hours=1)
    )
    with pytest.raises(LinkProblem, match="This survey closed on"):
        response_submit(token=invitation_token(invitation), score=5)
    assert invitations_expire() == 1


def test_a_detractor_who_allows_contact_gets_a_care_flag_and_a_case(agent, smtp):
    Theme.objects.create(name="Delivery", keywords=["late", "never arrived"])
    s = survey(open_case_for_detractors=True)
    invitation = sent_invitation(agent, smtp, s)
    response = response_submit(
        token=invitation_token(invitation),
        score=2,
        comment="My card never arrived and nobody called back.",
        contact_allowed=True,
    )
    assert response.customer == invitation.customer and response.category == "detractor"
    assert [t.name for t in response.themes.all()] == ["Delivery"]
    flag = response.care_flag
    assert (flag.kind, flag.customer, flag.team.slug) == (
        "detractor",
        invitation.customer,
        "service",
    )
    assert "never arrived" in flag.summary
    case = response.follow_up_case
    assert (case.category, case.priority, case.customer) == ("complaint", "high", response.customer)
    response_follow_up_record(actor=agent, response=response, outcome="Called; new card sent")
    flag.refresh_from_db()
    assert flag.cleared_at is not None
    response.refresh_from_db()
    assert response.follow_up_by == agent.username


def test_a_detractor_who_wants_no_contact_is_counted_but_not_chased(agent, smtp):
    invitation = sent_invitation(agent, smtp)
    response = response_submit(token=invitation_token(invitation), score=1, comment="Awful")
    assert response.customer is None and response.care_flag is None
    assert CareFlag.objects.count() == 0
    assert Response.objects.filter(category="detractor").count() == 1


def test_resolving_a_case_hands_the_survey_trigger_to_the_broker(
    agent, broker, django_capture_on_commit_callbacks
):
    survey()
    case = open_case(actor=agent, customer=customer(agent))
    with django_capture_on_commit_callbacks(execute=True):
        case_resolve(actor=agent, case=case, version=case.version)
    assert ("scans.survey_case_resolved", [case.pk]) in broker()


def test_a_case_resolved_while_the_broker_was_away_is_invited_by_the_sweeper(
    agent, django_capture_on_commit_callbacks
):
    """The case_resolved task lives only in the broker: when it is lost (broker down at
    publish, never delivered), the every-few-minutes trigger sweep still invites."""
    s = survey()
    case = open_case(actor=agent, customer=customer(agent))
    with django_capture_on_commit_callbacks(execute=False):  # the nudge never arrives
        case_resolve(actor=agent, case=case, version=case.version)
    assert not SurveyInvitation.objects.exists()
    assert surveys_triggers_scan() == 1
    invitation = SurveyInvitation.objects.get()
    assert (invitation.survey, invitation.case, invitation.trigger_key) == (
        s,
        case,
        f"case:{case.pk}",
    )
    assert surveys_triggers_scan() == 0  # and only once
