"""Staff UI forms for cases. They only parse input; the views hand it to ``cases.services``,
which checks it (deadlines in the past, transitions, channels) and raises ValidationError
that the views show on these forms."""

from django import forms

from cases.models import TRANSITIONS, Case, Category, Priority, Status
from cases.selectors import case_assignees
from customers.forms import DATETIME_LOCAL
from customers.models import Channel
from cxportal.models import Team
from cxportal.validation import datetime_problem

DATETIME_FORMATS = [DATETIME_LOCAL, "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]


def _deadline_field() -> forms.DateTimeField:
    return forms.DateTimeField(
        label="Customer needs it by",
        required=False,
        input_formats=DATETIME_FORMATS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_LOCAL),
        error_messages={"invalid": "Give the date and time like 2026-03-14 17:00."},
    )


def _reason_field() -> forms.CharField:
    return forms.CharField(
        label="Because",
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"placeholder": "e.g. going on holiday on Saturday"}),
    )


def _team_queryset():
    return Team.objects.order_by("name")


class DeadlineMixin:
    def clean_customer_deadline(self):
        when = self.cleaned_data.get("customer_deadline")
        if when is not None and (problem := datetime_problem(when)):
            raise forms.ValidationError(problem)
        return when


class CaseCreateForm(DeadlineMixin, forms.Form):
    subject = forms.CharField(
        max_length=200,
        error_messages={"required": "Say in a few words what the case is about."},
    )
    description = forms.CharField(
        required=False, max_length=20_000, widget=forms.Textarea(attrs={"rows": 4})
    )
    category = forms.ChoiceField(choices=Category.choices, initial=Category.GENERAL)
    priority = forms.ChoiceField(choices=Priority.choices, initial=Priority.NORMAL)
    team = forms.ModelChoiceField(
        queryset=Team.objects.none(),
        required=False,
        empty_label="Route by the rules",
        to_field_name="slug",
    )
    customer_deadline = _deadline_field()
    customer_deadline_reason = _reason_field()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = _team_queryset()
        self.fields["subject"].widget.attrs.update({"autocomplete": "off"})


class CaseEditForm(DeadlineMixin, forms.Form):
    """The case as the agent saw it, with ``version``: the services refuse the save when
    someone else saved the case in between."""

    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    subject = forms.CharField(max_length=200)
    category = forms.ChoiceField(choices=Category.choices)
    priority = forms.ChoiceField(choices=Priority.choices)
    team = forms.ModelChoiceField(queryset=Team.objects.none(), to_field_name="slug")
    status = forms.ChoiceField(choices=Status.choices)
    assignee = forms.ModelChoiceField(
        queryset=None, required=False, empty_label="Nobody (team queue)", to_field_name="username"
    )
    customer_deadline = _deadline_field()
    customer_deadline_reason = _reason_field()

    def __init__(self, *args, case: Case, **kwargs):
        kwargs.setdefault("initial", self.initial_for(case))
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = _team_queryset()
        self.fields["assignee"].queryset = case_assignees()
        self.fields["assignee"].label_from_instance = lambda u: u.get_full_name() or u.username
        # The current status and the ones it may move to.
        allowed = {case.status, *TRANSITIONS[case.status]}
        self.fields["status"].choices = [(v, label) for v, label in Status.choices if v in allowed]

    @staticmethod
    def initial_for(case: Case) -> dict:
        return {
            "version": case.version,
            "subject": case.subject,
            "category": case.category,
            "priority": case.priority,
            "team": case.team.slug,
            "status": case.status,
            "assignee": case.assignee.username if case.assignee else None,
            "customer_deadline": case.customer_deadline,
            "customer_deadline_reason": case.customer_deadline_reason,
        }


class CaseStatusForm(forms.Form):
    """Resolve or reopen: only the version the agent saw, and an optional note."""

    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    note = forms.CharField(required=False, max_length=20_000)


REPLY_CHANNELS = [("", "Where they last wrote to us"), *Channel.choices]


class CaseReplyForm(forms.Form):
    body = forms.CharField(
        label="Reply",
        max_length=20_000,
        widget=forms.Textarea(attrs={"rows": 4}),
        error_messages={"required": "Write the reply first."},
    )
    channel = forms.ChoiceField(label="Send by", choices=REPLY_CHANNELS, required=False)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "reply_%s")  # unique ids beside the note form
        super().__init__(*args, **kwargs)


class CaseNoteForm(forms.Form):
    body = forms.CharField(
        label="Internal note",
        max_length=20_000,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Only staff see this."}),
        error_messages={"required": "Write the note first."},
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "note_%s")
        super().__init__(*args, **kwargs)
