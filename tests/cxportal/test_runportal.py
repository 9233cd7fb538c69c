"""`make run`'s last step: web, worker and beat start together; a task really runs in the
worker over the embedded filesystem broker; Ctrl-C (SIGINT) stops all of them."""

import os
import re
import signal
import subprocess
import sys
import urllib.request

import psutil
import pytest

from tests.support.services import REPO, free_port, wait_for

pytestmark = pytest.mark.real_services


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
            return response.status
    except Exception:
        return 0


def test_runportal_serves_runs_tasks_and_stops_on_ctrl_c(tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"}
    }
    env.update(CXPORTAL_VAR_DIR=str(tmp_path / "var"), PYTHONUNBUFFERED="1")
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=REPO, env=env, check=True, timeout=180)
    port = free_port()
    log = open(tmp_path / "portal.log", "w")  # noqa: SIM115
    portal = subprocess.Popen(
        [*manage, "runportal", "--addrport", f"127.0.0.1:{port}"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(
            lambda: get(f"http://127.0.0.1:{port}/healthz") == 200,
            timeout=60,
            what="the web server",
        )
        children = psutil.Process(portal.pid).children(recursive=True)
        assert len(children) >= 3  # web (and its reloader), worker, beat
        send = (
            "import django; django.setup();"
            "from cxportal.tasks import sessions_clear_expired_task as t; t.delay()"
        )
        subprocess.run(
            [sys.executable, "-c", send],
            cwd=REPO,
            check=True,
            timeout=60,
            env={**env, "DJANGO_SETTINGS_MODULE": "cxportal.settings"},
        )
        wait_for(
            lambda: re.search(
                r"Task scans.sessions_clear_expired\[\S+\] succeeded",
                (tmp_path / "portal.log").read_text(),
            ),
            timeout=60,
            what="the worker to run the task",
        )
        portal.send_signal(signal.SIGINT)
        assert portal.wait(timeout=30) == 0
        wait_for(
            lambda: (
                not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children)
            ),
            timeout=20,
            what="all children to stop",
        )
        assert get(f"http://127.0.0.1:{port}/healthz") == 0
    finally:
        if portal.poll() is None:
            portal.kill()
        log.close()
