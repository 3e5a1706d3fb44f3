"""The scorecard of the signals: how often each kind of signal was right, against the base rate
of its direction, and what a follower of it earned.

A group is a signal type with a strength ("all" or one) and a pattern ("all" or one rule id),
over all years ("all") or one. Each row is stacked once per group it belongs to (a signal with
two patterns once per pattern), so that one `group_by` computes every group. Warm-up rows are
left out, and only outcomes with a known hit count as matured.
"""

from __future__ import annotations

import polars as pl

from marketflow_assets.validation.outcomes import HORIZONS as SESSION_HORIZONS
from marketflow_assets.validation.outcomes import hit_for
from marketflow_assets.validation.stats import (
    EMPTY_RELIABILITY,
    RELIABILITY,
    brier_score,
    reliability,
    spearman,
    wilson_interval,
)
from marketflow_assets.vpa.rules import PATTERN_IDS
from marketflow_assets.vpa.signals import SIGNALS, STRENGTHS

ALL = "all"
GROUP_COLUMNS = ("signal", "strength", "pattern", "period")
# The return columns of the outcomes, by the suffix of their scorecard columns.
HORIZONS = (*(str(h) for h in SESSION_HORIZONS), "window")
SCORECARD_COLUMNS = (
    *GROUP_COLUMNS,
    "signals",
    "matured",
    "hits",
    "hit_rate",
    "hit_low",
    "hit_high",
    "base_rate",
    *(f"{stat}_ret_{h}" for h in HORIZONS for stat in ("mean", "median", "excess")),
    "mfe_mean",
    "mae_mean",
    "target_rate",
    "stop_rate",
    "time_rate",
    "profit_factor",
    "brier",
    "rank_corr",
    "reliability",
    "ready",
)
_DTYPES = {
    **dict.fromkeys(GROUP_COLUMNS, pl.String),
    **dict.fromkeys(("signals", "matured", "hits"), pl.Int32),
    "reliability": RELIABILITY,
    "ready": pl.Boolean,
}
SCORECARD_SCHEMA = pl.Schema(
    {column: _DTYPES.get(column, pl.Float64) for column in SCORECARD_COLUMNS}
)
# Stacking levels: (split by strength, split by pattern), each over all years and per year.
_LEVELS = ((False, False), (True, False), (False, True))


def signed_return(ret: pl.Expr, signal: pl.Expr) -> pl.Expr:
    """What a follower of the signal earned: BUY r, SELL -r, HOLD -|r| (closer to 0 is better)."""
    return (
        pl.when(signal == "BUY")
        .then(ret)
        .when(signal == "SELL")
        .then(-ret)
        .when(signal == "HOLD")
        .then(-ret.abs())
    )


def build_scorecard(
    signals: pl.DataFrame, outcomes: pl.DataFrame, *, hold_band: float, ready_min_matured: int
) -> pl.DataFrame:
    """One row per group with at least one emitted non-warm-up signal (SCORECARD_COLUMNS),
    sorted by signal, strength, pattern and period ("all" first).

    `signals` (rows of the `signals` table) gives the emitted counts; `outcomes` (the outcomes
    frame) the rest, from its matured rows. Both hold one rules version. A row is ready with
    at least `ready_min_matured` matured signals and a Wilson lower bound above the base rate.
    """
    emitted = (
        _stack(
            signals.lazy()
            .filter(~pl.col("warmup"))
            .select(
                "date",
                pl.col("signal").cast(pl.String),
                pl.col("strength").cast(pl.String),
                pl.col("reason_codes")
                .list.eval(pl.element().filter(pl.element().is_in(PATTERN_IDS)))
                .alias("patterns"),
            )
        )
        .group_by(GROUP_COLUMNS)
        .agg(pl.len().alias("signals"))
    )
    matured = (
        outcomes.lazy()
        .filter(~pl.col("warmup") & pl.col("hit").is_not_null())
        .with_columns(pl.col("signal").cast(pl.String), pl.col("strength").cast(pl.String))
    )
    scored = (
        emitted.join(_group_stats(matured), on=GROUP_COLUMNS, how="left")
        .join(_base(matured, hold_band), on=["signal", "period"], how="left")
        .with_columns(pl.col("matured", "hits").fill_null(0))
        .with_columns(_derived(ready_min_matured))
        .select(SCORECARD_COLUMNS)
        .collect()
    )
    return scored.cast(dict(SCORECARD_SCHEMA)).sort(
        pl.col("signal").replace_strict(SIGNALS, range(len(SIGNALS)), default=len(SIGNALS)),
        pl.col("strength").replace_strict(
            (ALL, *STRENGTHS), range(len(STRENGTHS) + 1), default=len(STRENGTHS) + 1
        ),
        pl.col("pattern") != ALL,
        "pattern",
        pl.col("period") != ALL,
        "period",
    )


def _periods(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Each row twice: with period "all" and with the year of its date."""
    return pl.concat(
        [
            frame.with_columns(pl.lit(ALL).alias("period")),
            frame.with_columns(pl.col("date").dt.year().cast(pl.String).alias("period")),
        ]
    )


def _stack(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Each row once per group it belongs to, keyed by GROUP_COLUMNS."""
    levels = []
    for by_strength, by_pattern in _LEVELS:
        level = frame.with_columns(
            pl.col("strength") if by_strength else pl.lit(ALL).alias("strength"),
            (pl.col("patterns").list.unique() if by_pattern else pl.lit([ALL])).alias("pattern"),
        )
        levels.append(level.explode("pattern").filter(pl.col("pattern").is_not_null()))
    return _periods(pl.concat(levels).drop("patterns"))


def _group_stats(matured: pl.LazyFrame) -> pl.LazyFrame:
    """Counts, returns, excursions, barriers and forecast quality of each group's matured rows."""
    signal = pl.col("signal")
    window = pl.col("signed_window")
    frame = _stack(
        matured.select(
            "date",
            "signal",
            "strength",
            "patterns",
            "confidence",
            "hit",
            "mfe",
            "mae",
            "barrier",
            *(signed_return(pl.col(f"ret_{h}"), signal).alias(f"signed_{h}") for h in HORIZONS),
        )
    )
    return (
        frame.group_by(GROUP_COLUMNS)
        .agg(
            pl.len().alias("matured"),
            pl.col("hit").sum().alias("hits"),
            *(pl.col(f"signed_{h}").mean().alias(f"mean_ret_{h}") for h in HORIZONS),
            *(pl.col(f"signed_{h}").median().alias(f"median_ret_{h}") for h in HORIZONS),
            pl.col("mfe").mean().alias("mfe_mean"),
            pl.col("mae").mean().alias("mae_mean"),
            *(
                (pl.col("barrier") == name).mean().alias(f"{name}_rate")
                for name in ("target", "stop", "time")
            ),
            window.clip(lower_bound=0).sum().alias("_gains"),
            (-window).clip(lower_bound=0).sum().alias("_losses"),
            brier_score(pl.col("confidence"), pl.col("hit")).alias("brier"),
            spearman(pl.col("confidence"), window).alias("rank_corr"),
        )
        .join(reliability(frame, GROUP_COLUMNS), on=GROUP_COLUMNS, how="left")
    )


def _base(matured: pl.LazyFrame, hold_band: float) -> pl.LazyFrame:
    """Per period and direction, over all matured rows whatever their signal: the share that
    would have been a hit for the direction and the mean signed return at each horizon."""
    directions = pl.LazyFrame({"signal": SIGNALS})
    frame = _periods(matured.select("date", "max_move", *(f"ret_{h}" for h in HORIZONS))).join(
        directions, how="cross"
    )
    signal = pl.col("signal")
    return frame.group_by("period", "signal").agg(
        hit_for(signal, pl.col("ret_window"), pl.col("max_move"), hold_band)
        .mean()
        .alias("base_rate"),
        *(
            signed_return(pl.col(f"ret_{h}"), signal).mean().alias(f"_base_ret_{h}")
            for h in HORIZONS
        ),
    )


def _derived(ready_min_matured: int) -> list[pl.Expr]:
    """Columns computed from a group's aggregates and its base."""
    matured, hits = pl.col("matured"), pl.col("hits")
    low, high = wilson_interval(hits, matured)
    losses = pl.col("_losses")
    return [
        pl.when(matured > 0).then(hits / matured).alias("hit_rate"),
        low.alias("hit_low"),
        high.alias("hit_high"),
        *(
            (pl.col(f"mean_ret_{h}") - pl.col(f"_base_ret_{h}")).alias(f"excess_ret_{h}")
            for h in HORIZONS
        ),
        pl.when((pl.col("signal") != "HOLD") & (losses > 0))
        .then(pl.col("_gains") / losses)
        .alias("profit_factor"),
        # A group without matured rows: ten empty bins.
        pl.col("reliability").fill_null(pl.lit(pl.Series([EMPTY_RELIABILITY], dtype=RELIABILITY))),
        ((matured >= ready_min_matured) & (low > pl.col("base_rate")))
        .fill_null(False)
        .alias("ready"),
    ]
