"""Realistic customers at any scale, for demos and benchmarks (`manage.py seed`).

Rows are made in Python from a seeded RNG and written one chunk of customers at a time, each
chunk in one transaction (a chunk lands whole or not at all): ``COPY`` on PostgreSQL, batched
``executemany`` on SQLite. Customer ids are reserved up front (``nextval`` over a range on
PostgreSQL, past ``MAX(id)`` on SQLite) so children are made without a round trip, and every
unique value (email, phone, handle, app id, card number, order number, interaction external
id) is derived from the customer id: running the seed again adds customers and never
collides with what an earlier run made.

It writes rows in bulk and so records no audit event per row: it is a tool to fill a
database for a demo or a benchmark, not a way in for real customers (that is
``import_customers`` and the API).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from customers.models import Place
from cxportal.bulk import ids_reserve, rows_write, tables_analyze

DAY = 86_400


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# --- Who they are ------------------------------------------------------------------------

FIRST_NAMES = _words(
    "Amira Ben Chloe Dev Elena Farid Grace Hugo Isla Jonas Kemi Liam Maya Nils Olu Priya "
    "Quinn Rosa Sven Tara Uma Victor Wren Xavier Yara Zane Aisha Bruno Carmen Dmitri Esme "
    "Felix Gwen Hamza Ines Jack Keira Leo Mei Noah Orla Pavel Rhys Sofia Theo Ursula Vera "
    "Will Zoe Ada Bilal Cora Daniel Ella Finn Hana Ivan Jade Kai Lena Marco Nadia Oscar "
    "Piotr Ruby Sam Tomasz Ava Callum Eilidh Fatima George Harriet Idris Joy Kofi Lucy"
)
LAST_NAMES = _words(
    "Okafor Schmidt Patel Nowak Rossi Khan Murphy Silva Jensen Ito Smith Jones Williams "
    "Brown Taylor Davies Evans Wilson Thomas Roberts Johnson Lewis Walker Robinson Wood "
    "Thompson White Watson Jackson Wright Green Harris Cooper King Lee Martin Clarke James "
    "Morgan Hughes Edwards Hill Moore Clark Harrison Scott Young Morris Hall Ward Turner "
    "Carter Phillips Mitchell Kowalski Ahmed Ali Hussain Singh Kaur Begum Chen Wong Nguyen "
    "Kim Garcia Fernandez Lopez Muller Dubois Moreau Costa Ferreira Novak Horvat Sato Mensah"
)
REGIONS = ("North", "South", "East", "West", "Central")
LANGUAGES = ("en",) * 34 + ("cy", "pl", "ur", "fr", "de", "es", "pt", "ro", "pa", "ar")
STAGES = ("prospect", "new", "active", "at_risk", "lapsed")
STAGE_WEIGHTS = (10, 12, 55, 13, 10)
CHANNELS = ("email", "sms", "app", "phone", "social", "store", "web")
PREFERRED_WEIGHTS = (35, 12, 20, 12, 5, 6, 10)
INTERACTION_WEIGHTS = (30, 15, 20, 12, 6, 8, 9)  # the preferred channel counts four times
ACCESSIBILITY_NOTES = (
    "Wheelchair user: needs step-free routes and lifts at stations.",
    "Visually impaired: prefers phone contact and large-print letters.",
    "Hard of hearing: prefers SMS or email to phone calls.",
    "Uses a mobility scooter: needs lifts and wide gates.",
    "Travels with an assistance dog.",
    "Needs extra time at ticket gates and on stairs.",
)
EMAIL_DOMAINS = ("example.com", "example.net", "example.org", "mail.example.com")
WORK_DOMAINS = ("corp.example", "work.example.net")
SOCIAL = ("twitter", "instagram", "facebook", "tiktok")
AGENTS = ("Sam Service", "Ana Silva", "Tom Hughes", "Priya Nair", "Jo Clarke", "Ben Okafor")

# --- What they have -----------------------------------------------------------------------

PRODUCTS = (
    # name, warranty in days
    ("Smartphone X2", 730),
    ("Tablet 10", 365),
    ("Noise-cancelling headphones", 365),
    ("Laptop 14", 730),
    ("Smartwatch S", 365),
    ("E-scooter Urban", 730),
    ("Coffee machine Barista", 730),
    ("Wireless earbuds", 365),
)
PLANS = (
    # name, renewal period in days
    ("Annual season ticket", 365),
    ("Monthly travel pass", 30),
    ("Device protection plan", 365),
    ("Premium membership", 365),
    ("Mobile plan 20 GB", 30),
)

# --- Where they go: a little network, the same on every run -------------------------------

LINE_NAMES = ("Red", "Blue", "Green", "Amber", "Violet", "Silver", "Coral", "Teal", "Jade", "Iris")
STATION_FIRST = _words(
    "King's Mill Oak Bridge Church Abbey Castle Harbour Market Elm Ash Willow Station Holly "
    "Victoria Albert Queen's Crown Ferry Fox Hart Swan Beacon Canal Orchard Meadow Rose Stone"
)
STATION_LAST = (
    "Cross",
    "Road",
    "Street",
    "Park",
    "Square",
    "Green",
    "Gate",
    "Hill",
    "Junction",
    "Central",
)
SERVICES = (
    ("SV-LIFTS", "Station lifts"),
    ("SV-NIGHT", "Night service"),
    ("SV-WIFI", "Onboard Wi-Fi"),
    ("SV-CLICK", "Click & collect"),
    ("SV-DELIV", "Home delivery"),
    ("SV-ASSIST", "Passenger assistance"),
)
STATIONS_PER_LINE = 20
STORES_PER_REGION = 10

# --- What happened: timeline text per (channel, direction) --------------------------------

TEMPLATES: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {
    ("email", "inbound"): (
        (
            "Where is my order {order}?",
            "Hi,\n\nI ordered {order} with express delivery and it still hasn't arrived. "
            "Could you tell me when it will come?\n\nThanks,\n{first}",
        ),
        (
            "Refund request",
            "Hello, I returned an item at the {store} store last week but the refund "
            "has not reached my account yet. Please can you check?\n\n{first}",
        ),
        (
            "Complaint about {station}",
            "The lift at {station} was out of order again this morning and nobody told "
            "me in advance. I had to go to the next station. Not good enough.\n\n{first}",
        ),
        (
            "Question about my plan",
            "Hi, can I change my plan to monthly payments? I'd rather not pay the whole "
            "year at once. Best, {first}",
        ),
    ),
    ("email", "outbound"): (
        (
            "Your order {order} is on its way",
            "Hello {first},\n\nGood news: your order {order} has been dispatched. "
            "You can track it in the app.\n\nThe Customer Team",
        ),
        (
            "Re: your refund",
            "Dear {first},\n\nThank you for your patience. Your refund has been processed "
            "and should reach your account within 3 working days.\n\n{agent}",
        ),
        (
            "Planned works on the {line} line",
            "Hello {first},\n\nThere will be planned engineering works on the {line} line "
            "this weekend. Replacement buses will run from {station}.",
        ),
    ),
    ("sms", "outbound"): (
        ("Delivery update", "Your order {order} arrives today between 10:00 and 14:00."),
        ("Delivery delayed", "Sorry, your order {order} is delayed. New date in the app."),
        ("Service alert", "{line} line: minor delays after a signal failure. Allow extra time."),
        ("Appointment reminder", "Reminder: your appointment at {store} is tomorrow at 11:30."),
    ),
    ("sms", "inbound"): (
        ("Reply", "Thanks, can it be left with a neighbour?"),
        ("Reply", "STOP"),
        ("Reply", "Yes please, that time works."),
    ),
    ("app", "inbound"): (
        ("In-app chat", "Hi, my e-ticket won't scan at the gates at {station}. What can I do?"),
        ("App feedback", "Love the new journey planner, but it crashes when I save a route."),
        ("In-app chat", "Can I add a second card to my account?"),
    ),
    ("app", "outbound"): (
        ("Push notification", "Your {line} line journey: good service."),
        ("Push notification", "Order {order} is out for delivery."),
        ("In-app reply", "Hi {first}, thanks for reporting this. A replacement is on its way."),
    ),
    ("phone", "inbound"): (
        (
            "Call: late delivery",
            "Customer called about order {order}, promised by express delivery. Checked "
            "courier tracking, parcel stuck at depot. Promised a call back tomorrow.",
        ),
        (
            "Call: billing question",
            "Customer queried a double charge on their plan. Explained the pending "
            "authorisation; it drops off within 5 days. Customer satisfied.",
        ),
        (
            "Call: accessibility",
            "Customer asked about step-free access at {station}. Gave lift status and the "
            "assistance booking number.",
        ),
    ),
    ("phone", "outbound"): (
        (
            "Call back",
            "Called {first} back about order {order}. Courier confirmed delivery tomorrow.",
        ),
        ("Courtesy call", "Checked in after last week's complaint; customer happy with outcome."),
    ),
    ("phone", "internal"): (
        ("Note", "Customer prefers calls after 17:00. Do not call during work hours."),
        ("Note", "Escalated to the delivery team; waiting on the courier's investigation."),
    ),
    ("social", "inbound"): (
        ("Mention", "@brand third time this week the {line} line is late. Sort it out!"),
        ("Direct message", "Hi, my order {order} says delivered but nothing's here?"),
        ("Mention", "Shout out to the staff at {store}, really helpful today"),
    ),
    ("social", "outbound"): (
        ("Reply", "Hi {first}, sorry to hear that. Please DM us your order number."),
        ("Reply", "Thanks {first}! We'll pass that on to the team at {store}."),
    ),
    ("store", "inbound"): (
        ("Store visit", "Collected order {order} at {store}."),
        ("Store visit", "Returned an item at {store}; refund issued to card."),
        ("Store visit", "Asked about upgrading their phone at {store}."),
    ),
    ("store", "internal"): (
        ("Store note", "Customer came in upset about a repeated delay; offered a voucher."),
        ("Store note", "Set up the app on the customer's phone and linked their loyalty card."),
    ),
    ("web", "inbound"): (
        (
            "Contact form: delivery",
            "Order {order}: the tracking page has not updated for three days.",
        ),
        ("Contact form: feedback", "The website checkout kept timing out on my card payment."),
        ("Web chat", "Chat about fares from {station}; sent the fare finder link."),
    ),
}
DIRECTIONS = {
    "email": (("inbound", "outbound"), (45, 55)),
    "sms": (("outbound", "inbound"), (85, 15)),
    "app": (("inbound", "outbound"), (40, 60)),
    "phone": (("inbound", "outbound", "internal"), (65, 20, 15)),
    "social": (("inbound", "outbound"), (60, 40)),
    "store": (("inbound", "internal"), (80, 20)),
    "web": (("inbound",), (1,)),
}
# Hours of the day (UTC) when each channel is used.
HOURS = {
    "email": (6, 23),
    "sms": (7, 21),
    "app": (6, 24),
    "phone": (8, 20),
    "social": (7, 24),
    "store": (9, 19),
    "web": (6, 24),
}
# Zero-padded customer ids keep each channel's new ids at the end of the unique index.
EXTERNAL_ID = {
    "email": "<{cid:010d}.{k}@mail.example.com>",
    "sms": "SM{cid:010d}x{k}",
    "app": "app-msg-{cid:010d}-{k}",
    "phone": "call-{cid:010d}-{k}",
    "social": "post-{cid:010d}-{k}",
    "store": "pos-{cid:010d}-{k}",
    "web": "form-{cid:010d}-{k}",
}

CONSENT_RATES = (("service", 0.97), ("marketing", 0.55), ("feedback", 0.45))  # granted at signup

# Every 30th customer has a late express order and every 20th a warranty ending within 30
# days, so any slice of customers shows both (the care-flag scans have work to do).
LATE_ORDER_EVERY = 30
WARRANTY_SOON_EVERY = 20

# The tables a chunk writes, in order, and the columns written (ids come from the database,
# except the customers', which are reserved so children can point at them).
COLUMNS: dict[str, tuple[str, ...]] = {
    "customers_customer": (
        "id",
        "display_name",
        "lifecycle_stage",
        "region",
        "preferred_channel",
        "language",
        "accessibility_needs",
        "accessibility_note",
        "created_at",
        "updated_at",
    ),
    "customers_contactpoint": (
        "customer_id",
        "kind",
        "network",
        "value",
        "normalized",
        "is_primary",
        "created_at",
    ),
    "customers_consent": ("customer_id", "channel", "purpose", "status", "source", "updated_at"),
    "customers_consentevent": (
        "customer_id",
        "channel",
        "purpose",
        "status",
        "source",
        "actor_label",
        "occurred_at",
    ),
    "customers_holding": (
        "customer_id",
        "kind",
        "name",
        "reference",
        "started_on",
        "warranty_ends_on",
        "renews_on",
        "is_active",
    ),
    "customers_order": (
        "customer_id",
        "external_id",
        "placed_at",
        "shipping_method",
        "promised_by",
        "delivered_at",
        "status",
        "total",
    ),
    "customers_customerplace": ("customer_id", "place_id", "relation"),
    "customers_interaction": (
        "customer_id",
        "channel",
        "direction",
        "occurred_at",
        "summary",
        "body",
        "external_id",
        "sentiment",
        "recorded_by",
        "created_at",
    ),
}


@dataclass
class SeedResult:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COLUMNS, 0))
    first_customer_id: int | None = None
    last_customer_id: int | None = None
    places_created: int = 0
    skipped_fk_checks: bool = False
    elapsed: float = 0.0

    @property
    def rows(self) -> int:
        return sum(self.counts.values())


# --- Places --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Network:
    """Place ids and names per region, for linking customers to what they use."""

    lines: list[list[tuple[int, str]]]  # per region
    stations: list[list[tuple[int, str, int]]]  # per region: (id, name, line index in region)
    stores: list[list[tuple[int, str]]]  # per region
    services: list[int]


def places_ensure() -> tuple[_Network, int]:
    """Create the seed network where it is missing (by code); the same on every run."""
    rng = random.Random("cxportal-network")  # noqa: S311 - sample data, not security
    regions = [("region", f"RG-{r.upper()}", f"{r} region", None, True) for r in REGIONS]
    lines, stations, stores = [], [], []
    names = [f"{a} {b}" for a in STATION_FIRST for b in STATION_LAST]
    rng.shuffle(names)
    for i, colour in enumerate(LINE_NAMES):
        region_code = f"RG-{REGIONS[i % len(REGIONS)].upper()}"
        lines.append(("line", f"LN-{colour.upper()}", f"{colour} line", region_code, True))
        for j in range(STATIONS_PER_LINE):
            stations.append(
                (
                    "station",
                    f"ST-{i * STATIONS_PER_LINE + j + 1:04d}",
                    names[i * STATIONS_PER_LINE + j],
                    f"LN-{colour.upper()}",
                    rng.random() < 0.7,
                )
            )
    for r_index, region in enumerate(REGIONS):
        for j in range(STORES_PER_REGION):
            town = names[len(stations) + r_index * STORES_PER_REGION + j].split()[0]
            stores.append(
                (
                    "store",
                    f"SH-{r_index * STORES_PER_REGION + j + 1:03d}",
                    f"{town} {('High Street', 'Retail Park', 'Centre')[j % 3]}",
                    f"RG-{region.upper()}",
                    True,
                )
            )
    services = [("service", code, name, None, True) for code, name in SERVICES]

    created = 0
    with transaction.atomic():
        for level in (regions + services, lines, stations + stores):  # parents first
            codes = {p[1] for p in level}
            parents = {p[3] for p in level if p[3]}
            ids = dict(Place.objects.filter(code__in=parents).values_list("code", "id"))
            existing = set(Place.objects.filter(code__in=codes).values_list("code", flat=True))
            new = [
                Place(kind=k, code=c, name=n, parent_id=ids.get(p), step_free=sf)
                for k, c, n, p, sf in level
                if c not in existing
            ]
            Place.objects.bulk_create(new, batch_size=500)
            created += len(new)
    ids = dict(
        Place.objects.filter(
            code__in=[p[1] for p in regions + services + lines + stations + stores]
        ).values_list("code", "id")
    )
    n = len(REGIONS)
    network = _Network(
        lines=[[] for _ in range(n)],
        stations=[[] for _ in range(n)],
        stores=[[] for _ in range(n)],
        services=[ids[p[1]] for p in services],
    )
    for i, (_, code, name, _, _) in enumerate(lines):
        network.lines[i % n].append((ids[code], name))
    for k, (_, code, name, _, _) in enumerate(stations):
        line = k // STATIONS_PER_LINE
        network.stations[line % n].append((ids[code], name, line // n))
    for k, (_, code, name, _, _) in enumerate(stores):
        network.stores[k // STORES_PER_REGION].append((ids[code], name))
    return network, created


# --- Rows ----------------------------------------------------------------------------------


class _Clock:
    """Timestamps as seconds since a UTC midnight, formatted fast from a table of days."""

    def __init__(self, now: datetime):
        now = now.astimezone(UTC)
        self.base = (now - timedelta(days=6 * 365)).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        self.now = int((now - self.base).total_seconds())
        self.today = self.now // DAY
        self.days = [(self.base + timedelta(days=d)).strftime("%Y-%m-%d") for d in range(10 * 365)]

    def at(self, t: int) -> str:
        d, s = divmod(t, DAY)
        h, s = divmod(s, 3600)
        m, s = divmod(s, 60)
        return f"{self.days[d]} {h:02d}:{m:02d}:{s:02d}"

    def on(self, day: int) -> str:
        return self.days[day]


def _scramble(cid: int, factor: int, modulus: int) -> int:
    """A bijection of ids onto [0, modulus): unique numbers that do not look sequential."""
    return (cid * factor) % modulus


@dataclass(slots=True)
class _Person:
    """What the rows of one customer are made from."""

    cid: int
    first: str
    last: str
    stage: str
    region: int
    preferred: str
    needs: bool
    age_days: int
    created: int
    created_s: str
    has_email: bool
    has_phone: bool
    has_app: bool
    network: str  # social network, "" for none


class _Generator:
    def __init__(self, *, network: _Network, clock: _Clock, interactions_per_customer: int):
        self.network = network
        self.clock = clock
        self.ipc = interactions_per_customer
        # Texts that name no order, for customers who never ordered.
        self.orderless = {
            key: tuple(t for t in texts if "{order}" not in t[0] + t[1]) or texts
            for key, texts in TEMPLATES.items()
        }
        self.channel_weights = {
            pref: tuple(
                w * (4 if c == pref else 1)
                for c, w in zip(CHANNELS, INTERACTION_WEIGHTS, strict=True)
            )
            for pref in CHANNELS
        }

    def chunk(self, ids: list[int], rng: random.Random) -> dict[str, list[tuple]]:
        """The rows of every table for these customer ids."""
        rows: dict[str, list[tuple]] = {table: [] for table in COLUMNS}
        for cid in ids:
            person = self._customer(cid, rng, rows["customers_customer"])
            self._contact_points(person, rng, rows["customers_contactpoint"])
            self._consents(person, rng, rows["customers_consent"], rows["customers_consentevent"])
            self._holdings(person, rng, rows["customers_holding"])
            orders = self._orders(person, rng, rows["customers_order"])
            places = self._places(person, rng, rows["customers_customerplace"])
            self._interactions(person, rng, orders, places, rows["customers_interaction"])
        return rows

    def _customer(self, cid: int, rng: random.Random, out: list[tuple]) -> _Person:
        clock = self.clock
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        stage = rng.choices(STAGES, STAGE_WEIGHTS)[0]
        region = rng.randrange(len(REGIONS))
        preferred = rng.choices(CHANNELS, PREFERRED_WEIGHTS)[0]
        needs = rng.random() < 0.05
        # Customers since up to five years ago; prospects and new ones recently.
        if stage in ("prospect", "new"):
            age_days = rng.randrange(1, 120)
        else:
            age_days = rng.randrange(60, 5 * 365)
        created = clock.now - age_days * DAY - rng.randrange(DAY)
        person = _Person(
            cid=cid,
            first=first,
            last=last,
            stage=stage,
            region=region,
            preferred=preferred,
            needs=needs,
            age_days=age_days,
            created=created,
            created_s=clock.at(created),
            # The preferred channel is always reachable.
            has_email=preferred == "email" or rng.random() < 0.9,
            has_phone=preferred in ("sms", "phone") or rng.random() < 0.65,
            has_app=preferred == "app" or rng.random() < 0.4,
            network=rng.choice(SOCIAL) if preferred == "social" or rng.random() < 0.25 else "",
        )
        updated = clock.now - rng.randrange(min(age_days, 365) * DAY)
        note = rng.choice(ACCESSIBILITY_NOTES) if needs else ""
        language = rng.choice(LANGUAGES)
        name = f"{first} {last}"
        out.append(
            (cid, name, stage, REGIONS[region], preferred, language, needs, note)
            + (person.created_s, clock.at(updated))
        )
        return person

    def _contact_points(self, p: _Person, rng: random.Random, out: list[tuple]) -> None:
        """Unique values derived from the customer id; ``value`` as typed, then normalized."""
        cid, at = p.cid, p.created_s
        if p.has_email:
            local = f"{p.first}.{p.last}.{cid}"
            domain = rng.choice(EMAIL_DOMAINS)
            normalized = f"{local}@{domain}".lower()
            value = f"{local}@{domain}" if rng.random() < 0.3 else normalized
            out.append((cid, "email", "", value, normalized, True, at))
            if rng.random() < 0.08:
                work = f"{p.first[0]}.{p.last}.{cid}@{rng.choice(WORK_DOMAINS)}".lower()
                out.append((cid, "email", "", work, work, False, at))
        if p.has_phone:
            digits = f"{_scramble(cid, 7_368_787, 10**9):09d}"
            value = rng.choice(
                (f"07{digits[:3]} {digits[3:]}", f"+44 7{digits[:3]} {digits[3:]}", f"+447{digits}")
            )
            out.append((cid, "phone", "", value, f"+447{digits}", True, at))
        if p.network:
            handle = f"{p.first}{p.last[0]}_{cid}"
            normalized = f"{p.network}:{handle.lower()}"
            out.append((cid, "social", p.network, f"@{handle}", normalized, True, at))
        if p.has_app:
            app_id = f"app-{_scramble(cid, 2_654_435_761, 2**32):08x}"
            out.append((cid, "app", "", app_id, app_id.upper(), True, at))
        if p.stage != "prospect" and rng.random() < 0.45:
            number = f"6338{_scramble(cid, 999_999_937, 10**12):012d}"
            value = f"{number[:4]} {number[4:8]} {number[8:12]} {number[12:]}"
            out.append((cid, "loyalty", "", value, number, True, at))

    def _consents(
        self, p: _Person, rng: random.Random, out: list[tuple], events: list[tuple]
    ) -> None:
        """Per reachable channel × purpose: the answer at signup, and later changes of mind."""
        clock, now, cid = self.clock, self.clock.now, p.cid
        for channel, reachable in (
            ("email", p.has_email),
            ("sms", p.has_phone),
            ("app", p.has_app),
        ):
            if not reachable:
                continue
            for purpose, granted_rate in CONSENT_RATES:
                t = p.created + rng.randrange(3600)
                status = "granted" if rng.random() < granted_rate else "withdrawn"
                source = (
                    "call centre"
                    if purpose == "service" and status == "withdrawn"
                    else ("signup form")
                )
                events.append((cid, channel, purpose, status, source, "customer", clock.at(t)))
                if purpose == "marketing" and status == "granted" and rng.random() < 0.25:
                    t = rng.randrange(t, now)
                    status = "withdrawn"
                    source = rng.choice(("unsubscribe link", "preference centre"))
                    events.append((cid, channel, purpose, status, source, "customer", clock.at(t)))
                    if rng.random() < 0.2:
                        t, status, source = rng.randrange(t, now + 1), "granted", "call centre"
                        agent = rng.choice(AGENTS)
                        events.append((cid, channel, purpose, status, source, agent, clock.at(t)))
                out.append((cid, channel, purpose, status, source, clock.at(t)))

    def _holdings(self, p: _Person, rng: random.Random, out: list[tuple]) -> None:
        clock, today = self.clock, self.clock.today
        count = 0 if p.stage == "prospect" else rng.choices((0, 1, 2, 3), (25, 40, 25, 10))[0]
        for k in range(count):
            start = today - rng.randrange(0, min(p.age_days, 4 * 365) + 1)
            if rng.random() < 0.6:
                name, warranty = rng.choice(PRODUCTS)
                serial = f"SN{rng.randrange(16**10):010X}"
                ends = clock.on(start + warranty)
                out.append((p.cid, "product", name, serial, clock.on(start), ends, None, True))
            else:
                name, period = rng.choice(PLANS)
                active = rng.random() < 0.85
                renews = clock.on(start + period * ((today - start) // period + 1))
                ref = f"PLAN-{p.cid}-{k + 1}"
                out.append(
                    (p.cid, "plan", name, ref, clock.on(start), None, renews if active else None)
                    + (active,)
                )
        if p.cid % WARRANTY_SOON_EVERY == 0:
            name, warranty = rng.choice(PRODUCTS)
            start = today - warranty + rng.randrange(1, 30)
            serial = f"SN{rng.randrange(16**10):010X}"
            ends = clock.on(start + warranty)
            out.append((p.cid, "product", name, serial, clock.on(start), ends, None, True))

    def _orders(self, p: _Person, rng: random.Random, out: list[tuple]) -> list[str]:
        """Mostly delivered (a few of them late), recent ones on their way, some cancelled;
        every LATE_ORDER_EVERY-th customer also waits for a late express order."""
        clock, now, cid = self.clock, self.clock.now, p.cid
        count = (
            0 if p.stage == "prospect" else rng.choices((0, 1, 2, 3, 4), (20, 30, 25, 15, 10))[0]
        )
        numbers = []
        for k in range(count):
            number = f"ORD-{cid:08d}-{k + 1}"
            numbers.append(number)
            express = rng.random() < 0.3
            placed = rng.randrange(max(p.created, now - 2 * 365 * DAY), now - 3600)
            promised = placed + (DAY if express else 5 * DAY)
            total = f"{rng.randrange(500, 40_000) / 100:.2f}"
            if rng.random() < 0.03:
                delivered, status = None, "cancelled"
            elif placed + (2 * DAY if express else 7 * DAY) > now:
                delivered, status = None, rng.choice(("placed", "shipped"))
                promised = max(promised, now + 3600)  # still on time
            else:
                if rng.random() < 0.08:  # arrived late
                    delivered = promised + rng.randrange(DAY, 3 * DAY)
                else:
                    delivered = promised - rng.randrange(3600, DAY // 2)
                delivered, status = min(delivered, now - 60), "delivered"
            method = "express" if express else "standard"
            out.append(
                (cid, number, clock.at(placed), method, clock.at(promised))
                + (clock.at(delivered) if delivered else None, status, total)
            )
        if cid % LATE_ORDER_EVERY == 0:
            number = f"ORD-{cid:08d}-{count + 1}"
            numbers.append(number)
            placed = now - rng.randrange(2 * DAY, 6 * DAY)
            total = f"{rng.randrange(2_000, 30_000) / 100:.2f}"
            out.append(
                (cid, number, clock.at(placed), "express", clock.at(placed + DAY))
                + (None, "shipped", total)
            )
        return numbers

    def _places(self, p: _Person, rng: random.Random, out: list[tuple]) -> dict[str, str]:
        """A home station and its line, often a store, maybe another station and a service
        (always one for customers with accessibility needs). Returns names for the texts."""
        net, cid = self.network, p.cid
        stations = net.stations[p.region]
        home = rng.choice(stations)
        line = net.lines[p.region][home[2]]
        store = rng.choice(net.stores[p.region])
        out.append((cid, home[0], "home"))
        out.append((cid, line[0], "follows"))
        if rng.random() < 0.6:
            out.append((cid, store[0], "uses"))
        if rng.random() < 0.4:
            other = rng.choice(stations)
            if other[0] != home[0]:
                out.append((cid, other[0], "uses"))
        if p.needs or rng.random() < 0.1:
            out.append((cid, rng.choice(net.services), "follows"))
        return {"station": home[1], "line": line[1], "store": store[1]}

    def _interactions(
        self,
        p: _Person,
        rng: random.Random,
        orders: list[str],
        places: dict[str, str],
        out: list[tuple],
    ) -> None:
        """About ``ipc`` entries on at least three channels, spread over the last two years."""
        if not self.ipc:
            return
        clock, now, cid = self.clock, self.clock.now, p.cid
        count = max(1, self.ipc + rng.randint(-(self.ipc // 2), self.ipc // 2))
        channels = [c for c in CHANNELS if c != "social" or p.network]
        weights = [
            w
            for c, w in zip(CHANNELS, self.channel_weights[p.preferred], strict=True)
            if c in channels
        ]
        picks = rng.sample(channels, min(3, count))
        picks += rng.choices(channels, weights, k=max(0, count - 3))
        start = max(p.created, now - 2 * 365 * DAY)
        agent = rng.choice(AGENTS)
        words = {"first": p.first, "order": "", "agent": agent, **places}
        for k, channel in enumerate(picks):
            directions, direction_weights = DIRECTIONS[channel]
            direction = rng.choices(directions, direction_weights)[0]
            if orders:
                summary, body = rng.choice(TEMPLATES[channel, direction])
                words["order"] = rng.choice(orders)
            else:
                summary, body = rng.choice(self.orderless[channel, direction])
            lo, hi = HOURS[channel]
            day = rng.randrange(start // DAY, clock.today + 1)
            t = day * DAY + rng.randrange(lo * 3600, hi * 3600)
            at = clock.at(max(start, min(t, now - rng.randrange(60, 3600))))
            external = (
                None if direction == "internal" else EXTERNAL_ID[channel].format(cid=cid, k=k)
            )
            sentiment = None
            if direction == "inbound" and rng.random() < 0.6:
                sentiment = round(rng.uniform(-1, 1), 2)
            staff = agent if direction == "internal" or channel in ("phone", "store") else ""
            out.append(
                (cid, channel, direction, at, summary.format_map(words), body.format_map(words))
                + (external, sentiment, staff, at)
            )


# --- Writing -------------------------------------------------------------------------------


def _execute(sql: str) -> tuple | None:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone() if cursor.description else None


def _session(*, pg: bool, skip_triggers: bool) -> None:
    """PostgreSQL settings for one chunk's transaction.

    A seed needs no durability per commit (a crash loses the last chunks, nothing else). And
    the rows of a chunk are consistent by construction: children point at the customers
    inserted in the same transaction and at places read just before. So where the role may
    (a superuser), the per-row foreign-key triggers are skipped like ``pg_restore
    --disable-triggers`` does: they are most of PostgreSQL's work in a seed (measured: 23 s
    of a 50k-customer chunk with them, 9 s without).
    """
    if not pg:
        return
    _execute("SET LOCAL synchronous_commit TO OFF")
    if skip_triggers:
        _execute("SET LOCAL session_replication_role = replica")


def seed_customers(
    *,
    customers: int,
    interactions_per_customer: int = 10,
    seed: int = 1,
    batch: int = 50_000,
    on_progress: Callable[[int, int], None] | None = None,
) -> SeedResult:
    """Add ``customers`` realistic customers with everything around them.

    ``on_progress(customers_done, rows_done)`` is called after each committed chunk.
    """
    if customers < 0 or interactions_per_customer < 0 or batch < 1:
        raise ValueError("customers and interactions_per_customer must be >= 0, batch >= 1")
    started = time.monotonic()
    result = SeedResult()
    network, result.places_created = places_ensure()
    pg = connection.vendor == "postgresql"
    if pg:
        result.skipped_fk_checks = _execute("SELECT current_setting('is_superuser') = 'on'")[0]
    generator = _Generator(
        network=network,
        clock=_Clock(timezone.now()),
        interactions_per_customer=interactions_per_customer,
    )
    done = 0
    while done < customers:
        size = min(batch, customers - done)
        with transaction.atomic():
            _session(pg=pg, skip_triggers=result.skipped_fk_checks)
            ids = ids_reserve("customers_customer", size)
            # One RNG per chunk, seeded by --seed and the chunk's first id: deterministic for a
            # given database, and a second run does not repeat the first run's people.
            rng = random.Random(seed * 1_000_003 + ids[0])  # noqa: S311 - sample data
            chunk = generator.chunk(ids, rng)
            for table, rows in chunk.items():
                rows_write(table, COLUMNS[table], rows)
                result.counts[table] += len(rows)
            if result.skipped_fk_checks:  # back on for anything else in this transaction
                _execute("SET LOCAL session_replication_role = origin")
        if result.first_customer_id is None:
            result.first_customer_id = ids[0]
        result.last_customer_id = ids[-1]
        done += size
        if on_progress:
            on_progress(done, result.rows)
    if pg and customers:
        tables_analyze([*COLUMNS, "customers_place"])
    result.elapsed = time.monotonic() - started
    return result
