"""The UI path works: `dagster dev` serves the asset list over GraphQL and runs a partition.

This starts the real webserver and daemon (`dagster dev -w workspace.yaml`) as a subprocess,
with DAGSTER_HOME and the DuckDB store in pytest's tmp_path, and talks to it only over
http://127.0.0.1:<free port>/graphql, the same API the UI uses.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from marketflow_assets.settings import INSTANCE_CONFIG, PROJECT_ROOT

PARTITION = "2009-08-21"  # the first partition: its VPA needs no earlier history
JOB_NAME = "daily_pipeline"
STARTUP_TIMEOUT_S = 120.0
RUN_TIMEOUT_S = 180.0
TERMINAL_STATUSES = {"SUCCESS", "FAILURE", "CANCELED"}
DAGSTER_BIN = Path(sys.executable).parent / "dagster"


@dataclass
class Server:
    """A running `dagster dev` subprocess and where to reach and debug it."""

    process: subprocess.Popen[bytes]
    url: str
    log_path: Path
    duckdb_path: Path

    def log_tail(self, lines: int = 60) -> str:
        """The last lines of the server's combined stdout/stderr, for assertion messages."""
        if not self.log_path.exists():
            return "<no server log>"
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """POST one GraphQL request; return `data`, failing the test on GraphQL errors."""
        payload = post_graphql(self.url, query, variables, timeout=30.0)
        assert not payload.get("errors"), (
            f"GraphQL errors: {payload['errors']}\n--- server log ---\n{self.log_tail()}"
        )
        return payload["data"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def post_graphql(
    url: str, query: str, variables: dict[str, Any] | None, timeout: float
) -> dict[str, Any]:
    """The decoded JSON answer of one GraphQL POST (raises URLError when nobody answers)."""
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


WORKSPACE_QUERY = """
query Workspace {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError {
          __typename
          ... on RepositoryLocation { name repositories { name } }
          ... on PythonError { message stack }
        }
      }
    }
    ... on PythonError { message stack }
  }
}
"""

ASSETS_QUERY = """
query Assets {
  assetNodes { assetKey { path } isPartitioned }
}
"""

LAUNCH_RUN_MUTATION = """
mutation Launch($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on Error { message }
    ... on PythonError { stack }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}
"""

RUN_QUERY = """
query Run($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run {
      status
      tags { key value }
      eventConnection {
        events {
          __typename
          ... on MessageEvent { message level stepKey }
          ... on ErrorEvent { error { message stack } }
        }
      }
    }
    ... on Error { message }
  }
}
"""


def wait_for_location(server: Server) -> tuple[str, str]:
    """Poll until the code location is loaded; return (location name, repository name)."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    last = "no answer yet"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(
                f"dagster dev exited with {server.process.returncode} before serving\n"
                f"--- server log ---\n{server.log_tail()}"
            )
        try:
            payload = post_graphql(server.url, WORKSPACE_QUERY, None, timeout=5.0)
        except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError) as exc:
            last = repr(exc)
            time.sleep(0.5)
            continue
        last = json.dumps(payload)[:2000]
        workspace = (payload.get("data") or {}).get("workspaceOrError") or {}
        for entry in workspace.get("locationEntries") or []:
            location = entry.get("locationOrLoadError") or {}
            if location.get("__typename") == "PythonError":
                pytest.fail(
                    f"code location {entry['name']} failed to load: {location['message']}\n"
                    f"{''.join(location.get('stack') or [])}\n"
                    f"--- server log ---\n{server.log_tail()}"
                )
            if entry.get("loadStatus") == "LOADED" and location.get("repositories"):
                return location["name"], location["repositories"][0]["name"]
        time.sleep(0.5)
    pytest.fail(
        f"no loaded code location after {STARTUP_TIMEOUT_S:.0f}s; last answer: {last}\n"
        f"--- server log ---\n{server.log_tail()}"
    )


def wait_for_run(server: Server, run_id: str) -> dict[str, Any]:
    """Poll the run through GraphQL until it reaches a terminal status; return the run."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    run: dict[str, Any] = {}
    while time.monotonic() < deadline:
        run = server.graphql(RUN_QUERY, {"runId": run_id})["runOrError"]
        assert run["__typename"] == "Run", f"runOrError: {run}"
        if run["status"] in TERMINAL_STATUSES:
            return run
        time.sleep(1.0)
    pytest.fail(
        f"run {run_id} still {run.get('status')} after {RUN_TIMEOUT_S:.0f}s\n"
        f"{failure_messages(run)}\n--- server log ---\n{server.log_tail()}"
    )


def failure_messages(run: dict[str, Any]) -> str:
    """The error-level event messages (and error stacks) of a run, one per line."""
    lines = []
    for event in (run.get("eventConnection") or {}).get("events") or []:
        error = event.get("error")
        if event.get("level") in ("ERROR", "CRITICAL") or error:
            lines.append(f"[{event['__typename']}] {event.get('stepKey')}: {event.get('message')}")
            if error:
                lines.append(f"  {error['message']}{''.join(error.get('stack') or [])}")
    return "\n".join(lines) or "<no error events>"


def stop_process_group(process: subprocess.Popen[bytes]) -> None:
    """Interrupt the server's whole process group, then kill whatever is left of it.

    The process was started with start_new_session=True, so its pid is the group id; the
    daemon, code server and run workers are in that group and must not outlive the test.
    """
    for sig, wait_s in ((signal.SIGINT, 20.0), (signal.SIGTERM, 10.0)):
        if process.poll() is not None:
            break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=wait_s)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10.0)


@pytest.fixture
def dagster_server(tmp_path: Path) -> Iterator[Server]:
    """`dagster dev` on a free 127.0.0.1 port, with DAGSTER_HOME and DuckDB in tmp_path."""
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    shutil.copy(INSTANCE_CONFIG, dagster_home / "dagster.yaml")
    duckdb_path = tmp_path / "store" / "marketflow.duckdb"
    log_path = tmp_path / "dagster_dev.log"
    port = free_port()

    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MARKETFLOW_", "DAGSTER_"))
    }
    env.update(
        {
            "DAGSTER_HOME": str(dagster_home),
            "MARKETFLOW_DUCKDB": str(duckdb_path),
            "MARKETFLOW_DATA_DIR": str(tmp_path / "data"),
            "MARKETFLOW_SOURCE": "sample",
            "DAGSTER_DISABLE_TELEMETRY": "1",
        }
    )
    command = [
        str(DAGSTER_BIN),
        "dev",
        "-w",
        str(PROJECT_ROOT / "workspace.yaml"),
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(process, f"http://127.0.0.1:{port}/graphql", log_path, duckdb_path)
    try:
        yield server
    finally:
        stop_process_group(process)


def test_webserver_lists_assets_and_runs_a_partition(dagster_server: Server) -> None:
    """The UI path works end to end.

    The webserver started by `dagster dev` answers GraphQL with the asset list (including
    `daily_bars`); a run of `daily_pipeline` for the first partition launched through GraphQL
    is queued, picked up by the daemon and succeeds; and the bars, features and signals of that
    session are then in the test's own DuckDB file (never the real store).
    """
    server = dagster_server
    location_name, repository_name = wait_for_location(server)

    asset_nodes = server.graphql(ASSETS_QUERY)["assetNodes"]
    asset_keys = {"/".join(node["assetKey"]["path"]) for node in asset_nodes}
    assert "daily_bars" in asset_keys, f"asset list from GraphQL: {sorted(asset_keys)}"
    assert all(n["isPartitioned"] for n in asset_nodes if n["assetKey"]["path"] == ["daily_bars"])

    launched = server.graphql(
        LAUNCH_RUN_MUTATION,
        {
            "executionParams": {
                "selector": {
                    "repositoryLocationName": location_name,
                    "repositoryName": repository_name,
                    "jobName": JOB_NAME,
                },
                "executionMetadata": {"tags": [{"key": "dagster/partition", "value": PARTITION}]},
            }
        },
    )["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", (
        f"launchRun: {launched}\n--- server log ---\n{server.log_tail()}"
    )
    run_id = launched["run"]["runId"]

    run = wait_for_run(server, run_id)
    assert run["status"] == "SUCCESS", (
        f"run {run_id} ended {run['status']}:\n{failure_messages(run)}\n"
        f"--- server log ---\n{server.log_tail()}"
    )
    tags = {tag["key"]: tag["value"] for tag in run["tags"]}
    assert tags.get("dagster/partition") == PARTITION

    assert server.duckdb_path.exists(), f"the run wrote no store at {server.duckdb_path}"
    with duckdb.connect(str(server.duckdb_path), read_only=True) as conn:
        counts = conn.execute(
            "SELECT count(*) FILTER (date = ?), count(*) FILTER (date <> ?) FROM bars",
            [PARTITION, PARTITION],
        ).fetchone()
        analysed = conn.execute(
            "SELECT (SELECT count(*) FROM features), (SELECT count(*) FROM signals)"
        ).fetchone()
    assert counts is not None
    rows, other_days = counts
    assert rows > 400, f"expected ~500 bars for {PARTITION}, found {rows}"
    assert other_days == 0, f"the run wrote {other_days} bars outside partition {PARTITION}"
    assert analysed == (rows, rows), f"features and signals rows {analysed} for {rows} bars"
