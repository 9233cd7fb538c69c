"""The public survey page (``/s/<token>/``): what a customer opens from the link we sent.

No login, no JavaScript needed (a plain form POST), its own small template without the
staff navigation. The signed token names the invitation; ``response_submit`` checks the
score against the survey's scale and records the answer once. A link that cannot be
answered (cut off or tampered with, already answered, expired) explains itself: 404 for a
link that is not one of ours, 410 Gone for one that was used or has closed. Every answer
of these pages is private to the customer: never cached, never indexed, and the link
(which holds the token) is never sent to another site as a referrer.
"""

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods

from feedback.forms import SurveyAnswerForm
from feedback.models import Survey, SurveyInvitation
from feedback.services.surveys import LinkProblem, invitation_from_token, response_submit

#: The words at both ends of each scale (the lowest score first).
SCALE_ENDS = {
    Survey.Kind.NPS: ("Not at all likely", "Extremely likely"),
    Survey.Kind.CSAT: ("Very dissatisfied", "Very satisfied"),
    Survey.Kind.CES: ("Very difficult", "Very easy"),
}
STATUS = {"invalid": 404, "gone": 410, "answered": 410, "expired": 410}


def _private(response: HttpResponse) -> HttpResponse:
    response["X-Robots-Tag"] = "noindex, nofollow"
    # Not "no-referrer": browsers then send "Origin: null" with the form, which CSRF refuses.
    response["Referrer-Policy"] = "same-origin"
    return response


def _problem(request: HttpRequest, problem: LinkProblem) -> HttpResponse:
    status = STATUS.get(problem.code, 404)
    return render(request, "feedback/public/problem.html", {"message": str(problem)}, status=status)


def _form_page(
    request: HttpRequest, invitation: SurveyInvitation, form: SurveyAnswerForm
) -> HttpResponse:
    survey = invitation.survey
    low, high = survey.scale
    low_label, high_label = SCALE_ENDS[survey.kind]
    ends = {low: low_label, high: high_label}
    chosen = str(form["score"].value() or "") if form.is_bound else ""
    options = [
        {"value": str(n), "end": ends.get(n, ""), "checked": chosen == str(n)}
        for n in range(low, high + 1)
    ]
    context = {
        "survey": survey,
        "form": form,
        "options": options,
        "low": low,
        "high": high,
        "low_label": low_label,
        "high_label": high_label,
        "scale_size": len(options),
    }
    return render(request, "feedback/public/answer.html", context)


@never_cache
@csrf_protect
@require_http_methods(["GET", "POST"])
def answer(request: HttpRequest, token: str) -> HttpResponse:
    """The survey (GET), the answer (POST, then the thank-you page), or why the link
    cannot be answered."""
    try:
        invitation = invitation_from_token(token)
    except LinkProblem as problem:
        if problem.code == "answered" and request.method == "GET" and "thanks" in request.GET:
            return _private(render(request, "feedback/public/thanks.html"))
        return _private(_problem(request, problem))
    if request.method == "GET":
        return _private(_form_page(request, invitation, SurveyAnswerForm()))

    form = SurveyAnswerForm(request.POST)
    if not form.is_valid():
        return _private(_form_page(request, invitation, form))
    data = form.cleaned_data
    try:
        response_submit(
            token=token,
            score=data["score"],
            comment=data["comment"],
            contact_allowed=data["contact_allowed"],
        )
    except LinkProblem as problem:  # answered meanwhile, in another tab
        return _private(_problem(request, problem))
    except ValidationError as error:
        if hasattr(error, "error_dict"):
            for field, problems in error.message_dict.items():
                form.add_error(field if field in form.fields else None, problems)
        else:
            form.add_error(None, error.messages)
        return _private(_form_page(request, invitation, form))
    return _private(redirect(f"{request.path}?thanks=1"))
