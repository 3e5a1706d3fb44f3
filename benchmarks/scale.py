"""Scale benchmark: a synthetic universe through `marketflow backfill` and an export.

Run with `python benchmarks/scale.py [--tickers N] [--sessions N]` (2,000 x 2,520 by default,
ten years) or `make scale`. It writes the universe as one Parquet table, then runs the command
a user would run, `marketflow backfill` over all of it and `marketflow export`, with the `files`
source in a fresh store and DAGSTER_HOME, and records the wall time of each run of the staged
backfill and the peak memory of the command (it runs every stage in its own process) under
"scale" in benchmarks/results.json. Figures are measurements on the machine that ran them.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
from vpa import universe

from marketflow_assets.runs.instance import instance_server, project_instance
from marketflow_assets.settings import DEFAULT_INSTANCE, INSTANCE_NAMES, Settings

RESULTS = Path(__file__).with_name("results.json")
TARGET_SECONDS = 300
TARGET_PEAK_GIB = 6.0
SAMPLE_SECONDS = 0.2
STAGE = re.compile(r"^(Materialising|Exporting) (?P<what>.+?)(?: \(one run\).*)?$")
ENDED = re.compile(r"^Run (?P<run_id>[0-9a-f-]+) (succeeded|failed)")
# Events after which a step's own work is over and Dagster's bookkeeping of it begins.
WORK_ENDS = {
    dg.DagsterEventType.STEP_OUTPUT,
    dg.DagsterEventType.ASSET_MATERIALIZATION,
    dg.DagsterEventType.ASSET_CHECK_EVALUATION,
    dg.DagsterEventType.STEP_FAILURE,
}


class PeakMemory:
    """The largest resident memory of a process since the last `take`, sampled in a thread."""

    def __init__(self, pid: int) -> None:
        self.status = Path(f"/proc/{pid}/status")
        self.peak = 0
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        while True:
            try:
                text = self.status.read_text()
            except OSError:
                return
            kib = int(
                next(line for line in text.splitlines() if line.startswith("VmRSS")).split()[1]
            )
            self.peak = max(self.peak, kib)
            time.sleep(SAMPLE_SECONDS)

    def take(self) -> float:
        """The peak in GiB since the last call, and start again."""
        peak, self.peak = self.peak, 0
        return round(peak / 2**20, 2)


def run_command(argv: list[str], env: dict[str, str]) -> tuple[int, list[dict[str, object]]]:
    """Run `marketflow ARGV`, echoing its output; the exit code, and each run's wall time and
    peak resident memory of the command."""
    stages: list[dict[str, object]] = []
    began = None
    process = subprocess.Popen(
        [sys.executable, "-m", "marketflow_assets.cli", *argv],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    memory = PeakMemory(process.pid)
    assert process.stdout is not None
    for line in process.stdout:
        print(line, end="", flush=True)
        now = time.perf_counter()
        if match := STAGE.match(line.strip()):
            began, what = now, match["what"]
            memory.take()
        elif (ended := ENDED.match(line.strip())) and began is not None:
            stages.append(
                {
                    "stage": what,
                    "run_id": ended["run_id"],
                    "seconds": round(now - began, 2),
                    "peak_rss_gib": memory.take(),
                }
            )
            began = None
    return process.wait(), stages


def steps_work_seconds(instance: dg.DagsterInstance, run_id: str) -> float:
    """Seconds the run's steps spent in their own code: from each step's start to the first
    event that follows its work (its output, materialisation, check result or failure)."""
    started: dict[str, float] = {}
    worked = 0.0
    for record in instance.get_records_for_run(
        run_id, of_type={dg.DagsterEventType.STEP_START, *WORK_ENDS}
    ).records:
        entry = record.event_log_entry
        step = entry.step_key or ""
        if entry.dagster_event.event_type == dg.DagsterEventType.STEP_START:
            started[step] = entry.timestamp
        elif step in started:
            worked += entry.timestamp - started.pop(step)
    return worked


def add_dagster_share(stages: list[dict[str, object]], env: dict[str, str]) -> None:
    """Each stage's share of wall time outside its steps' own work (Dagster's planning and
    bookkeeping, the command's start), read from the run history the command left."""
    os.environ.update(env)
    settings = Settings.from_env(env)
    with instance_server(settings):
        instance = project_instance()
        for stage in stages:
            if len(str(stage["run_id"])) < 36:
                continue
            work = steps_work_seconds(instance, str(stage["run_id"]))
            stage["steps_work_s"] = round(work, 1)
            stage["dagster_share"] = round(1 - work / float(stage["seconds"]), 2)
        instance.dispose()


@contextlib.contextmanager
def _workspace(keep: Path | None) -> Iterator[str]:
    """The folder a run works in: `keep` (made, and left behind) or a temporary one."""
    if keep is None:
        with tempfile.TemporaryDirectory(prefix="marketflow-scale-") as tmp:
            yield tmp
    else:
        keep.mkdir(parents=True, exist_ok=True)
        yield str(keep)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickers", type=int, default=2_000)
    parser.add_argument("--sessions", type=int, default=2_520)
    parser.add_argument(
        "--instance",
        choices=INSTANCE_NAMES,
        default=DEFAULT_INSTANCE,
        help="where Dagster keeps the run history (MARKETFLOW_INSTANCE)",
    )
    parser.add_argument(
        "--postgres-url",
        help="a Postgres server of yours for the run history (MARKETFLOW_POSTGRES_URL) instead "
        "of the embedded one; not recorded",
    )
    parser.add_argument(
        "--store",
        choices=("duckdb", "lake"),
        default="duckdb",
        help="the store: the DuckDB file, or a lake of Delta tables (MARKETFLOW_LAKE)",
    )
    parser.add_argument(
        "--keep",
        type=Path,
        help="an empty folder to work in and keep (store, Dagster home, universe) for study",
    )
    args = parser.parse_args()
    if args.keep is not None and args.keep.exists() and any(args.keep.iterdir()):
        parser.error(f"--keep {args.keep} is not empty")
    with _workspace(args.keep) as tmp:
        folder = Path(tmp) / "incoming"
        folder.mkdir()
        bars = universe(args.tickers, args.sessions)
        bars.write_parquet(folder / "universe.parquet")
        first, last = bars["date"].min(), bars["date"].max()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("MARKETFLOW_")},
            "MARKETFLOW_SOURCE": "files",
            "MARKETFLOW_FILES_DIR": str(folder),
            "MARKETFLOW_DATA_DIR": str(Path(tmp) / "data"),
            "MARKETFLOW_START_DATE": first.isoformat(),
            "DAGSTER_HOME": str(Path(tmp) / "dagster_home"),
            "MARKETFLOW_INSTANCE": args.instance,
            "COLUMNS": "200",
        }
        if args.postgres_url:
            env["MARKETFLOW_POSTGRES_URL"] = args.postgres_url
        if args.store == "lake":
            env["MARKETFLOW_LAKE"] = str(Path(tmp) / "data" / "lake")
        began = time.perf_counter()
        code, stages = run_command(
            ["backfill", "--start", first.isoformat(), "--end", last.isoformat()], env
        )
        backfill_s = time.perf_counter() - began
        if code == 0:
            code, export = run_command(["export", "--name", "scale"], env)
            stages += export
        total_s = time.perf_counter() - began
        add_dagster_share(stages, env)
    peak_gib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    figures = {
        "tickers": args.tickers,
        "instance": args.instance,
        "store": args.store,
        "sessions": args.sessions,
        "bars": bars.height,
        "succeeded": code == 0,
        "stages": stages,
        "backfill_s": round(backfill_s, 1),
        "end_to_end_s": round(total_s, 1),
        "peak_rss_gib": round(peak_gib, 2),
        "target": f"< {TARGET_SECONDS} s end to end and < {TARGET_PEAK_GIB} GiB peak",
        "meets_target": code == 0 and total_s < TARGET_SECONDS and peak_gib < TARGET_PEAK_GIB,
        "measured_on": dt.date.today().isoformat(),
    }
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    instance = f"{args.instance} (own server)" if args.postgres_url else args.instance
    figures["instance"] = instance
    key = f"{args.tickers}x{args.sessions} {instance}"
    results.setdefault("scale", {})[key if args.store == "duckdb" else f"{key} lake"] = figures
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    return 0 if figures["meets_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
