"""Supervisors' admin for feedback: surveys and themes (validated, audited; a theme change
re-themes recent feedback in the worker), read-only records, ideas moved by the service."""

from datetime import timedelta

import pytest
from django.contrib import admin
from django.utils import timezone

from customers.services import interaction_log
from cxportal.models import AuditEvent, Team
from feedback.models import Idea, Mention, Response, Survey, SurveyInvitation, Theme
from feedback.services.ideas import idea_move, idea_submit
from feedback.services.mentions import mentions_scan
from feedback.tasks import themes_recompute_task
from tests.customers.factories import CustomerFactory

pytestmark = pytest.mark.django_db
MODELS = (Survey, SurveyInvitation, Response, Theme, Mention, Idea)


def survey_form(**changes) -> dict:
    data = {
        "name": "After delivery",
        "kind": "csat",
        "question": "How satisfied are you with your delivery?",
        "trigger": "order_delivered",
        "trigger_channel": "",
        "trigger_keyword": "",
        "delay_hours": "2",
        "sampling_rate": "0.5",
        "quiet_period_days": "30",
        "channel": "email",
        "fallback_channel": "sms",
        "fallback_after_days": "3",
        "valid_days": "14",
        "team": str(Team.objects.get(slug="service").pk),
        "is_active": "on",
    }
    data.update(changes)
    return data


def errors_of(response) -> dict:
    assert response.status_code == 200, response.status_code  # the form again, with errors
    return {
        name: list(errors) for name, errors in response.context["adminform"].form.errors.items()
    }


def test_every_feedback_model_is_registered_and_its_changelist_loads(boss_client, agent_post):
    idea_submit(actor=None, title="Self-service refunds")
    for model in MODELS:
        assert admin.site.is_registered(model), model
        meta = model._meta
        response = boss_client.get(f"/admin/feedback/{meta.model_name}/")
        assert response.status_code == 200, meta.model_name
    for model in (SurveyInvitation, Response, Mention):
        model_admin = admin.site._registry[model]
        assert model_admin.show_full_result_count is False
        assert boss_client.get(f"/admin/feedback/{model._meta.model_name}/add/").status_code == 403
    mention = Mention.objects.get()
    assert boss_client.get(f"/admin/feedback/mention/{mention.pk}/change/").status_code == 200
    assert boss_client.get(f"/admin/feedback/mention/{mention.pk}/delete/").status_code == 403


@pytest.fixture
def agent_post(staff):
    """One social post turned into a mention."""
    Theme.objects.create(name="Delivery", keywords=["parcel", "late"])
    interaction_log(
        actor=staff("service"),
        customer=CustomerFactory(),
        channel="social",
        direction="inbound",
        summary="@Brand my parcel is late again",
    )
    assert mentions_scan() == 1


def test_a_survey_is_validated_and_every_save_is_audited(boss_client):
    url = "/admin/feedback/survey/add/"
    assert errors_of(boss_client.post(url, survey_form(sampling_rate="1.5"))) == {
        "sampling_rate": ["A share from 0 to 1 (0.25 invites one trigger in four; 1 invites all)."]
    }
    assert "fallback_channel" in errors_of(
        boss_client.post(url, survey_form(fallback_channel="email"))
    )
    assert errors_of(boss_client.post(url, survey_form(trigger="interaction"))) == {
        "trigger_keyword": [
            "Say which interactions invite (a word in their summary, e.g. “technician visit”): "
            "without it every interaction would."
        ]
    }
    assert "trigger_keyword" in errors_of(
        boss_client.post(url, survey_form(trigger_keyword="visit"))  # not the interaction trigger
    )
    assert "fallback_after_days" in errors_of(
        boss_client.post(url, survey_form(fallback_after_days="20"))
    )
    assert not Survey.objects.exists()

    response = boss_client.post(
        url, survey_form(trigger="interaction", trigger_keyword="  technician   visit ")
    )
    assert response.status_code == 302
    survey = Survey.objects.get()
    assert (survey.trigger_keyword, survey.sampling_rate) == ("technician visit", 0.5)
    created = AuditEvent.objects.get(action="survey.create")
    assert created.after["team"] == "service" and created.after["sampling_rate"] == 0.5

    boss_client.post(
        f"/admin/feedback/survey/{survey.pk}/change/",
        survey_form(trigger="interaction", trigger_keyword="technician visit", sampling_rate="1"),
    )
    updated = AuditEvent.objects.get(action="survey.update")
    assert (updated.before["sampling_rate"], updated.after["sampling_rate"]) == (0.5, 1.0)


def test_a_survey_with_answers_cannot_be_deleted(boss_client):
    survey = Survey.objects.create(
        name="NPS",
        kind="nps",
        question="?",
        trigger="manual",
        team=Team.objects.get(slug="service"),
    )
    Response.objects.create(
        survey=survey, kind="nps", score=9, category="promoter", answered_at=timezone.now()
    )
    response = boss_client.post(f"/admin/feedback/survey/{survey.pk}/delete/", {"post": "yes"})
    assert "Cannot delete" in response.content.decode()
    assert Survey.objects.exists() and Response.objects.count() == 1


def test_theme_keywords_are_checked_and_a_change_re_themes_recent_feedback(
    boss_client, broker, agent_post
):
    url = "/admin/feedback/theme/add/"
    bad = {
        '"late"': "A list of words and phrases",
        "[]": "This field is required.",
        '["late", 3]': "Item 2 is not text: 3.",
        '["late", "  "]': "Item 2 is empty.",
        "[late": "Enter a valid JSON.",
    }
    for keywords, message in bad.items():
        errors = errors_of(boss_client.post(url, {"name": "Billing", "keywords": keywords}))
        assert message in errors["keywords"][0], keywords
    assert broker() == []

    response = boss_client.post(
        url,
        {
            "name": "Billing",
            "keywords": '[" refund ", "Refund", "charged  twice"]',
            "is_active": "on",
        },
        follow=True,
    )
    theme = Theme.objects.get(name="Billing")
    assert theme.keywords == ["refund", "charged twice"]
    assert "Re-theming the answers and mentions of the last 5 weeks" in response.content.decode()
    assert broker() == [("scans.themes_recompute", [theme.pk])]
    assert AuditEvent.objects.filter(action="theme.create", target_id=str(theme.pk)).exists()

    # Renaming only changes no themes: nothing to recompute.
    delivery = Theme.objects.get(name="Delivery")
    boss_client.post(
        f"/admin/feedback/theme/{delivery.pk}/change/",
        {"name": "Deliveries", "keywords": '["parcel", "late"]', "is_active": "on"},
    )
    assert len(broker()) == 1
    # A keyword change: the worker re-themes the last five weeks.
    boss_client.post(
        f"/admin/feedback/theme/{delivery.pk}/change/",
        {"name": "Deliveries", "keywords": '["courier"]', "is_active": "on"},
    )
    assert broker()[-1] == ("scans.themes_recompute", [delivery.pk])
    event = AuditEvent.objects.filter(action="theme.update").latest("id")
    assert (event.before["keywords"], event.after["keywords"]) == (["parcel", "late"], ["courier"])
    mention = Mention.objects.get()
    assert list(mention.themes.values_list("name", flat=True)) == ["Deliveries"]
    assert themes_recompute_task(delivery.pk) == 1  # what the worker runs
    assert not mention.themes.exists()  # "parcel" is no longer a keyword

    boss_client.post(
        "/admin/feedback/theme/",
        {"action": "recompute_recent", "_selected_action": [theme.pk, delivery.pk]},
    )
    assert broker()[-1] == ("scans.themes_recompute", [delivery.pk])  # one run covers all


def test_an_old_mention_is_left_alone_by_the_recompute(agent_post):
    Mention.objects.update(occurred_at=timezone.now() - timedelta(weeks=6))
    Theme.objects.update(keywords=["courier"])
    assert themes_recompute_task(1) == 0
    assert Mention.objects.get().themes.count() == 1


def test_answers_are_read_only_and_never_deleted(boss_client):
    survey = Survey.objects.create(
        name="NPS",
        kind="nps",
        question="?",
        trigger="manual",
        team=Team.objects.get(slug="service"),
    )
    answer = Response.objects.create(
        survey=survey, kind="nps", score=3, category="detractor", answered_at=timezone.now()
    )
    page = boss_client.get(f"/admin/feedback/response/{answer.pk}/change/")
    assert page.status_code == 200 and 'name="score"' not in page.content.decode()
    assert (
        boss_client.post(
            f"/admin/feedback/response/{answer.pk}/change/", {"score": "10"}
        ).status_code
        == 403
    )
    assert (
        boss_client.post(
            f"/admin/feedback/response/{answer.pk}/delete/", {"post": "yes"}
        ).status_code
        == 403
    )
    assert boss_client.post(
        "/admin/feedback/response/",
        {"action": "delete_selected", "_selected_action": [answer.pk], "post": "yes"},
    ).status_code in (200, 302)
    assert Response.objects.get().score == 3
    listing = boss_client.get("/admin/feedback/response/", {"category": "detractor", "kind": "nps"})
    assert listing.status_code == 200 and listing.context["cl"].result_count == 1


def test_ideas_move_through_the_service_from_the_form_and_the_actions(boss_client, boss):
    response = boss_client.post(
        "/admin/feedback/idea/add/", {"title": "Callback button in the app", "description": ""}
    )
    assert response.status_code == 302
    idea = Idea.objects.get()
    assert (idea.status, idea.submitted_by) == ("submitted", boss.username)
    assert AuditEvent.objects.filter(action="idea.submit").count() == 1

    url = f"/admin/feedback/idea/{idea.pk}/change/"
    page = boss_client.get(url).content.decode()
    assert 'value="reviewing"' in page and 'value="implemented"' not in page
    form = {"title": idea.title, "description": "", "team": "", "move_to": "declined", "note": ""}
    assert errors_of(boss_client.post(url, form)) == {
        "note": ["Say why it is declined: the person who had it reads this."]
    }
    form.update(move_to="reviewing", title="Callback button in the app and on the web")
    assert boss_client.post(url, form).status_code == 302
    idea.refresh_from_db()
    assert (idea.status, idea.title) == ("reviewing", "Callback button in the app and on the web")
    assert AuditEvent.objects.filter(action="idea.move").count() == 1
    assert AuditEvent.objects.get(action="idea.update").after == {"title": idea.title}

    other = idea_submit(actor=None, title="Fewer survey emails")
    response = boss_client.post(
        "/admin/feedback/idea/",
        {"action": "move_to_implementing", "_selected_action": [idea.pk, other.pk]},
        follow=True,
    )
    text = response.content.decode()
    assert "1 idea(s) now implementing." in text
    assert "An idea that is submitted cannot become implementing" in text
    idea_move(actor=None, idea=other, status="reviewing")
    boss_client.post(
        "/admin/feedback/idea/", {"action": "move_to_implemented", "_selected_action": [idea.pk]}
    )
    idea.refresh_from_db()
    assert idea.status == "implemented" and idea.implemented_at is not None
    assert boss_client.post(f"/admin/feedback/idea/{idea.pk}/delete/").status_code == 403


def test_mentions_are_marked_reviewed_through_the_service(boss_client, agent_post):
    mention = Mention.objects.get()
    boss_client.post(
        "/admin/feedback/mention/", {"action": "mark_reviewed", "_selected_action": [mention.pk]}
    )
    mention.refresh_from_db()
    assert mention.status == "reviewed"
    assert AuditEvent.objects.filter(action="mention.review").count() == 1


def test_other_teams_cannot_configure_feedback(client, staff):
    agent = staff("service")
    agent.is_staff = True  # may open the admin, but the service team configures nothing
    agent.save()
    client.force_login(agent)
    assert client.get("/admin/feedback/survey/add/").status_code == 403
    assert client.get("/admin/feedback/theme/add/").status_code == 403
