"""The benchmark behind `make bench`: server time and query counts of the pages and API calls
that must stay fast at 1M customers / 10M interactions, each beside the bare SQL answering
the same question.

Project wiring (top layer): it drives the real views through Django's test client (server
time, no network) and the real services, on whatever database DATABASE_URL names. Run it on
a database filled by ``manage.py seed``; it adds one "heavy" customer with a long timeline
(so "page 100" exists) and its own bulk-ingest rows under a ``bench-`` external id prefix.
"""

import hashlib
import hmac
import json
import random
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from datetime import time as dtime

from django.contrib.auth import get_user_model
from django.db import connection, reset_queries
from django.db.models import Count
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns.models import Campaign, Delivery, GateSettings, Segment
from campaigns.services import (
    SEND_BATCH,
    audience_build,
    campaign_create,
    campaign_review,
    campaign_send_batch,
    campaign_submit,
    segment_count,
    segment_save,
)
from cases.care import care_scan
from cases.disruptions import disruption_affected_compute, disruption_declare
from cases.models import ACTIVE_STATUSES, CareFlag, Case, DisruptionCustomer
from customers.channels.base import RawEvent
from customers.models import (
    ChannelSource,
    ContactPoint,
    Customer,
    CustomerPlace,
    InboundEvent,
    Interaction,
    Order,
    Place,
)
from customers.services import customer_create
from customers.services.inbox import inbound_event_process
from customers.services.inbox_batch import inbound_events_ingest
from cxportal.models import AuditEvent, Team
from cxportal.services import api_client_create, teams_ensure_defaults
from feedback.models import Response as SurveyResponse
from feedback.selectors import scorecard

HEAVY_NAME = "Benchmark heavy timeline"
HEAVY_INTERACTIONS = 5_000  # 100 API pages of 50
CARE_SCAN_RUNS = 3  # timed runs of each care row (a full scan is seconds at 1M customers)
CARE_CHANGES = 1_000  # rows changed before each timed incremental scan: half orders, half cases
AFFECTED_SHARE = 0.05  # the benchmark disruption touches places ~5% of customers use
DELETE_BATCH = 10_000
#: Row groups ``run(only=...)`` can measure alone.
ONLY = ("care", "feedback", "campaigns")
CAMPAIGN_RUNS = 3  # timed runs of each segment count
#: Segments a marketer would build on the seeded customers (``customers/seed.py``: five
#: regions, lifecycle stages, holdings, ~40% with email marketing consent granted).
CAMPAIGN_SEGMENTS = (
    (
        "region + lifecycle stage",
        {
            "all": [
                {"field": "region", "op": "in", "value": ["North", "East"]},
                {"field": "lifecycle_stage", "op": "in", "value": ["at_risk", "lapsed"]},
            ]
        },
    ),
    ("has a holding", {"all": [{"field": "holding", "op": "has", "value": "season ticket"}]}),
    (
        "contact in 90 days + email marketing consent",
        {
            "all": [
                {"field": "last_contact", "op": "within_days", "value": 90},
                {
                    "field": "consent",
                    "op": "granted",
                    "value": {"channel": "email", "purpose": "marketing"},
                },
            ]
        },
    ),
)
#: The benchmark campaign's audience: ~27% of customers, before the gate.
CAMPAIGN_AUDIENCE = {
    "all": [
        {"field": "region", "op": "in", "value": ["North", "South"]},
        {"field": "lifecycle_stage", "op": "in", "value": ["active", "at_risk"]},
    ]
}
CAMPAIGN_VARIANTS = [
    {
        "subject": "Spring offers, {first_name}",
        "body": "Hi {first_name}, our spring offers in {region}: https://brand.example/spring",
        "weight": 50,
    },
    {
        "subject": "Fresh for spring",
        "body": "Hello {name}, see what is new: https://brand.example/spring-b",
        "weight": 50,
    },
]


@dataclass
class Row:
    name: str
    p50_ms: float | None = None
    p95_ms: float | None = None
    queries: int | None = None
    db_p50_ms: float | None = None  # time inside the database driver for this request
    sql_p50_ms: float | None = None
    ratio: float | None = None
    rate: float | None = None  # rows per second, for throughput rows
    note: str = ""
    samples: list[float] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict:
        data = asdict(self)
        data.pop("samples")
        return data


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def _timed(fn: Callable[[], object], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def _p(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# The data a 360 page shows, fetched by hand: the yardstick for the page's own queries.
CUSTOMER_360_SQL = [
    "SELECT * FROM customers_customer WHERE id = %s",
    "SELECT * FROM customers_contactpoint WHERE customer_id = %s",
    "SELECT * FROM customers_consent WHERE customer_id = %s",
    "SELECT * FROM customers_holding WHERE customer_id = %s ORDER BY started_on DESC LIMIT 25",
    "SELECT * FROM customers_order WHERE customer_id = %s ORDER BY placed_at DESC LIMIT 5",
    "SELECT * FROM customers_customerplace cp JOIN customers_place p ON p.id = cp.place_id "
    "WHERE cp.customer_id = %s LIMIT 25",
    "SELECT * FROM customers_interaction WHERE customer_id = %s "
    "ORDER BY occurred_at DESC, id DESC LIMIT 21",
]

# What the API's search answers, written by hand: the first page (51 rows, newest first) of
# live, not erased customers that the email or the order number names exactly.
SEARCH_BY_EMAIL_SQL = (
    "SELECT c.* FROM customers_customer c "
    "JOIN customers_contactpoint p ON p.customer_id = c.id "
    "WHERE p.kind = 'email' AND p.normalized = %s "
    "AND c.merged_into_id IS NULL AND c.erased_at IS NULL ORDER BY c.id DESC LIMIT 51"
)
SEARCH_BY_ORDER_SQL = (
    "SELECT c.* FROM customers_customer c JOIN customers_order o ON o.customer_id = c.id "
    "WHERE o.external_id = %s "
    "AND c.merged_into_id IS NULL AND c.erased_at IS NULL ORDER BY c.id DESC LIMIT 51"
)


# The case rows' yardsticks: the same data as the API call or page, written by hand.
_USERS = get_user_model()._meta.db_table
_CASE_WITH_NAMES = (
    "SELECT c.*, cu.display_name, t.slug, u.username FROM cases_case c "  # noqa: S608
    "JOIN customers_customer cu ON cu.id = c.customer_id "
    f"JOIN {Team._meta.db_table} t ON t.id = c.team_id "
    f"LEFT JOIN {_USERS} u ON u.id = c.assignee_id "
)
# The API lists a team's cases in one status newest first: 51 rows (a page and one more).
CASE_QUEUE_API_SQL = (
    f"{_CASE_WITH_NAMES}WHERE c.team_id = %s AND c.status = 'open' ORDER BY c.id DESC LIMIT 51"
)
# The queue page: the team's active cases, most urgent clock first (paused ones last).
_ACTIVE = ", ".join(f"'{status}'" for status in ACTIVE_STATUSES)
CASE_QUEUE_PAGE_SQL = (
    f"{_CASE_WITH_NAMES}WHERE c.team_id = %s AND c.status IN ({_ACTIVE}) "
    "ORDER BY c.next_due_at ASC NULLS LAST, c.id ASC LIMIT 26"
)
# The case page: the case with its policy, its history, the customer's latest 15 entries.
CASE_PAGE_SQL = [
    f"{_CASE_WITH_NAMES}LEFT JOIN cases_slapolicy p ON p.id = c.sla_policy_id WHERE c.id = %s",
    "SELECT * FROM cases_caseevent e LEFT JOIN customers_interaction i "
    "ON i.id = e.interaction_id WHERE e.case_id = %s ORDER BY e.occurred_at, e.id",
    "SELECT * FROM customers_interaction WHERE customer_id = "
    "(SELECT customer_id FROM cases_case WHERE id = %s) "
    "ORDER BY occurred_at DESC, id DESC LIMIT 16",
]


def _bare_sql(sql: str | list[str], params_list: list[list], repeat: int) -> list[float]:
    """Time the hand-written SQL (one statement, or several run back to back)."""
    statements = [sql] if isinstance(sql, str) else sql
    samples = []
    with connection.cursor() as cursor:
        for i in range(repeat):
            params = params_list[i % len(params_list)]
            start = time.perf_counter()
            for statement in statements:
                cursor.execute(statement, params)
                cursor.fetchall()
            samples.append(time.perf_counter() - start)
    return samples


class Benchmark:
    def __init__(self, *, repeat: int = 50, batches: int = 5, seed: int = 1, progress=None):
        self.repeat = repeat
        self.batches = batches
        self.rng = random.Random(seed)  # noqa: S311 - sampling, not security
        self.progress = progress or (lambda message: None)
        self.rows: list[Row] = []

    # --- setup -------------------------------------------------------------------------
    def _staff_client(self) -> Client:
        teams_ensure_defaults()
        user, created = get_user_model().objects.get_or_create(username="bench-service")
        if created:
            user.groups.add(Team.objects.get(slug="service").group)
        client = Client()
        client.force_login(user)
        return client

    def _partner_key(self) -> str:
        _client, key = api_client_create(
            name=f"bench-{uuid.uuid4().hex[:8]}",
            scopes=["customers:read", "interactions:write"],
            rate="1000000/min",
        )
        return key

    def _sample_customers(self, n: int) -> list[int]:
        hi = Customer.objects.order_by("-id").values_list("id", flat=True).first() or 0
        lo = Customer.objects.order_by("id").values_list("id", flat=True).first() or 0
        picks: list[int] = []
        while len(picks) < n and hi:
            start = self.rng.randint(lo, hi)
            found = (
                Customer.objects.filter(id__gte=start, merged_into__isnull=True)
                .order_by("id")
                .values_list("id", flat=True)
                .first()
            )
            if found:
                picks.append(found)
        return picks

    def _heavy_customer(self) -> Customer:
        customer = Customer.objects.filter(display_name=HEAVY_NAME).first()
        if customer is None:
            customer = customer_create(actor=None, display_name=HEAVY_NAME)
        have = Interaction.objects.filter(customer=customer).count()
        if have < HEAVY_INTERACTIONS:
            now = timezone.now()
            Interaction.objects.bulk_create(
                [
                    Interaction(
                        customer=customer,
                        channel=Customer.Channel.values[i % len(Customer.Channel.values)],
                        direction=Interaction.Direction.INBOUND,
                        occurred_at=now - timedelta(minutes=7 * i),
                        summary=f"Heavy timeline entry {i}",
                        external_id=f"bench-heavy-{customer.pk}-{i}",
                    )
                    for i in range(have, HEAVY_INTERACTIONS)
                ],
                batch_size=1000,
            )
        return customer

    # --- measurements ------------------------------------------------------------------
    def _measure(self, name: str, call: Callable[[int], object], args: list, note: str = ""):
        queries, samples, db_samples = [], [], []
        # One untimed pass first: the page's rows and the bare SQL's rows are then equally
        # warm in PostgreSQL's cache, so "DB ÷ SQL" compares queries, not cache luck.
        for arg in args[: self.repeat]:
            call(arg)
        for i in range(self.repeat):
            arg = args[i % len(args)]
            timer = _DatabaseTimer()
            with CaptureQueriesContext(connection) as ctx, connection.execute_wrapper(timer):
                start = time.perf_counter()
                call(arg)
                samples.append(time.perf_counter() - start)
            queries.append(len(ctx.captured_queries))
            db_samples.append(timer.seconds)
        row = Row(
            name=name,
            p50_ms=_ms(statistics.median(samples)),
            p95_ms=_ms(_p(samples, 0.95)),
            queries=max(queries),
            db_p50_ms=_ms(statistics.median(db_samples)),
            note=note,
            samples=samples,
        )
        self.rows.append(row)
        self.progress(f"{name}: p50 {row.p50_ms} ms, {row.queries} queries")
        return row

    def _with_sql(self, row: Row, sql: str | list[str], params_list: list[list]) -> None:
        sql_samples = _bare_sql(sql, params_list, self.repeat)
        row.sql_p50_ms = _ms(statistics.median(sql_samples))
        if row.sql_p50_ms and row.db_p50_ms is not None:
            row.ratio = round(row.db_p50_ms / row.sql_p50_ms, 1)

    def _ok(self, response, status: int = 200):
        if response.status_code != status:
            raise RuntimeError(
                f"{response.request['PATH_INFO']} answered {response.status_code}, "
                f"expected {status}: {response.content[:300]!r}"
            )
        return response

    def run(self, only: str | None = None) -> list[Row]:
        if only == "care":
            self._care_rows()
            return self.rows
        if only == "feedback":
            self._feedback_rows()
            return self.rows
        if only == "campaigns":
            self._campaign_rows()
            return self.rows
        customers = Customer.objects.count()
        interactions_estimate = table_estimate(Interaction._meta.db_table)
        self.progress(f"database: {customers} customers, ~{interactions_estimate} interactions")
        staff = self._staff_client()
        key = self._partner_key()
        partner = Client(HTTP_AUTHORIZATION=f"Api-Key {key}")
        sample = self._sample_customers(min(self.repeat, 50))
        if not sample:
            raise RuntimeError("No customers: run `manage.py seed --customers N` first.")
        heavy = self._heavy_customer()
        timeline_sql = (
            f"SELECT * FROM {Interaction._meta.db_table} WHERE customer_id = %s "  # noqa: S608
            "ORDER BY occurred_at DESC, id DESC LIMIT 21"
        )

        row = self._measure(
            "360 page (staff, HTML)",
            lambda pk: self._ok(staff.get(f"/customers/{pk}/")),
            sample,
        )
        self._with_sql(row, CUSTOMER_360_SQL, [[pk] for pk in sample])

        row = self._measure(
            "timeline API, page 1",
            lambda pk: self._ok(partner.get(f"/api/v1/customers/{pk}/timeline/")),
            sample,
        )
        self._with_sql(row, timeline_sql, [[pk] for pk in sample])

        deep = self._deep_cursor(partner, heavy.pk, pages=100)
        row = self._measure(
            "timeline API, page 100",
            lambda url: self._ok(partner.get(url)),
            [deep],
            note=f"customer with {HEAVY_INTERACTIONS} interactions",
        )
        entry = (
            Interaction.objects.filter(customer=heavy)
            .order_by("-occurred_at", "-id")
            .values_list("occurred_at", "id")[99 * 50]
        )
        self._with_sql(
            row,
            f"SELECT * FROM {Interaction._meta.db_table} WHERE customer_id = %s "  # noqa: S608
            "AND (occurred_at, id) <= (%s, %s) ORDER BY occurred_at DESC, id DESC LIMIT 51",
            [[heavy.pk, entry[0], entry[1]]],
        )

        emails = list(
            ContactPoint.objects.filter(kind="email", customer_id__in=sample).values_list(
                "value", flat=True
            )
        ) or ["nobody@example.com"]
        row = self._measure(
            "search by email (API)",
            lambda q: self._ok(partner.get("/api/v1/customers/", {"q": q})),
            emails,
        )
        self._with_sql(row, SEARCH_BY_EMAIL_SQL, [[e.lower()] for e in emails])

        orders = list(
            Order.objects.filter(customer_id__in=sample).values_list("external_id", flat=True)
        ) or ["NO-SUCH-ORDER"]
        row = self._measure(
            "search by order number (API)",
            lambda q: self._ok(partner.get("/api/v1/customers/", {"q": q})),
            orders,
        )
        self._with_sql(row, SEARCH_BY_ORDER_SQL, [[o] for o in orders])

        names = [
            n.split()[-1]
            for n in Customer.objects.filter(id__in=sample).values_list("display_name", flat=True)
        ]
        row = self._measure(
            "search by surname (API, first page)",
            lambda q: self._ok(partner.get("/api/v1/customers/", {"q": q})),
            names,
        )
        self._with_sql(
            row,
            "SELECT * FROM customers_customer WHERE UPPER(display_name) LIKE UPPER(%s) "
            "AND merged_into_id IS NULL ORDER BY id DESC LIMIT 51",
            [[f"%{n}%"] for n in names],
        )

        self._case_rows(staff)
        self._ingest_rows(partner, sample)
        self._channel_rows()
        self._care_rows()
        self._feedback_rows()
        self._campaign_rows()
        return self.rows

    def _feedback_rows(self) -> None:
        """The weekly scorecard (NPS by channel) over the last 12 and 52 weeks, through
        ``feedback.selectors.scorecard`` as the scorecard page and API call it, beside the
        same grouped query by hand; only when there are answers (``manage.py seed_feedback
        --responses N``)."""
        if not SurveyResponse.objects.exists():
            self.progress(
                "no survey answers: run `manage.py seed_feedback --responses N` for the "
                "feedback rows"
            )
            return
        teams_ensure_defaults()
        actor, created = get_user_model().objects.get_or_create(username="bench-service")
        if created:
            actor.groups.add(Team.objects.get(slug="service").group)
        note = f"~{table_estimate(SurveyResponse._meta.db_table):,} responses, NPS"
        now = timezone.now()
        today = timezone.localdate(now)
        monday = datetime.combine(
            today - timedelta(days=today.weekday()),
            datetime.min.time(),
            timezone.get_current_timezone(),
        )
        for weeks in (12, 52):
            since = monday - timedelta(weeks=weeks - 1)  # as the page: whole weeks
            row = self._measure(
                f"feedback scorecard, {weeks} weeks by channel",
                lambda period: scorecard(
                    actor=actor, since=period[0], until=period[1], dimension="channel"
                ),
                [(since, now)],
                note=note,
            )
            self._with_sql(row, _scorecard_sql(), [[since, now]])

    # --- campaigns -----------------------------------------------------------------------
    def _campaign_rows(self) -> None:
        """Segment count previews, a campaign's audience built with the contact gate (one
        ``INSERT … SELECT``) and a few send batches of 200. Everything the rows write is
        deleted after them: the campaign, its deliveries and timeline messages, the segments,
        their audit entries; the gate settings are put back as they were."""
        customers = table_estimate(Customer._meta.db_table)
        teams_ensure_defaults()
        marketing = Team.objects.get(slug="marketing")
        reviewer, created = get_user_model().objects.get_or_create(username="bench-service")
        if created:
            reviewer.groups.add(Team.objects.get(slug="service").group)
        run = uuid.uuid4().hex[:8]
        audit_mark = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
        source, source_created = ChannelSource.objects.get_or_create(
            slug="bench-email",
            defaults={
                "name": "Benchmark email",
                "kind": ChannelSource.Kind.EMAIL_IMAP,
                "channel": Customer.Channel.EMAIL,
                "is_active": True,
            },
        )
        gate, gate_created = GateSettings.objects.order_by("id").first(), False
        if gate is None:
            gate, gate_created = GateSettings(), True
        quiet = (gate.quiet_hours_start, gate.quiet_hours_end)
        # Quiet hours off for the run (equal start and end): at night they would suppress the
        # whole audience and leave nothing to send; the gate's SQL is the same either way.
        gate.quiet_hours_start = gate.quiet_hours_end = dtime(0, 0)
        gate.save()
        segments: list[Segment] = []
        campaign = None
        try:
            for label, rules in CAMPAIGN_SEGMENTS:
                segment = segment_save(
                    actor=None, name=f"bench-{run} {label}", rules=rules, team=marketing
                )
                segments.append(segment)
                self._segment_count_row(label, segment, customers)
            audience = segment_save(
                actor=None,
                name=f"bench-{run} audience",
                rules=CAMPAIGN_AUDIENCE,
                team=marketing,
            )
            segments.append(audience)
            campaign = campaign_create(
                actor=None,
                name=f"bench-{run} campaign",
                team=marketing,
                channel="email",
                segment=audience,
                variants=CAMPAIGN_VARIANTS,
            )
            campaign = campaign_submit(actor=None, campaign=campaign, version=campaign.version)
            campaign = campaign_review(
                actor=reviewer, campaign=campaign, version=campaign.version, decision="approved"
            )
            self._audience_build_row(campaign, customers)
            self._send_rows(campaign)
        finally:
            self._campaign_cleanup(campaign, segments, audit_mark)
            if source_created:
                source.delete()
            if gate_created:
                gate.delete()
            else:
                gate.quiet_hours_start, gate.quiet_hours_end = quiet
                gate.save()

    def _segment_count_row(self, label: str, segment: Segment, customers: int) -> None:
        samples, queries = [], 0
        for _ in range(CAMPAIGN_RUNS):
            with CaptureQueriesContext(connection) as ctx:
                start = time.perf_counter()
                count = segment_count(segment=segment)
                samples.append(time.perf_counter() - start)
            queries = max(queries, len(ctx.captured_queries))
        self._scan_row(
            f"segment count preview: {label}",
            samples,
            queries,
            f"{count:,} of ~{customers:,} customers, counted {CAMPAIGN_RUNS} times; target < 2 s",
        )

    def _audience_build_row(self, campaign: Campaign, customers: int) -> None:
        with CaptureQueriesContext(connection) as ctx:
            start = time.perf_counter()
            size = audience_build(campaign=campaign)
            elapsed = time.perf_counter() - start
        by_status = dict(
            Delivery.objects.filter(campaign=campaign)
            .values("status")
            .annotate(n=Count("id"))
            .values_list("status", "n")
        )
        reasons = (
            Delivery.objects.filter(campaign=campaign, status=Delivery.Status.SUPPRESSED)
            .values("reason")
            .annotate(n=Count("id"))
            .order_by("-n")
            .values_list("reason", "n")
        )
        why = ", ".join(f"{reason} {n:,}" for reason, n in reasons) or "none"
        row = Row(
            name="campaign audience build with the gate",
            p50_ms=_ms(elapsed),
            p95_ms=_ms(elapsed),
            queries=len(ctx.captured_queries),
            rate=round(size / elapsed) if elapsed and size else None,
            note=f"{size:,} of ~{customers:,} customers: "
            f"{by_status.get(Delivery.Status.QUEUED, 0):,} queued; suppressed: {why}; "
            "one INSERT … SELECT; target < 30 s",
            samples=[elapsed],
        )
        self.rows.append(row)
        self.progress(
            f"{row.name}: {elapsed:.2f} s, {size:,} deliveries ({row.rate} rows/s); {row.note}"
        )

    def _send_rows(self, campaign: Campaign) -> None:
        """``campaign_send_batch`` as a worker runs it: the gate asked again, each message
        written on the timeline (queued) and handed to the broker after the commit."""
        Campaign.objects.filter(pk=campaign.pk).update(
            status=Campaign.Status.SENDING, started_at=timezone.now()
        )
        samples, handled, queries = [], 0, 0
        for _ in range(self.batches):
            reset_queries()  # ~2,600 queries a batch: the query log (9,000) must not fill up
            with CaptureQueriesContext(connection) as ctx:
                start = time.perf_counter()
                n = campaign_send_batch(campaign_id=campaign.pk, limit=SEND_BATCH)
                elapsed = time.perf_counter() - start
            if not n:
                break
            samples.append(elapsed)
            handled += n
            queries = max(queries, len(ctx.captured_queries))
        # No worker picks up the rest: the broker may hold the next batch's task.
        Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.CANCELLED)
        if not samples:
            self.progress("no queued deliveries: skipping the send row")
            return
        outcome = dict(
            Delivery.objects.filter(campaign=campaign, interaction__isnull=False)
            .values("status")
            .annotate(n=Count("id"))
            .values_list("status", "n")
        )
        at_send = Delivery.objects.filter(campaign=campaign, reason_at_send=True).count()
        failed = Delivery.objects.filter(campaign=campaign, status=Delivery.Status.FAILED).count()
        row = Row(
            name=f"send enqueue rate (batches of {SEND_BATCH})",
            p50_ms=_ms(statistics.median(samples)),
            p95_ms=_ms(max(samples)),
            queries=queries,
            rate=round(handled / sum(samples)),
            note=f"deliveries/s: {len(samples)} batches, {handled:,} deliveries: "
            f"{outcome.get(Delivery.Status.SENT, 0):,} written on the timeline and handed to "
            f"the broker, {at_send:,} suppressed at send, {failed:,} failed",
            samples=samples,
        )
        self.rows.append(row)
        self.progress(f"{row.name}: {row.rate} deliveries/s, {row.queries} queries per batch")

    def _campaign_cleanup(self, campaign: Campaign | None, segments: list, audit_mark: int):
        """Delete the benchmark campaign's deliveries and timeline messages in batches, then
        the campaign, its segments and the audit entries the rows wrote."""
        targets = [("segment", s.pk) for s in segments]
        if campaign is not None:
            targets.append(("campaign", campaign.pk))
            deliveries = Delivery.objects.filter(campaign=campaign)
            messages = list(
                deliveries.filter(interaction__isnull=False).values_list("interaction", flat=True)
            )
            while ids := list(deliveries.values_list("id", flat=True)[:DELETE_BATCH]):
                Delivery.objects.filter(pk__in=ids).delete()
            for i in range(0, len(messages), DELETE_BATCH):
                Interaction.objects.filter(pk__in=messages[i : i + DELETE_BATCH]).delete()
            for i in range(0, len(messages), 1000):
                AuditEvent.objects.filter(
                    id__gt=audit_mark,
                    action="interaction.send",
                    after__interaction__in=messages[i : i + 1000],
                ).delete()
            campaign.delete()
        for kind, pk in targets:
            AuditEvent.objects.filter(
                id__gt=audit_mark, target_type=f"campaigns.{kind}", target_id=str(pk)
            ).delete()
        Segment.objects.filter(pk__in=[s.pk for s in segments]).delete()

    def _case_rows(self, staff: Client) -> None:
        """The team queue through the API and as a page, and a case page; only when there
        are cases (``manage.py seed_cases --cases N``)."""
        latest = Case.objects.order_by("-id").values_list("id", flat=True).first()
        if latest is None:
            self.progress("no cases: run `manage.py seed_cases --cases N` for the case rows")
            return
        _client, key = api_client_create(
            name=f"bench-cases-{uuid.uuid4().hex[:8]}", scopes=["cases:read"], rate="1000000/min"
        )
        partner = Client(HTTP_AUTHORIZATION=f"Api-Key {key}")
        service = Team.objects.get(slug="service")
        cases = table_estimate(Case._meta.db_table)
        note = f"~{cases:,} cases"

        row = self._measure(
            "cases queue API (team + status filter)",
            lambda url: self._ok(partner.get(url)),
            ["/api/v1/cases/?team=service&status=open"],
            note=note,
        )
        self._with_sql(row, CASE_QUEUE_API_SQL, [[service.pk]])

        row = self._measure(
            "cases queue page (staff, HTML)",
            lambda url: self._ok(staff.get(url)),
            ["/cases/?team=service"],
            note=note,
        )
        self._with_sql(row, CASE_QUEUE_PAGE_SQL, [[service.pk]])

        sample = self._sample_cases(min(self.repeat, 50), latest)
        row = self._measure(
            "case page (staff, HTML)",
            lambda pk: self._ok(staff.get(f"/cases/{pk}/")),
            sample,
            note=note,
        )
        self._with_sql(row, CASE_PAGE_SQL, [[pk] for pk in sample])

    # --- proactive care ----------------------------------------------------------------
    def _care_rows(self) -> None:
        """The care scans, full and incremental after 1,000 changes, and who a disruption
        touching ~5% of customers affects. Flags raised here stay (the next scan clears
        what is gone); the rows touched are put back, the disruption and its links deleted."""
        customers = table_estimate(Customer._meta.db_table)
        scale = (
            f"~{customers:,} customers, ~{table_estimate(Order._meta.db_table):,} orders, "
            f"~{table_estimate(Case._meta.db_table):,} cases"
        )
        self._care_scan_full(scale)
        self._care_scan_incremental(scale)
        self._disruption_affected(customers)

    def _scan_row(self, name: str, samples: list[float], queries: int, note: str) -> None:
        row = Row(
            name=name,
            p50_ms=_ms(statistics.median(samples)),
            p95_ms=_ms(max(samples)),
            queries=queries,
            note=note,
            samples=samples,
        )
        self.rows.append(row)
        self.progress(
            f"{name}: {row.p50_ms / 1000:.2f} s p50, {row.p95_ms / 1000:.2f} s max; {note}"
        )

    def _care_scan_full(self, scale: str) -> None:
        samples, results, queries = [], [], 0
        for _ in range(CARE_SCAN_RUNS):
            with CaptureQueriesContext(connection) as ctx:
                start = time.perf_counter()
                results.append(care_scan(full=True))
                samples.append(time.perf_counter() - start)
            queries = max(queries, len(ctx.captured_queries))
        first, last = results[0], results[-1]
        current = CareFlag.objects.current().count()
        self._scan_row(
            "care scan, full",
            samples,
            queries,
            f"{CARE_SCAN_RUNS} runs: the first raised {sum(first.raised.values()):,} and "
            f"cleared {sum(first.cleared.values()):,} flags in {samples[0]:.2f} s, the last "
            f"raised {sum(last.raised.values()):,}; {current:,} flags current; {scale}; "
            "target < 10 s",
        )

    def _care_changes(self, orders: int, cases: int) -> tuple[list[Order], list[Case]]:
        """Touch ``orders`` open express orders (their promised time moved to a minute ago,
        so they are late now) and ``cases`` active cases, as a busy minute would; returns
        their rows as they were, to put back."""
        now = timezone.now()
        top = Order.objects.order_by("-id").values_list("id", flat=True).first() or 0
        open_express = Order.objects.filter(
            shipping_method=Order.Shipping.EXPRESS, delivered_at__isnull=True
        ).exclude(status=Order.Status.CANCELLED)
        start = self.rng.randint(0, top)
        picked = list(
            open_express.filter(id__gte=start)
            .order_by("id")
            .only("id", "promised_by", "updated_at")[:orders]
        )
        if len(picked) < orders:
            picked += list(
                open_express.filter(id__lt=start)
                .order_by("id")
                .only("id", "promised_by", "updated_at")[: orders - len(picked)]
            )
        Order.objects.filter(pk__in=[o.pk for o in picked]).update(
            promised_by=now - timedelta(minutes=1), updated_at=now
        )
        latest = Case.objects.order_by("-id").values_list("id", flat=True).first() or 0
        active = Case.objects.filter(status__in=ACTIVE_STATUSES)
        start = self.rng.randint(0, latest)
        touched = list(active.filter(id__gte=start).order_by("id").only("id", "updated_at")[:cases])
        if len(touched) < cases:
            touched += list(
                active.filter(id__lt=start)
                .order_by("id")
                .only("id", "updated_at")[: cases - len(touched)]
            )
        Case.objects.filter(pk__in=[c.pk for c in touched]).update(updated_at=now)
        return picked, touched

    def _care_scan_incremental(self, scale: str) -> None:
        samples, raised, changed, queries = [], 0, 0, 0
        touched_orders: dict[int, Order] = {}
        touched_cases: dict[int, Case] = {}
        care_scan()  # the scan before: the timed ones read only what changed since
        for _ in range(CARE_SCAN_RUNS):
            orders, cases = self._care_changes(CARE_CHANGES // 2, CARE_CHANGES // 2)
            changed = len(orders) + len(cases)
            for order in orders:
                touched_orders.setdefault(order.pk, order)
            for case in cases:
                touched_cases.setdefault(case.pk, case)
            with CaptureQueriesContext(connection) as ctx:
                start = time.perf_counter()
                result = care_scan()
                samples.append(time.perf_counter() - start)
            queries = max(queries, len(ctx.captured_queries))
            raised += sum(result.raised.values())
        # Put the touched rows back as they were (the next scan clears their flags).
        Order.objects.bulk_update(
            touched_orders.values(), ["promised_by", "updated_at"], batch_size=500
        )
        Case.objects.bulk_update(touched_cases.values(), ["updated_at"], batch_size=500)
        self._scan_row(
            f"care scan, incremental after {CARE_CHANGES:,} changes",
            samples,
            queries,
            f"{CARE_SCAN_RUNS} runs, each after {changed:,} rows changed (orders made late, "
            f"cases touched): {raised:,} flags raised in all; {scale}; target < 1 s",
        )

    def _disruption_places(self, customers: int) -> list[Place]:
        """Places with nothing under them whose links reach ~5% of customers, biggest first."""
        wanted = max(1, round(customers * AFFECTED_SHARE))
        counts = (
            CustomerPlace.objects.filter(place__children__isnull=True)
            .values("place_id")
            .annotate(n=Count("id"))
            .order_by("-n", "place_id")
        )
        picked, reach = [], 0
        for row in counts:
            if reach >= wanted:
                break
            if reach + row["n"] > wanted * 1.1 and picked:
                continue  # too big a step: a smaller place fits better
            picked.append(row["place_id"])
            reach += row["n"]
        return list(Place.objects.filter(pk__in=picked))

    def _disruption_affected(self, customers: int) -> None:
        places = self._disruption_places(customers)
        if not places:
            self.progress("no customer places: skipping the disruption row")
            return
        disruption = disruption_declare(
            actor=None,
            notify=False,
            title=f"bench-{uuid.uuid4().hex[:8]}: disruption on {len(places)} places",
            kind="planned",
            severity="minor",
            starts_at=timezone.now() + timedelta(days=365),
            places=places,
            public_message="Benchmark disruption (deleted when the benchmark ends).",
        )
        try:
            samples, queries = [], 0
            for _ in range(CARE_SCAN_RUNS):
                with CaptureQueriesContext(connection) as ctx:
                    start = time.perf_counter()
                    affected = disruption_affected_compute(disruption=disruption)
                    samples.append(time.perf_counter() - start)
                queries = max(queries, len(ctx.captured_queries))
            self._scan_row(
                "disruption affected customers (5% of customers)",
                samples,
                queries,
                f"{affected:,} customers affected ({affected / max(customers, 1):.1%}) "
                f"through {len(places)} places, recomputed {CARE_SCAN_RUNS} times; "
                "target < 2 s",
            )
        finally:
            links = DisruptionCustomer.objects.filter(disruption=disruption)
            while ids := list(links.values_list("id", flat=True)[:DELETE_BATCH]):
                DisruptionCustomer.objects.filter(pk__in=ids).delete()
            disruption.delete()
            if connection.vendor == "postgresql" and connection.get_autocommit():
                # The recomputes leave ~150k dead rows: on a database without autovacuum
                # (a benchmark database may be one) the next run would pay for them.
                with connection.cursor() as cursor:
                    cursor.execute(f"VACUUM {DisruptionCustomer._meta.db_table}")

    def _sample_cases(self, n: int, latest: int) -> list[int]:
        first = Case.objects.order_by("id").values_list("id", flat=True).first()
        picks: list[int] = []
        while len(picks) < n:
            start = self.rng.randint(first, latest)
            picks.append(
                Case.objects.filter(id__gte=start).order_by("id").values_list("id", flat=True)[0]
            )
        return picks

    def _channel_rows(self) -> None:
        """Signed SMS webhooks accepted (stored in the inbox, handed to the broker), then
        the same events processed one task at a time, as a worker does, and set-based."""
        secret = "bench-sms-secret"  # noqa: S105 - a benchmark channel's signing secret
        source, _ = ChannelSource.objects.get_or_create(
            slug="bench-sms",
            defaults={
                "name": "Benchmark SMS",
                "kind": ChannelSource.Kind.SMS,
                "channel": Customer.Channel.SMS,
                "secret": secret,
                "is_active": True,
            },
        )
        run = uuid.uuid4().hex[:10]
        client = Client()
        n = max(self.repeat * 4, 100)

        def message(i: int) -> dict:
            return {
                "id": f"bench-{run}-{i}",
                "from": f"+4477009{i % 100000:05d}",
                "to": "+447700900999",
                "text": f"Where is my order? ({i})",
                "sent_at": timezone.now().isoformat(),
            }

        samples = []
        for i in range(n):
            body = json.dumps(message(i)).encode()
            start = time.perf_counter()
            self._ok(
                client.post(
                    f"/webhooks/{source.slug}/",
                    data=body,
                    content_type="application/json",
                    **_sms_signed(body, secret),
                ),
                status=202,
            )
            samples.append(time.perf_counter() - start)
        self._throughput(
            "webhook accept (signed SMS, one per request)",
            samples,
            n,
            "requests/s, stored in the inbox and handed to the broker",
        )

        ids = list(
            InboundEvent.objects.filter(
                source=source, provider_event_id__startswith=f"bench-{run}-"
            ).values_list("id", flat=True)
        )
        start = time.perf_counter()
        for event_id in ids:
            inbound_event_process(event_id=event_id)
        elapsed = time.perf_counter() - start
        self._throughput(
            "inbox processing, one task per event",
            [elapsed],
            len(ids),
            "events/s for one worker process (broker excluded)",
        )

        batch = [RawEvent(f"bench-{run}-b{i}", message(n + i)) for i in range(1000)]
        start = time.perf_counter()
        counts = inbound_events_ingest(source=source, events=batch)
        elapsed = time.perf_counter() - start
        self._throughput(
            "inbox processing, set-based page of 1,000",
            [elapsed],
            counts.get("processed", 0),
            "events/s (polled channels and replays use this path)",
        )

    def _throughput(self, label: str, samples: list[float], rows: int, note: str) -> None:
        row = Row(
            name=label,
            p50_ms=_ms(statistics.median(samples)),
            p95_ms=_ms(_p(samples, 0.95)),
            rate=round(rows / sum(samples)) if sum(samples) else None,
            note=note,
        )
        self.rows.append(row)
        self.progress(f"{label}: {row.rate} per second")

    def _deep_cursor(self, partner: Client, customer_id: int, pages: int) -> str:
        url = f"/api/v1/customers/{customer_id}/timeline/?page_size=50"
        for _ in range(pages - 1):
            body = self._ok(partner.get(url)).json()
            if not body.get("next"):
                raise RuntimeError("the heavy customer's timeline ended before page 100")
            url = body["next"].split("testserver", 1)[-1]
        return url

    def _ingest_rows(self, partner: Client, sample: list[int]) -> None:
        run = uuid.uuid4().hex[:10]
        now = timezone.now().isoformat()
        batches = [
            {
                "items": [
                    {
                        "customer_id": sample[(b * 1000 + i) % len(sample)],
                        "channel": "app",
                        "direction": "inbound",
                        "occurred_at": now,
                        "summary": "Benchmark app event",
                        "body": "Tapped 'track my order' twice.",
                        "external_id": f"bench-{run}-{b}-{i}",
                    }
                    for i in range(1000)
                ]
            }
            for b in range(self.batches)
        ]
        for label in ("bulk ingest, new (1,000/batch)", "bulk ingest, replayed"):
            samples, queries = [], []
            for batch in batches:
                with CaptureQueriesContext(connection) as ctx:
                    start = time.perf_counter()
                    self._ok(
                        partner.post(
                            "/api/v1/interactions/bulk/", batch, content_type="application/json"
                        )
                    )
                    samples.append(time.perf_counter() - start)
                queries.append(len(ctx.captured_queries))
            row = Row(
                name=label,
                p50_ms=_ms(statistics.median(samples)),
                p95_ms=_ms(max(samples)),
                queries=max(queries),
                rate=round(1000 * len(batches) / sum(samples)),
                note="interactions/s, one process, through the HTTP API",
            )
            self.rows.append(row)
            self.progress(f"{label}: {row.rate} rows/s, {row.queries} queries per batch")


def _scorecard_sql() -> str:
    """The NPS scorecard by week and channel, written by hand (the weeks in local time on
    PostgreSQL; SQLite, for the small test run, groups by UTC week)."""
    if connection.vendor == "postgresql":
        zone = str(timezone.get_current_timezone()).replace("'", "")
        week = f"date_trunc('week', answered_at AT TIME ZONE '{zone}')"
    else:
        week = "date(answered_at, 'weekday 0', '-6 days')"
    return (
        f"SELECT {week} AS week, channel, COUNT(*), "  # noqa: S608 - no user input
        "COUNT(*) FILTER (WHERE category = 'promoter'), "
        "COUNT(*) FILTER (WHERE category = 'detractor'), "
        "COUNT(*) FILTER (WHERE category = 'satisfied'), SUM(score) "
        "FROM feedback_response WHERE answered_at >= %s AND answered_at < %s AND kind = 'nps' "
        "GROUP BY 1, 2 ORDER BY 1, 2"
    )


class _DatabaseTimer:
    """``connection.execute_wrapper`` that adds up the time spent executing SQL."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self, execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - start


def _sms_signed(body: bytes, secret: str) -> dict:
    stamp = str(int(time.time()))
    digest = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"HTTP_X_SIGNATURE": f"sha256={digest}", "HTTP_X_TIMESTAMP": stamp}


def table_estimate(table: str) -> int:
    """Rows in ``table``: PostgreSQL's estimate when it has one (no COUNT over millions)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = %s", [table])
            found = cursor.fetchone()
            if found and found[0] > 0:
                return int(found[0])
        cursor.execute(f"SELECT COUNT(*) FROM {table}")  # noqa: S608 - table name from _meta
        return int(cursor.fetchone()[0])


def format_table(rows: list[Row]) -> str:
    header = (
        "measure",
        "p50 ms",
        "p95 ms",
        "queries",
        "DB ms",
        "bare SQL ms",
        "DB ÷ SQL",
        "rows/s",
    )
    lines = [header]
    for r in rows:
        lines.append(
            (
                r.name,
                _fmt(r.p50_ms),
                _fmt(r.p95_ms),
                _fmt(r.queries),
                _fmt(r.db_p50_ms),
                _fmt(r.sql_p50_ms),
                _fmt(r.ratio),
                _fmt(r.rate),
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = []
    for n, line in enumerate(lines):
        out.append(
            "| "
            + " | ".join(
                c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(line)
            )
            + " |"
        )
        if n == 0:
            out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(out)


def _fmt(value) -> str:
    return "—" if value is None else f"{value}"
