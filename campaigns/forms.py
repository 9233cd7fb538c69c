"""Staff UI forms of campaigns. They only parse input; the views hand it to
``campaigns.services``, which checks it and raises ValidationError that the views show on
these forms (``variants.1.body`` on the B body field, ``all.2.value`` next to rule row 2).

The segment rule builder edits rules as rows of field / operator / value under an "all" or
"any" switch (``RuleBuilder``); rules that nest groups are edited as JSON instead. Both are
plain form posts, so saving works without JavaScript; htmx only makes the count live."""

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from django import forms

from campaigns.models import Campaign, Opportunity
from campaigns.segments import FIELDS, MAX_RULES
from customers.forms import DATETIME_LOCAL
from customers.models import Channel, Customer, Purpose
from cxportal.validation import datetime_problem

NPS_CATEGORIES = [("promoter", "Promoter"), ("passive", "Passive"), ("detractor", "Detractor")]

#: How each field of ``campaigns.segments`` is shown in a rule row: its label, the kind of
#: value input (choice, text, number, consent) and, for choices, the options.
FIELD_SPECS: dict[str, dict[str, Any]] = {
    "lifecycle_stage": {
        "label": "Lifecycle stage",
        "kind": "choice",
        "choices": Customer.Lifecycle.choices,
    },
    "region": {"label": "Region", "kind": "text", "placeholder": "North"},
    "preferred_channel": {
        "label": "Preferred channel",
        "kind": "choice",
        "choices": Channel.choices,
    },
    "language": {"label": "Language", "kind": "text", "placeholder": "en"},
    "holding": {"label": "Holds a product", "kind": "text", "placeholder": "Broadband"},
    "place": {"label": "Uses a place", "kind": "place", "placeholder": "a place code"},
    "consent": {
        "label": "Consent",
        "kind": "choice",
        "choices": [
            (f"{channel}:{purpose}", f"{channel_label}, {purpose_label.lower()}")
            for channel, channel_label in Channel.choices
            for purpose, purpose_label in Purpose.choices
        ],
    },
    "last_contact": {"label": "Last contacted us", "kind": "number", "unit": "days"},
    "nps_category": {
        "label": "NPS answer (last year)",
        "kind": "choice",
        "choices": NPS_CATEGORIES,
    },
    "orders": {"label": "Orders placed", "kind": "number", "unit": "orders"},
    "order_placed": {"label": "Ordered", "kind": "number", "unit": "days"},
}
OP_LABELS = {
    "eq": "is",
    "in": "is one of",
    "has": "contains",
    "uses": "uses, follows or lives near",
    "granted": "is granted for",
    "within_days": "within the last",
    "older_than_days": "not within the last",
    "count_gte": "at least",
}


@dataclass
class RuleRow:
    """One condition of the builder, as the user entered it (``value`` is what the input
    holds: a string, or a list for a multi-choice)."""

    field: str = "region"
    op: str = "eq"
    value: Any = ""
    errors: list[str] = dataclasses.field(default_factory=list)

    @property
    def spec(self) -> dict[str, Any]:
        return FIELD_SPECS.get(self.field, FIELD_SPECS["region"])

    @property
    def ops(self) -> list[tuple[str, str]]:
        return [(op, OP_LABELS[op]) for op in FIELDS.get(self.field, ())]

    @property
    def is_empty(self) -> bool:
        return not self.value or self.value == [""]

    @property
    def multiple(self) -> bool:
        return self.op == "in"

    @property
    def values(self) -> list[str]:
        """The selected options of a choice input."""
        return self.value if isinstance(self.value, list) else [self.value]

    @property
    def text(self) -> str:
        """The value of a text or number input."""
        return ", ".join(self.value) if isinstance(self.value, list) else str(self.value)

    def rule(self) -> dict[str, Any]:
        """The condition in the JSON format of ``campaigns.segments``."""
        kind, value = self.spec["kind"], self.value
        if kind == "number":
            text = self.text.strip()
            value = int(text) if text.isdigit() else (text or None)
        elif self.field == "consent":
            channel, _, purpose = self.text.partition(":")
            value = {"channel": channel, "purpose": purpose} if purpose else self.text
        elif self.op == "in":
            items = value if isinstance(value, list) else str(value).split(",")
            value = [str(v).strip() for v in items if str(v).strip()]
        elif isinstance(value, list):
            value = value[0] if value else ""
        else:
            value = str(value).strip()
        return {"field": self.field, "op": self.op, "value": value}

    @classmethod
    def from_rule(cls, rule: Any) -> "RuleRow | None":
        """A row for a plain condition; None for anything a row cannot show."""
        if not isinstance(rule, dict) or set(rule) != {"field", "op", "value"}:
            return None
        name, op, value = rule["field"], rule["op"], rule["value"]
        if name not in FIELDS or op not in FIELDS[name]:
            return None
        if name == "consent":
            if not isinstance(value, dict) or set(value) != {"channel", "purpose"}:
                return None
            value = f"{value['channel']}:{value['purpose']}"
        elif isinstance(value, list):
            if op != "in" or not all(isinstance(v, str) for v in value):
                return None
        elif isinstance(value, bool) or not isinstance(value, str | int):
            return None
        return cls(field=name, op=op, value=value if isinstance(value, list) else str(value))


@dataclass
class RuleBuilder:
    """The builder's state: the all/any switch and its rows, or (for rules that nest
    groups) the rules as JSON text. ``errors`` holds what is not about one row."""

    match: str = "all"
    rows: list[RuleRow] = dataclasses.field(default_factory=lambda: [RuleRow()])
    editor: str = "rows"  # or "json"
    json_text: str = ""
    errors: list[str] = dataclasses.field(default_factory=list)
    json_errors: list[str] = dataclasses.field(default_factory=list)
    incomplete: list[int] = dataclasses.field(default_factory=list)  # row numbers, from 1

    @classmethod
    def from_rules(cls, rules: Any) -> "RuleBuilder":
        text = json.dumps(rules, indent=2, ensure_ascii=False)
        if isinstance(rules, dict) and len(rules) == 1:
            match = next(iter(rules))
            items = rules[match]
            if match in ("all", "any") and isinstance(items, list) and items:
                rows = [RuleRow.from_rule(item) for item in items]
                if all(rows):
                    return cls(match=match, rows=rows, json_text=text)  # type: ignore[arg-type]
        return cls(editor="json", rows=[], json_text=text)

    @classmethod
    def from_post(cls, data) -> "RuleBuilder":
        """The rows as posted: ``field_0``, ``op_0``, ``value_0`` (a list for a multi-choice),
        ``field_1``, … in order."""
        rows = []
        for i in range(MAX_RULES):
            name = data.get(f"field_{i}")
            if name is None:
                break
            name = name if name in FIELDS else "region"
            op = data.get(f"op_{i}", "")
            if op not in FIELDS[name]:
                op = FIELDS[name][0]
            values = data.getlist(f"value_{i}")
            spec = FIELD_SPECS[name]
            if op == "in" and spec["kind"] == "choice":
                value: Any = [v for v in values if v]
            else:
                value = values[0] if values else ""
                if isinstance(value, str) and op != "in":
                    value = value.strip()
            rows.append(RuleRow(field=name, op=op, value=value))
        match = data.get("match") if data.get("match") in ("all", "any") else "all"
        editor = "json" if data.get("editor") == "json" else "rows"
        return cls(match=match, rows=rows, editor=editor, json_text=data.get("rules_json", ""))

    @property
    def has_errors(self) -> bool:
        return bool(self.errors or self.json_errors or any(row.errors for row in self.rows))

    def rules(self) -> dict[str, Any]:
        return {self.match: [row.rule() for row in self.rows]}

    def json_rules(self) -> Any:
        """The JSON text parsed; ``ValueError`` with a readable message when it isn't JSON."""
        try:
            return json.loads(self.json_text)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise ValueError(f"This is not valid JSON: {exc}.") from None

    def current(self) -> Any:
        """The rules the user means: the rows, or the JSON in the JSON editor. ValueError
        for JSON that does not parse."""
        return self.json_rules() if self.editor == "json" else self.rules()

    def show_errors(self, problems: dict[str, list[str]], *, quiet_empty: bool = False) -> None:
        """``segment_compile``'s errors, keyed by path: ``all.2.value`` goes next to row 2;
        the rest (``all``: no rows) above the rows. In the JSON editor, all of them with
        their path."""
        if self.editor == "json":
            self.json_errors += [f"{path}: {' '.join(msgs)}" for path, msgs in problems.items()]
            return
        for path, messages in problems.items():
            parts = path.split(".")
            if len(parts) >= 2 and parts[0] == self.match and parts[1].isdigit():
                index = int(parts[1])
                if index < len(self.rows):
                    if quiet_empty and self.rows[index].is_empty:
                        self.incomplete.append(index + 1)  # not filled in yet: no alarm
                    else:
                        self.rows[index].errors += messages
                    continue
            if path in (self.match, "rules") and not self.rows:
                self.errors.append("Add at least one condition.")
            else:
                self.errors += [f"{path}: {m}" for m in messages]

    def sync_json(self) -> None:
        """Keep the JSON text showing what the rows say."""
        if self.editor == "rows":
            self.json_text = json.dumps(self.rules(), indent=2, ensure_ascii=False)


class SegmentForm(forms.Form):
    name = forms.CharField(max_length=100, error_messages={"required": "Name the segment."})
    description = forms.CharField(required=False, max_length=300)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["name"].widget.attrs.update(
            {"autocomplete": "off", "placeholder": "e.g. Northern broadband customers"}
        )
        self.fields["description"].widget.attrs.update(
            {"placeholder": "What these customers have in common, for colleagues"}
        )


# --- Campaigns ---------------------------------------------------------------------------
VARIANT_KEYS = ("a", "b")
#: A service error's key → the form field it belongs to.
VARIANT_FIELDS = {
    f"variants.{i}.{part}": f"{key}_{part}"
    for i, key in enumerate(VARIANT_KEYS)
    for part in ("subject", "body", "weight")
}


class VariantsMixin:
    """Variant A (required) and B (optional: leave its text empty for no A/B test)."""

    def _add_variant_fields(self) -> None:
        for key in VARIANT_KEYS:
            upper = key.upper()
            self.fields[f"{key}_subject"] = forms.CharField(
                label=f"Subject ({upper})", required=False, max_length=200
            )
            self.fields[f"{key}_body"] = forms.CharField(
                label=f"Message ({upper})",
                required=key == "a",
                max_length=10_000,
                widget=forms.Textarea(attrs={"rows": 5}),
                error_messages={"required": "Write the message."},
            )
            self.fields[f"{key}_weight"] = forms.IntegerField(
                label=f"Share of the audience, % ({upper})",
                min_value=0,
                max_value=100,
                initial=50,
                required=False,
            )
            self.fields[f"{key}_subject"].widget.attrs["autocomplete"] = "off"

    def variants(self) -> list[dict]:
        data = self.cleaned_data
        b_used = bool(data.get("b_body") or data.get("b_subject"))
        variants = []
        for key in VARIANT_KEYS if b_used else VARIANT_KEYS[:1]:
            weight = data.get(f"{key}_weight")
            variants.append(
                {
                    "subject": data.get(f"{key}_subject", ""),
                    "body": data.get(f"{key}_body", ""),
                    "weight": 100 if not b_used else (weight if weight is not None else 50),
                }
            )
        return variants

    @staticmethod
    def variant_initial(campaign: Campaign) -> dict:
        initial = {}
        for key, variant in zip(VARIANT_KEYS, campaign.variants.all(), strict=False):
            initial.update(
                {
                    f"{key}_subject": variant.subject,
                    f"{key}_body": variant.body,
                    f"{key}_weight": variant.weight,
                }
            )
        return initial


class CampaignCreateForm(VariantsMixin, forms.Form):
    name = forms.CharField(max_length=150, error_messages={"required": "Name the campaign."})
    channel = forms.ChoiceField(choices=Campaign.Channel.choices, initial=Campaign.Channel.EMAIL)
    segment = forms.ModelChoiceField(
        queryset=None,
        empty_label="Choose a segment",
        error_messages={"required": "Choose who it is for.", "invalid_choice": "Choose a segment."},
    )
    eligible_for_service_follow_up = forms.BooleanField(
        label="Service follow-ups may carry it", required=False
    )
    follow_up_text = forms.CharField(
        label="Short text for a service follow-up",
        required=False,
        max_length=300,
        widget=forms.TextInput(attrs={"placeholder": "One or two sentences, no hard sell"}),
    )

    def __init__(self, *args, segments, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["segment"].queryset = segments
        self.fields["name"].widget.attrs.update({"autocomplete": "off"})
        self._add_variant_fields()


class CampaignContentForm(VariantsMixin, forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "content_%s")
        super().__init__(*args, **kwargs)
        self._add_variant_fields()


class CampaignActionForm(forms.Form):
    """A status action (submit, launch, pause, resume, cancel) from the version seen; a
    launch may be scheduled for later."""

    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    at = forms.DateTimeField(
        label="Send at",
        required=False,
        input_formats=[DATETIME_LOCAL, "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_LOCAL),
        error_messages={"invalid": "Give the date and time like 2026-03-14 09:00."},
    )

    def clean_at(self):
        when = self.cleaned_data.get("at")
        if when is not None and (problem := datetime_problem(when)):
            raise forms.ValidationError(problem)
        return when


class ReviewForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    decision = forms.ChoiceField(
        choices=[("comment", "Comment"), ("approved", "Approve"), ("sent_back", "Send back")]
    )
    comment = forms.CharField(
        label="Comment",
        required=False,
        max_length=5000,
        widget=forms.Textarea(
            attrs={"rows": 3, "placeholder": "What would confuse or upset a customer?"}
        ),
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "review_%s")
        super().__init__(*args, **kwargs)


# --- Sales -------------------------------------------------------------------------------
class OpportunityForm(forms.Form):
    title = forms.CharField(max_length=200, error_messages={"required": "Say what might be sold."})
    stage = forms.ChoiceField(choices=Opportunity.Stage.choices, initial=Opportunity.Stage.PROSPECT)
    value = forms.DecimalField(
        label="Value",
        required=False,
        min_value=0,
        max_digits=12,
        decimal_places=2,
        error_messages={"invalid": "An amount like 1200 or 49.90."},
    )
    owner = forms.ModelChoiceField(queryset=None, required=False, empty_label="Nobody yet")

    def __init__(self, *args, owners, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = owners
        self.fields["owner"].label_from_instance = lambda u: u.get_full_name() or u.username
        self.fields["title"].widget.attrs.update(
            {"autocomplete": "off", "placeholder": "e.g. Upgrade to fibre 500"}
        )
