"""A task only the tests load into a worker (``--include``): it leaves a file behind, so a
test can see from outside whether the worker ran it."""

from pathlib import Path

from celery import shared_task


@shared_task(name="scans.tests_probe_touch")
def probe_touch(path: str) -> None:
    Path(path).write_text("ran")
