"""Training benchmark: the real sample's snapshots, rendered pairs, their lint, and an export.

Run with `python benchmarks/training.py`; `benchmarks/run.py` calls `bench_training()` and records
the figures under "training". Rendering is timed in this one process (one core). Figures are
measurements on the machine that ran them, not test targets.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

from marketflow_assets.chain import sample_chain
from marketflow_assets.settings import Settings
from marketflow_assets.store.export_reads import frame_pairs
from marketflow_assets.training.export import export_dataset
from marketflow_assets.training.lint import lint_pairs
from marketflow_assets.training.pairs import render_pairs, select_snapshots
from marketflow_assets.training.templates import load_templates
from marketflow_assets.vpa import load_rules

TARGET_PAIRS_PER_S = 20_000
TARGET_LINT_S = 20.0
REPEATS = 3


def sample_snapshots() -> tuple[pl.DataFrame, float]:
    """Every snapshot of the sample, calibrated by its matured outcomes, and the seconds
    `build_snapshots` took."""
    rules = load_rules()
    chain = sample_chain(rules)
    began = time.perf_counter()
    snapshots = chain.snapshots(rules)
    return snapshots, time.perf_counter() - began


def _review_columns(pairs: pl.DataFrame) -> pl.DataFrame:
    """Pairs as the reviewed_pairs view gives them, all pending."""
    return pairs.with_columns(
        pl.lit("pending").alias("review_status"),
        *(
            pl.lit(None, dtype).alias(name)
            for name, dtype in (
                ("review_reason", pl.String),
                ("edited_response", pl.String),
                ("reviewer", pl.String),
                ("reviewed_at", pl.Datetime("us")),
            )
        ),
    )


def bench_training(repeats: int = REPEATS) -> dict[str, object]:
    """Snapshots, rendering (best of `repeats`), lint and export of the whole sample."""
    rules = load_rules()
    snapshots, snapshot_s = sample_snapshots()
    selected = select_snapshots(snapshots, rules.training.quiet_sample)
    templates = load_templates()
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        pairs = render_pairs(selected, templates)
        times.append(time.perf_counter() - began)
    render_s = min(times)
    began = time.perf_counter()
    problems = lint_pairs(pairs, snapshots)
    lint_s = time.perf_counter() - began
    with tempfile.TemporaryDirectory() as tmp, frame_pairs(_review_columns(pairs)) as source:
        began = time.perf_counter()
        summary = export_dataset(
            source,
            Path(tmp),
            name="bench",
            only_approved=False,
            rules=rules.exports,
            memory_mib=Settings.from_env().memory_mib,
        )
        export_s = time.perf_counter() - began
    pairs_per_s = pairs.height / render_s
    return {
        "snapshots": snapshots.height,
        "snapshot_s": round(snapshot_s, 3),
        "sessions_with_pairs": selected.height,
        "pairs": pairs.height,
        "render_s": round(render_s, 3),
        "render_median_s": round(sorted(times)[len(times) // 2], 3),
        "pairs_per_s": round(pairs_per_s),
        "lint_s": round(lint_s, 3),
        "lint_problems": problems.height,
        "lint_target": f"lint of every pair in < {TARGET_LINT_S:g} s",
        "lint_meets_target": lint_s < TARGET_LINT_S,
        "export_s": round(export_s, 3),
        "export_rows": dict(summary.rows),
        "export_near_duplicates_dropped": summary.near_duplicates_dropped,
        "export_purged": summary.purged,
        "target": f">= {TARGET_PAIRS_PER_S:,} pairs/s rendered on one core",
        "meets_target": pairs_per_s >= TARGET_PAIRS_PER_S,
    }


if __name__ == "__main__":
    figures = bench_training()
    print(json.dumps(figures, indent=2))
    sys.exit(0 if figures["meets_target"] and figures["lint_meets_target"] else 1)
