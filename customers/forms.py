"""Staff UI forms. They only check and clean input; the views hand it to a service."""

from datetime import timedelta

from django import forms
from django.utils import timezone

from customers.models import Channel, Interaction
from cxportal.validation import datetime_problem

# The channels a person logs by hand, the most common first.
LOGGED_CHANNELS = [
    (Channel.PHONE, "Phone call"),
    (Channel.STORE, "Store visit"),
    (Channel.EMAIL, "Email"),
    (Channel.SMS, "SMS"),
    (Channel.APP, "App"),
    (Channel.SOCIAL, "Social media"),
    (Channel.WEB, "Web"),
]
# Clocks of staff machines drift a little; anything later than this is a typo.
FUTURE_SLACK = timedelta(minutes=5)
DATETIME_LOCAL = "%Y-%m-%dT%H:%M"


class InteractionLogForm(forms.Form):
    channel = forms.ChoiceField(choices=LOGGED_CHANNELS, initial=Channel.PHONE)
    direction = forms.ChoiceField(
        choices=Interaction.Direction.choices, initial=Interaction.Direction.INBOUND
    )
    summary = forms.CharField(
        max_length=200,
        error_messages={
            "required": "Write a short summary of what happened.",
            "max_length": "Keep the summary under 200 characters; put the rest in the notes.",
        },
    )
    body = forms.CharField(
        label="Notes",
        required=False,
        max_length=Interaction.BODY_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"max_length": "The notes are too long (64 KB at most)."},
    )
    occurred_at = forms.DateTimeField(
        label="When",
        input_formats=[DATETIME_LOCAL, "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_LOCAL),
        error_messages={
            "required": "Say when it happened.",
            "invalid": "Give the date and time like 2026-03-14 09:30.",
        },
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("occurred_at", timezone.localtime().replace(second=0))
        self.fields["summary"].widget.attrs.update(
            {"placeholder": "e.g. Asked where the express order is", "autocomplete": "off"}
        )

    def clean_occurred_at(self):
        when = self.cleaned_data["occurred_at"]
        if when > timezone.now() + FUTURE_SLACK:
            raise forms.ValidationError("That time is in the future.")
        problem = datetime_problem(when)
        if problem:
            raise forms.ValidationError(problem)
        return when
