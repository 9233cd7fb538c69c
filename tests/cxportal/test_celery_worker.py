"""A real worker process on a real broker: on-commit enqueue runs, rollback never does."""

import time

import pytest
from django.db import transaction

from tests.support.probe_tasks import probe_touch
from tests.support.services import celery_worker, real_redis_url, use_broker, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.real_services]


@pytest.fixture(params=["redis", "filesystem"])
def broker(request, tmp_path, settings):
    if request.param == "redis":
        url, options = real_redis_url(db=13), {}
    else:
        url = "filesystem://"
        folder = tmp_path / "broker"
        for sub in ("queue", "control"):
            (folder / sub).mkdir(parents=True)
        options = {
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "control_folder": str(folder / "control"),
        }
    from cxportal.celery import app

    old_url, old_options = app.conf.broker_url, app.conf.broker_transport_options
    use_broker(app, url, options)
    yield url, options
    use_broker(app, old_url, old_options)


def test_task_enqueued_on_commit_runs_and_rolled_back_one_never_does(broker, tmp_path):
    url, options = broker
    committed, rolled_back = tmp_path / "committed", tmp_path / "rolled-back"

    class Rollback(Exception):
        pass

    with pytest.raises(Rollback), transaction.atomic():
        probe_touch.delay_on_commit(str(rolled_back))
        raise Rollback
    with transaction.atomic():
        probe_touch.delay_on_commit(str(committed))
        assert not committed.exists()  # nothing is sent before the commit

    env = {}
    if url.startswith("filesystem"):
        env = {"CXPORTAL_BROKER_FOLDER": str(tmp_path / "broker")}
    with celery_worker(
        broker_url=url,
        include="tests.support.probe_tasks",
        log_path=tmp_path / "worker.log",
        extra_env=env,
    ):
        wait_for(committed.exists, timeout=60, what="the committed task to run")
        time.sleep(2)  # give a wrongly sent task every chance to run too
    assert committed.read_text() == "ran"
    assert not rolled_back.exists()
