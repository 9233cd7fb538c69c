"""Realistic cases at any scale, for demos and benchmarks (`manage.py seed_cases`).

Cases are made for the customers already in the database (``manage.py seed`` first) and
written one chunk at a time, each chunk in one transaction: ``COPY`` on PostgreSQL, batched
``executemany`` on SQLite. Each case gets a short history (created, assigned, the first
reply, waits on the customer, internal notes, resolved, closed, sometimes a deadline the
customer stated) as ``CaseEvent`` rows, and its SLA fields computed from that history with
``cases.sla.sla_compute`` and the team's calendar, exactly as ``case_sla_refresh`` would.

Opened in id order over the last 180 days; about 15% still active, most of them recent, a
tail of old ones (a backlog); teams service, operations and sales. It seeds *up to* a number
of cases: a second run with the same number adds nothing. Without SLA policies it first
creates a default set per team.

It writes rows in bulk and so records no audit event per row: a tool to fill a database
for a demo or a benchmark, never a way in for real cases (that is ``case_open``).
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from cases.models import BusinessCalendar, Case, SlaPolicy
from cases.sla import BusinessHours, sla_compute
from customers.models import Customer
from cxportal.bulk import ids_reserve, rows_write, tables_analyze
from cxportal.models import Team
from cxportal.services import teams_ensure_defaults

HOUR = 3600
DAY = 86_400
SPREAD_DAYS = 180
# A case of age a is still active with probability exp(-a / ACTIVE_DAYS): about 15% of
# cases spread evenly over 180 days, most of them recent, a tail of old ones.
ACTIVE_DAYS = 27
RISK_SHARE = 0.8  # as cases.services.SLA_RISK_SHARE

TEAMS = (("service", 70), ("operations", 15), ("sales", 15))
CATEGORIES = {
    "service": (
        ("delivery", 30),
        ("billing", 18),
        ("account", 15),
        ("technical", 12),
        ("complaint", 12),
        ("general", 10),
        ("accessibility", 3),
    ),
    "operations": (("disruption", 45), ("delivery", 30), ("accessibility", 15), ("complaint", 10)),
    "sales": (("general", 50), ("billing", 30), ("account", 20)),
}
PRIORITIES = (("low", 20), ("normal", 55), ("high", 20), ("urgent", 5))
ORIGINS = (
    ("email", 35),
    ("phone", 20),
    ("app", 15),
    ("web", 10),
    ("social", 8),
    ("sms", 7),
    ("store", 5),
)
ACTIVE_YOUNG = (("new", 60), ("open", 30), ("waiting", 5), ("on_hold", 5))  # under 8 hours
ACTIVE_OLD = (("new", 5), ("open", 50), ("waiting", 30), ("on_hold", 15))
# Default targets (business minutes) per priority: first response, resolution.
DEFAULT_TARGETS = {
    "urgent": (30, 4 * 60),
    "high": (60, 8 * 60),
    "normal": (4 * 60, 24 * 60),
    "low": (8 * 60, 72 * 60),
}
DEFAULT_PAUSE = ["waiting", "on_hold"]
AGENTS = (
    ("agent.ana", "Ana", "Silva"),
    ("agent.tom", "Tom", "Hughes"),
    ("agent.priya", "Priya", "Nair"),
    ("agent.jo", "Jo", "Clarke"),
    ("agent.ben", "Ben", "Okafor"),
    ("agent.lena", "Lena", "Nowak"),
)
SUBJECTS = {
    "delivery": (
        "Express parcel not arrived",
        "Parcel marked delivered but not received",
        "Wrong item delivered",
        "Delivery slot missed",
        "Damaged parcel",
    ),
    "billing": (
        "Charged twice for one order",
        "Refund not received",
        "Question about my invoice",
        "Direct debit failed",
    ),
    "account": (
        "Replacement card needed",
        "Cannot log in to the app",
        "Change of address",
        "Close my account",
    ),
    "technical": (
        "E-ticket will not scan at the gates",
        "App crashes when saving a route",
        "Smartwatch will not pair",
        "Laptop under warranty will not charge",
    ),
    "complaint": (
        "Rude staff at the station",
        "Third late delivery this month",
        "Complaint about the refund process",
    ),
    "general": (
        "Question about opening hours",
        "How do I change my plan?",
        "Feedback on the new timetable",
        "Upgrade options for my plan",
    ),
    "accessibility": (
        "Lift out of order at my station",
        "Booking passenger assistance",
        "Step-free route needed",
    ),
    "disruption": (
        "Replacement buses during engineering works",
        "Train cancelled, claim for delay",
        "Signal failure made me miss a flight",
    ),
}
DESCRIPTIONS = (
    "Customer explained the problem in detail and asked for an update as soon as possible.",
    "Second contact about this; the customer would like it sorted this week.",
    "Raised from the customer's message; see the linked timeline for what they wrote.",
    "Customer was calm but clear that they expect a call back.",
)
NOTES = (
    "Checked with the courier: parcel held at the depot, asked for redelivery.",
    "Refund approved by billing; waiting for the payment run.",
    "Customer prefers a call after 17:00.",
    "Escalated to the team lead for a goodwill gesture.",
    "Replacement ordered; tracking number sent to the customer.",
    "Waiting on the engineering team's report.",
)
DEADLINE_REASONS = (
    "going on holiday on Friday",
    "needs the card for travel next week",
    "birthday present, party on Saturday",
    "moving house at the end of the month",
    "starts a new job on Monday",
)
DEADLINE_SHARE = 0.04

CASE_COLUMNS = (
    "id",
    "customer_id",
    "subject",
    "description",
    "category",
    "priority",
    "status",
    "team_id",
    "assignee_id",
    "origin_channel",
    "sla_policy_id",
    "first_response_due_at",
    "first_response_risk_at",
    "first_responded_at",
    "first_response_met",
    "resolution_due_at",
    "resolution_risk_at",
    "resolution_met",
    "next_due_at",
    "sla_paused",
    "customer_deadline",
    "customer_deadline_reason",
    "resolved_at",
    "closed_at",
    "created_by",
    "created_at",
    "updated_at",
    "version",
)
EVENT_COLUMNS = (
    "case_id",
    "kind",
    "occurred_at",
    "actor_label",
    "from_status",
    "to_status",
    "body",
    "changes",
)
TABLES = {"cases_case": CASE_COLUMNS, "cases_caseevent": EVENT_COLUMNS}


@dataclass
class SeedResult:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    existing: int = 0
    policies_created: int = 0
    agents_created: int = 0
    skipped_fk_checks: bool = False
    elapsed: float = 0.0

    @property
    def rows(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class _Policy:
    id: int
    priority: str
    category: str
    first: int
    resolution: int
    pause: frozenset[str]


# --- Setup -----------------------------------------------------------------------------------


def sla_policies_ensure() -> int:
    """A default policy per priority for service, operations and sales when there is no SLA
    policy at all (a supervisor's own set is left alone). Returns how many were made."""
    if SlaPolicy.objects.exists():
        return 0
    teams = Team.objects.filter(slug__in=[slug for slug, _ in TEAMS])
    SlaPolicy.objects.bulk_create(
        SlaPolicy(
            name=f"{team.name}: {priority}",
            team=team,
            priority=priority,
            first_response_minutes=first,
            resolution_minutes=resolution,
            pause_statuses=DEFAULT_PAUSE,
        )
        for team in teams
        for priority, (first, resolution) in DEFAULT_TARGETS.items()
    )
    return len(teams) * len(DEFAULT_TARGETS)


def agents_ensure() -> tuple[list[tuple[int, str]], int]:
    """Service agents to assign cases to (only the service team works cases): (id, username)
    pairs, and how many were created."""
    User = get_user_model()
    group = Team.objects.get(slug="service").group
    created = 0
    agents = []
    for username, first, last in AGENTS:
        user, made = User.objects.get_or_create(
            username=username,
            defaults={"first_name": first, "last_name": last, "email": f"{username}@example.com"},
        )
        if made:
            user.set_unusable_password()
            user.save(update_fields=["password"])
            user.groups.add(group)
            created += 1
        agents.append((user.pk, username))
    return agents, created


def _policies() -> dict[int, list[_Policy]]:
    by_team: dict[int, list[_Policy]] = {}
    for p in SlaPolicy.objects.filter(is_active=True).order_by("id"):
        by_team.setdefault(p.team_id, []).append(
            _Policy(
                p.pk,
                p.priority,
                p.category,
                p.first_response_minutes,
                p.resolution_minutes,
                frozenset(p.pause_statuses or []),
            )
        )
    return by_team


def _policy_for(policies: list[_Policy], priority: str, category: str) -> _Policy | None:
    """As ``cases.services.sla_policy_for``: the most specific matching policy."""
    candidates = [
        p for p in policies if p.priority in ("", priority) and p.category in ("", category)
    ]
    return max(
        candidates,
        key=lambda p: (bool(p.category) and bool(p.priority), bool(p.priority), bool(p.category)),
        default=None,
    )


def _calendars() -> dict[int, BusinessHours | None]:
    hours = {}
    for calendar in BusinessCalendar.objects.prefetch_related("holidays"):
        hours[calendar.team_id] = BusinessHours.parse(
            time_zone=calendar.time_zone,
            hours=calendar.hours,
            holidays=[h.date for h in calendar.holidays.all()],
        )
    return hours


# --- Making cases ----------------------------------------------------------------------------


def _ts(value: datetime | None) -> str | None:
    """UTC text both databases read as a timestamp."""
    return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _pick(rng: random.Random, pairs: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([p[0] for p in pairs], [p[1] for p in pairs])[0]


class _Generator:
    def __init__(
        self,
        *,
        now: datetime,
        customers: list[int],
        teams: dict[str, int],
        agents: list[tuple[int, str]],
        policies: dict[int, list[_Policy]],
        calendars: dict[int, BusinessHours | None],
    ):
        self.now = now
        self.customers = customers
        self.teams = teams
        self.agents = agents
        self.policies = policies
        self.calendars = calendars

    def chunk(
        self, ids: list[int], rng: random.Random, *, position: int, total: int
    ) -> dict[str, list[tuple]]:
        """Cases ``position`` .. ``position + len(ids)`` of ``total``, opened in id order
        evenly over the last ``SPREAD_DAYS`` days (the last one a couple of minutes ago)."""
        cases: list[tuple] = []
        events: list[tuple] = []
        span = SPREAD_DAYS * DAY - 120
        start = self.now - timedelta(seconds=SPREAD_DAYS * DAY)
        for k, case_id in enumerate(ids, start=position):
            created = start + timedelta(seconds=span * (k + rng.random()) / total)
            self._case(case_id, created, rng, cases, events)
        return {"cases_case": cases, "cases_caseevent": events}

    def _case(
        self, case_id: int, created: datetime, rng: random.Random, cases: list, events: list
    ) -> None:
        now = self.now
        team = _pick(rng, TEAMS)
        team_id = self.teams[team]
        category = _pick(rng, CATEGORIES[team])
        priority = _pick(rng, PRIORITIES)
        origin = _pick(rng, ORIGINS)
        age = (now - created).total_seconds()
        if rng.random() < math.exp(-age / (ACTIVE_DAYS * DAY)):
            active, final = True, _pick(rng, ACTIVE_YOUNG if age < 8 * HOUR else ACTIVE_OLD)
        else:
            final = "closed" if age > 3 * DAY and rng.random() < 0.5 else "resolved"
            active = False
        policy = _policy_for(self.policies.get(team_id, []), priority, category)
        first_target = (policy.first if policy else 240) * 60
        resolution_target = (policy.resolution if policy else 1440) * 60

        # The story, as offsets in seconds from creation: (offset, kind, from, to, body, changes)
        story: list[tuple[float, str, str, str, str, dict]] = []
        agent_id, agent = rng.choice(self.agents)
        assigned = not active or final != "new" or rng.random() < 0.4
        if assigned:
            story.append((rng.uniform(60, HOUR), "assigned", "", "", "", {"assignee": agent}))
        replied = final != "new" and rng.random() < 0.93
        t = 0.0
        if replied:
            t = first_target * rng.uniform(0.1, 0.9 if rng.random() < 0.88 else 2.5)
            story.append((t, "reply", "", "", "", {}))
            story.append((t, "status", "new", "open", "", {}))
            status = "open"
        elif final != "new":
            t = first_target * rng.uniform(0.1, 0.9)
            story.append((t, "status", "new", "open", "", {}))
            status = "open"
        else:
            status = "new"
        if status == "open" and (final == "waiting" or rng.random() < 0.25):
            t += resolution_target * rng.uniform(0.05, 0.3)
            story.append((t, "status", "open", "waiting", "", {}))
            status = "waiting"
            if final != "waiting":
                t += rng.uniform(2 * HOUR, 3 * DAY)
                story.append((t, "status", "waiting", "open", "", {}))
                status = "open"
        if final == "on_hold":
            t += resolution_target * rng.uniform(0.05, 0.3)
            story.append((t, "status", status, "on_hold", "", {}))
            status = "on_hold"
        for _ in range(rng.choices((0, 1, 2), (50, 35, 15))[0]):
            story.append((rng.uniform(0, t + HOUR), "note", "", "", rng.choice(NOTES), {}))
        if final in ("resolved", "closed"):
            t += resolution_target * rng.uniform(0.2, 0.8 if rng.random() < 0.85 else 2.0)
            story.append((t, "status", status, "resolved", "", {}))
            status = "resolved"
            if final == "closed":
                t += rng.uniform(2 * DAY, 7 * DAY)
                story.append((t, "status", "resolved", "closed", "", {}))
                status = "closed"

        # Squeeze the story into the time since creation (a case opened an hour ago has had
        # an hour to happen).
        room = (now - created).total_seconds() - 60
        last = max((s[0] for s in story), default=0.0)
        scale = min(1.0, room / last) if last > 0 else 1.0
        timeline = sorted(
            (
                (created + timedelta(seconds=offset * scale), kind, frm, to, body, changes)
                for offset, kind, frm, to, body, changes in story
            ),
            key=lambda e: (e[0], e[1] != "reply"),  # a reply before the status it causes
        )

        deadline = reason = None
        if rng.random() < DEADLINE_SHARE:
            reason = rng.choice(DEADLINE_REASONS)
            if active:
                deadline = now + timedelta(seconds=rng.uniform(2 * HOUR, 10 * DAY))
            else:
                deadline = created + timedelta(seconds=rng.uniform(DAY, 10 * DAY))
            said = created + timedelta(seconds=min(rng.uniform(60, HOUR), room / 2))
            timeline.append(
                (
                    said,
                    "deadline",
                    "",
                    "",
                    reason,
                    {"deadline": deadline.isoformat(), "reason": reason},
                )
            )
            timeline.sort(key=lambda e: (e[0], e[1] != "reply"))

        first_responded = next((e[0] for e in timeline if e[1] == "reply"), None)
        resolved_at = next((e[0] for e in reversed(timeline) if e[3] == "resolved"), None)
        closed_at = next((e[0] for e in timeline if e[3] == "closed"), None)
        creator = agent if origin in ("phone", "store") else "system"
        events.append((case_id, "created", _ts(created), creator, "", "new", "", "{}"))
        for when, kind, frm, to, body, changes in timeline:
            events.append((case_id, kind, _ts(when), agent, frm, to, body, json.dumps(changes)))
        versioned = sum(1 for e in timeline if e[1] in ("assigned", "status", "deadline"))
        sla = self._sla(
            policy,
            team_id=team_id,
            created=created,
            changes=[(e[0], e[3]) for e in timeline if e[1] == "status"],
            first_responded=first_responded,
        )
        updated = timeline[-1][0] if timeline else created
        cases.append(
            (
                case_id,
                rng.choice(self.customers),
                rng.choice(SUBJECTS[category]),
                rng.choice(DESCRIPTIONS),
                category,
                priority,
                status,
                team_id,
                agent_id if assigned else None,
                origin,
                policy.id if policy else None,
                *sla,
                _ts(deadline),
                reason or "",
                _ts(resolved_at) if status in ("resolved", "closed") else None,
                _ts(closed_at),
                creator,
                _ts(created),
                _ts(updated),
                1 + versioned,
            )
        )

    def _sla(
        self,
        policy: _Policy | None,
        *,
        team_id: int,
        created: datetime,
        changes: list[tuple[datetime, str]],
        first_responded: datetime | None,
    ) -> tuple:
        """The SLA columns, set as ``case_sla_refresh`` sets them."""
        if policy is None:
            return (None, None, _ts(first_responded), None, None, None, None, None, False)
        state = sla_compute(
            created_at=created,
            changes=changes,
            initial_status="new",
            first_responded_at=first_responded,
            first_response_minutes=policy.first,
            resolution_minutes=policy.resolution,
            pause_statuses=policy.pause,
            hours=self.calendars.get(team_id),
            risk_share=RISK_SHARE,
        )
        first, resolution, paused = state.first_response, state.resolution, state.paused
        hide_first = paused and first.met is None
        return (
            None if hide_first else _ts(first.due_at),
            None if hide_first else _ts(first.risk_at),
            _ts(first_responded),
            first.met,
            None if paused else _ts(resolution.due_at),
            None if paused else _ts(resolution.risk_at),
            resolution.met,
            _ts(state.next_due_at),
            paused,
        )


# --- Writing ---------------------------------------------------------------------------------


def _execute(sql: str, params: list | None = None) -> tuple | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone() if cursor.description else None


def _live_customer_ids() -> list[int]:
    return list(
        Customer.objects.filter(merged_into__isnull=True, erased_at__isnull=True)
        .order_by("id")
        .values_list("id", flat=True)
        .iterator(chunk_size=50_000)
    )


def seed_cases(
    *,
    cases: int,
    seed: int = 1,
    batch: int = 20_000,
    on_progress: Callable[[int, int], None] | None = None,
) -> SeedResult:
    """Seed up to ``cases`` cases (those already there count): nothing is added when there
    are enough. ``on_progress(cases_added, rows_written)`` after each committed chunk."""
    if cases < 0 or batch < 1:
        raise ValueError("cases must be >= 0 and batch >= 1")
    started = time.monotonic()
    result = SeedResult(existing=Case.objects.count())
    missing = cases - result.existing
    if missing <= 0:
        result.elapsed = time.monotonic() - started
        return result
    teams_ensure_defaults()
    customers = _live_customer_ids()
    if not customers:
        raise ValueError("No customers to open cases for: run `manage.py seed` first.")
    result.policies_created = sla_policies_ensure()
    agents, result.agents_created = agents_ensure()
    pg = connection.vendor == "postgresql"
    if pg:
        result.skipped_fk_checks = _execute("SELECT current_setting('is_superuser') = 'on'")[0]
    generator = _Generator(
        now=timezone.now(),
        customers=customers,
        teams=dict(Team.objects.values_list("slug", "id")),
        agents=agents,
        policies=_policies(),
        calendars=_calendars(),
    )
    done = 0
    while done < missing:
        size = min(batch, missing - done)
        with transaction.atomic():
            if pg:  # a seed needs no durability per commit
                _execute("SET LOCAL synchronous_commit TO OFF")
            if result.skipped_fk_checks:
                # As customers.seed: the rows point at customers, teams, agents and policies
                # read just before, so the per-row foreign-key triggers are skipped.
                _execute("SET LOCAL session_replication_role = replica")
            ids = ids_reserve("cases_case", size)
            # Deterministic per chunk; a later run does not repeat an earlier run's cases.
            rng = random.Random(seed * 1_000_003 + ids[0])  # noqa: S311 - sample data
            chunk = generator.chunk(ids, rng, position=done, total=missing)
            for table, rows in chunk.items():
                rows_write(table, TABLES[table], rows)
                result.counts[table] += len(rows)
            if result.skipped_fk_checks:  # back on for anything else in this transaction
                _execute("SET LOCAL session_replication_role = origin")
        done += size
        if on_progress:
            on_progress(done, result.rows)
    if pg:
        tables_analyze(list(TABLES))
    result.elapsed = time.monotonic() - started
    return result
