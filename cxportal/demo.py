"""Demo data for `make run`: one user per team plus a supervisor, and customers.

Project wiring (top layer): it may call every app's services. Safe to run again."""

import random
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from customers.models import Channel, ChannelSource, Customer, CustomerPlace, Holding, Order, Place
from customers.services import consent_set, contact_point_add, customer_create, interaction_log
from cxportal.models import Team
from cxportal.services import teams_ensure_defaults

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
    return {"users": len(DEMO_USERS), "new_customers": made, "customers": Customer.objects.count()}


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
