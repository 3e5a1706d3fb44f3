"""Run metadata of the training assets: counts a person checks at a glance in the UI."""

from __future__ import annotations

from typing import Any

import polars as pl

from marketflow_assets.training.counts import RunningCounts
from marketflow_assets.training.export import ExportSummary


def snapshot_counts() -> RunningCounts:
    """The counts `snapshot_summary` reports, to be fed each chunk's snapshots."""
    return RunningCounts("ticker", "warmup", "signal", "market_condition")


def selection_counts() -> RunningCounts:
    """The counts of the snapshots given pairs that `pair_summary` reports."""
    return RunningCounts(quiet=(pl.col("signal") == "HOLD") & (pl.col("events").list.len() == 0))


def pair_counts() -> RunningCounts:
    """The counts of the pairs that `pair_summary` reports."""
    return RunningCounts("conversation_type", "signal")


def snapshot_summary(snapshots: RunningCounts) -> dict[str, Any]:
    """Rows, tickers, warm-up rows, and snapshots by signal and by market condition."""
    return {
        "rows": snapshots.rows,
        "tickers": len(snapshots.of("ticker")),
        "warmup_rows": snapshots.of("warmup").get("true", 0),
        "by_signal": snapshots.of("signal"),
        "by_market_condition": snapshots.of("market_condition"),
    }


def pair_summary(
    selected: RunningCounts,
    pairs: RunningCounts,
    seconds: float,
    template_hashes: dict[str, str],
) -> dict[str, Any]:
    """Sessions given pairs, pairs by conversation type and signal, rendering speed, templates."""
    return {
        "rows": pairs.rows,
        "sessions_with_pairs": selected.rows,
        "quiet_sessions": selected.of("quiet").get("true", 0),
        "by_conversation_type": pairs.of("conversation_type"),
        "by_signal": pairs.of("signal"),
        "pairs_per_second": round(pairs.rows / seconds) if seconds > 0 else None,
        "template_hashes": template_hashes,
    }


def export_summary(summary: ExportSummary) -> dict[str, Any]:
    """Counts that describe one export, for run metadata: rows per split written, what was
    purged or capped, how it was split and why."""
    return {
        "pairs_in": summary.pairs_in,
        **{f"{split}_rows": rows for split, rows in summary.rows.items()},
        "split": summary.split,
        **({"split_note": summary.note} if summary.note else {}),
        "purged": summary.purged,
        "near_duplicates_dropped": summary.near_duplicates_dropped,
        "manifest_sha256": summary.manifest_sha256,
    }
