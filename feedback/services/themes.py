"""The theme taxonomy: the default themes a customer-experience team starts from, and the
checks a supervisor's edit of a theme's keywords must pass.

A theme matches a text when one of its keywords or phrases occurs as whole words, ignoring
case (``feedback.analysis.ThemeMatcher``): "refund" does not match "refunds", so the forms
people write are listed. The defaults were tuned on 2,777 real customer posts to brands'
support accounts (``manage.py feedback_themes_validate``; docs/feedback.md, "Themes on real
posts"). Supervisors extend them in admin; ``themes_ensure_defaults`` only adds the themes
that are missing, by name, and never undoes an edit.
"""

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from cxportal.services import audit_record
from cxportal.validation import text_problem
from feedback.models import Theme

KEYWORD_MAX = 100
KEYWORDS_MAX = 300

DEFAULT_THEMES: dict[str, list[str]] = {
    "Delivery & late orders": [
        "delivery", "deliveries", "deliver", "delivered", "delivering", "not delivered",
        "undelivered", "redelivery", "late", "never arrived", "not arrived", "arrive",
        "arrived", "arriving", "parcel", "parcels", "package", "packages", "courier",
        "shipping", "shipped", "shipment", "tracking", "tracking number", "dispatch",
        "dispatched", "order", "orders", "ordered", "my order", "postman", "mail", "usps",
        "fedex", "ups", "dpd", "hermes", "royal mail", "doorstep", "left at the door",
        "missing item", "missing items",
    ],
    "Refunds & billing": [
        "refund", "refunds", "refunded", "money back", "charge", "charged", "charges",
        "charging me", "double charged", "charged twice", "overcharged", "bill", "bills",
        "billing", "billed", "invoice", "payment", "payments", "pay", "paid", "paying",
        "credit card", "debit card", "card", "bank", "fee", "fees", "reimburse", "reimbursed",
        "reimbursement", "compensation", "compensate", "gift card", "voucher", "vouchers",
        "transaction", "transactions", "direct debit", "paypal", "credit", "credits", "dispute",
        "disputed", "claim", "claims", "money", "balance",
    ],
    "App, website & device problems": [
        "app", "apps", "website", "site", "webpage", "web page", "online", "crash", "crashes",
        "crashing", "crashed", "bug", "bugs", "buggy", "glitch", "glitches", "error", "errors",
        "error message", "update", "updates", "updated", "updating", "ios", "ios 11", "android",
        "version", "not working", "doesn't work", "does not work", "won't load", "not loading",
        "loading", "download", "downloads", "downloading", "install", "installed", "reinstall",
        "browser", "freezes", "freezing", "frozen", "software", "firmware", "feature",
        "features", "keyboard", "autocorrect", "notification", "notifications", "screen",
        "link", "links", "page", "interface", "error code", "beta", "troubleshooting",
        "troubleshoot", "restart", "restarted", "restarting", "reset", "resetting", "settings",
        "upload", "uploading", "no longer supported", "ipad", "iphone", "macbook", "laptop",
        "ps4", "xbox", "console",
    ],
    "Account & login": [
        "account", "accounts", "login", "log in", "logged in", "logging in", "log out",
        "logged out", "sign in", "signed in", "sign up", "signed up", "password", "passwords",
        "username", "user name", "verification", "verify", "verified", "two-factor", "2fa",
        "locked", "locked out", "hacked", "apple id", "profile", "email address", "reset",
        "security question", "suspended", "deactivated",
    ],
    "Customer service & waiting": [
        "customer service", "customer care", "customer support", "customer services",
        "tech support", "support team", "helpline", "help desk", "agent", "agents",
        "representative", "representatives", "rep", "reps", "advisor", "operator", "on hold",
        "hold music", "waiting", "waited", "wait time", "still waiting", "no response",
        "no reply", "no answer", "not responding", "responded", "replied", "call back",
        "callback", "phone call", "calls", "live chat", "chat", "dm", "dms", "dm'd", "dmed",
        "direct message", "private message", "inbox", "contacted", "nobody", "no one", "noone",
        "no resolution", "customer experience", "bad service", "poor service",
        "terrible service", "awful service", "worst service", "crappy service", "escalate",
        "escalated", "complaint", "complaints", "complain", "complained", "rude", "unhelpful",
        "useless", "ignored", "ignoring", "hung up", "transferred", "follow up",
        "get back to me", "speak to", "talk to", "spoke to", "spoke with", "talked to",
        "someone",
    ],
    "Cancellations & subscriptions": [
        "cancel", "cancels", "cancelled", "canceled", "cancelling", "canceling", "cancellation",
        "unsubscribe", "subscription", "subscriptions", "subscribe", "subscribed", "renew",
        "renewal", "renewed", "membership", "premium", "plan", "contract", "close my account",
        "close the account", "port my number",
    ],
    "Product quality & faults": [
        "broken", "faulty", "fault", "damaged", "defective", "quality", "poor quality",
        "stopped working", "won't turn on", "doesn't turn on", "battery", "charger", "charging",
        "overheating", "cracked", "smashed", "leaking", "leak", "wrong item", "wrong size",
        "expired", "stale", "mouldy", "moldy", "taste", "tastes", "tasted", "disgusting",
        "gross", "undercooked", "raw meat", "cold food", "was cold", "stone cold", "plastic",
        "hair in", "found a hair", "mould", "mouldy food", "inedible", "not fresh",
        "food poisoning", "sick", "recall", "repair", "replacement", "replace", "warranty",
    ],
    "Network & outage": [
        "outage", "outages", "internet", "wifi", "wi-fi", "signal", "no signal", "connection",
        "connectivity", "connect", "connected", "disconnect", "disconnected", "disconnecting",
        "dropping", "dropped", "coverage", "network", "broadband", "cable", "lte", "4g", "3g",
        "5g", "no service", "server", "servers", "offline", "power outage", "lag", "lagging",
        "slow", "speed", "speeds", "mbps", "is down", "are down", "went down", "down again",
        "service down", "servers down", "router", "modem",
    ],
    "Thanks & praise": [
        "thanks", "thank you", "thank u", "thx", "ty", "cheers", "great", "amazing", "awesome",
        "brilliant", "excellent", "fantastic", "helpful", "friendly", "love", "loved",
        "appreciate", "appreciated", "well done", "kudos", "shout out", "lovely", "perfect",
        "wonderful", "pleased", "impressed", "good job", "the best", "great service",
        "very nice", "so nice", "delicious",
    ],
    "Price & offers": [
        "price", "prices", "pricing", "priced", "expensive", "too much", "cost", "costs",
        "costly", "cheap", "cheaper", "rip off", "ripoff", "ripped off", "overpriced", "deals",
        "good deal", "great deal", "price increase", "going up", "discount", "discounts",
        "offer", "offers", "promo", "promo code", "coupon", "coupons", "on sale", "sales",
        "price match", "afford", "value", "free",
    ],
    "Travel & delays": [
        "flight", "flights", "flying", "fly", "flew", "delayed", "delay", "delays", "gate",
        "boarding", "board", "plane", "airport", "airline", "airlines", "crew", "pilot", "seat",
        "seats", "luggage", "baggage", "my bag", "checked bag", "lost bag", "carry on",
        "carry-on", "suitcase", "train", "trains", "station", "journey", "trip", "booking",
        "booked", "rebooked", "check in", "check-in", "ticket", "tickets", "fare", "fares",
        "ride", "rides", "driver", "drivers", "uber", "lyft", "taxi", "missed connection",
        "missed my flight", "layover", "cabin", "passenger", "passengers", "travel",
        "travelling", "traveling", "hotel",
    ],
    "Store experience": [
        "store", "stores", "in store", "in the shop", "branch", "checkout", "tills", "queue",
        "queues", "cashier", "manager", "self checkout", "aisle", "shelves", "restaurant",
        "staff", "employee", "employees", "counter",
    ],
    "Fraud & security": [
        "fraud", "fraudulent", "scam", "scams", "scammed", "scammer", "phishing",
        "unauthorized", "unauthorised", "stolen", "identity theft", "suspicious", "security",
        "privacy", "spam", "breach",
    ],
    "Suggestions & requests": [
        "would be nice", "would be great", "it would be good", "please add", "suggestion",
        "suggestions", "i suggest", "feature request", "should add", "could you add",
        "can you add", "please bring back", "bring back", "bring it back", "i wish", "wish you",
        "needs a feature", "add an option", "add a feature", "add the option", "an option to",
        "please make", "can you make", "why don't you", "please consider", "idea for",
    ],
}  # fmt: skip


def theme_keywords_clean(value: Any) -> list[str]:
    """A theme's keywords as a supervisor may save them: a JSON list of words or phrases,
    each trimmed, none empty, at most 100 characters; duplicates (ignoring case) dropped.
    ValidationError otherwise, saying what is wrong."""
    if not isinstance(value, list):
        raise ValidationError('A list of words and phrases, e.g. ["late", "never arrived"].')
    if not value:
        raise ValidationError("Give at least one word or phrase.")
    if len(value) > KEYWORDS_MAX:
        raise ValidationError(f"At most {KEYWORDS_MAX} words and phrases.")
    cleaned: list[str] = []
    seen: set[str] = set()
    for n, item in enumerate(value, start=1):
        if not isinstance(item, str):
            raise ValidationError(f"Item {n} is not text: {item!r}.")
        word = " ".join(item.split())
        if not word:
            raise ValidationError(f"Item {n} is empty.")
        if len(word) > KEYWORD_MAX:
            raise ValidationError(f"Item {n} is longer than {KEYWORD_MAX} characters.")
        if problem := text_problem(word):
            raise ValidationError(f"Item {n}: {problem}")
        if word.casefold() not in seen:
            seen.add(word.casefold())
            cleaned.append(word)
    return cleaned


@transaction.atomic
def themes_ensure_defaults(*, actor: Any = None) -> list[Theme]:
    """Add the default themes that are missing (by name); returns the ones made. A theme a
    supervisor edited, switched off or renamed is left as it is."""
    have = set(Theme.objects.values_list("name", flat=True))
    made = []
    for name, keywords in DEFAULT_THEMES.items():
        if name in have:
            continue
        theme = Theme.objects.create(name=name, keywords=theme_keywords_clean(keywords))
        audit_record(actor=actor, action="theme.create", target=theme, after={"keywords": keywords})
        made.append(theme)
    return made
