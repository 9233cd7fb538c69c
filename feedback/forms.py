"""Forms of the feedback pages. They only parse input; the views hand it to
``feedback.services``, whose ValidationErrors (a score off the scale, a decline without a
note) the views show on these forms."""

import re

from django import forms

from customers.models import Channel
from cxportal.validation import id_problem
from feedback.models import Idea, Response, Survey
from feedback.selectors import DIMENSIONS

#: How many weeks the scorecard can look back.
WEEKS = (4, 12, 26, 52)
DIMENSION_LABELS = {
    "channel": "Channel",
    "team": "Team",
    "region": "Region",
    "survey": "Survey",
}
KIND_LABELS = {"nps": "NPS", "csat": "CSAT", "ces": "CES"}
#: The most customers one pasted list may hold.
INVITE_MAX = 1000


# --- The public survey page --------------------------------------------------------------
class SurveyAnswerForm(forms.Form):
    """What the customer sends; ``response_submit`` checks the score against the survey's
    scale and the comment, so nothing here is required."""

    score = forms.CharField(required=False)
    comment = forms.CharField(required=False, strip=True, widget=forms.Textarea)
    contact_allowed = forms.BooleanField(required=False)


# --- Staff filters -----------------------------------------------------------------------
class ScorecardForm(forms.Form):
    weeks = forms.TypedChoiceField(
        label="Period",
        choices=[(str(w), f"Last {w} weeks") for w in WEEKS],
        coerce=int,
        required=False,
    )
    dimension = forms.ChoiceField(
        label="By", choices=[(d, DIMENSION_LABELS[d]) for d in DIMENSIONS], required=False
    )
    kind = forms.ChoiceField(label="Score", choices=list(KIND_LABELS.items()), required=False)

    def values(self) -> tuple[int, str, str]:
        """(weeks, dimension, kind), the defaults for anything missing or wrong."""
        data = self.cleaned_data if self.is_valid() else {}
        return (
            data.get("weeks") or 12,
            data.get("dimension") or "channel",
            data.get("kind") or "nps",
        )


def _any(choices) -> list[tuple[str, str]]:
    return [("", "Any"), *choices]


class ResponseFilterForm(forms.Form):
    survey = forms.ChoiceField(label="Survey", required=False)
    kind = forms.ChoiceField(label="Kind", required=False, choices=_any(Survey.Kind.choices))
    category = forms.ChoiceField(
        label="Category", required=False, choices=_any(Response.Category.choices)
    )
    channel = forms.ChoiceField(label="Channel", required=False, choices=_any(Channel.choices))

    def __init__(self, *args, surveys: list[Survey], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["survey"].choices = _any((str(s.pk), s.name) for s in surveys)

    def filters(self) -> dict:
        """The valid filters (a wrong one is left out: the list stays useful)."""
        if not self.is_bound:
            return {}
        self.is_valid()
        return {name: value for name, value in self.cleaned_data.items() if value}


# --- Closing the loop, ideas, invitations ------------------------------------------------
class FollowUpForm(forms.Form):
    outcome = forms.CharField(
        label="What came of the follow-up",
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "Say what came of the follow-up."},
    )


class IdeaForm(forms.Form):
    title = forms.CharField(
        label="Your idea, in a line",
        max_length=200,
        error_messages={"required": "Give the idea a title."},
    )
    description = forms.CharField(
        label="Why it helps (optional)",
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class IdeaMoveForm(forms.Form):
    status = forms.ChoiceField(label="Move to", choices=Idea.Status.choices)
    note = forms.CharField(label="Note", required=False, max_length=300)


class SurveyInviteForm(forms.Form):
    customer_ids = forms.CharField(
        label="Customer ids",
        widget=forms.Textarea(attrs={"rows": 6, "placeholder": "1042, 1043, 1057 …"}),
        help_text="Paste the customers' ids: separated by commas, spaces or new lines.",
        error_messages={"required": "Paste at least one customer id."},
    )
    label = forms.CharField(
        label="Name of this list",
        max_length=40,
        help_text="e.g. “Technician visits May”. The same list sent twice invites nobody twice.",
        error_messages={"required": "Name this list (e.g. 'Technician visits May')."},
    )

    def clean_customer_ids(self) -> list[int]:
        text = self.cleaned_data["customer_ids"]
        if re.search(r"[^\d\s,;]", text):
            raise forms.ValidationError("Only customer ids (numbers), please.")
        ids = list(dict.fromkeys(int(n) for n in re.findall(r"\d+", text)))
        wrong = [pk for pk in ids if id_problem(pk)]
        if wrong:
            raise forms.ValidationError(f"{wrong[0]} is not a customer id.")
        if not ids:
            raise forms.ValidationError("Paste at least one customer id.")
        if len(ids) > INVITE_MAX:
            raise forms.ValidationError(f"At most {INVITE_MAX} customers at a time.")
        return ids
