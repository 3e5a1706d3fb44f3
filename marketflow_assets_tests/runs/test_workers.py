"""`marketflow backfill` split over two Celery workers (Redis broker, run history in the
embedded Postgres, the store a lake both write) writes the rows of a one-process backfill of
the same range into a DuckDB file."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import dagster as dg
import polars as pl
import psutil
import pytest
from celery import Celery
from polars.testing import assert_frame_equal

import marketflow_assets
from marketflow_assets.cli import main
from marketflow_assets.definitions import build_definitions
from marketflow_assets.defs.area import STORE_POOL
from marketflow_assets.runs import workers
from marketflow_assets.runs.plan import ANALYSIS_ASSETS, Stage
from marketflow_assets.runs.workers import share_store, split_range, waves
from marketflow_assets.settings import Settings
from marketflow_assets.store.connection import open_store
from marketflow_assets.store.lake import Lake
from marketflow_assets.store.reads import summarize_tables

REDIS_SERVER = shutil.which("redis-server")
needs_redis = pytest.mark.skipif(
    REDIS_SERVER is None,
    reason="redis-server is not installed: `apt-get install redis-server` (`make test` does it "
    "as root)",
)
START, END = "2009-08-21", "2009-11-30"  # from the first partition: no history needed
TICKERS = "AMD,CSCO,ADBE,MMM,UNH"
WORKERS = ("w1", "w2")
STARTUP_SECONDS = 120
CHECKOUT = Path(marketflow_assets.__file__).resolve().parents[1]


def test_a_range_is_split_into_consecutive_ranges_of_whole_sessions() -> None:
    partitions = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-01-08")
    assert split_range(partitions, "2024-01-01", "2024-01-07", 3) == [
        ("2024-01-01", "2024-01-02"),
        ("2024-01-03", "2024-01-04"),
        ("2024-01-05", "2024-01-07"),
    ]
    assert split_range(partitions, "2024-01-02", "2024-01-03", 4) == [
        ("2024-01-02", "2024-01-02"),
        ("2024-01-03", "2024-01-03"),
    ]


def test_a_split_stage_runs_one_asset_at_a_time(settings: Settings) -> None:
    defs = build_definitions(settings)
    partitions = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-01-08")
    stage = Stage("daily_pipeline", "2024-01-01", "2024-01-04", tuple(reversed(ANALYSIS_ASSETS)))
    split = waves(defs, stage, partitions, 2)
    assert [[s.select for s in wave] for wave in split] == [
        [(asset,), (asset,)] for asset in ANALYSIS_ASSETS
    ]
    assert {(s.start_key, s.end_key) for wave in split for s in wave} == {
        ("2024-01-01", "2024-01-02"),
        ("2024-01-03", "2024-01-04"),
    }
    assert waves(defs, stage, partitions, 1) == [[stage]]
    assert waves(defs, Stage("scorecard"), partitions, 2) == [[Stage("scorecard")]]


def test_the_runs_of_a_wave_share_a_lake_and_take_turns_on_a_file(
    instance: dg.DagsterInstance,
) -> None:
    assert share_store(instance, lake=True, parts=3) == 3
    assert instance.event_log_storage.get_concurrency_info(STORE_POOL).slot_count == 3
    assert share_store(instance, lake=False, parts=3) == 1
    assert instance.event_log_storage.get_concurrency_info(STORE_POOL).slot_count == 1


def test_workers_need_a_broker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use(monkeypatch, environment(tmp_path))
    assert main(["backfill", "--start", START, "--end", END, "--workers", "2"]) == 2
    assert "--workers needs MARKETFLOW_CELERY_BROKER" in joined(capsys.readouterr().out)
    assert main(["worker"]) == 2
    assert "`marketflow worker` needs MARKETFLOW_CELERY_BROKER" in joined(capsys.readouterr().out)
    # A broker that nothing listens on.
    monkeypatch.setenv("MARKETFLOW_CELERY_BROKER", f"redis://127.0.0.1:{free_port()}/0")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home_with_broker"))
    assert main(["backfill", "--start", START, "--end", END]) == 2
    assert "the broker of MARKETFLOW_CELERY_BROKER does not answer" in joined(
        capsys.readouterr().out
    )


@needs_redis
def test_a_backfill_without_a_worker_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env = environment(tmp_path)
    with redis_server(tmp_path / "redis") as broker:
        use(monkeypatch, {**env, "MARKETFLOW_CELERY_BROKER": broker})
        assert main(["backfill", "--start", START, "--end", END]) == 2
    assert "no Celery worker answers on MARKETFLOW_CELERY_BROKER" in joined(capsys.readouterr().out)


@needs_redis
def test_a_backfill_over_two_workers_writes_the_rows_of_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    split_env = environment(tmp_path / "split")
    split_env["MARKETFLOW_LAKE"] = str(tmp_path / "split" / "lake")
    with redis_server(tmp_path / "redis") as broker:
        split_env["MARKETFLOW_CELERY_BROKER"] = broker
        logs = [tmp_path / f"{name}.log" for name in WORKERS]
        with celery_workers(split_env, logs) as exits:
            # The one-process run while the workers start.
            use(monkeypatch, environment(tmp_path / "single"))
            single, _ = backfill([])
            use(monkeypatch, split_env)
            wait_for_workers(broker, len(WORKERS))
            split, output = backfill(["--workers", "2"])
            # A run that fails on a worker fails the command, with its reason.
            december = ["--start", "2009-12-01", "--end", "2009-12-31", "--select", "vpa_features"]
            failed = io.StringIO()
            with contextlib.redirect_stdout(failed):
                assert main(["backfill", *december, "--workers", "2"]) == 1

    # SIGTERM stopped each worker after its run, and the last one the embedded Postgres.
    home = tmp_path / "split" / "dagster_home"
    assert exits == [0, 0]
    assert not (home / "postgres" / "postmaster.pid").exists()
    # The broker's URL is read from the environment, never written into DAGSTER_HOME.
    files = [
        f for f in home.rglob("*") if f.is_file() and f.relative_to(home).parts[0] != "postgres"
    ]
    assert [f for f in files if broker in f.read_text(errors="replace")] == []
    assert "CeleryRunLauncher" in (home / "dagster.yaml").read_text()

    runs = sum(int(n) for n in re.findall(r"(\d+) run\(s\) succeeded", output))
    assert "daily_bars for sessions 2009-08-21 .. 2009-11-30 (2 run(s) on the workers)" in output
    assert "done on w1@" in output
    assert "done on w2@" in output
    # Each worker executed some of the runs, and together all of them.
    done = [
        re.findall(r"execute_job\[(\S+)\] succeeded in \S+: 0", log.read_text()) for log in logs
    ]
    assert all(done), [log.read_text()[-2000:] for log in logs]
    assert sum(len(tasks) for tasks in done) == runs
    assert runs > 2 * 3  # bars, features and signals alone are three waves of two runs

    assert "vpa_features: daily_bars has not been materialised" in joined(failed.getvalue())

    tables = table_names(single)
    assert {"bars", "features", "signals", "events", "outcomes", "training_pairs"} <= tables
    assert table_names(split) == tables
    for table in sorted(tables):
        expected, actual = rows(single, table), rows(split, table)
        assert_frame_equal(actual, expected, check_row_order=True)
    # The sample's five tickers give rows to compare at every stage.
    for table in ("events", "outcomes", "calibration", "training_pairs", "scorecard"):
        assert rows(single, table).height > 0, table


@needs_redis
def test_a_run_whose_worker_is_killed_fails_instead_of_waiting_forever(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workers, "PING_SECONDS", 1.0)
    monkeypatch.setattr(workers, "SILENCE_SECONDS", 10.0)
    env = environment(tmp_path / "killed")
    with redis_server(tmp_path / "redis") as broker:
        env["MARKETFLOW_CELERY_BROKER"] = broker
        use(monkeypatch, env)
        log = tmp_path / "w1.log"
        worker = subprocess.Popen(
            [sys.executable, "-m", "marketflow_assets.cli", "worker", "--name", "w1"],
            env=dict(env),
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_for_workers(broker, 1)
            result: list[int] = []
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                command = threading.Thread(
                    target=lambda: result.append(main(["backfill", "--start", START, "--end", END]))
                )
                command.start()
                wait_for_a_started_run(log)
                kill_tree(worker.pid)
                killed_at = time.monotonic()
                command.join(timeout=120)
            waited = time.monotonic() - killed_at
        finally:
            kill_tree(worker.pid)
            worker.wait()
            stop_embedded_postgres(tmp_path / "killed" / "dagster_home")
    output = joined(printed.getvalue())
    assert result == [1], output
    assert "its worker w1@" in output
    assert "stopped answering for 10 s" in output
    assert waited < 60


def kill_tree(pid: int) -> None:
    """SIGKILL to process `pid` and everything it started, as a machine going away would."""
    with contextlib.suppress(psutil.NoSuchProcess):
        family = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
        for process in family:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()


def wait_for_a_started_run(log: Path) -> None:
    """Until a run has started on a worker (read from the instance the command serves)."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        assert time.monotonic() < deadline, log.read_text()[-2000:]
        if os.environ.get("DAGSTER_POSTGRES_URL"):
            with dg.DagsterInstance.get() as instance:
                started = dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])
                if instance.get_runs(filters=started):
                    return
        time.sleep(0.2)


def stop_embedded_postgres(home: Path) -> None:
    """Stop the embedded Postgres of `home`, which a killed worker leaves counted as a user."""
    pid_file = home / "postgres" / "postmaster.pid"
    if pid_file.exists():
        with contextlib.suppress(psutil.NoSuchProcess):
            postmaster = psutil.Process(int(pid_file.read_text().split()[0]))
            postmaster.terminate()
            postmaster.wait(timeout=30)


def environment(root: Path) -> dict[str, str]:
    """This process's environment with the settings of a store and DAGSTER_HOME under `root`:
    the sample source, five tickers; the checkout's package first on the path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MARKETFLOW_")}
    env.update(
        MARKETFLOW_DATA_DIR=str(root / "data"),
        MARKETFLOW_TICKERS=TICKERS,
        DAGSTER_HOME=str(root / "dagster_home"),
        PYTHONPATH=os.pathsep.join([str(CHECKOUT), env.get("PYTHONPATH", "")]),
        COLUMNS="100",
    )
    return env


def use(monkeypatch: pytest.MonkeyPatch, env: Mapping[str, str]) -> None:
    """This process's environment made `env` (restored after the test)."""
    for name in set(os.environ) - set(env):
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def joined(output: str) -> str:
    return " ".join(output.split())


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """Debian's redis-server on a free local port, nothing kept on disk; its URL."""
    folder.mkdir()
    port = free_port()
    options = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    server = subprocess.Popen(
        [str(REDIS_SERVER), *options, "--dir", str(folder)], stdout=subprocess.DEVNULL
    )
    try:
        url = f"redis://127.0.0.1:{port}/0"
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                break
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


@contextlib.contextmanager
def celery_workers(env: Mapping[str, str], logs: list[Path]) -> Iterator[list[int]]:
    """`marketflow worker --name wN` per log file, stopped (killed if need be) after; the list
    it gives receives their exit codes then."""
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "marketflow_assets.cli", "worker", "--name", name],
            env=dict(env),
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        for name, log in zip(WORKERS, logs, strict=True)
    ]
    exits: list[int] = []
    try:
        yield exits
    finally:
        exits.extend(stop(workers))


def stop(workers: list[subprocess.Popen[bytes]]) -> list[int]:
    """SIGTERM to each worker command, which stops its Celery worker and the embedded Postgres
    when it is the last user; whatever is left after a minute is killed. Their exit codes."""
    family = [
        child for worker in workers for child in psutil.Process(worker.pid).children(recursive=True)
    ]
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
    _, alive = psutil.wait_procs(family, timeout=10)
    for process in alive:
        process.kill()
    return [worker.returncode for worker in workers]


def wait_for_workers(broker: str, count: int) -> None:
    """Until `count` workers answer a ping on the broker."""
    app = Celery(broker=broker)
    deadline = time.monotonic() + STARTUP_SECONDS
    while len(app.control.ping(timeout=1.0)) < count:
        assert time.monotonic() < deadline, f"{count} workers did not answer in time"


def backfill(extra: list[str]) -> tuple[Path, str]:
    """`marketflow backfill` of the range with this process's settings: the store and the
    output (a success asserted)."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["backfill", "--start", START, "--end", END, *extra])
    output = joined(printed.getvalue())
    assert code == 0, output
    return Settings.from_env().store_location, output


def table_names(store: Path | Lake) -> set[str]:
    with open_store(store, read_only=True) as conn:
        return {summary.table for summary in summarize_tables(conn)}


def rows(store: Path | Lake, table: str) -> pl.DataFrame:
    """Every row of `table`, in the order of its columns that are not lists or structs."""
    with open_store(store, read_only=True) as conn:
        frame = conn.sql(f"SELECT * FROM {table}").pl()
    flat = [name for name, kind in frame.schema.items() if not kind.is_nested()]
    return frame.sort(flat)
