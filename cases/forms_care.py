"""Staff UI forms for the care queue and for disruptions. They only parse input; the views
hand it to ``cases.care`` and ``cases.disruptions``, whose ValidationErrors (no channel to
reach the customer, an end before the start, ...) the views show on these forms."""

from django import forms

from cases.forms import DATETIME_FORMATS
from cases.models import Category, Disruption, MessageTemplate, Priority
from customers.forms import DATETIME_LOCAL
from customers.models import Channel, Place
from cxportal.validation import datetime_problem

SEND_CHANNELS = [("", "Their preferred channel"), *Channel.choices]


def _datetime_field(label: str, *, required: bool) -> forms.DateTimeField:
    return forms.DateTimeField(
        label=label,
        required=required,
        input_formats=DATETIME_FORMATS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_LOCAL),
        error_messages={
            "invalid": "Give the date and time like 2026-03-14 17:00.",
            "required": "When does it start?",
        },
    )


class _Prefixed(forms.Form):
    """Each action form of a flag page has its own ids (several forms on one page)."""

    id_prefix = ""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", f"{self.id_prefix}_%s")
        super().__init__(*args, **kwargs)


# --- Care flags ------------------------------------------------------------------------------
class CareMessageForm(_Prefixed):
    """A proactive message: a template fills in subject and body, which stay editable."""

    id_prefix = "message"

    template = forms.ChoiceField(label="Template", required=False)
    subject = forms.CharField(label="Subject", required=False, max_length=200)
    body = forms.CharField(
        label="Message",
        max_length=20_000,
        widget=forms.Textarea(attrs={"rows": 6}),
        error_messages={"required": "Write the message, or choose a template."},
    )
    channel = forms.ChoiceField(label="Send by", choices=SEND_CHANNELS, required=False)

    def __init__(self, *args, templates: list[MessageTemplate], **kwargs):
        super().__init__(*args, **kwargs)
        self.templates = {str(t.pk): t for t in templates}
        self.fields["template"].choices = [
            ("", "No template: write it"),
            *((str(t.pk), t.name) for t in templates),
        ]

    def clean_template(self) -> MessageTemplate | None:
        return self.templates.get(self.cleaned_data.get("template") or "")


class CareCaseForm(_Prefixed):
    id_prefix = "case"

    subject = forms.CharField(
        label="Subject",
        max_length=200,
        error_messages={"required": "Say in a few words what the case is about."},
    )
    description = forms.CharField(
        label="Description",
        required=False,
        max_length=20_000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    category = forms.ChoiceField(label="Category", choices=Category.choices)
    priority = forms.ChoiceField(label="Priority", choices=Priority.choices)


class CareCallBackForm(_Prefixed):
    id_prefix = "call"

    summary = forms.CharField(
        label="What was said, in a line",
        max_length=200,
        error_messages={"required": "Say in a line what the call was about."},
    )
    note = forms.CharField(
        label="Notes", required=False, max_length=20_000, widget=forms.Textarea(attrs={"rows": 3})
    )


class CareDismissForm(_Prefixed):
    id_prefix = "dismiss"

    reason = forms.CharField(
        label="Why no action is needed",
        max_length=200,
        error_messages={"required": "Say why this needs no action."},
        widget=forms.TextInput(attrs={"placeholder": "e.g. the customer collected it in store"}),
    )


# --- Disruptions -----------------------------------------------------------------------------
def place_options() -> list[Place]:
    """Every place a disruption can name (a few hundred: stations, lines, stores, ...)."""
    return list(Place.objects.only("id", "kind", "code", "name").order_by("kind", "name"))


def place_groups(places) -> list[tuple[str, list[Place]]]:
    """Places grouped by kind, in the order of ``Place.Kind`` (lines before their stations
    would be nicer, but the kind order is what people scan)."""
    labels = dict(Place.Kind.choices)
    groups: dict[str, list[Place]] = {}
    for place in places:
        groups.setdefault(place.kind, []).append(place)
    return [(labels.get(kind, kind), groups[kind]) for kind in Place.Kind.values if kind in groups]


class _WhenMixin:
    def _checked(self, name: str):
        when = self.cleaned_data.get(name)
        if when is not None and (problem := datetime_problem(when)):
            raise forms.ValidationError(problem)
        return when

    def clean_starts_at(self):
        return self._checked("starts_at")

    def clean_ends_at(self):
        return self._checked("ends_at")


class DisruptionDeclareForm(_WhenMixin, forms.Form):
    title = forms.CharField(
        max_length=200,
        error_messages={"required": "Give it a title staff and customers will recognise."},
        widget=forms.TextInput(attrs={"placeholder": "e.g. Lift out of service at Bank"}),
    )
    kind = forms.ChoiceField(choices=Disruption.Kind.choices, initial=Disruption.Kind.INCIDENT)
    severity = forms.ChoiceField(
        choices=Disruption.Severity.choices, initial=Disruption.Severity.MAJOR
    )
    starts_at = _datetime_field("Starts", required=True)
    ends_at = _datetime_field("Ends (blank: until resolved)", required=False)
    places = forms.MultipleChoiceField(
        label="Affected places",
        error_messages={"required": "Name at least one affected place."},
    )
    accessibility_impact = forms.ChoiceField(
        label="Accessibility impact", choices=Disruption.Accessibility.choices, required=False
    )
    accessibility_note = forms.CharField(
        label="Accessibility note",
        required=False,
        max_length=300,
        widget=forms.TextInput(attrs={"placeholder": "e.g. use Monument for step-free access"}),
    )
    public_message = forms.CharField(
        label="Public message",
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "Say what customers and partners are told."},
    )
    staff_guidance = forms.CharField(
        label="Staff guidance",
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    notify = forms.BooleanField(
        label="Tell the affected customers now (their preferred channel, consent respected)",
        required=False,
        initial=True,
    )

    def __init__(self, *args, places, **kwargs):
        super().__init__(*args, **kwargs)
        self.places_by_id = {str(p.pk): p for p in places}
        self.place_groups = place_groups(places)
        self.fields["places"].choices = [(pk, str(p)) for pk, p in self.places_by_id.items()]

    def clean_places(self) -> list[Place]:
        return [self.places_by_id[pk] for pk in self.cleaned_data["places"]]

    def selected_place_ids(self) -> set[str]:
        value = self["places"].value() or []
        return {str(v) for v in value}


class DisruptionUpdateForm(_WhenMixin, forms.Form):
    """A new public message and the facts that may change; ``version`` is the disruption as
    the user saw it: a save over someone else's is refused."""

    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    public_message = forms.CharField(
        label="Public message (what changed, for customers)",
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "Say what changed, for customers."},
    )
    staff_guidance = forms.CharField(
        label="Staff guidance",
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    severity = forms.ChoiceField(choices=Disruption.Severity.choices)
    ends_at = _datetime_field("Ends (blank: until resolved)", required=False)
    accessibility_impact = forms.ChoiceField(
        label="Accessibility impact", choices=Disruption.Accessibility.choices, required=False
    )
    accessibility_note = forms.CharField(label="Accessibility note", required=False, max_length=300)
    notify = forms.BooleanField(label="Tell the affected customers", required=False, initial=True)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "update_%s")
        super().__init__(*args, **kwargs)

    @staticmethod
    def initial_for(disruption: Disruption) -> dict:
        return {
            "version": disruption.version,
            "public_message": "",
            "staff_guidance": disruption.staff_guidance,
            "severity": disruption.severity,
            "ends_at": disruption.ends_at,
            "accessibility_impact": disruption.accessibility_impact,
            "accessibility_note": disruption.accessibility_note,
            "notify": True,
        }


class DisruptionResolveForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    public_message = forms.CharField(
        label="Public message",
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
        initial="Service is back to normal. Thank you for your patience.",
        error_messages={"required": "Tell customers it is over."},
    )
    notify = forms.BooleanField(label="Tell the affected customers", required=False, initial=True)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "resolve_%s")
        super().__init__(*args, **kwargs)


class DisruptionCasesUpdateForm(forms.Form):
    body = forms.CharField(
        label="Update for every linked case",
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "Write the update first."},
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "cases_%s")
        super().__init__(*args, **kwargs)
