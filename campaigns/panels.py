"""What campaigns adds to the customer 360 page (``customers.panels``): "Before you call",
for sales and anyone who may read opportunities. It shows the contact gate's answer for
marketing on the customer's preferred channel as a caution ("Open complaint: don't pitch",
"Affected by a disruption") or "OK to contact", and their open opportunities.

A fixed number of queries: the gate's settings and its answer (one query for every
reason), and the opportunities."""

from django.urls import reverse
from django.utils.http import urlencode

from campaigns.gate import contact_gate
from campaigns.selectors import customer_open_opportunities

PANEL_LIMIT = 5
#: Channels the gate can answer for; a customer who prefers the store or the web is called.
GATE_CHANNELS = ("email", "sms", "app", "phone")
#: Each gate reason as a caution for someone about to call: (severity, words).
CAUTIONS = {
    "erased": ("bad", "Erased: never contact them"),
    "no_consent": ("warn", "No marketing consent by {channel}: service calls only"),
    "no_address": ("warn", "No {channel} contact on file"),
    "open_case": ("bad", "Open case: don't pitch"),
    "complaint": ("bad", "Complained recently: don't pitch"),
    "detractor": ("warn", "Unhappy lately (a detractor score): listen first"),
    "disruption": ("bad", "Affected by a disruption"),
    "pressure": ("warn", "Contacted enough this week"),
    "quiet_hours": ("warn", "Quiet hours: call in the daytime"),
}
CHANNEL_WORDS = {"email": "email", "sms": "SMS", "app": "the app", "phone": "phone"}


def cautions(reasons: list[tuple[str, str]], channel: str) -> list[dict]:
    """The gate's reasons as cautions, the most serious first; an open case and a recent
    complaint together read as one "Open complaint"."""
    codes = {code for code, _ in reasons}
    items = []
    for code, words in reasons:
        if code == "complaint" and "open_case" in codes:
            continue
        severity, text = CAUTIONS.get(code, ("warn", words))
        if code == "open_case" and "complaint" in codes:
            text = "Open complaint: don't pitch"
            words = f"{words} {dict(reasons)['complaint']}"
        items.append(
            {
                "code": code,
                "severity": severity,
                "text": text.format(channel=CHANNEL_WORDS.get(channel, channel)),
                "detail": words,
            }
        )
    return sorted(items, key=lambda item: item["severity"] != "bad")


def before_you_call_panel(request, customer):
    """The caution and the open opportunities; nothing for users who may not read
    opportunities, or for an erased customer."""
    user = request.user
    if not user.has_perm("campaigns.view_opportunity") or customer.erased_at:
        return None
    channel = customer.preferred_channel if customer.preferred_channel in GATE_CHANNELS else "phone"
    answer = contact_gate(customer_id=customer.pk, purpose="marketing", channel=channel)
    opportunities = customer_open_opportunities(
        actor=user, customer_id=customer.pk, limit=PANEL_LIMIT + 1
    )
    may_add = user.has_perm("campaigns.add_opportunity") and customer.merged_into_id is None
    here = reverse("customers:detail", args=[customer.pk])
    context = {
        "allowed": answer.allowed,
        "cautions": cautions(answer.reasons, channel),
        "channel": CHANNEL_WORDS.get(channel, channel),
        "opportunities": opportunities[:PANEL_LIMIT],
        "more": len(opportunities) > PANEL_LIMIT,
        "pipeline_url": reverse("campaigns:pipeline"),
        "new_url": f"{reverse('campaigns:opportunity_new')}?"
        + urlencode({"customer": customer.pk, "next": here})
        if may_add
        else "",
        "may_edit": user.has_perm("campaigns.change_opportunity"),
        "here": here,
    }
    return "Before you call", "campaigns/_customer_panel.html", context
