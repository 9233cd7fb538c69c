"""Chaos: Redis and PostgreSQL go away under live traffic and come back; the portal recovers by
itself (nobody restarts the web process or the worker) and nothing accepted is lost or
duplicated.

Both tests start their own ``redis-server`` / PostgreSQL cluster on spare ports and never
touch the machine's own services.
"""

import contextlib
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path
from unittest import mock

import pytest
from django.db import connection
from django.db.models import Count
from django.test import Client
from django.utils import timezone

from customers.models import InboundEvent, Interaction
from customers.services import inbox_sweep
from tests.customers.channel_support import post_json, sms_headers, sms_message, sms_source
from tests.cxportal.factories import make_api_key
from tests.support.services import (
    REPO,
    celery_worker,
    free_port,
    missing_service,
    process_stop,
    redis_reachable,
    redis_server_start,
    wait_for,
)

pytestmark = pytest.mark.real_services

WEBHOOK_PAUSE = 0.02  # seconds between two webhook posts of the sender
API_EVERY = 5  # every 5th round also posts one interaction through the partner API
INTERACTIONS_BULK = "/api/v1/interactions/bulk/"


def api_item(n: int) -> dict:
    return {
        "channel": "app",
        "direction": "inbound",
        "occurred_at": "2026-05-01T09:30:00+00:00",
        "summary": f"App message {n}",
        "body": "Where is my parcel?",
        "external_id": f"app-{n}",
        "contact": {"kind": "phone", "value": f"+4477009{n % 300:05d}"},
    }


def broker_idle(url: str) -> bool:
    """Nothing waits in the ingest queue and no delivery (nor a retry waiting for its
    countdown) is held by a worker."""
    import redis

    client = redis.Redis.from_url(url)
    return client.llen("ingest") == 0 and client.hlen("unacked") == 0


class Traffic(threading.Thread):
    """Posts signed SMS webhooks (and partner API interactions) until stopped, through
    Django's test client in its own thread (its own database connection). Every answer is
    kept: (kind, n, status, seconds, body or exception)."""

    def __init__(self, *, slug: str, api_key: str) -> None:
        super().__init__(daemon=True)
        self.slug, self.api_key = slug, api_key
        self.answers: list[tuple[str, int, int, float, str]] = []
        self.sent = 0
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            n = 0
            while not self.stop.is_set():
                self._post("webhook", n)
                if n % API_EVERY == 0:
                    self._post("api", n)
                n += 1
                self.sent = n
                time.sleep(WEBHOOK_PAUSE)
        finally:
            connection.close()

    def _post(self, kind: str, n: int) -> None:
        client = Client(raise_request_exception=False)
        started = time.monotonic()
        try:
            if kind == "webhook":
                message = sms_message(n, **{"from": f"+447700901{n % 300:03d}"})
                response = post_json(client, f"/webhooks/{self.slug}/", message)
            else:
                response = client.post(
                    INTERACTIONS_BULK,
                    json.dumps({"items": [api_item(n)]}),
                    content_type="application/json",
                    HTTP_AUTHORIZATION=f"Api-Key {self.api_key}",
                )
            status, body = response.status_code, response.content.decode()[:500]
        except Exception as exc:  # a raised exception is what a 500 would have been
            status, body = 599, f"{type(exc).__name__}: {exc}"
        self.answers.append((kind, n, status, time.monotonic() - started, body))

    def halt(self) -> None:
        self.stop.set()
        self.join(30)
        assert not self.is_alive()


class RestartableRedis:
    """A redis-server of the test's own on a free port. ``kill()`` SIGKILLs it (it keeps
    nothing on disk, so it comes back empty); ``start()`` starts it again on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = None

    def start(self) -> None:
        self.proc = redis_server_start(self.port)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)
        assert not redis_reachable(self.url)


@pytest.fixture
def restartable_redis():
    if shutil.which("redis-server") is None:
        missing_service("redis-server is not installed")
    server = RestartableRedis()
    server.start()
    try:
        yield server
    finally:
        process_stop(server.proc)


def test_cache_treats_an_unreachable_redis_as_a_miss_but_a_delete_fails_loudly():
    """Reads and writes of the portal's cache go on without Redis (the partner API keeps
    answering); a delete, which makes a revoked key or a changed banner take effect, raises."""
    import redis

    from cxportal.cache import RedisCache

    cache = RedisCache(f"redis://127.0.0.1:{free_port()}/0", {})
    started = time.monotonic()
    assert cache.get("key", "default") == "default"
    assert cache.get_many(["a", "b"]) == {}
    assert cache.has_key("key") is False
    cache.set("key", 1)
    assert cache.add("key", 1) is False
    assert cache.set_many({"a": 1}) == ["a"]
    assert cache.touch("key") is False
    assert time.monotonic() - started < 5
    with pytest.raises(redis.ConnectionError):
        cache.delete("key")


@pytest.mark.django_db(transaction=True)
def test_redis_restart_under_webhook_traffic_loses_and_duplicates_nothing(
    restartable_redis, broker_at, settings, tmp_path
):
    redis = restartable_redis
    broker_at(redis.url)  # this process (the web side) publishes there ...
    # ... and keeps its cache there (partner keys, throttles), as settings do with REDIS_URL.
    settings.CACHES = {"default": {"BACKEND": "cxportal.cache.RedisCache", "LOCATION": redis.url}}
    source = sms_source()
    api_key = make_api_key(["interactions:write"])
    worker_log = tmp_path / "worker.log"

    with celery_worker(
        broker_url=redis.url,
        queues="ingest",
        concurrency=2,
        log_path=worker_log,
        extra_env={"REDIS_URL": redis.url},
    ) as worker:
        traffic = Traffic(slug=source.slug, api_key=api_key)
        traffic.start()
        try:
            wait_for(
                lambda: InboundEvent.objects.filter(status="processed").count() >= 20,
                timeout=60,
                what="the worker to process the first events",
            )
            redis.kill()
            sent_at_kill = traffic.sent
            time.sleep(2)  # webhooks keep arriving while the broker and cache are gone
            redis.start()  # same port, empty
            sent_at_return = traffic.sent
            assert sent_at_return > sent_at_kill + 10, "no traffic during the outage"
            # The worker reconnects by itself: events published after Redis came back are
            # processed without anyone touching the worker or sweeping the inbox.
            wait_for(
                lambda: InboundEvent.objects.filter(
                    status="processed",
                    provider_event_id__gt=f"SM{sent_at_return + 20:06d}",
                    enqueued_at__isnull=False,
                ).exists(),
                timeout=60,
                what="the worker to reconnect and process new events",
            )
        finally:
            traffic.halt()

        assert worker.poll() is None, "the worker died"
        failures = [a for a in traffic.answers if a[2] >= 500]
        assert not failures, failures[:5]
        during = {a[0] for a in traffic.answers if sent_at_kill < a[1] < sent_at_return - 1}
        assert during == {"webhook", "api"}, "no webhook or API call while Redis was down"
        assert max(a[3] for a in traffic.answers) < 5, "a request hung on the dead Redis"
        webhooks = [a for a in traffic.answers if a[0] == "webhook"]
        api = [a for a in traffic.answers if a[0] == "api"]
        assert {(a[2], a[4]) for a in webhooks} == {(202, '{"accepted": 1, "duplicates": 0}')}
        assert {(a[2], json.loads(a[4])["counts"]["created"]) for a in api} == {(200, 1)}
        assert len(webhooks) == InboundEvent.objects.count()

        # The worker has done everything the broker holds; what is still pending is the
        # sweeper's: events accepted while Redis was down (never handed to the broker) and
        # events whose broker message died with Redis. Beat runs ``scans.inbox_sweep`` every
        # 30 s; it re-sends the first kind once they are 30 s old and the second once they
        # were handed over 2 minutes ago while the broker holds nothing for the ingest queue
        # (``queue_idle``: lost with Redis, not waiting in it). The test runs that same sweep
        # with its clock moved 40 s, then 3 minutes on, instead of waiting them out.
        wait_for(lambda: broker_idle(redis.url), timeout=60, interval=0.5, what="the queue done")
        pending = InboundEvent.objects.filter(status="pending")
        never_sent = pending.filter(enqueued_at=None).count()
        lost_with_redis = pending.exclude(enqueued_at=None).count()
        assert never_sent > 0, "no event was accepted while Redis was down"
        soon = timezone.now() + timedelta(seconds=40)
        with mock.patch("django.utils.timezone.now", return_value=soon):
            assert inbox_sweep() == never_sent  # the lost ones are not presumed lost yet
        wait_for(lambda: broker_idle(redis.url), timeout=60, interval=0.5, what="those done")
        later = timezone.now() + timedelta(minutes=3)
        with mock.patch("django.utils.timezone.now", return_value=later):
            swept = inbox_sweep()
        assert swept == lost_with_redis
        wait_for(
            lambda: not InboundEvent.objects.filter(status="pending").exists(),
            timeout=60,
            what="every accepted event to be processed",
        )
        assert worker.poll() is None, "the worker died"

    assert not InboundEvent.objects.exclude(status="processed").exists()
    interactions = Interaction.objects.filter(channel="sms")
    assert interactions.count() == len(webhooks)  # exactly once: none lost, none twice
    assert InboundEvent.objects.values("interaction").distinct().count() == len(webhooks), (
        "two events share one interaction"
    )
    assert Interaction.objects.filter(channel="app").count() == len(api)
    assert (
        not Interaction.objects.values("channel", "external_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    print(
        f"{len(webhooks)} webhooks, {len(api)} API items; {never_sent} accepted while Redis was"
        f" down, {lost_with_redis} lost with its queue; {swept} swept"
    )


# PostgreSQL restart ------------------------------------------------------------------------


class PostgresCluster:
    """A PostgreSQL cluster of the test's own (initdb into a temporary directory, trust auth,
    its socket in that directory, TCP on a spare port). As root, its commands run as the
    ``postgres`` user: initdb refuses to run as root."""

    def __init__(self, bindir: str) -> None:
        self.bindir = bindir
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="cx-chaos-pg-"))
        self.data = self.root / "data"
        self.as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_owner:
            shutil.chown(self.root, "postgres", "postgres")

    def run(self, *args: str, timeout: float = 60) -> None:
        done = subprocess.run(
            [*self.as_owner, f"{self.bindir}/{args[0]}", *args[1:]],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert done.returncode == 0, f"{args[0]} failed: {done.stderr}\n{self.log()}"

    def url(self, name: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def init(self) -> None:
        self.run(
            "initdb",
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self.run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.root / "server.log"),
            "-w",
            "-t",
            "30",
            "-o",
            options,
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self.run("pg_ctl", "-D", str(self.data), "-w", "-t", "30", "-m", mode, "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def log(self) -> str:
        path = self.root / "server.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""


@pytest.fixture
def own_postgres():
    bindirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if not bindirs:
        missing_service("PostgreSQL server binaries (/usr/lib/postgresql/*/bin) are missing")
    cluster = PostgresCluster(bindirs[-1])
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        if cluster.running():
            with contextlib.suppress(Exception):
                cluster.stop("immediate")
        shutil.rmtree(cluster.root, ignore_errors=True)


def http(method: str, url: str, body: bytes | None = None, headers: dict | None = None):
    """(status, body text, Retry-After header); status 0 when nothing answered."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            return response.status, response.read().decode(), response.headers["Retry-After"]
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), error.headers["Retry-After"]
    except OSError as exc:
        return 0, f"{type(exc).__name__}: {exc}", None


SETUP = """
from customers.models import Channel, ChannelSource
from cxportal.services import api_client_create

ChannelSource.objects.create(
    name="SMS", slug="sms", kind="sms", channel=Channel.SMS, secret="{secret}", settings={{}}
)
print(api_client_create(name="partner", scopes=["interactions:write"])[1])
"""

# A backlog stored the way a polled channel stores a page (and enqueued on its commit), so the
# worker is busy when the database goes away.
BACKLOG = """
from customers.channels.base import RawEvent
from customers.models import ChannelSource
from customers.services import inbound_events_store
from tests.customers.channel_support import sms_message

messages = [
    sms_message(n, **{{"from": f"+447700903{{n % 100:03d}}"}})
    for n in range({first}, {first} + {count})
]
inbound_events_store(
    source=ChannelSource.objects.get(slug="sms"),
    events=[RawEvent(m["id"], m) for m in messages],
)
"""

# Beat's ``scans.inbox_sweep`` as it will run once the requeue horizon (visibility timeout +
# 5 minutes) has passed: the test moves the sweep's clock instead of waiting.
SWEEP_LATER = """
from datetime import timedelta
from unittest import mock

from django.utils import timezone

from customers.services import inbox_sweep

with mock.patch("django.utils.timezone.now", return_value=timezone.now() + timedelta(hours=2)):
    print(inbox_sweep())
"""


class PortalTraffic(threading.Thread):
    """A provider and a partner over HTTP: each message is posted until it is accepted; a 5xx
    or no answer is retried later, as providers do. Every answer is kept."""

    def __init__(self, base: str, api_key: str) -> None:
        super().__init__(daemon=True)
        self.base, self.api_key = base, api_key
        # kind, n, when, status, body, Retry-After
        self.answers: list[tuple[str, int, float, int, str, str | None]] = []
        self.unaccepted: list[tuple[str, int]] = []
        self.next = 0
        self.stop = threading.Event()

    def post(self, kind: str, n: int) -> bool:
        if kind == "webhook":
            body = json.dumps(sms_message(n, **{"from": f"+447700902{n % 200:03d}"})).encode()
            headers = {"Content-Type": "application/json"}
            for name, value in sms_headers(body).items():
                headers[name.removeprefix("HTTP_").replace("_", "-")] = value
            status, text, retry_after = http("POST", f"{self.base}/webhooks/sms/", body, headers)
            ok = status == 202
        else:
            body = json.dumps({"items": [api_item(n)]}).encode()
            headers = {
                "Content-Type": "application/json",
                "Authorization": f"Api-Key {self.api_key}",
            }
            status, text, retry_after = http(
                "POST", f"{self.base}{INTERACTIONS_BULK}", body, headers
            )
            ok = status == 200
        self.answers.append((kind, n, time.monotonic(), status, text[:300], retry_after))
        if not ok:
            self.unaccepted.append((kind, n))
        return ok

    def post_next(self) -> None:
        n = self.next
        self.post("webhook", n)
        if n % API_EVERY == 0:
            self.post("api", n)
        self.next = n + 1

    def run(self) -> None:
        while not self.stop.is_set():
            self.post_next()
            time.sleep(0.05)

    def halt(self) -> None:
        self.stop.set()
        self.join(30)
        assert not self.is_alive()

    def retry_unaccepted(self) -> None:
        """What a provider does once the portal answers again."""
        pending, self.unaccepted = self.unaccepted, []
        for kind, n in pending:
            assert self.post(kind, n), self.answers[-1]


BACKLOG_FIRST, BACKLOG_EVENTS = 100_000, 200
UNAVAILABLE = {
    "message": "The service is briefly unavailable; try again shortly.",
    "code": "service_unavailable",
    "errors": {},
}


def test_postgres_restart_web_and_worker_recover_without_restarts(
    own_postgres, restartable_redis, tmp_path
):
    """Web and worker on a PostgreSQL of the test's own, restarted twice: once between two
    requests (the web threads' persistent connections go stale) and once for 3 s under traffic
    with the worker busy on a backlog. During the outage the API and webhooks answer 503
    ``service_unavailable`` (and /healthz says why); afterwards both recover without being
    restarted, and every message accepted is on the timeline exactly once."""
    import psycopg

    pg, broker = own_postgres, restartable_redis.url
    with psycopg.connect(pg.url(), autocommit=True) as conn:
        conn.execute("CREATE DATABASE cx_chaos")
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}},
        "DATABASE_URL": pg.url("cx_chaos"),
        "REDIS_URL": broker,  # broker and cache (Redis stays up in this test)
        "CELERY_BROKER_URL": broker,
        "CXPORTAL_VAR_DIR": str(tmp_path / "var"),
        "DJANGO_SETTINGS_MODULE": "cxportal.settings",
        "PYTHONUNBUFFERED": "1",
    }

    def portal_python(code: str) -> str:
        """Run ``code`` in a portal process on the cluster; its last line of output."""
        out = subprocess.run(
            [sys.executable, "-c", "import django; django.setup()\n" + code],
            cwd=REPO,
            env=env,
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        )
        return out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""

    def db_counts() -> dict:
        with psycopg.connect(pg.url("cx_chaos"), autocommit=True) as conn:
            events = dict(
                conn.execute(
                    "SELECT status, count(*) FROM customers_inboundevent GROUP BY status"
                ).fetchall()
            )
            (linked,) = conn.execute(
                "SELECT count(DISTINCT interaction_id) FROM customers_inboundevent"
            ).fetchone()
            by_channel = dict(
                conn.execute(
                    "SELECT channel, count(*) FROM customers_interaction GROUP BY channel"
                ).fetchall()
            )
        return {"events": events, "linked": linked, "interactions": by_channel}

    def backlog_processed() -> int:
        with psycopg.connect(pg.url("cx_chaos"), autocommit=True) as conn:
            return conn.execute(
                "SELECT count(*) FROM customers_inboundevent"
                " WHERE status = 'processed' AND provider_event_id >= %s",
                [f"SM{BACKLOG_FIRST:06d}"],
            ).fetchone()[0]

    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=REPO, env=env, check=True, timeout=120
    )
    api_key = portal_python(SETUP.format(secret="sms-signing-secret"))

    # The web process as in production: DEBUG off (an error page never shows a stack trace).
    web_env = {
        **env,
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "chaos-test-secret-key-" + "x" * 40,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "0",
    }
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    web_log = open(tmp_path / "web.log", "w")  # noqa: SIM115
    # The production web server (gunicorn.conf.py: threaded workers, each thread keeping its
    # persistent database connection across requests), smaller.
    web = subprocess.Popen(
        [
            *(sys.executable, "-m", "gunicorn", "cxportal.wsgi", "-c", "gunicorn.conf.py"),
            *("-b", f"127.0.0.1:{port}", "-w", "1", "--threads", "4"),
        ],
        cwd=REPO,
        env=web_env,
        stdout=web_log,
        stderr=subprocess.STDOUT,
    )
    worker_log = tmp_path / "worker.log"
    try:
        wait_for(lambda: http("GET", f"{base}/healthz")[0] == 200, timeout=60, what="the web")
        with celery_worker(
            broker_url=broker,
            queues="ingest",
            concurrency=2,
            log_path=worker_log,
            extra_env={k: env[k] for k in ("DATABASE_URL", "REDIS_URL", "CXPORTAL_VAR_DIR")},
        ) as worker:
            traffic = PortalTraffic(base, api_key)
            # 1. A quick restart between two requests: the web's persistent connections are
            # stale, and no request after it may be the one that finds out.
            for _ in range(8):
                traffic.post_next()
            pg.stop()
            pg.start()
            for _ in range(8):
                traffic.post_next()
            assert not traffic.unaccepted, [a for a in traffic.answers if a[3] not in (200, 202)]

            # 2. A 3 s outage under traffic, while the worker is busy on a backlog.
            traffic.start()
            try:
                portal_python(BACKLOG.format(first=BACKLOG_FIRST, count=BACKLOG_EVENTS))
                wait_for(
                    lambda: backlog_processed() >= 20,
                    timeout=60,
                    interval=0.1,
                    what="the worker to be busy on the backlog",
                )
                pg.stop()
                down = time.monotonic()
                time.sleep(3)
                unhealthy = http("GET", f"{base}/healthz")
                pg.start()
                up = time.monotonic()
                wait_for(
                    lambda: any(a[2] > up and a[3] == 202 for a in traffic.answers),
                    timeout=30,
                    what="webhooks accepted again",
                )
                time.sleep(1)
            finally:
                traffic.halt()
            traffic.retry_unaccepted()

            # The worker carries on by itself: its tasks that met the outage retried.
            wait_for(lambda: broker_idle(broker), timeout=90, interval=1, what="the queue done")
            retried = len(re.findall(r"retry: Retry in", worker_log.read_text()))
            assert retried, "no task of the worker met the outage"
            # Beat's sweep later re-sends any event whose retries ran out during the outage.
            left_for_sweep = db_counts()["events"].get("pending", 0)
            swept = int(portal_python(SWEEP_LATER))
            assert swept == left_for_sweep
            wait_for(lambda: broker_idle(broker), timeout=30, interval=1, what="the sweep done")
            assert worker.poll() is None, "the worker died"
        assert web.poll() is None, "the web process died"

        refused = [a for a in traffic.answers if a[3] not in (200, 202)]
        assert any(down < a[2] < up for a in refused), "no request was refused in the outage"
        for kind, n, _t, status, text, retry_after in refused:
            assert (status, json.loads(text), retry_after) == (503, UNAVAILABLE, "5"), (kind, n)
        assert unhealthy[0] == 503 and "OperationalError" in unhealthy[1], unhealthy
        assert http("GET", f"{base}/healthz")[0] == 200

        webhooks = {n for kind, n, *_ in traffic.answers if kind == "webhook"}
        api = {n for kind, n, *_ in traffic.answers if kind == "api"}
        accepted = [a for a in traffic.answers if a[3] in (200, 202)]
        assert len(accepted) == len(webhooks) + len(api)  # each accepted once
        events = len(webhooks) + BACKLOG_EVENTS
        assert db_counts() == {
            "events": {"processed": events},
            "linked": events,
            "interactions": {"sms": events, "app": len(api)},
        }
        print(
            f"{len(webhooks)} webhooks + {BACKLOG_EVENTS} backlog, {len(api)} API items;"
            f" {len(refused)} refused with 503; {retried} task retries; {swept} swept"
        )
    finally:
        web.terminate()
        try:
            web.wait(30)
        except subprocess.TimeoutExpired:
            web.kill()
            web.wait()
        web_log.close()
