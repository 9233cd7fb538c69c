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
        "shipping", "shipped", "shipment", "ship", "tracking", "tracking number", "dispatch",
        "dispatched", "order", "orders", "ordered", "my order", "postman", "mail", "usps",
        "fedex", "ups", "dpd", "hermes", "royal mail", "doorstep", "left at the door",
        "missing item", "missing items",
    ],
    "Refunds & billing": [
        "refund", "refunds", "refunded", "money back", "charge", "charged", "charges",
        "charging me", "double charged", "charged twice", "overcharged", "bill", "bills",
        "billing", "billed", "invoice", "payment", "payments", "pay", "paid", "paying",
        "credit card", "debit card", "card", "bank", "fee", "fees", "reimburse",
        "reimbursed", "reimbursement", "compensation", "compensate", "gift card", "voucher",
        "vouchers", "transaction", "transactions", "direct debit", "paypal", "credit",
        "credits", "dispute", "disputed", "claim", "claims", "money", "balance",
    ],
    "App, website & software problems": [
        "app", "apps", "website", "site", "webpage", "web page", "online", "crash",
        "crashes", "crashing", "crashed", "bug", "bugs", "buggy", "glitch", "glitches",
        "error", "errors", "error message", "update", "updates", "updated", "updating",
        "ios", "ios 11", "android", "version", "not working", "doesn't work",
        "does not work", "won't load", "not loading", "loading", "load", "download",
        "downloads", "downloading", "install", "installed", "reinstall", "browser",
        "freezes", "freezing", "frozen", "software", "firmware", "settings", "feature",
        "keyboard", "autocorrect", "notification", "notifications", "screen", "link",
        "links", "page", "button",
    ],
    "Account & login": [
        "account", "accounts", "login", "log in", "logged in", "logging in", "log out",
        "logged out", "sign in", "signed in", "sign up", "signed up", "password",
        "passwords", "username", "user name", "verification", "verify", "verified",
        "two-factor", "2fa", "locked", "locked out", "hacked", "apple id", "profile",
        "email address", "reset", "security question", "suspended", "deactivated",
    ],
    "Customer service & waiting": [
        "customer service", "customer care", "customer support", "support", "help",
        "helpline", "help desk", "agent", "agents", "representative", "rep", "reps",
        "advisor", "on hold", "hold", "wait", "waiting", "waited", "no response",
        "no reply", "response", "respond", "responding", "responded", "reply", "replied",
        "replying", "answer", "answered", "call back", "called", "calling", "phone call",
        "chat", "live chat", "dm", "dms", "direct message", "private message", "message",
        "messages", "messaged", "emailed", "email", "emails", "contact", "contacted",
        "nobody", "no one", "escalate", "complaint", "complaints", "complain", "rude",
        "unhelpful", "useless", "ignored", "ignoring", "hung up", "transferred",
        "follow up", "told", "still waiting", "hours", "days", "weeks",
    ],
    "Cancellations & subscriptions": [
        "cancel", "cancels", "cancelled", "canceled", "cancelling", "canceling",
        "cancellation", "unsubscribe", "subscription", "subscriptions", "subscribe",
        "subscribed", "renew", "renewal", "renewed", "membership", "prime", "premium",
        "plan", "contract", "close my account", "switch", "switching", "leave",
    ],
    "Product quality & faults": [
        "broken", "broke", "faulty", "fault", "damaged", "defective", "quality",
        "poor quality", "stopped working", "won't turn on", "doesn't turn on", "battery",
        "charger", "charging", "overheating", "cracked", "smashed", "leaking", "leak",
        "wrong item", "wrong size", "missing", "expired", "stale", "mouldy", "moldy",
        "taste", "tastes", "tasted", "disgusting", "gross", "undercooked", "raw", "cold",
        "plastic", "hair", "food poisoning", "sick", "recall", "repair", "replacement",
        "replace", "warranty",
    ],
    "Network & outage": [
        "outage", "outages", "internet", "wifi", "wi-fi", "signal", "no signal",
        "connection", "connectivity", "connect", "connected", "disconnect", "disconnected",
        "disconnecting", "dropping", "dropped", "coverage", "network", "broadband",
        "cable", "lte", "4g", "3g", "5g", "no service", "server", "servers", "offline",
        "power outage", "lag", "lagging", "slow", "speed", "speeds", "mbps", "is down",
        "are down", "went down", "down again", "service down", "servers down", "router",
        "modem",
    ],
    "Thanks & praise": [
        "thanks", "thank you", "thank u", "thx", "ty", "cheers", "great", "amazing",
        "awesome", "brilliant", "excellent", "fantastic", "helpful", "friendly", "love",
        "loved", "appreciate", "appreciated", "well done", "kudos", "shout out", "best",
        "lovely", "perfect", "wonderful", "happy", "pleased", "impressed", "good job",
    ],
    "Price & offers": [
        "price", "prices", "pricing", "priced", "expensive", "too much", "cost", "costs",
        "costly", "cheap", "cheaper", "rip off", "ripoff", "overpriced", "deal", "deals",
        "discount", "discounts", "offer", "offers", "promo", "promo code", "coupon",
        "coupons", "sale", "price match", "afford", "value", "free",
    ],
    "Travel & delays": [
        "flight", "flights", "flying", "fly", "flew", "delayed", "delay", "delays",
        "gate", "boarding", "board", "plane", "airport", "airline", "airlines", "crew",
        "pilot", "seat", "seats", "luggage", "bag", "bags", "baggage", "train", "trains",
        "platform", "station", "journey", "trip", "booking", "booked", "book", "check in",
        "check-in", "ticket", "tickets", "fare", "fares", "ride", "rides", "driver",
        "drivers", "uber", "taxi", "connection", "missed", "layover", "cabin", "passenger",
        "passengers", "travel", "travelling", "traveling", "hotel",
    ],
    "Store experience": [
        "store", "stores", "shop", "shops", "in store", "branch", "checkout", "till",
        "queue", "queues", "cashier", "manager", "self checkout", "aisle", "shelves",
        "restaurant", "location", "staff", "employee", "employees", "counter",
    ],
    "Fraud & security": [
        "fraud", "fraudulent", "scam", "scams", "scammed", "scammer", "phishing",
        "unauthorized", "unauthorised", "stolen", "identity theft", "suspicious",
        "security", "privacy", "spam", "breach",
    ],
    "Suggestions & requests": [
        "would be nice", "please add", "suggestion", "suggest", "idea", "should add",
        "wish", "could you add", "bring back", "option", "options", "request",
        "feature request", "why not", "please make", "can you make", "add",
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
        audit_record(
            actor=actor, action="theme.create", target=theme, after={"keywords": keywords}
        )
        made.append(theme)
    return made
