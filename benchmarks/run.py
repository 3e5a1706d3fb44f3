"""Benchmarks: time each stage on the real sample and record the figures in benchmarks/results.json.

Run with `make bench`. Figures are measurements on the machine that ran them, not test targets.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import dagster as dg
from training import bench_training
from validation import bench_validation
from vpa import bench_vpa

from marketflow_assets.calendar import sessions_between
from marketflow_assets.definitions import build_definitions, definitions_for
from marketflow_assets.defs.area import AreaContext
from marketflow_assets.runs.launch import run_stage
from marketflow_assets.runs.plan import selection_stage, staged_backfill
from marketflow_assets.settings import INSTANCE_CONFIG, Settings
from marketflow_assets.sources import sample
from marketflow_assets.sources.quality import sort_bars
from marketflow_assets.store.connection import open_store
from marketflow_assets.store.writes import replace_windows

T = TypeVar("T")
RESULTS = Path(__file__).with_name("results.json")


def timed(fn: Callable[..., T], *args: object) -> tuple[T, float]:
    """`fn(*args)` and the seconds it took."""
    start = time.perf_counter()
    value = fn(*args)
    return value, time.perf_counter() - start


def bench_ingest(workdir: Path) -> dict[str, object]:
    """The whole sample through `daily_bars`: the core stages alone, then a real Dagster run."""
    sample.load_sample.cache_clear()
    bars, fetch_s = timed(
        sample.SampleSource().fetch, None, dt.date(2009, 8, 21), dt.date(2010, 8, 20)
    )
    sessions = sessions_between(dt.date(2009, 8, 21), dt.date(2010, 8, 20))
    result, sort_s = timed(sort_bars, bars, sessions, "sample")
    frames = {"bars": result.bars, "quarantine": result.quarantine}
    with open_store(workdir / "core.duckdb") as conn:
        _, write_s = timed(replace_windows, conn, frames, sessions[0], sessions[-1])
        _, rewrite_s = timed(replace_windows, conn, frames, sessions[0], sessions[-1])

    settings = Settings.from_env({"MARKETFLOW_DATA_DIR": str(workdir / "data")})
    home = workdir / "home"
    home.mkdir()
    shutil.copyfile(INSTANCE_CONFIG, home / "dagster.yaml")
    instance = dg.DagsterInstance.from_config(str(home))
    defs = build_definitions(settings)
    first, last = sessions[0].isoformat(), sessions[-1].isoformat()
    run, run_s = timed(run_stage, defs, selection_stage(first, last, ["daily_bars"]), instance)
    assert run.success
    whole_home = workdir / "whole_home"
    whole_home.mkdir()
    shutil.copyfile(INSTANCE_CONFIG, whole_home / "dagster.yaml")
    whole_settings = Settings.from_env({"MARKETFLOW_DATA_DIR": str(workdir / "whole")})
    stages, whole_s = timed(
        run_staged,
        AreaContext.from_settings(whole_settings),
        first,
        last,
        dg.DagsterInstance.from_config(str(whole_home)),
    )
    rows = bars.height
    return {
        "bars": rows,
        "sessions": len(sessions),
        "fetch_s": round(fetch_s, 3),
        "quality_s": round(sort_s, 3),
        "store_write_s": round(write_s, 3),
        "store_rewrite_s": round(rewrite_s, 3),
        "core_bars_per_s": round(rows / (fetch_s + sort_s + write_s)),
        "dagster_run_s_note": "one run of daily_bars and its 2 checks on a SQLite instance",
        "dagster_run_s": round(run_s, 2),
        "dagster_run_bars_per_s": round(rows / run_s),
        "whole_pipeline_run_s_note": (
            "the staged backfill of `marketflow demo` without the export: " + "; ".join(stages)
        ),
        "whole_pipeline_run_s": round(whole_s, 2),
        "target": "whole sample ingested through daily_bars in < 10 s",
        "meets_target": run_s < 10,
    }


def run_staged(area: AreaContext, first: str, last: str, instance: dg.DagsterInstance) -> list[str]:
    """Every run of the staged backfill of [first, last]; what each materialised."""
    defs = definitions_for(area)
    done = []
    for stage in staged_backfill(first, last, area):
        assert run_stage(defs, stage, instance).success, stage.describe()
        done.append(stage.describe())
    return done


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        figures = {"ingest_sample": bench_ingest(Path(tmp))}
    figures["vpa"] = bench_vpa()
    figures["training"] = bench_training()
    figures["validation"] = bench_validation()
    figures["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    figures["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count()}
    figures["measured_on"] = dt.date.today().isoformat()
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    stages = ("ingest_sample", "vpa", "training", "validation")
    met = [figures[stage]["meets_target"] for stage in stages]
    met.append(figures["training"]["lint_meets_target"])
    return 0 if all(met) else 1


if __name__ == "__main__":
    sys.exit(main())
