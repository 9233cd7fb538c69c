"""The load test behind `manage.py loadtest`: staff users and a partner's ingest stream against
a real gunicorn, over HTTP, at the same time.

Project wiring (top layer). Each staff "user" is a thread with its own session cookie (logged
in through the real login form) that does one of its team's tasks after another — find a
customer by email or order number and open the 360 page and its timeline, work the case queue
or the care queue, read the scorecard or the campaigns — with a think time between requests.
A partner streams single interactions to ``POST /api/v1/interactions/bulk/`` at a steady rate
(open loop: a slow answer never slows the stream down) plus a bulk batch now and then.

Latency is measured by the client: from sending the request to reading the whole body, so it
includes gunicorn's queueing. Ids come from the database at the start (random customers, the
cases, emails and order numbers of some of them), and links found in the pages (a case in the
queue, the customer of a care flag) are followed as a person would. On Linux the report also
gives the CPU time gunicorn's workers and PostgreSQL's backends spent during the run: on a
shared machine that says whether the portal or its neighbours used the cores.
"""

import contextlib
import json
import os
import random
import re
import runpy
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.db import connection

from cases.models import Case
from customers.models import Channel, ContactPoint, Customer, Order
from cxportal.benchmark import table_estimate
from cxportal.models import APIClient, Team
from cxportal.services import api_client_create, teams_ensure_defaults

REPO = Path(settings.BASE_DIR)
USER_PREFIX = "loadtest-"
#: How the staff users are spread over the teams.
TEAM_SHARES = {
    "service": 0.40,
    "sales": 0.16,
    "operations": 0.16,
    "marketing": 0.16,
    "supervisor": 0.12,
}
SAMPLE = 200  # customers (and cases) picked at the start
REQUEST_TIMEOUT = 30  # seconds; a request still waiting then counts as an error
PROGRESS_EVERY = 5  # seconds
INGEST_CHANNELS = ("app", "web", "store", "phone")

_CUSTOMER_LINK = re.compile(r'href="/customers/(\d+)/"')
_CASE_LINK = re.compile(r'href="/cases/(\d+)/"')
_CAMPAIGN_LINK = re.compile(r'href="/campaigns/(\d+)/"')
_CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


# --- What the users do ------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One request of a task: its row in the report, the path, the statuses that are right."""

    name: str
    path: str
    expect: tuple[int, ...] = (200,)
    htmx: bool = False
    #: For a redirect: where it must lead (the end of its Location).
    location: str = ""

    def check(self, response: requests.Response) -> str:
        """What is wrong with a response of an expected status ("" when nothing is)."""
        found = response.headers.get("Location", "")
        if self.location and not found.endswith(self.location):
            return f"redirected to {found!r}, not {self.location!r}"
        return ""


@dataclass
class Pools:
    """Real ids to work on, picked from the database at the start."""

    customers: list[int] = field(default_factory=list)
    emails: list[tuple[int, str]] = field(default_factory=list)  # (customer id, email)
    orders: list[tuple[int, str]] = field(default_factory=list)  # (customer id, order number)
    surnames: list[str] = field(default_factory=list)
    cases: list[int] = field(default_factory=list)


Task = Callable[[random.Random, Pools, str], Generator[Step, requests.Response | None, None]]


def _linked(response: requests.Response | None, pattern: re.Pattern, rng: random.Random):
    """An id from a link on the page the user just read, or None."""
    if response is None or response.status_code != 200:
        return None
    found = pattern.findall(response.text)
    return int(rng.choice(found[:25])) if found else None


def _customer_pages(rng: random.Random, customer_id: int):
    yield Step("360 page", f"/customers/{customer_id}/")
    channel = rng.choice(Channel.values)
    yield Step(
        "timeline, channel filter (htmx)",
        f"/customers/{customer_id}/timeline/?channel={channel}",
        htmx=True,
    )


def task_contact(rng: random.Random, pools: Pools, team: str):
    """A customer gets in touch: find them by email or order number (the portal answers with
    a redirect to their 360 page), read the page, filter the timeline by a channel."""
    lookups = [
        (name, pool)
        for name, pool in (
            ("search by email (redirect)", pools.emails),
            ("search by order number (redirect)", pools.orders),
        )
        if pool
    ]
    if lookups:
        name, pool = rng.choice(lookups)
        customer_id, value = rng.choice(pool)
        yield Step(
            name,
            f"/customers/?{urlencode({'q': value})}",
            expect=(302,),
            location=f"/customers/{customer_id}/",
        )
    else:
        customer_id = rng.choice(pools.customers)
    yield from _customer_pages(rng, customer_id)


def task_browse(rng: random.Random, pools: Pools, team: str):
    """Look a customer up by surname and open one of the results."""
    response = yield Step(
        "search by name (results page)",
        f"/customers/?{urlencode({'q': rng.choice(pools.surnames)})}",
    )
    customer_id = _linked(response, _CUSTOMER_LINK, rng) or rng.choice(pools.customers)
    yield Step("360 page", f"/customers/{customer_id}/")


def task_cases(rng: random.Random, pools: Pools, team: str):
    """Work the team's case queue: open a case from it, then its customer."""
    query = "?team=" if team == "supervisor" else ""  # supervisors watch every team's queue
    response = yield Step("case queue", f"/cases/{query}")
    case_id = _linked(response, _CASE_LINK, rng) or (rng.choice(pools.cases) if pools.cases else 0)
    if not case_id:
        return
    response = yield Step("case page", f"/cases/{case_id}/")
    customer_id = _linked(response, _CUSTOMER_LINK, rng)
    if customer_id:
        yield Step("360 page", f"/customers/{customer_id}/")


def task_care(rng: random.Random, pools: Pools, team: str):
    """Read the care queue and look at a flagged customer."""
    response = yield Step("care queue", "/care/")
    customer_id = _linked(response, _CUSTOMER_LINK, rng)
    if customer_id:
        yield Step("360 page", f"/customers/{customer_id}/")


def task_home(rng: random.Random, pools: Pools, team: str):
    yield Step("team home", f"/home/{team}/")


def task_scorecard(rng: random.Random, pools: Pools, team: str):
    yield Step("feedback scorecard (12 weeks)", "/feedback/")


def task_campaigns(rng: random.Random, pools: Pools, team: str):
    response = yield Step("campaign list", "/campaigns/")
    campaign_id = _linked(response, _CAMPAIGN_LINK, rng)
    if campaign_id:
        yield Step("campaign page", f"/campaigns/{campaign_id}/")


def task_pipeline(rng: random.Random, pools: Pools, team: str):
    yield Step("sales pipeline", "/campaigns/pipeline/")


def task_disruptions(rng: random.Random, pools: Pools, team: str):
    yield Step("disruption list", "/disruptions/")


#: Each team's tasks and how often it does each.
TEAM_TASKS: dict[str, list[tuple[Task, int]]] = {
    "service": [(task_contact, 4), (task_cases, 3), (task_care, 2), (task_home, 1)],
    "sales": [(task_browse, 3), (task_contact, 2), (task_pipeline, 2), (task_home, 1)],
    "operations": [
        (task_care, 3),
        (task_disruptions, 2),
        (task_contact, 2),
        (task_cases, 1),
        (task_home, 1),
    ],
    "marketing": [
        (task_campaigns, 3),
        (task_scorecard, 2),
        (task_contact, 1),
        (task_browse, 1),
        (task_home, 1),
    ],
    "supervisor": [
        (task_home, 2),
        (task_scorecard, 2),
        (task_cases, 2),
        (task_care, 1),
        (task_contact, 1),
    ],
}


def teams_allocate(users: int) -> list[str]:
    """The team of each user: by ``TEAM_SHARES`` (largest remainders), and at least one in each
    team when there are enough users."""
    exact = {slug: users * share for slug, share in TEAM_SHARES.items()}
    counts = {slug: int(n) for slug, n in exact.items()}
    by_remainder = sorted(exact, key=lambda slug: exact[slug] - counts[slug], reverse=True)
    for slug in by_remainder[: users - sum(counts.values())]:
        counts[slug] += 1
    if users >= len(counts):
        for slug in [slug for slug, n in counts.items() if n == 0]:
            counts[max(counts, key=counts.__getitem__)] -= 1
            counts[slug] = 1
    return [slug for slug, n in counts.items() for _ in range(n)]


# --- Data and accounts --------------------------------------------------------------------------


def pools_sample(rng: random.Random, n: int = SAMPLE) -> Pools:
    """Random live customers (by id range: no ORDER BY random() over a million rows), their
    emails, order numbers and surnames, and random cases."""
    pools = Pools()
    live = Customer.objects.filter(merged_into__isnull=True, erased_at__isnull=True)
    pools.customers = sorted(set(_random_ids(live, rng, n)))
    if not pools.customers:
        raise RuntimeError("No customers: seed the database first (manage.py seed).")
    pools.emails = list(
        ContactPoint.objects.filter(
            kind=ContactPoint.Kind.EMAIL, customer_id__in=pools.customers
        ).values_list("customer_id", "value")
    )
    pools.orders = list(
        Order.objects.filter(customer_id__in=pools.customers).values_list(
            "customer_id", "external_id"
        )[: n * 2]
    )
    pools.surnames = sorted(
        {
            name.split()[-1]
            for name in Customer.objects.filter(id__in=pools.customers).values_list(
                "display_name", flat=True
            )
            if name.split()
        }
    )
    pools.cases = sorted(set(_random_ids(Case.objects.all(), rng, n)))
    return pools


def _random_ids(queryset, rng: random.Random, n: int) -> list[int]:
    lo = queryset.order_by("id").values_list("id", flat=True).first()
    hi = queryset.order_by("-id").values_list("id", flat=True).first()
    if lo is None:
        return []
    picks = []
    for _ in range(n):
        start = rng.randint(lo, hi)
        found = queryset.filter(id__gte=start).order_by("id").values_list("id", flat=True).first()
        if found is not None:
            picks.append(found)
    return picks


def staff_users_ensure(teams: list[str]) -> tuple[list[tuple[str, str]], str]:
    """Create (or reuse) ``loadtest-<team>-<n>`` users in their teams' groups, all with one new
    random password (hashed once: a hash per user would cost most of a second each).
    Returns ``[(username, team)]`` and the password."""
    teams_ensure_defaults()
    groups = {team.slug: team.group for team in Team.objects.select_related("group")}
    users_model = get_user_model()
    password = secrets.token_urlsafe(18)
    # Django's default hasher, whatever this process is configured with (the tests' is fast
    # MD5): the server checks it with its own settings.
    hasher = PBKDF2PasswordHasher()
    hashed = hasher.encode(password, hasher.salt())
    wanted = [
        (f"{USER_PREFIX}{slug}-{teams[:i].count(slug) + 1:02d}", slug)
        for i, slug in enumerate(teams)
    ]
    names = [name for name, _ in wanted]
    existing = set(
        users_model.objects.filter(username__in=names).values_list("username", flat=True)
    )
    users_model.objects.bulk_create(
        [users_model(username=name, password=hashed) for name in names if name not in existing]
    )
    users_model.objects.filter(username__in=names).update(password=hashed, is_active=True)
    ids = dict(users_model.objects.filter(username__in=names).values_list("username", "id"))
    for slug in set(teams):
        groups[slug].user_set.add(*[ids[name] for name, team in wanted if team == slug])
    return wanted, password


def partner_key_create(run: str) -> tuple[APIClient, str]:
    """A partner client for this run with ``interactions:write`` (and no throttle to speak of:
    the test measures the server, not the rate limit)."""
    return api_client_create(
        name=f"{USER_PREFIX}partner-{run}", scopes=["interactions:write"], rate="100000/min"
    )


def database_url() -> str:
    """A DATABASE_URL another process can use to reach the database this one uses (the test
    database, under pytest)."""
    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{s['NAME']}"
    user = quote(s.get("USER") or "postgres", safe="")
    auth = f"{user}:{quote(s['PASSWORD'], safe='')}@" if s.get("PASSWORD") else f"{user}@"
    host = s.get("HOST") or "127.0.0.1"
    return f"postgres://{auth}{host}:{s.get('PORT') or 5432}/{quote(s['NAME'], safe='')}"


# --- The server ---------------------------------------------------------------------------------


@dataclass
class Server:
    url: str
    description: str
    #: Sent on every request when the server sits "behind a TLS proxy" (production settings
    #: redirect plain HTTP and mark cookies Secure).
    forwarded_proto: str = ""
    #: The gunicorn master's pid when this process started it (for its workers' CPU time).
    pid: int | None = None


@contextlib.contextmanager
def gunicorn_running(
    *,
    workers: int | None,
    threads: int | None,
    production: bool,
    log_path: Path,
    progress: Callable[[str], None],
) -> Iterator[Server]:
    """Start gunicorn (``gunicorn.conf.py`` at the repository root) on a free port against this
    process's database; stop it (SIGTERM, then SIGKILL) on the way out.

    ``production``: ``DJANGO_DEBUG=0`` with a throwaway secret key, static files collected
    first, and requests marked as coming through the TLS proxy (``X-Forwarded-Proto``).
    """
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": database_url(), "PYTHONUNBUFFERED": "1"}
    if production:
        env.update(
            DJANGO_DEBUG="0",
            DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
            DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        )
        if not _static_collected():
            progress("collecting static files (production settings)")
            subprocess.run(
                [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
                cwd=REPO,
                env=env,
                check=True,
                timeout=300,
            )
    conf = runpy.run_path(str(REPO / "gunicorn.conf.py"))
    workers = workers or conf["workers"]
    threads = threads or conf["threads"]
    command = [sys.executable, "-m", "gunicorn", "cxportal.wsgi", "-c", "gunicorn.conf.py"]
    command += ["-b", f"127.0.0.1:{port}", "-w", str(workers), "--threads", str(threads)]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    server = Server(
        url=f"http://127.0.0.1:{port}",
        description="",
        forwarded_proto="https" if production else "",
    )
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        server.pid = process.pid
        try:
            _wait_until_serving(server, process, log_path)
            server.description = (
                f"gunicorn, {workers} workers × {threads} threads ({conf['worker_class']}), "
                + ("production settings" if production else "settings from the environment")
            )
            progress(f"gunicorn (pid {process.pid}) serving at {server.url}: {server.description}")
            yield server
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_serving(server: Server, process: subprocess.Popen, log_path: Path) -> None:
    headers = _base_headers(server)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited ({process.returncode}):\n{_tail(log_path)}")
        try:
            if requests.get(f"{server.url}/login/", headers=headers, timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"gunicorn did not answer within 90 s:\n{_tail(log_path)}")


def _static_collected() -> bool:
    """Whether ``collectstatic`` has run since the last change to a static file (the
    production storage needs its manifest; collecting takes seconds even when nothing
    changed)."""
    from django.contrib.staticfiles.finders import get_finders

    manifest = Path(settings.STATIC_ROOT) / "staticfiles.json"
    if not manifest.exists():
        return False
    newest = 0.0
    for finder in get_finders():
        for _path, storage in finder.list([]):
            newest = max(newest, os.path.getmtime(storage.path(_path)))
    return manifest.stat().st_mtime >= newest


def _tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _base_headers(server: Server) -> dict[str, str]:
    headers = {"User-Agent": "cxportal-loadtest"}
    if server.forwarded_proto:
        headers["X-Forwarded-Proto"] = server.forwarded_proto
    return headers


# --- CPU time (Linux /proc; the server and PostgreSQL on this machine) ----------------------


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of one process, or None when it is not visible."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def _database_backends() -> list[int]:
    """PostgreSQL's processes serving this database, except this process's own."""
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return [pid for (pid,) in cursor.fetchall()]


class CpuMeter:
    """CPU seconds a set of processes spends between ``start()`` and ``stop()``: processes that
    appear in between count from zero, ones that end in between are lost (so it is a floor)."""

    def __init__(self, pids: Callable[[], list[int]]):
        self.pids = pids
        self.before: dict[int, float] = {}
        self.seconds: float | None = None

    def _read(self) -> dict[int, float]:
        readings = {pid: _cpu_seconds(pid) for pid in self.pids()}
        return {pid: cpu for pid, cpu in readings.items() if cpu is not None}

    def start(self) -> None:
        self.before = self._read()

    def stop(self) -> None:
        after = self._read()
        if after:
            self.seconds = round(sum(c - self.before.get(p, 0.0) for p, c in after.items()), 1)


# --- Measuring ---------------------------------------------------------------------------------


@dataclass
class Failure:
    name: str
    method: str
    path: str
    status: int  # 0: no answer (connection error or timeout)
    detail: str


class Recorder:
    """Every request's latency by report row, thread-safe."""

    def __init__(self):
        self._lock = threading.Lock()
        self.samples: dict[str, list[float]] = {}
        self.errors: dict[str, int] = {}
        self.kinds: dict[str, str] = {}
        self.failures: list[Failure] = []
        self.timeline: list[tuple[float, float, bool]] = []  # (monotonic end, ms, ok)

    def add(self, kind: str, name: str, ms: float, failure: Failure | None) -> None:
        with self._lock:
            self.kinds.setdefault(name, kind)
            self.samples.setdefault(name, []).append(ms)
            self.errors.setdefault(name, 0)
            if failure is not None:
                self.errors[name] += 1
                if len(self.failures) < 20:
                    self.failures.append(failure)
            if kind != "setup":
                self.timeline.append((time.monotonic(), ms, failure is None))

    def since(self, index: int) -> list[tuple[float, float, bool]]:
        """The timeline entries (staff and partner requests) from ``index`` on."""
        with self._lock:
            return self.timeline[index:]


def timed_request(
    session: requests.Session,
    recorder: Recorder,
    *,
    kind: str,
    name: str,
    method: str,
    url: str,
    expect: tuple[int, ...],
    check: Callable[[requests.Response], str] | None = None,
    **kwargs,
) -> requests.Response | None:
    """Send one request, read the whole answer, record its latency under ``name``. Any other
    status than ``expect`` (or what ``check`` objects to) is an error."""
    start = time.perf_counter()
    try:
        response = session.request(
            method, url, allow_redirects=False, timeout=REQUEST_TIMEOUT, **kwargs
        )
        _ = response.content
    except requests.RequestException as exc:
        ms = (time.perf_counter() - start) * 1000
        path = urlsplit(url).path
        recorder.add(kind, name, ms, Failure(name, method, path, 0, f"{type(exc).__name__}: {exc}"))
        return None
    ms = (time.perf_counter() - start) * 1000
    _insecure_cookies(session)
    problem = ""
    if response.status_code not in expect:
        location = response.headers.get("Location", "")
        problem = f"answered {response.status_code}" + (f" → {location}" if location else "")
        if response.status_code >= 500 or not location:
            problem += f": {response.text[:200]!r}"
    elif check is not None:
        problem = check(response)
    failure = None
    if problem:
        path = urlsplit(url).path + (f"?{urlsplit(url).query}" if urlsplit(url).query else "")
        failure = Failure(name, method, path, response.status_code, problem)
    recorder.add(kind, name, ms, failure)
    return response


def _insecure_cookies(session: requests.Session) -> None:
    """Production cookies are Secure (``__Host-``): the TLS proxy would carry them; here the
    client talks plain HTTP to gunicorn, so it must send them anyway."""
    for cookie in session.cookies:
        cookie.secure = False


def login(server: Server, username: str, password: str, recorder: Recorder) -> requests.Session:
    """Log in through the real form: GET it for the CSRF token, POST it, keep the cookie."""
    session = requests.Session()
    session.headers.update(_base_headers(server))
    scheme = server.forwarded_proto or urlsplit(server.url).scheme
    origin = f"{scheme}://{urlsplit(server.url).netloc}"
    page = timed_request(
        session,
        recorder,
        kind="setup",
        name="login form",
        method="GET",
        url=f"{server.url}/login/",
        expect=(200,),
    )
    token = _CSRF_INPUT.search(page.text) if page is not None else None
    if token is None:
        raise RuntimeError(f"No login form with a CSRF token at {server.url}/login/")
    answer = timed_request(
        session,
        recorder,
        kind="setup",
        name="login (form POST)",
        method="POST",
        url=f"{server.url}/login/",
        expect=(302,),
        data={
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": token.group(1),
            "next": "",
        },
        headers={"Origin": origin, "Referer": f"{origin}/login/"},
    )
    if answer is None or answer.status_code != 302:
        status = answer.status_code if answer is not None else "no answer"
        raise RuntimeError(f"Logging in {username} failed ({status}).")
    return session


class StaffUser(threading.Thread):
    """One member of staff: a team's tasks one after another, a think time between requests,
    until the deadline. The first request waits a random part of a think time, so 50 users
    do not all click at once."""

    def __init__(self, *, session, server, team, pools, recorder, rng, think, start, deadline):
        super().__init__(daemon=True, name=f"staff-{team}")
        self.session, self.server, self.team, self.pools = session, server, team, pools
        self.recorder, self.rng, self.think = recorder, rng, think
        self.start_at, self.deadline = start, deadline
        tasks = TEAM_TASKS[team]
        self.tasks = [task for task, _ in tasks]
        self.weights = [weight for _, weight in tasks]

    def _pause(self, seconds: float) -> None:
        time.sleep(max(0.0, min(seconds, self.deadline - time.monotonic())))

    def run(self) -> None:
        try:
            self._work()
        except Exception as exc:  # a bug here must fail the run, not quietly lower the load
            failure = Failure(
                "staff user stopped by an error", "", "", 0, f"{type(exc).__name__}: {exc}"
            )
            self.recorder.add("staff", "staff user stopped by an error", 0.0, failure)

    def _work(self) -> None:
        self._pause(self.start_at - time.monotonic() + self.rng.uniform(0, self.think))
        while time.monotonic() < self.deadline:
            task = self.rng.choices(self.tasks, self.weights)[0]
            steps = task(self.rng, self.pools, self.team)
            response = None
            try:
                while True:
                    step = steps.send(response)
                    if time.monotonic() >= self.deadline:
                        return
                    headers = {"HX-Request": "true"} if step.htmx else None
                    response = timed_request(
                        self.session,
                        self.recorder,
                        kind="staff",
                        name=step.name,
                        method="GET",
                        url=f"{self.server.url}{step.path}",
                        expect=step.expect,
                        check=step.check,
                        headers=headers,
                    )
                    self._pause(self.think * self.rng.uniform(0.5, 1.5))
            except StopIteration:
                continue


class PartnerIngest:
    """A partner app's stream: one interaction per POST at ``rate`` per second, on a fixed
    schedule whatever the answers' latency (open loop), plus a batch of ``bulk_size`` every
    ``bulk_every`` seconds. Every item must come back ``created``."""

    def __init__(self, *, server, key, pools, recorder, rng, rate, bulk_size, bulk_every, run):
        self.server, self.pools, self.recorder, self.rng = server, pools, recorder, rng
        self.rate, self.bulk_size, self.bulk_every, self.run_id = rate, bulk_size, bulk_every, run
        self.headers = {**_base_headers(server), "Authorization": f"Api-Key {key}"}
        self._local = threading.local()
        self._counter = 0
        self._lock = threading.Lock()
        self.pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="partner")
        self.threads: list[threading.Thread] = []

    def _session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
            self._local.session.headers.update(self.headers)
        return self._local.session

    def _items(self, n: int) -> list[dict]:
        with self._lock:
            first = self._counter
            self._counter += n
            customers = [self.rng.choice(self.pools.customers) for _ in range(n)]
            channels = [self.rng.choice(INGEST_CHANNELS) for _ in range(n)]
        now = datetime.now(UTC).isoformat()
        return [
            {
                "customer_id": customers[i],
                "channel": channels[i],
                "direction": "inbound",
                "occurred_at": now,
                "summary": "Load test partner event",
                "external_id": f"{USER_PREFIX}{self.run_id}-{first + i}",
            }
            for i in range(n)
        ]

    def post(self, name: str, n: int) -> None:
        def all_created(response: requests.Response) -> str:
            try:
                counts = response.json()["counts"]
            except (ValueError, KeyError, TypeError):
                return f"not a bulk answer: {response.text[:200]!r}"
            return "" if counts.get("created") == n else f"not all created: {counts}"

        timed_request(
            self._session(),
            self.recorder,
            kind="partner",
            name=name,
            method="POST",
            url=f"{self.server.url}/api/v1/interactions/bulk/",
            expect=(200,),
            check=all_created,
            json={"items": self._items(n)},
        )

    def start(self, start: float, deadline: float) -> None:
        def stream() -> None:
            sent = 0
            while True:
                due = start + sent / self.rate
                if due >= deadline:
                    return
                time.sleep(max(0.0, due - time.monotonic()))
                self.pool.submit(self.post, "partner ingest, 1 interaction per POST", 1)
                sent += 1

        def bulk() -> None:
            due = start + self.bulk_every / 2
            while due < deadline:
                time.sleep(max(0.0, due - time.monotonic()))
                self.pool.submit(
                    self.post, f"partner ingest, bulk of {self.bulk_size}", self.bulk_size
                )
                due += self.bulk_every

        if self.rate > 0:
            self.threads.append(threading.Thread(target=stream, daemon=True, name="ingest"))
        if self.bulk_size > 0 and self.bulk_every > 0:
            self.threads.append(threading.Thread(target=bulk, daemon=True, name="ingest-bulk"))
        for thread in self.threads:
            thread.start()

    def join(self, timeout: float) -> None:
        for thread in self.threads:
            thread.join(timeout)
        self.pool.shutdown(wait=True)


# --- The report -----------------------------------------------------------------------------------


@dataclass
class Row:
    name: str
    kind: str  # staff, partner, total
    requests: int
    errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    per_second: float


@dataclass
class Report:
    rows: list[Row]
    total: Row
    passed: bool
    problems: list[str]
    failures: list[Failure]
    settings: dict
    logins: dict

    def as_dict(self) -> dict:
        return asdict(self)


def percentile(samples: list[float], q: float) -> float:
    """Nearest rank: the smallest sample with at least ``q`` of the samples at or below it."""
    ordered = sorted(samples)
    rank = max(1, int(-(-q * len(ordered) // 1)))  # ceil(q * n)
    return ordered[min(len(ordered), rank) - 1]


def _row(name: str, kind: str, samples: list[float], errors: int, seconds: float) -> Row:
    return Row(
        name=name,
        kind=kind,
        requests=len(samples),
        errors=errors,
        p50_ms=round(percentile(samples, 0.50), 1),
        p95_ms=round(percentile(samples, 0.95), 1),
        p99_ms=round(percentile(samples, 0.99), 1),
        max_ms=round(max(samples), 1),
        per_second=round(len(samples) / seconds, 1),
    )


def report_build(recorder: Recorder, *, seconds: float, p95_ms: float, settings_: dict) -> Report:
    names = [n for n in recorder.samples if recorder.kinds[n] != "setup"]
    order = {"staff": 0, "partner": 1}
    names.sort(key=lambda n: (order[recorder.kinds[n]], -len(recorder.samples[n]), n))
    rows = [
        _row(n, recorder.kinds[n], recorder.samples[n], recorder.errors[n], seconds) for n in names
    ]
    everything = [ms for n in names for ms in recorder.samples[n]]
    problems = []
    if not everything:
        problems.append("no requests were made")
        total = Row("all requests", "total", 0, 0, 0, 0, 0, 0, 0)
    else:
        total = _row(
            "all requests", "total", everything, sum(recorder.errors[n] for n in names), seconds
        )
    for row in [*rows, total] if everything else rows:
        if row.errors:
            problems.append(f"{row.name}: {row.errors} errors")
        if row.p95_ms >= p95_ms:
            problems.append(f"{row.name}: p95 {row.p95_ms:,.0f} ms ≥ {p95_ms:,.0f} ms")
    logins = recorder.samples.get("login (form POST)", [])
    login_info = {
        "count": len(logins),
        "p50_ms": round(percentile(logins, 0.5), 1) if logins else None,
        "max_ms": round(max(logins), 1) if logins else None,
        "errors": recorder.errors.get("login (form POST)", 0)
        + recorder.errors.get("login form", 0),
    }
    if login_info["errors"]:
        problems.append(f"logging in: {login_info['errors']} errors")
    return Report(
        rows=rows,
        total=total,
        passed=not problems,
        problems=problems,
        failures=recorder.failures,
        settings=settings_,
        logins=login_info,
    )


def _fmt(value: float | int, decimals: int = 0) -> str:
    return f"{value:,.{decimals}f}"


def _cpu_line(s: dict, requests_made: int) -> str:
    parts = []
    if s["server_cpu_seconds"] is not None:
        per_request = s["server_cpu_seconds"] * 1000 / max(requests_made, 1)
        parts.append(f"gunicorn {s['server_cpu_seconds']:g} s ({per_request:.0f} ms per request)")
    if s["database_cpu_seconds"] is not None:
        parts.append(f"PostgreSQL {s['database_cpu_seconds']:g} s")
    parts.append(f"the load generator {s['client_cpu_seconds']:g} s")
    return (
        f"CPU time while the load ran ({s['wall_seconds']:g} s on {s['cores']} cores, "
        f"{s['wall_seconds'] * s['cores']:.0f} CPU-seconds, shared with anything else running): "
        + ", ".join(parts)
        + f". Load average {s['load_before']} before, {s['load_after']} after."
    )


def format_markdown(report: Report) -> str:
    s = report.settings
    teams = ", ".join(f"{slug} {n}" for slug, n in s["teams"].items())
    ingest = f"{s['ingest_rate']:g} single-interaction POSTs/s"
    if s["bulk_size"] and s["bulk_every"]:
        ingest += f" plus a bulk POST of {s['bulk_size']} every {s['bulk_every']:g} s"
    lines = [
        f"{s['users']} staff users ({teams}) with a think time of {s['think']:g} s ± 50% "
        f"between requests, and a partner sending {ingest}, for {s['duration']:g} s "
        f"(after {s.get('warmup', 0):g} s of warm-up, not measured) "
        f"against {s['server']} on {s['database']}.",
        "",
        "| endpoint | requests | req/s | errors | p50 ms | p95 ms | p99 ms | max ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in [*report.rows, report.total]:
        name = f"**{row.name}**" if row.kind == "total" else row.name
        lines.append(
            f"| {name} | {_fmt(row.requests)} | {_fmt(row.per_second, 1)} | {_fmt(row.errors)} "
            f"| {_fmt(row.p50_ms)} | {_fmt(row.p95_ms)} | {_fmt(row.p99_ms)} "
            f"| {_fmt(row.max_ms)} |"
        )
    logins = report.logins
    lines += [
        "",
        f"Setup (not in the table): {logins['count']} logins through the login form, "
        f"p50 {_fmt(logins['p50_ms'] or 0)} ms (password hashing), in "
        f"{s['login_seconds']:.1f} s.",
        "",
        _cpu_line(s, report.total.requests),
    ]
    verdict = "PASS" if report.passed else "FAIL"
    lines.append(
        f"\n{verdict}: every row's p95 under {_fmt(s['p95_ms'])} ms and no errors"
        + ("." if report.passed else ": " + "; ".join(report.problems))
    )
    if report.failures:
        lines.append("\nFirst errors:")
        lines += [
            f"- {f.name}: {f.method} {f.path} → {f.status or 'no answer'} {f.detail}"
            for f in report.failures[:10]
        ]
    return "\n".join(lines)


# --- The run -------------------------------------------------------------------------------------


@dataclass
class Options:
    users: int = 50
    duration: float = 60
    think: float = 1.0
    ingest_rate: float = 20
    bulk_size: int = 100
    bulk_every: float = 5
    p95_ms: float = 300
    seed: int = 1
    url: str = ""
    forwarded_proto: str = ""
    workers: int | None = None
    threads: int | None = None
    production: bool = True
    login_concurrency: int = 4
    #: Seconds of the same work before measuring, not recorded: every server process has
    #: compiled its templates and opened its database connection, as in a running portal.
    warmup: float = 10


def run(options: Options, *, progress: Callable[[str], None]) -> Report:
    rng = random.Random(options.seed)  # noqa: S311 - choosing what to click, not security
    run_id = datetime.now(UTC).strftime("%Y%m%d%H%M%S") + "-" + secrets.token_hex(2)
    customers = table_estimate(Customer._meta.db_table)
    database = f"{connection.vendor} ({customers:,} customers)"
    progress(f"database: {database}; picking customers and cases")
    pools = pools_sample(rng)
    teams = teams_allocate(options.users)
    accounts, password = staff_users_ensure(teams)
    client, key = partner_key_create(run_id)
    progress(
        f"{len(accounts)} staff users ready, partner client {client.name!r}; "
        f"{len(pools.customers)} customers, {len(pools.cases)} cases to work on"
    )
    log_path = Path(settings.VAR_DIR) / "loadtest-gunicorn.log"
    if options.url:
        server_context = contextlib.nullcontext(
            Server(
                url=options.url.rstrip("/"),
                description=f"the server at {options.url}",
                forwarded_proto=options.forwarded_proto,
            )
        )
    else:
        server_context = gunicorn_running(
            workers=options.workers,
            threads=options.threads,
            production=options.production,
            log_path=log_path,
            progress=progress,
        )
    try:
        with server_context as server:
            return _drive(
                options, server, pools, accounts, password, key, rng, run_id, progress, database
            )
    finally:
        APIClient.objects.filter(pk=client.pk).update(is_active=False)


def _drive(options, server, pools, accounts, password, key, rng, run_id, progress, database):
    recorder = Recorder()
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=options.login_concurrency) as pool:
        sessions = list(
            pool.map(lambda account: login(server, account[0], password, recorder), accounts)
        )
    login_seconds = time.monotonic() - started
    progress(
        f"{len(sessions)} users logged in through the login form in {login_seconds:.1f} s; "
        f"running {options.duration:g} s: think time {options.think:g} s ± 50% between a "
        f"user's requests, partner ingest {options.ingest_rate:g}/s"
    )
    for session in sessions:
        session.close()  # the run starts on fresh connections, not ones idle since logging in
    if options.warmup > 0:
        progress(f"warming up for {options.warmup:g} s (not measured)")
        _staff_run(options, server, pools, sessions, accounts, Recorder(), rng, options.warmup)
    meters = {
        "server": CpuMeter(lambda: _children(server.pid) if server.pid else []),
        "database": CpuMeter(_database_backends),
    }
    for meter in meters.values():
        meter.start()
    load_before = _load()
    cpu_before = time.process_time()
    start = time.monotonic() + 0.2
    deadline = start + options.duration
    users = _staff_users(options, server, pools, sessions, accounts, recorder, rng, start, deadline)
    partner = PartnerIngest(
        server=server,
        key=key,
        pools=pools,
        recorder=recorder,
        rng=random.Random(rng.random()),  # noqa: S311
        rate=options.ingest_rate,
        bulk_size=options.bulk_size,
        bulk_every=options.bulk_every,
        run=run_id,
    )
    for user in users:
        user.start()
    partner.start(start, deadline)
    _progress_until(recorder, start, deadline, progress)
    for user in users:
        user.join(REQUEST_TIMEOUT + 5)
    partner.join(REQUEST_TIMEOUT + 5)
    for meter in meters.values():
        meter.stop()
    wall = time.monotonic() - start
    seconds = options.duration
    counts: dict[str, int] = {}
    for team in (t for _, t in accounts):
        counts[team] = counts.get(team, 0) + 1
    return report_build(
        recorder,
        seconds=seconds,
        p95_ms=options.p95_ms,
        settings_={
            "users": len(accounts),
            "teams": counts,
            "think": options.think,
            "duration": options.duration,
            "warmup": options.warmup,
            "ingest_rate": options.ingest_rate,
            "bulk_size": options.bulk_size,
            "bulk_every": options.bulk_every,
            "p95_ms": options.p95_ms,
            "server": server.description,
            "url": server.url,
            "database": database,
            "login_seconds": round(login_seconds, 1),
            "load_before": load_before,
            "load_after": _load(),
            "wall_seconds": round(wall, 1),
            "client_cpu_seconds": round(time.process_time() - cpu_before, 1),
            "server_cpu_seconds": meters["server"].seconds,
            "database_cpu_seconds": meters["database"].seconds,
            "cores": os.cpu_count(),
            "run": run_id,
        },
    )


def _staff_users(options, server, pools, sessions, accounts, recorder, rng, start, deadline):
    return [
        StaffUser(
            session=session,
            server=server,
            team=team,
            pools=pools,
            recorder=recorder,
            rng=random.Random(rng.random()),  # noqa: S311
            think=options.think,
            start=start,
            deadline=deadline,
        )
        for session, (_, team) in zip(sessions, accounts, strict=True)
    ]


def _staff_run(options, server, pools, sessions, accounts, recorder, rng, seconds) -> None:
    """The staff users' work for ``seconds`` into ``recorder`` (the warm-up)."""
    start = time.monotonic() + 0.2
    users = _staff_users(
        options, server, pools, sessions, accounts, recorder, rng, start, start + seconds
    )
    for user in users:
        user.start()
    for user in users:
        user.join(seconds + REQUEST_TIMEOUT + 5)


def _progress_until(recorder: Recorder, start: float, deadline: float, progress) -> None:
    seen, errors = 0, 0
    while True:
        now = time.monotonic()
        if now >= deadline:
            return
        pause = min(PROGRESS_EVERY, deadline - now)
        time.sleep(pause)
        if pause < 1:
            return
        recent = recorder.since(seen)
        seen += len(recent)
        errors += sum(1 for _, _, ok in recent if not ok)
        if recent:
            window = [ms for _, ms, _ in recent]
            progress(
                f"{time.monotonic() - start:5.0f} s  {seen:,} requests, {errors} errors; "
                f"last {pause:.0f} s: {len(window) / pause:.0f} req/s, "
                f"p50 {percentile(window, 0.5):.0f} ms, p95 {percentile(window, 0.95):.0f} ms"
            )


def _load() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "?"


def report_json(report: Report) -> str:
    return json.dumps(report.as_dict(), indent=2)
