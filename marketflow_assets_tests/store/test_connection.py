"""Opening the store: a lock held by another process is named, with what to do about it."""

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from marketflow_assets.store.connection import (
    StoreBusyError,
    busy_message,
    holder_kind,
    open_store,
)

# A notebook's connection: the store opened read-only, held until the process is ended.
NOTEBOOK = (
    "import sys, time, duckdb\n"
    "conn = duckdb.connect(sys.argv[1], read_only=True)\n"
    "print('ready', flush=True)\n"
    "time.sleep(120)\n"
)


@contextmanager
def held_by_python(store: Path) -> Iterator[int]:
    """A plain Python process holding `store` open read-only, as a notebook would; yields its
    PID and ends it on exit, whatever happened."""
    holder = subprocess.Popen(
        [sys.executable, "-c", NOTEBOOK, str(store)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready"
        yield holder.pid
    finally:
        holder.kill()
        holder.wait(timeout=30)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "marketflow.duckdb"
    with open_store(path):
        pass
    return path


def test_a_store_held_by_a_python_process_names_it_and_is_not_taken_for_a_job(
    store: Path,
) -> None:
    with held_by_python(store) as pid, pytest.raises(StoreBusyError) as busy, open_store(store):
        pass
    message = str(busy.value)
    assert message.startswith(f"{store} is held by PID {pid}, a Python process (`")
    assert "it is not a running job, so waiting will not help" in message
    assert "close that connection (`conn.close()`) or end the process" in message
    # Once the holder has gone, the store opens for writing again.
    with open_store(store) as conn:
        assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] > 0


@pytest.mark.parametrize(
    ("argv", "kind"),
    [
        (["/v/bin/python", "-m", "dagster", "api", "execute_run", "{...}"], "a Dagster run"),
        (["/v/bin/python", "-m", "dagster", "api", "grpc", "-p", "4000"], "a Dagster code server"),
        (["/v/bin/python", "-m", "dagster._daemon", "run"], "the Dagster daemon"),
        (["/v/bin/dagster-daemon", "run"], "the Dagster daemon"),
        (["/v/bin/python", "-m", "dagster_webserver", "-p", "3000"], "the Dagster webserver"),
        (
            ["/v/bin/python", "/v/bin/marketflow", "review", "approve", "ab12"],
            "a `marketflow` command",
        ),
        (["/v/bin/python", "-m", "marketflow_assets.cli", "backfill"], "a `marketflow` command"),
        (["/v/bin/python", "-m", "ipykernel_launcher", "-f", "k.json"], "a notebook kernel"),
        (["python3.11"], "a Python process"),
        (["/usr/bin/duckdb", "marketflow.duckdb"], "another program"),
    ],
)
def test_the_kind_of_holder_comes_from_its_command_line(argv: list[str], kind: str) -> None:
    assert holder_kind(argv)[0] == kind


def test_jobs_are_waited_for_other_holders_closed() -> None:
    assert holder_kind(["dagster", "api", "execute_run"])[1].startswith("try again when the run")
    assert holder_kind(["python3", "-c", "..."])[1].startswith("it is not a running job")


def test_a_holder_whose_command_line_cannot_be_read_is_named_by_its_program() -> None:
    # No process has a PID above the kernel's largest pid_max (2**22).
    error = (
        'IO Error: Could not set lock on file "/d/s.duckdb": Conflicting lock is held in '
        "/usr/bin/python3.11 (PID 4194305). However, you would be able to open this database "
        "in read-only mode"
    )
    message = busy_message(Path("/d/s.duckdb"), error)
    assert message.startswith(
        "/d/s.duckdb is held by PID 4194305 (/usr/bin/python3.11), whose command line cannot "
        "be read"
    )
    assert "end process 4194305" in message


def test_a_lock_error_without_a_holder_still_says_what_to_do() -> None:
    message = busy_message(Path("/d/s.duckdb"), "IO Error: Could not set lock on file")
    assert message.startswith("/d/s.duckdb is in use by another process")
    assert "close the connection a notebook or script holds" in message


def test_a_memory_budget_holds_duckdb_to_it(tmp_path: Path) -> None:
    with open_store(tmp_path / "s.duckdb", memory_mib=512) as conn:
        (limit,) = conn.execute("SELECT current_setting('memory_limit')").fetchall()[0]
    assert limit == "512.0 MiB"
    with open_store(tmp_path / "s.duckdb", memory_mib=1) as conn:
        (floor,) = conn.execute("SELECT current_setting('memory_limit')").fetchall()[0]
    assert floor == "256.0 MiB"  # DuckDB needs some room for any query
    with open_store(tmp_path / "s.duckdb") as conn:
        (default,) = conn.execute("SELECT current_setting('memory_limit')").fetchall()[0]
    assert default != "512.0 MiB"
