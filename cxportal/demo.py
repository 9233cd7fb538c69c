"""Demo data for `make run`: one user per team plus a supervisor, and customers.

Project wiring (top layer): it may call every app's services. Safe to run again."""

import random
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from cases.care import care_rules_ensure, care_scan
from cases.disruptions import disruption_declare
from cases.models import (
    ACTIVE_STATUSES,
    BusinessCalendar,
    CareFlag,
    Case,
    Disruption,
    Holiday,
    MessageTemplate,
    RoutingRule,
    SlaPolicy,
)
from cases.services import (
    case_deadline_set,
    case_note_add,
    case_open,
    case_status_change,
    sla_policy_for,
)
from cases.sla import BusinessHours, business_seconds
from customers.channels.base import adapter_for
from customers.models import (
    Channel,
    ChannelSource,
    Customer,
    CustomerPlace,
    Holding,
    Interaction,
    Order,
    Place,
)
from customers.services import consent_set, contact_point_add, customer_create, interaction_log
from cxportal.models import Team
from cxportal.services import teams_ensure_defaults
from feedback.models import Idea, Survey, SurveyInvitation
from feedback.services.ideas import idea_move, idea_submit
from feedback.services.mentions import mentions_scan
from feedback.services.surveys import (
    invitation_send,
    invitation_token,
    response_submit,
    survey_invite,
)
from feedback.services.themes import themes_ensure_defaults

DEMO_PASSWORD = "cx-demo-pass"  # noqa: S105 - documented demo credential, README
DEMO_USERS = [
    # username, first, last, team
    ("service", "Sam", "Service", "service"),
    ("marketing", "Mia", "Marketing", "marketing"),
    ("sales", "Sol", "Sales", "sales"),
    ("operations", "Otto", "Operations", "operations"),
    ("supervisor", "Sue", "Supervisor", "supervisor"),
]
FIRST = [
    "Amira",
    "Ben",
    "Chloe",
    "Dev",
    "Elena",
    "Farid",
    "Grace",
    "Hugo",
    "Isla",
    "Jonas",
    "Kemi",
    "Liam",
    "Maya",
    "Nils",
    "Olu",
    "Priya",
    "Quinn",
    "Rosa",
    "Sven",
    "Tara",
]
LAST = ["Okafor", "Schmidt", "Patel", "Nowak", "Rossi", "Khan", "Murphy", "Silva", "Jensen", "Ito"]
REGIONS = ["North", "South", "East", "West", "Central"]


@transaction.atomic
def demo_seed(*, customers: int = 60) -> dict[str, int]:
    """Create what is missing; a second run creates nothing."""
    teams_ensure_defaults()
    User = get_user_model()
    for username, first, last, team_slug in DEMO_USERS:
        user, created = User.objects.get_or_create(
            username=username,
            defaults={"first_name": first, "last_name": last, "email": f"{username}@example.com"},
        )
        if created:
            user.set_password(DEMO_PASSWORD)
        user.is_staff = team_slug == "supervisor"
        user.save()
        user.groups.add(Team.objects.get(slug=team_slug).group)
    rng = random.Random(2026)  # noqa: S311 - demo data, not security
    existing = set(Customer.objects.values_list("display_name", flat=True))
    stages = [s for s, _ in Customer.Lifecycle.choices]
    channels = [c for c, _ in Customer.Channel.choices]
    made = 0
    for i in range(customers):
        name = f"{FIRST[i % len(FIRST)]} {LAST[(i * 7) % len(LAST)]}"
        if i >= len(FIRST) * len(LAST):
            name = f"{name} {i}"
        stage, channel, region = rng.choice(stages), rng.choice(channels), rng.choice(REGIONS)
        needs = rng.random() < 0.1
        if name in existing:
            continue
        customer_create(
            actor=None,
            display_name=name,
            lifecycle_stage=stage,
            preferred_channel=channel,
            region=region,
            accessibility_needs=needs,
            accessibility_note="Wheelchair user: needs step-free routes" if needs else "",
        )
        made += 1
    _seed_customer_stories()
    demo_channels_seed()
    demo_mailbox_seed()
    cases = demo_cases_seed()
    flags = demo_care_seed()
    answers = demo_feedback_seed()
    return {
        "users": len(DEMO_USERS),
        "new_customers": made,
        "customers": Customer.objects.count(),
        "new_cases": cases,
        "care_flags": flags,
        "new_feedback_answers": answers,
    }


DEMO_PLACES = [
    ("station", "STN-KGX", "King's Cross", False),
    ("station", "STN-VIC", "Victoria", True),
    ("line", "LINE-NORTH", "Northern line", True),
    ("store", "STORE-KR", "King's Road store", True),
    ("store", "STORE-MAN", "Manchester Arndale store", True),
]
# (channel, direction, summary, body) — a customer's story is drawn from these.
DEMO_MOMENTS = [
    (
        "email",
        "inbound",
        "Asked for a copy of the invoice",
        "Hi, could you send the invoice for my last order? Thanks.",
    ),
    (
        "email",
        "outbound",
        "Sent the invoice",
        "Attached is your invoice. Anything else, just reply.",
    ),
    (
        "phone",
        "inbound",
        "Called about the express delivery",
        "Wanted to know where the parcel is; told her it is with the courier.",
    ),
    (
        "phone",
        "outbound",
        "Called back with a delivery update",
        "Courier confirmed delivery tomorrow before noon.",
    ),
    ("sms", "outbound", "Delivery slot confirmed", "Your delivery is booked for tomorrow 8-12."),
    ("sms", "inbound", "Replied to change the slot", "Can it come after 2pm instead?"),
    ("app", "inbound", "Changed notification settings", ""),
    ("app", "inbound", "Rated the app 4 stars", "Easy to use, search could be faster."),
    (
        "social",
        "inbound",
        "Asked on Twitter about the lift at King's Cross",
        "@brand is the lift at King's Cross working today?",
    ),
    ("social", "outbound", "Replied on Twitter", "Hi! The lift is back in service since 9am."),
    ("store", "inbound", "Returned a kettle in store", "Refunded to card, receipt 4471."),
    (
        "store",
        "inbound",
        "Asked about warranty cover",
        "Wanted to know what the warranty covers; gave the leaflet.",
    ),
    ("web", "inbound", "Started a return online", ""),
    ("web", "inbound", "Updated the delivery address", ""),
    ("phone", "internal", "Note: prefers calls after 5pm", ""),
]


def _seed_customer_stories() -> None:
    """Give every demo customer without contact points a life: contact points, consent,
    orders (the first one has a late express order), holdings (the first one's warranty ends
    soon), places and ~15 interactions across channels. Customers that already have contact
    points are left alone, so a second run adds nothing."""
    now = timezone.now()
    today = timezone.localdate(now)
    places = []
    for kind, code, name, step_free in DEMO_PLACES:
        place, _ = Place.objects.get_or_create(
            code=code, defaults={"kind": kind, "name": name, "step_free": step_free}
        )
        places.append(place)
    bare = Customer.objects.filter(contact_points__isnull=True, merged_into__isnull=True)
    for index, customer in enumerate(bare.order_by("id")):
        rng = random.Random(customer.pk)  # noqa: S311 - demo data, not security
        first, _, last = customer.display_name.partition(" ")
        handle = f"{first}.{last}".lower().replace(" ", "")
        contact_point_add(
            actor=None,
            customer=customer,
            kind="email",
            value=f"{handle}.{customer.pk}@example.com",
            is_primary=True,
        )
        contact_point_add(
            actor=None, customer=customer, kind="phone", value=f"+44 7700 9{customer.pk:05d}"
        )
        if rng.random() < 0.5:
            contact_point_add(
                actor=None,
                customer=customer,
                kind="social",
                value=f"@{handle.replace('.', '_')}{customer.pk}",
                network="twitter",
            )
        for channel, purpose, granted in [
            ("email", "service", True),
            ("sms", "service", True),
            ("email", "marketing", rng.random() < 0.6),
            ("sms", "marketing", rng.random() < 0.3),
            ("email", "feedback", rng.random() < 0.5),
        ]:
            consent_set(
                actor=None,
                customer=customer,
                channel=channel,
                purpose=purpose,
                granted=granted,
                source="demo signup",
                at=now - timedelta(days=rng.randint(30, 400)),
            )
        for n in range(rng.randint(1, 3)):
            placed = now - timedelta(days=rng.randint(5, 120), hours=rng.randint(0, 23))
            express = rng.random() < 0.3
            promised = placed + timedelta(days=1 if express else 4)
            Order.objects.get_or_create(
                external_id=f"DEMO-{customer.pk}-{n}",
                defaults={
                    "customer": customer,
                    "placed_at": placed,
                    "shipping_method": "express" if express else "standard",
                    "promised_by": promised,
                    "delivered_at": promised - timedelta(hours=rng.randint(1, 20)),
                    "status": Order.Status.DELIVERED,
                    "total": Decimal(rng.randint(900, 25000)) / 100,
                },
            )
        if index == 0:  # a late express order: promised this morning, still not here
            Order.objects.get_or_create(
                external_id=f"DEMO-{customer.pk}-LATE",
                defaults={
                    "customer": customer,
                    "placed_at": now - timedelta(days=1, hours=3),
                    "shipping_method": "express",
                    "promised_by": now - timedelta(hours=4),
                    "status": Order.Status.SHIPPED,
                    "total": Decimal("59.00"),
                },
            )
        Holding.objects.get_or_create(
            customer=customer,
            name="Kettle Pro 2"
            if index == 0
            else rng.choice(["Smart speaker", "Coffee machine", "Air purifier"]),
            defaults={
                "started_on": today - timedelta(days=rng.randint(100, 700)),
                "warranty_ends_on": today
                + timedelta(days=12 if index == 0 else rng.randint(60, 700)),
            },
        )
        if rng.random() < 0.5:
            Holding.objects.get_or_create(
                customer=customer,
                name="Home broadband",
                defaults={
                    "kind": Holding.Kind.PLAN,
                    "started_on": today - timedelta(days=rng.randint(100, 900)),
                    "renews_on": today + timedelta(days=rng.randint(10, 300)),
                },
            )
        for place in rng.sample(places, 2):
            CustomerPlace.objects.get_or_create(
                customer=customer,
                place=place,
                defaults={"relation": rng.choice(CustomerPlace.Relation.values)},
            )
        for n in range(rng.randint(13, 17)):
            channel, direction, summary, body = rng.choice(DEMO_MOMENTS)
            interaction_log(
                actor=None,
                customer=customer,
                channel=channel,
                direction=direction,
                summary=summary,
                body=body,
                occurred_at=now
                - timedelta(days=n * 3 + rng.randint(0, 2), hours=rng.randint(0, 23)),
                external_id=f"demo-{customer.pk}-{n}",
            )


# --- Live channels: drop a file in a folder, the worker puts it on the timeline -----------------

DEMO_BRAND_HANDLE = "CXPortalCare"
EXAMPLE_POSTS = (
    '{"id": "demo-1", "author": "@jane_doe", "author_name": "Jane Doe", '
    '"text": "@CXPortalCare my parcel is late", "created_at": "2026-05-01T09:30:00Z"}\n'
    '{"id": "demo-2", "author": "CXPortalCare", "text": "@jane_doe Sorry Jane, checking now!", '
    '"created_at": "2026-05-01T09:34:00Z", "in_reply_to": "demo-1"}\n'
)
EXAMPLE_VISIT = (
    "VISIT-1001,2026-05-01T17:45:00+01:00,jane@example.com,,,Jane Doe,inbound,"
    "Returned a kettle,Refunded to card\n"
)
DEMO_SOCIAL_README = (
    """Demo social feed (CX Portal)
============================

Drop a .jsonl or .csv file in this folder: the Celery worker reads it within about half a
minute (beat's channels_sync_due) and every post appears on its customer's timeline
(Customers -> search for the @handle). Watch it on the Channels page.

Files are read in name order, so start the name with the time, e.g.
2026-05-01T0930-posts.jsonl. Lines are read once complete (ending in a newline; a last
line without one is read once the file has been quiet for 10 seconds).

One post per line (JSON lines):

"""
    + EXAMPLE_POSTS
    + """
or CSV with the header: id,author,author_name,text,created_at,in_reply_to

A post by @CXPortalCare (the brand) is a reply: it goes on the timeline of the customer it
answers. Ids must be new: a post id seen before is ignored (that is what makes replays safe).
A malformed line is shown as a failed event in admin (Channel inbox) with the reason.
"""
)
DEMO_STORE_README = (
    """Demo store visits (CX Portal)
=============================

Drop a .csv file of store visits in this folder: the Celery worker reads it within about
half a minute and each visit appears on the customer's timeline as a Store interaction.

Name files so they sort in arrival order, e.g. 2026-05-01T1800-visits.csv.

Header and one example row:

external_id,occurred_at,email,phone,loyalty,name,direction,summary,notes
"""
    + EXAMPLE_VISIT
    + """
external_id must be unique (the till's visit id); the customer is found by email, phone or
loyalty card (a new one becomes a prospect). See customers/channels/csv_drop.py.
"""
)
DEMO_CHANNELS = [
    # slug, name, kind, channel, folder, settings, readme
    (
        "demo-social",
        "Demo social feed",
        ChannelSource.Kind.SOCIAL_FEED,
        Channel.SOCIAL,
        "social",
        {"network": "twitter", "brand_handles": [DEMO_BRAND_HANDLE], "settle_seconds": 10},
        DEMO_SOCIAL_README,
    ),
    (
        "demo-store-visits",
        "Demo store visits (CSV drop)",
        ChannelSource.Kind.CSV_DROP,
        Channel.STORE,
        "store",
        {"settle_seconds": 10},
        DEMO_STORE_README,
    ),
]
DEMO_POLL_SECONDS = 15


def demo_drop_folder() -> Path:
    return Path(settings.VAR_DIR) / "demo-drop"


def demo_channels_seed() -> list[ChannelSource]:
    """The demo's live polled channels, reading folders under ``VAR_DIR/demo-drop/`` (each
    with a README.txt saying how to drop a file). Idempotent; a moved VAR_DIR is followed."""
    sources = []
    for slug, name, kind, channel, folder, extra, readme in DEMO_CHANNELS:
        path = demo_drop_folder() / folder
        path.mkdir(parents=True, exist_ok=True)
        (path / "README.txt").write_text(readme)
        wanted = {**extra, "path": str(path)}
        source, created = ChannelSource.objects.get_or_create(
            slug=slug,
            defaults={
                "name": name,
                "kind": kind,
                "channel": channel,
                "settings": wanted,
                "poll_interval_seconds": DEMO_POLL_SECONDS,
            },
        )
        if not created and source.settings.get("path") != str(path):
            source.settings = {**source.settings, "path": str(path)}
            source.save(update_fields=["settings"])
        sources.append(source)
    return sources


# The README's one-liner: writes a complete message (From/To/Subject/Date/Message-ID) into new/.
DEMO_MAILBOX_EXAMPLE = (
    "printf 'From: Jane Doe <jane@example.com>\\nTo: support@cxportal.example\\n"
    "Subject: Where is my parcel?\\nDate: %s\\nMessage-ID: <%s@example.com>\\n\\n"
    "Hi, my express parcel has not arrived.\\n' "
    '"$(LC_ALL=C date \'+%a, %d %b %Y %H:%M:%S %z\')" "$(date +%s).$$.$RANDOM" '
    "> new/$(date +%s).$$.eml\n"
)
DEMO_MAILBOX_README = (
    """Demo mailbox (CX Portal)
========================

This folder is a Maildir (new/, cur/, tmp/) that the Celery worker syncs like a real
mailbox, within about half a minute (beat's channels_sync_due). Save an email (an .eml
file: headers, a blank line, the text) into new/ and it appears on the sender's timeline
(Customers -> search for the From address). Watch it on the Channels page.

One line, from this folder:

"""
    + DEMO_MAILBOX_EXAMPLE
    + """

Messages are read in file-name order, so start the name with the time (as above and as
every mail server does). The mailbox is never changed: reading a message in a mail client
(which moves it to cur/ and adds ":2,S") does not bring it in twice. Every message needs a
new Message-ID: one seen before is not stored again. A message that cannot be read is shown
as a failed event in admin (Inbound events) with the reason. See
customers/channels/email_maildir.py.
"""
)


def demo_mailbox_seed() -> ChannelSource:
    """The demo's live mailbox: a Maildir at ``VAR_DIR/demo-drop/mailbox`` (with a README.txt
    saying how to drop a message in), synced by the worker. Idempotent; a moved VAR_DIR is
    followed."""
    path = demo_drop_folder() / "mailbox"
    for sub in ("new", "cur", "tmp"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    (path / "README.txt").write_text(DEMO_MAILBOX_README)
    source, created = ChannelSource.objects.get_or_create(
        slug="demo-mailbox",
        defaults={
            "name": "Demo mailbox",
            "kind": ChannelSource.Kind.EMAIL_MAILDIR,
            "channel": Channel.EMAIL,
            "settings": {"path": str(path), "from_address": "support@cxportal.example"},
            "poll_interval_seconds": DEMO_POLL_SECONDS,
        },
    )
    if not created and source.settings.get("path") != str(path):
        source.settings = {**source.settings, "path": str(path)}
        source.save(update_fields=["settings"])
    return source


# --- Cases: SLA policies, business hours, routing, and a dozen cases with stories ------------

# team, priority, category, first response, resolution (business minutes)
DEMO_SLA_POLICIES = [
    ("service", "urgent", "", 30, 4 * 60),
    ("service", "high", "", 60, 8 * 60),
    ("service", "normal", "", 4 * 60, 16 * 60),
    ("service", "low", "", 8 * 60, 40 * 60),
    ("service", "", "complaint", 2 * 60, 12 * 60),
    ("operations", "", "", 2 * 60, 24 * 60),
    ("sales", "", "", 8 * 60, 5 * 24 * 60),
]
DEMO_SERVICE_HOURS = [
    ["08:00", "20:00"],
    ["08:00", "20:00"],
    ["08:00", "20:00"],
    ["08:00", "20:00"],
    ["08:00", "20:00"],
    ["09:00", "17:00"],
    None,
]
# position, category, channel, team
DEMO_ROUTING_RULES = [
    (10, "disruption", "", "operations"),
    (20, "accessibility", "", "service"),
    (30, "general", "web", "sales"),
]


def _demo_holidays(today) -> list[tuple]:
    year = today.year if today.month < 12 or today.day < 27 else today.year + 1
    return [
        (date(year, 12, 25), "Christmas Day"),
        (date(year, 12, 26), "Boxing Day"),
        (date(year + 1, 1, 1), "New Year's Day"),
    ]


def demo_sla_seed() -> None:
    """SLA policies per team, the service team's opening hours with holidays, and routing
    rules (disruptions to operations, website sales enquiries to sales). Idempotent."""
    teams = {team.slug: team for team in Team.objects.all()}
    for slug, priority, category, first, resolution in DEMO_SLA_POLICIES:
        what = " ".join(filter(None, [priority, category])) or "any case"
        SlaPolicy.objects.get_or_create(
            team=teams[slug],
            priority=priority,
            category=category,
            is_active=True,
            defaults={
                "name": f"{teams[slug].name}: {what}",
                "first_response_minutes": first,
                "resolution_minutes": resolution,
                "pause_statuses": ["waiting", "on_hold"],
            },
        )
    calendar, _ = BusinessCalendar.objects.get_or_create(
        team=teams["service"],
        defaults={"time_zone": "Europe/London", "hours": DEMO_SERVICE_HOURS},
    )
    for day, name in _demo_holidays(timezone.localdate()):
        Holiday.objects.get_or_create(calendar=calendar, date=day, defaults={"name": name})
    for position, category, channel, slug in DEMO_ROUTING_RULES:
        RoutingRule.objects.get_or_create(
            category=category,
            channel=channel,
            team=teams[slug],
            defaults={"position": position},
        )


def _business_ago(team: Team, now, seconds: float):
    """The instant before ``now`` with ``seconds`` of the team's business time since: a case
    opened then has used that much of its SLA, whatever the hour the demo is seeded."""
    calendar = BusinessCalendar.objects.filter(team=team).first()
    hours = None
    if calendar is not None:
        hours = BusinessHours.parse(
            time_zone=calendar.time_zone,
            hours=calendar.hours,
            holidays=calendar.holidays.values_list("date", flat=True),
        )
    early, late = now - timedelta(days=60), now
    for _ in range(50):
        middle = early + (late - early) / 2
        if business_seconds(hours, middle, now) > seconds:
            early = middle
        else:
            late = middle
    return late


# subject, category, priority, channel, status, story: a few steps the service runs
DEMO_CASES = [
    ("Express parcel not arrived", "delivery", "high", "email", "open", ["deadline", "note"]),
    (
        "Replacement card needed before travelling",
        "account",
        "normal",
        "phone",
        "open",
        ["deadline"],
    ),
    ("Charged twice for one order", "billing", "high", "email", "new", ["at_risk"]),
    (
        "Lift at King's Cross out of order again",
        "accessibility",
        "urgent",
        "social",
        "open",
        ["breached"],
    ),
    ("Refund not received", "billing", "normal", "email", "waiting", ["note"]),
    ("Laptop repair under warranty", "technical", "normal", "store", "on_hold", ["note"]),
    ("Wrong item delivered", "delivery", "normal", "web", "resolved", ["note"]),
    ("Question about opening hours", "general", "low", "phone", "closed", []),
    ("Train cancelled, claim for delay", "disruption", "normal", "app", "new", []),
    ("Upgrade options for my plan", "general", "low", "web", "new", []),
    ("App crashes when saving a route", "technical", "normal", "app", "new", ["unassigned"]),
    ("Third late delivery this month", "complaint", "high", "phone", "open", ["note"]),
]
DEMO_NOTES = {
    "Express parcel not arrived": "Courier has the parcel at the depot; redelivery booked.",
    "Refund not received": "Asked the customer for the last four digits of the card refunded.",
    "Laptop repair under warranty": "Sent to the repair centre; they promise an answer in 5 days.",
    "Wrong item delivered": "Right item sent by express; return label emailed.",
    "Third late delivery this month": "Offered a voucher; escalated to the courier.",
}
# Hours from now the customer needs it by, and why.
DEMO_DEADLINES = {
    "Express parcel not arrived": (72, "It is a birthday present; the party is in three days."),
    "Replacement card needed before travelling": (20, "Flies out tomorrow; needs the card abroad."),
}


def demo_cases_seed() -> int:
    """A dozen cases across statuses, each made through the case services by the demo
    service agent: two with a deadline the customer stated, one at risk and one breached (in
    the service team's business hours, whenever this runs). A case already there (same
    customer and subject) is left alone. Returns how many were made."""
    demo_sla_seed()
    User = get_user_model()
    agent = User.objects.get(username="service")
    customers = list(
        Customer.objects.filter(merged_into__isnull=True, erased_at__isnull=True).order_by("id")[
            : len(DEMO_CASES)
        ]
    )
    now = timezone.now()
    made = 0
    for customer, (subject, category, priority, channel, status, story) in zip(
        customers, DEMO_CASES, strict=False
    ):
        if Case.objects.filter(customer=customer, subject=subject).exists():
            continue
        opened_at = now - timedelta(minutes=20 * (len(story) + 1))
        team = None
        if "at_risk" in story or "breached" in story:
            team = Team.objects.get(slug="service")
            policy = sla_policy_for(team_id=team.pk, priority=priority, category=category)
            share = 0.9 if "at_risk" in story else 3.0
            opened_at = _business_ago(team, now, policy.first_response_minutes * 60 * share)
        last_message = (
            Interaction.objects.filter(customer=customer, direction="inbound")
            .order_by("-occurred_at", "-id")
            .first()
        )
        case = case_open(
            actor=agent,
            customer=customer,
            subject=subject,
            description=f"{subject}. Raised by the customer by {channel}.",
            category=category,
            priority=priority,
            origin_channel=channel,
            team=team,
            assignee=None if "unassigned" in story or status == "new" else agent,
            interaction=last_message if last_message and last_message.channel == channel else None,
            now=opened_at,
        )
        if subject in DEMO_DEADLINES:
            hours, reason = DEMO_DEADLINES[subject]
            case = case_deadline_set(
                actor=agent,
                case=case,
                version=case.version,
                deadline=now + timedelta(hours=hours),
                reason=reason,
            )
        if subject in DEMO_NOTES:
            case_note_add(actor=agent, case=case, body=DEMO_NOTES[subject])
        path = {
            "new": [],
            "open": ["open"],
            "waiting": ["open", "waiting"],
            "on_hold": ["open", "on_hold"],
            "resolved": ["open", "resolved"],
            "closed": ["open", "resolved", "closed"],
        }[status]
        for step in path:
            case.refresh_from_db()
            case = case_status_change(actor=agent, case=case, version=case.version, status=step)
        made += 1
    return made


# --- Proactive care and disruptions: rules, templates, late orders, a lift out -----------------

DEMO_TEMPLATES = [
    # name, kind, subject, body
    (
        "Late order: sorry, it is on its way",
        "late_order",
        "Your order {order} is running late",
        "Hello {first_name},\n\n"
        "your express order {order} should have reached you by {promised_by}, and it has not: "
        "we are sorry. The courier still has it and we are chasing them; we will tell you the "
        "new delivery time as soon as we know it.\n\n"
        "No need to get in touch: we are on it.",
    ),
    (
        "Disruption: what it means for your journey",
        "disruption_impact",
        "{disruption}: how it affects your journey",
        "Hello {first_name},\n\n"
        "we wanted you to hear it from us first: {disruption}. You travel through this "
        "station, so please allow extra time.\n\n"
        "If you need step-free assistance or another route, reply to this message and we will "
        "arrange it with you.",
    ),
]
# Hours past their promised time: the first customers' late express orders.
DEMO_LATE_HOURS = (4, 2, 7, 28)
DEMO_LIFT_OUT = {
    "title": "Victoria: lift out of service",
    "kind": "incident",
    "severity": "major",
    "accessibility_impact": "lift_out",
    "accessibility_note": "The lift between the ticket hall and platforms 1-8 is out of "
    "service: no step-free access to those platforms.",
    "public_message": "The lift at Victoria is out of service; engineers are on site. There is "
    "no step-free access to platforms 1-8: use Pimlico (step-free) or ask staff for help.",
    "staff_guidance": "Offer customers who need step-free access a route via Pimlico or an "
    "assisted journey; log it on their case. Expected back in service this evening.",
}
DEMO_WORKS = {
    "title": "Northern line: weekend engineering works",
    "kind": "planned",
    "severity": "minor",
    "public_message": "No Northern line trains this weekend while we renew the track; "
    "replacement buses run every 10 minutes.",
    "staff_guidance": "Point customers to the replacement buses; season tickets are valid.",
}


def demo_care_seed() -> int:
    """Care rules, two message templates, a few late express orders, an active lift outage
    at Victoria (accessibility impact, affecting the customers who use it) and weekend
    works on the Northern line, declared through the disruption service without notifying
    anyone; then one care scan, so the care queues have flags at once. Idempotent (orders,
    templates and disruptions are found by their id or title; flags are deduplicated by
    the scan). Returns how many flags are current."""
    care_rules_ensure()
    for name, kind, subject, body in DEMO_TEMPLATES:
        MessageTemplate.objects.get_or_create(
            name=name, defaults={"kind": kind, "subject": subject, "body": body}
        )
    now = timezone.now()
    customers = list(
        Customer.objects.filter(merged_into__isnull=True, erased_at__isnull=True).order_by("id")[
            : len(DEMO_LATE_HOURS)
        ]
    )
    for customer, hours in zip(customers, DEMO_LATE_HOURS, strict=False):
        Order.objects.get_or_create(
            external_id=f"DEMO-{customer.pk}-LATE",
            defaults={
                "customer": customer,
                "placed_at": now - timedelta(days=1, hours=hours),
                "shipping_method": Order.Shipping.EXPRESS,
                "promised_by": now - timedelta(hours=hours),
                "status": Order.Status.SHIPPED,
                "total": Decimal("59.00"),
            },
        )
    operations = get_user_model().objects.get(username="operations")
    places = {p.code: p for p in Place.objects.filter(code__in=["STN-VIC", "LINE-NORTH"])}
    victoria = places.get("STN-VIC")
    if (
        victoria is not None
        and not Disruption.objects.filter(title=DEMO_LIFT_OUT["title"]).exists()
    ):
        # Someone who needs step-free access uses Victoria: the outage hits them hardest.
        needs = Customer.objects.filter(accessibility_needs=True, merged_into__isnull=True)
        for customer in needs.order_by("id")[:2]:
            CustomerPlace.objects.get_or_create(
                customer=customer, place=victoria, defaults={"relation": "uses"}
            )
        disruption_declare(
            actor=operations,
            notify=False,
            starts_at=now - timedelta(hours=2),
            places=[victoria],
            **DEMO_LIFT_OUT,
        )
    line = places.get("LINE-NORTH")
    if line is not None and not Disruption.objects.filter(title=DEMO_WORKS["title"]).exists():
        local = timezone.localtime(now)
        saturday = local + timedelta(days=(5 - local.weekday()) % 7 or 7)
        starts = saturday.replace(hour=0, minute=30, second=0, microsecond=0)
        disruption_declare(
            actor=operations,
            notify=False,
            starts_at=starts,
            ends_at=starts + timedelta(days=2, hours=4),
            places=[line],
            **DEMO_WORKS,
        )
    care_scan()
    return CareFlag.objects.current().count()


# --- Feedback: two surveys with answers, themes, mentions, ideas -------------------------------

DEMO_SURVEYS = {
    "nps": {
        "name": "After your case (NPS)",
        "kind": Survey.Kind.NPS,
        "question": "How likely are you to recommend us to a friend or colleague?",
        "trigger": Survey.Trigger.CASE_RESOLVED,
        "fallback_channel": "sms",
        "team": "service",
    },
    "csat": {
        "name": "Your delivery (CSAT)",
        "kind": Survey.Kind.CSAT,
        "question": "How satisfied were you with your delivery?",
        "trigger": Survey.Trigger.ORDER_DELIVERED,
        "team": "operations",
    },
}
# survey, score, comment, contact allowed — oldest first, spread over the last six weeks.
DEMO_ANSWERS = [
    ("nps", 9, "Quick answer on live chat, very helpful.", False),
    ("csat", 5, "Arrived a day early, perfect.", False),
    ("nps", 7, "Fine in the end, but I waited 40 minutes on hold.", False),
    ("csat", 4, "On time. The box was a bit damaged.", False),
    ("nps", 10, "Sam sorted my refund in one call. Brilliant, thank you!", True),
    ("nps", 6, "The app crashes every time I try to track my order.", False),
    ("csat", 3, "", False),
    ("nps", 8, "", False),
    ("csat", 5, "Courier was friendly and careful.", False),
    ("nps", 9, "", True),
    ("nps", 4, "Could not log in to my account for days.", False),
    ("csat", 4, "", False),
    ("nps", 10, "Friendly staff at the King's Road store.", False),
    ("csat", 2, "Late again and no tracking updates.", False),
    ("nps", 8, "Good, but the website is slow.", False),
    ("nps", 9, "Thanks for the quick replacement card.", True),
    ("csat", 5, "", False),
    ("nps", 3, "Charged twice and still waiting for the refund after two weeks.", True),
    ("nps", 7, "", False),
    ("csat", 4, "Delivered when promised.", False),
    ("nps", 10, "", False),
    ("csat", 1, "Never arrived. The courier says it was delivered.", True),
    ("nps", 9, "Easy to cancel my old plan, no questions asked.", False),
    ("nps", 5, "Too expensive for what it is.", False),
    ("csat", 5, "Great, thanks!", False),
    ("nps", 8, "", True),
    ("csat", 3, "Parcel left at the door in the rain.", False),
    ("nps", 10, "Best customer service I have had this year.", False),
    ("nps", 6, "Internet outage twice this week.", False),
    ("csat", 4, "", False),
    ("nps", 9, "", False),
    ("nps", 2, "Third time I had to chase my parcel. Nobody called me back.", True),
    ("csat", 5, "Right on time.", False),
    ("nps", 8, "The new app is much better.", False),
    ("nps", 10, "", False),
    ("csat", 2, "Found plastic in the tea bags I ordered.", False),
    ("nps", 9, "Helpful agent, thank you.", False),
    ("csat", 4, "", False),
    ("nps", 7, "Would be nice to pick a callback time.", False),
    ("nps", 9, "", False),
]
DEMO_UNANSWERED = 6  # invitations still waiting for an answer (the response rate is not 100%)
# days ago, text — posts to the demo brand; this week's tea-bag posts are a spike.
DEMO_POSTS = [
    (24, "@CXPortalCare thanks for the quick refund, brilliant service"),
    (17, "@CXPortalCare my parcel is late again, third time this month"),
    (9, "@CXPortalCare the app keeps crashing when I open my orders"),
    (3, "@CXPortalCare found a bit of plastic in my tea bags this morning?!"),
    (2, "@CXPortalCare plastic in the tea bags again. Not what I want in my cuppa."),
    (1, "@CXPortalCare is there plastic in your tea bags? My sister found some too"),
    (0, "@CXPortalCare still waiting for a reply about the plastic in my tea bags"),
]
# title, description, status reached, days ago submitted, days it took, decline note
DEMO_IDEAS = [
    (
        "Send the tracking link in the delivery SMS",
        "Half the 'where is my parcel' calls would not happen.",
        "implemented",
        30,
        8,
        "",
    ),
    (
        "Let customers pick a callback slot in the app",
        "Fewer missed callbacks, and no waiting on hold.",
        "implementing",
        20,
        0,
        "",
    ),
    (
        "Step-free route in every lift-outage message",
        "Customers who need step-free access ask us for it every time.",
        "reviewing",
        5,
        0,
        "",
    ),
    ("Quiet hours for survey emails", "No survey emails after 8pm.", "submitted", 2, 0, ""),
    (
        "Free coffee for customers queuing at King's Cross",
        "",
        "declined",
        20,
        0,
        "Nice thought, but the queue is the problem: see the callback-slot idea.",
    ),
]
IDEA_PATH = {
    "submitted": [],
    "reviewing": ["reviewing"],
    "implementing": ["reviewing", "implementing"],
    "implemented": ["reviewing", "implementing", "implemented"],
    "declined": ["declined"],
}


def _demo_can_send(channel: str) -> bool:
    return any(
        adapter_for(source).sends
        for source in ChannelSource.objects.filter(is_active=True, channel=channel)
    )


def demo_feedback_seed() -> int:
    """Feedback for the demo: the default themes, an NPS survey on resolved cases and a CSAT
    survey on delivered orders, ~40 answers over the last six weeks made through the survey
    services (the customers asked have given feedback consent; a couple of detractors allow
    contact, so their care flags appear), social posts turned into mentions by
    ``mentions_scan`` (this week's are about plastic in tea bags: a rising theme) and five
    staff ideas in every state. Invitations go out through ``invitation_send`` (the demo
    mailbox sends email); without a sending channel they are recorded as sent on the
    survey's channel and answered with their tokens. Customers with an open case are left
    out, as the fatigue guard would. Idempotent (invitations are keyed by trigger, posts by
    id, surveys and ideas by name). Returns how many answers are new."""
    themes_ensure_defaults()
    teams = {team.slug: team for team in Team.objects.all()}
    surveys = {}
    for key, spec in DEMO_SURVEYS.items():
        fields = {**spec, "team": teams[spec["team"]], "delay_hours": 2}
        surveys[key], _ = Survey.objects.get_or_create(name=spec["name"], defaults=fields)
    live = Customer.objects.filter(merged_into__isnull=True, erased_at__isnull=True)
    # Customers we are still helping are not surveyed (the fatigue guard would say so).
    helping = Case.objects.filter(status__in=ACTIVE_STATUSES).values("customer_id")
    customers = list(live.exclude(pk__in=helping).order_by("id"))
    now = timezone.now()
    _demo_ideas_seed(now)
    if not customers:
        return 0
    first, last = now - timedelta(days=41), now - timedelta(hours=6)
    made = 0
    plan = [
        (answer, first + (last - first) * n / (len(DEMO_ANSWERS) - 1))
        for n, answer in enumerate(DEMO_ANSWERS)
    ] + [(None, now - timedelta(hours=30 + 14 * k)) for k in range(DEMO_UNANSWERED)]
    for n, (answer, answered_at) in enumerate(plan):
        survey = surveys[answer[0] if answer else ("nps", "csat")[n % 2]]
        customer = customers[n % len(customers)]
        invited_at = answered_at - timedelta(days=1, hours=3)
        consent_set(
            actor=None,
            customer=customer,
            channel=survey.channel,
            purpose="feedback",
            granted=True,
            source="demo: agreed to feedback surveys",
            at=invited_at - timedelta(days=30),
        )
        invitation = survey_invite(
            survey=survey, customer=customer, trigger_key=f"demo:{n}", now=invited_at
        )
        if invitation is None or invitation.status != SurveyInvitation.Status.SCHEDULED:
            continue  # made by an earlier run
        sent_at = invitation.send_after
        if _demo_can_send(survey.channel):
            if invitation_send(invitation_id=invitation.pk, now=sent_at) != "sent":
                continue  # suppressed, with its reason (an open case, the quiet period)
        else:
            SurveyInvitation.objects.filter(pk=invitation.pk).update(
                status=SurveyInvitation.Status.SENT, channel=survey.channel, sent_at=sent_at
            )
        if answer is None:
            continue  # not answered (yet)
        _, score, comment, contact_allowed = answer
        response_submit(
            token=invitation_token(invitation),
            score=score,
            comment=comment,
            contact_allowed=contact_allowed,
            now=answered_at,
        )
        made += 1
    for n, (days_ago, text) in enumerate(DEMO_POSTS):
        interaction_log(
            actor=None,
            customer=customers[(n * 3) % len(customers)],
            channel=Channel.SOCIAL,
            direction=Interaction.Direction.INBOUND,
            summary=text[:80],
            body=text,
            occurred_at=now - timedelta(days=days_ago, hours=n),
            external_id=f"demo-post-{n}",
        )
    mentions_scan(now=now)
    return made


def _demo_ideas_seed(now) -> None:
    User = get_user_model()
    authors = [User.objects.get(username=name) for name in ("service", "operations", "sales")]
    supervisor = User.objects.get(username="supervisor")
    for n, (title, description, status, days_ago, took, note) in enumerate(DEMO_IDEAS):
        if Idea.objects.filter(title=title).exists():
            continue
        author = authors[n % len(authors)]
        idea = idea_submit(
            actor=author,
            title=title,
            description=description,
            team=Team.objects.filter(group__user=author).first(),
        )
        for step in IDEA_PATH[status]:
            idea = idea_move(
                actor=supervisor, idea=idea, status=step, note=note if step == "declined" else ""
            )
        # Back-date it, so the board's time to implementation has something to measure.
        submitted = now - timedelta(days=days_ago)
        changed = submitted + timedelta(days=took or max(days_ago // 2, 1))
        Idea.objects.filter(pk=idea.pk).update(
            submitted_at=submitted,
            status_changed_at=changed if IDEA_PATH[status] else submitted,
            implemented_at=changed if status == "implemented" else None,
        )
