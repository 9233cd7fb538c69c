"""Demo data for `make run`: one user per team plus a supervisor, and customers.

Project wiring (top layer): it may call every app's services. Safe to run again."""

import random

from django.contrib.auth import get_user_model
from django.db import transaction

from customers.models import Customer
from customers.services import customer_create
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
    return {"users": len(DEMO_USERS), "new_customers": made, "customers": Customer.objects.count()}
