"""`marketflow worker`: dagster-celery's worker, set up for the runs of runs/workers.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import yaml

from marketflow_assets.runs.instance import dagster_home
from marketflow_assets.settings import Settings, SettingsError

# dagster-celery's worker config (`-y`): results record the worker that ran each task. The
# broker and result store come from Celery's own variables, set from the settings, so the
# URL is never written into the config module that dagster-celery makes of this file.
WORKER_CONFIG = {"execution": {"config": {"config_source": {"result_extended": True}}}}
# One run at a time per worker, and a task taken only by an idle worker, so that the runs of a
# wave spread over the workers instead of waiting behind each other on one.
WORKER_ARGUMENTS = ("--concurrency=1", "--disable-prefetch", "--without-mingle", "--without-gossip")


def worker_command(name: str | None) -> list[str]:
    """`dagster-celery worker start` for the project's workers, with their config file in
    DAGSTER_HOME (`prepare_home` must have run)."""
    config = dagster_home() / "celery_worker.yaml"
    config.write_text(yaml.safe_dump(WORKER_CONFIG))
    command = [sys.executable, "-m", "dagster_celery.cli", "worker", "start"]
    command += ["-A", "dagster_celery.app", "-y", str(config)]
    command += ["-n", name] if name else []
    return [*command, "--", *WORKER_ARGUMENTS]


def run_worker(settings: Settings, name: str | None) -> int:
    """A Celery worker executing launched runs until interrupted (Ctrl-C or SIGTERM), which
    stops it after its current run (a second interrupt: at once); its exit code."""
    if not settings.celery_broker:
        raise SettingsError("`marketflow worker` needs MARKETFLOW_CELERY_BROKER (a Redis URL)")
    env = {
        **os.environ,
        "CELERY_BROKER_URL": settings.celery_broker,
        "CELERY_RESULT_BACKEND": settings.celery_broker,
        # dagster-celery starts `celery` by name: the one installed beside this Python.
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    }
    # In a session of its own: an interrupt reaches the worker through this process only.
    worker = subprocess.Popen(worker_command(name), env=env, start_new_session=True)
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        try:
            return worker.wait()
        except KeyboardInterrupt:
            # Celery's warm shutdown: the current run ends first. dagster-celery's command
            # started `celery` and returns when it does.
            for child in psutil.Process(worker.pid).children():
                child.terminate()
            return worker.wait()
    except KeyboardInterrupt:
        # A second interrupt: the worker and its run are stopped at once.
        os.killpg(worker.pid, signal.SIGKILL)
        return worker.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
