"""Real services for tests: Redis, and Celery worker processes on the test database.

A test that needs a real service skips when it is missing, except in CI (CI=true), where
it fails: CI must prove the real thing.
"""

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.db import connection

REPO = Path(__file__).resolve().parents[2]
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
# The shared public data sets live beside the checkout (../shared); CXPORTAL_SHARED_DIR
# points elsewhere.
SHARED_DIR = Path(os.environ.get("CXPORTAL_SHARED_DIR") or REPO.parent / "shared")


def missing_service(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: real services are required)")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_reachable(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def real_redis_url(db: int = 14) -> str:
    """The machine's Redis (REDIS_URL's server, or 127.0.0.1:6379), on a db of the tests'."""
    base = urlsplit(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")
    url = urlunsplit(base._replace(path=f"/{db}"))
    if not redis_reachable(url):
        missing_service(f"Redis is not reachable at {url}")
    import redis

    redis.Redis.from_url(url).flushdb()
    return url


def test_database_url() -> str:
    """A DATABASE_URL another process can use to reach the current test database."""
    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{s['NAME']}"
    user = s.get("USER") or "postgres"
    auth = f"{user}:{s['PASSWORD']}@" if s.get("PASSWORD") else f"{user}@"
    return f"postgres://{auth}{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{s['NAME']}"


def process_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": test_database_url(), "PYTHONUNBUFFERED": "1"}
    env.update(extra)
    return env


@contextlib.contextmanager
def celery_worker(
    *,
    broker_url: str,
    queues: str = "ingest,outbound,scans",
    include: str = "",
    log_path: Path | None = None,
    concurrency: int = 1,
    extra_env: dict | None = None,
    new_session: bool = False,
) -> Iterator[subprocess.Popen]:
    """A real ``celery worker`` process on the test database, stopped on exit.

    ``new_session=True`` makes the worker lead its own process group, so a test can kill it
    with all its pool processes at once: ``os.killpg(proc.pid, signal.SIGKILL)``."""
    cmd = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "cxportal",
        "worker",
        "--loglevel=INFO",
        "-Q",
        queues,
        f"--concurrency={concurrency}",
        "-n",
        f"test-{free_port()}@%h",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    if include:
        cmd += ["--include", include]
    log = open(log_path, "w") if log_path else subprocess.DEVNULL  # noqa: SIM115
    env = process_env(CELERY_BROKER_URL=broker_url, **(extra_env or {}))
    proc = subprocess.Popen(
        cmd,
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=new_session,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if log_path:
            log.close()


def wait_for(predicate, *, timeout: float = 30, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def use_broker(app, url: str, transport_options: dict) -> None:
    """Point this process's Celery app (the sending side) at another broker."""
    if app._pool is not None:
        app._pool.force_close_all()
    app._pool = None
    app.amqp._producer_pool = None
    app.conf.broker_url, app.conf.broker_transport_options = url, transport_options


@contextlib.contextmanager
def filesystem_broker_worker(tmp_path: Path) -> Iterator[subprocess.Popen]:
    """A real worker on a filesystem broker of its own under ``tmp_path`` (log in
    ``tmp_path/worker.log``), with this process's Celery app sending there until exit."""
    from cxportal.celery import app

    broker = tmp_path / "broker"
    for sub in ("queue", "control", "processed"):
        (broker / sub).mkdir(parents=True)
    options = {
        "data_folder_in": str(broker / "queue"),
        "data_folder_out": str(broker / "queue"),
        "control_folder": str(broker / "control"),
    }
    old = app.conf.broker_url, app.conf.broker_transport_options
    use_broker(app, "filesystem://", options)
    try:
        with celery_worker(
            broker_url="filesystem://",
            log_path=tmp_path / "worker.log",
            extra_env={"CXPORTAL_BROKER_FOLDER": str(broker)},
        ) as proc:
            yield proc
    finally:
        use_broker(app, *old)


def redis_server_start(port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(
        lambda: redis_reachable(f"redis://127.0.0.1:{port}/0"), timeout=20, what="redis-server"
    )
    return proc


def process_stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        proc.wait(10)
