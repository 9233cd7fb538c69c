"""Start the web server, a Celery worker and Celery beat together; Ctrl-C stops all three."""

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from cxportal.celery import QUEUES


class Command(BaseCommand):
    help = "Run web server, Celery worker and Celery beat together (the `make run` command)."

    def add_arguments(self, parser):
        parser.add_argument("--addrport", default="127.0.0.1:8000")

    def handle(self, *args, addrport: str, **options):
        python = sys.executable
        var = settings.VAR_DIR
        commands = {
            "web": [python, "manage.py", "runserver", addrport],
            "worker": [
                python,
                "-m",
                "celery",
                "-A",
                "cxportal",
                "worker",
                "--loglevel=INFO",
                "-Q",
                ",".join(QUEUES),
                "--concurrency=2",
                "-n",
                "portal@%h",
            ],
            "beat": [
                python,
                "-m",
                "celery",
                "-A",
                "cxportal",
                "beat",
                "--loglevel=INFO",
                "-s",
                str(var / "celerybeat-schedule"),
                "--pidfile",
                str(var / "celerybeat.pid"),
            ],
        }
        processes: dict[str, subprocess.Popen] = {}
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        (var / "celerybeat.pid").unlink(missing_ok=True)
        for name, cmd in commands.items():
            processes[name] = subprocess.Popen(cmd, start_new_session=True)
        self.stdout.write(
            self.style.SUCCESS(
                f"CX Portal on http://{addrport}/ (web, worker, beat). Ctrl-C stops all."
            )
        )
        try:
            while not stopping:
                dead = [n for n, p in processes.items() if p.poll() is not None]
                if dead:
                    self.stderr.write(f"{', '.join(dead)} stopped; stopping the rest.")
                    break
                time.sleep(0.5)
        finally:
            for name, proc in processes.items():
                if proc.poll() is None:
                    if name == "web":  # the whole group: runserver's autoreloader child too
                        os.killpg(proc.pid, signal.SIGTERM)
                    else:  # Celery's main process shuts its pool down warmly
                        proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 15
            for proc in processes.values():
                try:
                    proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        self.stdout.write("Stopped web, worker and beat.")
