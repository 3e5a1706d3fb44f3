"""Run metadata of the training assets: counts a person checks at a glance in the UI."""

from __future__ import annotations

from typing import Any

import polars as pl

from marketflow_assets.training.export import ExportSummary


def _counts(frame: pl.DataFrame, column: str) -> dict[str, int]:
    counts = frame[column].cast(pl.String).value_counts().sort(column)
    return dict(zip(counts[column].to_list(), counts["count"].to_list(), strict=True))


def snapshot_summary(snapshots: pl.DataFrame) -> dict[str, Any]:
    """Rows, tickers, warm-up rows, and snapshots by signal and by market condition."""
    return {
        "rows": snapshots.height,
        "tickers": snapshots["ticker"].n_unique(),
        "warmup_rows": int(snapshots["warmup"].sum()),
        "by_signal": _counts(snapshots, "signal"),
        "by_market_condition": _counts(snapshots, "market_condition"),
    }


def pair_summary(
    selected: pl.DataFrame, pairs: pl.DataFrame, seconds: float, template_hashes: dict[str, str]
) -> dict[str, Any]:
    """Sessions given pairs, pairs by conversation type and signal, rendering speed, templates."""
    return {
        "rows": pairs.height,
        "sessions_with_pairs": selected.height,
        "quiet_sessions": selected.filter(
            (pl.col("signal") == "HOLD") & (pl.col("events").list.len() == 0)
        ).height,
        "by_conversation_type": _counts(pairs, "conversation_type"),
        "by_signal": _counts(pairs, "signal"),
        "pairs_per_second": round(pairs.height / seconds) if seconds > 0 else None,
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
