"""Run metadata of the validation assets: what a person checks at a glance in the UI."""

from __future__ import annotations

from typing import Any

import polars as pl


def outcome_summary(outcomes: pl.DataFrame) -> dict[str, Any]:
    """Outcomes scored, hit rate per signal type (warm-up apart), barriers and missing bars."""
    scored = outcomes.filter(~pl.col("warmup") & pl.col("hit").is_not_null())
    by_signal = (
        scored.group_by("signal")
        .agg(pl.len().alias("n"), pl.col("hit").mean().alias("rate"))
        .sort("signal")
    )
    barriers = scored["barrier"].drop_nulls().value_counts().sort("barrier")
    return {
        "rows": outcomes.height,
        "scored": scored.height,
        "warmup_rows": int(outcomes["warmup"].sum()),
        "without_bars": outcomes.filter(pl.col("bars") == 0).height,
        "missing_bars": int(outcomes["missing_bars"].sum() or 0),
        "hit_rate_by_signal": {
            row["signal"]: f"{row['rate']:.1%} of {row['n']:,}"
            for row in by_signal.iter_rows(named=True)
        },
        "barriers": dict(zip(barriers["barrier"], barriers["count"], strict=True)),
    }


def calibration_summary(calibration: pl.DataFrame, flags: pl.DataFrame) -> dict[str, Any]:
    """The multipliers and flagged rules of the window's last session, and the range seen."""
    if calibration.is_empty():
        return {"sessions": 0}
    last = calibration["date"].max()
    latest = calibration.filter(pl.col("date") == last).sort("signal")
    flagged = flags.filter((pl.col("date") == last) & pl.col("flagged"))["rule_id"]
    return {
        "sessions": calibration["date"].n_unique(),
        "last_session": str(last),
        "multipliers": {
            row["signal"]: round(row["multiplier"], 4) for row in latest.iter_rows(named=True)
        },
        "multiplier_range": {
            row["signal"]: f"{row['low']:.3f}..{row['high']:.3f}"
            for row in calibration.group_by("signal")
            .agg(pl.col("multiplier").min().alias("low"), pl.col("multiplier").max().alias("high"))
            .sort("signal")
            .iter_rows(named=True)
        },
        "flagged_rules": sorted(flagged.to_list()),
    }
