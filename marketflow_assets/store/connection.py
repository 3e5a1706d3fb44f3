"""Opening the DuckDB store, migrated, for scripts, notebooks and the command line."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import duckdb

from marketflow_assets.store.lake import Lake, attach_lake
from marketflow_assets.store.migrate import apply_migrations
from marketflow_assets.store.writes import WINDOW_TABLES

# DuckDB names the process holding a file's lock: "Conflicting lock is held in
# /usr/bin/python3.11 (PID 1234)", some versions adding "by user NAME".
LOCK_HOLDER = re.compile(r"Conflicting lock is held in (?P<program>.+?) \(PID (?P<pid>\d+)\)")
# DuckDB needs some buffers for any query; a smaller budget gets this much.
DUCKDB_FLOOR_MIB = 256
# Characters of the holder's command line quoted in the message.
COMMAND_WIDTH = 100


class StoreBusyError(RuntimeError):
    """Another process holds the DuckDB file's lock; the message says which and what to do."""


@contextmanager
def open_store(
    path: Path | str | Lake, read_only: bool = False, memory_mib: int | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the store at `path` (a DuckDB file, or a `Lake`), migrated unless
    read-only; closed on exit. With `memory_mib` (at least DUCKDB_FLOOR_MIB), DuckDB keeps its
    buffers within it and spills beyond (its default is most of the machine's memory, which a
    long run fills)."""
    if isinstance(path, Lake):
        with _open_lake(path, read_only, memory_mib) as conn:
            yield conn
        return
    path = Path(path)
    if read_only and not path.exists():
        raise FileNotFoundError(f"{path}: no store yet; run `marketflow demo` or a backfill first")
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        if "lock" not in str(exc).lower():
            raise
        raise StoreBusyError(busy_message(path, str(exc))) from exc
    try:
        # Its bar would print into the command's own progress display.
        conn.execute("SET enable_progress_bar = false")
        if memory_mib is not None:
            limit_memory(conn, memory_mib)
        if not read_only:
            apply_migrations(conn)
        yield conn
    finally:
        conn.close()


def store_exists(location: Path | str | Lake) -> bool:
    """Whether a store has been made at `location` (a DuckDB file, or a lake's folder)."""
    return location.root.is_dir() if isinstance(location, Lake) else Path(location).exists()


@contextmanager
def _open_lake(
    lake: Lake, read_only: bool, memory_mib: int | None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB connection reading (and writing) `lake`'s Delta tables."""
    conn = duckdb.connect()
    try:
        conn.execute("SET enable_progress_bar = false")
        if memory_mib is not None:
            limit_memory(conn, memory_mib)
        attach_lake(conn, lake, WINDOW_TABLES, read_only=read_only)
        yield conn
    finally:
        conn.close()


def limit_memory(conn: duckdb.DuckDBPyConnection, memory_mib: int) -> None:
    """Hold DuckDB's buffers (its cache of the file's blocks included) to `memory_mib`, at least
    DUCKDB_FLOOR_MIB; DuckDB spills beyond it."""
    limit = max(int(memory_mib), DUCKDB_FLOOR_MIB)
    conn.execute(f"SET memory_limit = '{limit}MiB'")


def busy_message(path: Path, error: str) -> str:
    """Who holds the lock DuckDB's `error` names, and what to do (a notebook is no job to await)."""
    match = LOCK_HOLDER.search(error)
    if match is None:
        return (
            f"{path} is in use by another process (DuckDB allows one writer, and no writer while "
            "another process has the file open): wait for a running job or `marketflow` command "
            "to finish, or close the connection a notebook or script holds"
        )
    pid = int(match["pid"])
    argv = command_line(pid)
    if argv is None:
        return (
            f"{path} is held by PID {pid} ({match['program']}), whose command line cannot be "
            "read: wait for it to finish if it is a job or a `marketflow` command, otherwise "
            f"close its connection to the store or end process {pid}"
        )
    kind, advice = holder_kind(argv)
    command = " ".join(" ".join(argv).split())
    if len(command) > COMMAND_WIDTH:
        command = command[: COMMAND_WIDTH - 3] + "..."
    return f"{path} is held by PID {pid}, {kind} (`{command}`): {advice}"


def command_line(pid: int) -> list[str] | None:
    """The arguments process `pid` was started with, from /proc; None where they cannot be read."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    argv = [part.decode(errors="replace") for part in raw.split(b"\0") if part]
    return argv or None


def holder_kind(argv: Sequence[str]) -> tuple[str, str]:
    """The kind of process `argv` starts (a Dagster run, a notebook...) and what to do about it."""
    names = [Path(arg).name for arg in argv[:4]]
    words = set(argv)
    after_run = "try again when the run has finished (the Dagster UI shows it)"
    if any(name.startswith("dagster") for name in names) or "dagster" in words:
        if {"execute_run", "resume_run", "execute_step"} & words:
            return "a Dagster run", after_run
        if {"grpc", "code-server"} & words:
            return "a Dagster code server", "try again in a moment (a sensor is reading the store)"
        if any("daemon" in name for name in names) or "daemon" in words:
            return "the Dagster daemon", "try again in a moment"
        if any("webserver" in name for name in names) or "dev" in words:
            return "the Dagster webserver", after_run
        return "a Dagster process", after_run
    if "marketflow" in names or "marketflow_assets.cli" in words:
        return "a `marketflow` command", "try again when it has finished"
    if any("ipykernel" in arg for arg in argv):
        kind = "a notebook kernel"
    elif names[0].startswith("python"):
        kind = "a Python process"
    else:
        kind = "another program"
    return kind, (
        "it is not a running job, so waiting will not help. DuckDB lets no process write while "
        "another has the file open, even read-only: close that connection (`conn.close()`) or "
        "end the process, then try again"
    )
