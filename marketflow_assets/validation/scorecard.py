"""The scorecard of the signals: how often each kind of signal was right, against the base rate
of its direction, and what a follower of it earned.

A group is a signal type with a strength ("all" or one) and a pattern ("all" or one rule id),
over all years ("all") or one. Each level of groups is aggregated on its own rows, a signal with
two patterns once per pattern. Warm-up rows are left out, and only outcomes with a known hit
count as matured.

Signals and outcomes arrive in batches, so that a long history is never held whole: counts,
sums and reliability bins of each batch add up; the medians and rank correlations, which do not,
come at the end from a lean copy of the matured rows (keys, confidence and signed returns).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence

import polars as pl

from marketflow_assets.validation.outcomes import HORIZONS as SESSION_HORIZONS
from marketflow_assets.validation.outcomes import OUTCOME_SCHEMA, hit_for
from marketflow_assets.validation.stats import (
    EMPTY_RELIABILITY,
    RELIABILITY,
    reliability,
    reliability_counts,
    spearman,
    squared_error,
    wilson_interval,
)
from marketflow_assets.vpa.rules import PATTERN_IDS
from marketflow_assets.vpa.signals import SIGNAL, SIGNALS, STRENGTH, STRENGTHS

ALL = "all"
GROUP_COLUMNS = ("signal", "strength", "pattern", "period")
# The return columns of the outcomes, by the suffix of their scorecard columns.
HORIZONS = (*(str(h) for h in SESSION_HORIZONS), "window")
BARRIERS = ("target", "stop", "time")
# What the scorecard reads of the `signals` table and of the outcomes, with their types.
SIGNAL_INPUT = pl.Schema(
    {
        "date": pl.Date,
        "signal": pl.String,
        "strength": pl.String,
        "reason_codes": pl.List(pl.String),
        "warmup": pl.Boolean,
    }
)
OUTCOME_INPUT = pl.Schema(
    {
        column: OUTCOME_SCHEMA[column]
        for column in (
            "date",
            "signal",
            "strength",
            "confidence",
            "patterns",
            "warmup",
            *(f"ret_{h}" for h in HORIZONS),
            "max_move",
            "mfe",
            "mae",
            "hit",
            "barrier",
        )
    }
)
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
    *(f"{name}_rate" for name in BARRIERS),
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
# Levels of groups: (split by strength, split by pattern), each over all years and per year.
_LEVELS = ((False, False), (True, False), (False, True))
PATTERN = pl.Enum(PATTERN_IDS)
# The matured rows kept whole until the end, for the statistics that do not add up.
_LEAN = ("date", "signal", "strength", "patterns", "confidence", *(f"signed_{h}" for h in HORIZONS))
# Per group: the means, each a sum and a count of the values it is over.
_MEANS = {
    **{f"mean_ret_{h}": pl.col(f"signed_{h}") for h in HORIZONS},
    "mfe_mean": pl.col("mfe"),
    "mae_mean": pl.col("mae"),
    "brier": squared_error(pl.col("confidence"), pl.col("hit")),
}


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
    signals: Iterable[pl.DataFrame],
    outcomes: Iterable[pl.DataFrame],
    *,
    hold_band: float,
    ready_min_matured: int,
) -> pl.DataFrame:
    """One row per group with at least one emitted non-warm-up signal (SCORECARD_COLUMNS),
    sorted by signal, strength, pattern and period ("all" first).

    `signals` (batches of rows of the `signals` table, SIGNAL_INPUT at least) give the emitted
    counts; `outcomes` (batches of outcome rows, OUTCOME_INPUT at least) the rest, from their
    matured rows. They are read in that order, one batch at a time, and hold one rules version;
    however they are cut, the scorecard is the same (up to the rounding of sums). A row is ready
    with at least `ready_min_matured` matured signals and a Wilson lower bound above the base
    rate.
    """
    emitted = _added(map(_emitted, _batches(signals, SIGNAL_INPUT)))
    sums, bins, bases, lean = [], [], [], []
    for batch in _batches(outcomes, OUTCOME_INPUT):
        matured = _matured(batch)
        sums.append(_per_group(matured, _sums))
        bins.append(_per_group(matured, reliability_counts))
        bases.append(_base_sums(matured, hold_band))
        lean.append(_owned(matured.select(_LEAN)))
    scored = (
        emitted.join(_added(sums), on=GROUP_COLUMNS, how="left")
        .join(_ranked(pl.concat(lean, rechunk=False)).lazy(), on=GROUP_COLUMNS, how="left")
        .join(
            reliability(_added(bins, (*GROUP_COLUMNS, "bin")), GROUP_COLUMNS),
            on=GROUP_COLUMNS,
            how="left",
        )
        .join(_base(_added(bases, ("period", "signal"))), on=["signal", "period"], how="left")
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


def _batches(frames: Iterable[pl.DataFrame], schema: pl.Schema) -> Iterator[pl.DataFrame]:
    """An empty frame of `schema`, then `frames`: every part has its columns without input."""
    return itertools.chain([pl.DataFrame(schema=schema)], frames)


def _added(parts: Iterable[pl.DataFrame], keys: Sequence[str] = GROUP_COLUMNS) -> pl.LazyFrame:
    """The parts of every batch summed column by column per value of `keys`."""
    return pl.concat(parts).lazy().group_by(keys).agg(pl.all().sum())


def _per_group(
    rows: pl.DataFrame, aggregate: Callable[[pl.LazyFrame, list[str]], pl.LazyFrame]
) -> pl.DataFrame:
    """`aggregate(level, keys)` over every group: each level of groups (GROUP_COLUMNS) grouped by
    its own keys (`date` as `period`, the year), the keys it does not split by set to "all"."""
    parts = []
    for by_strength, by_pattern in _LEVELS:
        level = rows.lazy()
        if by_pattern:
            level = (
                level.filter(pl.col("patterns").list.len() > 0)
                .with_columns(pl.col("patterns").list.unique().alias("pattern"))
                .explode("pattern")
            )
        for by_year in (False, True):
            keys = [
                "signal",
                *(["strength"] if by_strength else []),
                *(["pattern"] if by_pattern else []),
                *(["period"] if by_year else []),
            ]
            dated = level.with_columns(pl.col("date").dt.year().alias("period"))
            parts.append(
                aggregate(dated if by_year else level, keys).with_columns(
                    (pl.col(c).cast(pl.String) if c in keys else pl.lit(ALL)).alias(c)
                    for c in GROUP_COLUMNS
                )
            )
    return pl.concat(parts, how="diagonal", parallel=False).collect()


def _emitted(batch: pl.DataFrame) -> pl.DataFrame:
    """How many non-warm-up signals of the batch each group has."""
    rows = batch.filter(~pl.col("warmup")).select(
        "date",
        pl.col("signal").cast(SIGNAL),
        pl.col("strength").cast(STRENGTH),
        pl.col("reason_codes")
        .list.eval(pl.element().filter(pl.element().is_in(PATTERN_IDS)))
        .cast(pl.List(PATTERN))
        .alias("patterns"),
    )
    return _per_group(rows, lambda level, keys: level.group_by(keys).agg(signals=pl.len()))


def _matured(batch: pl.DataFrame) -> pl.DataFrame:
    """The batch's matured non-warm-up rows, with the signed return of each horizon."""
    signal = pl.col("signal").cast(SIGNAL)
    return batch.filter(~pl.col("warmup") & pl.col("hit").is_not_null()).select(
        *(c for c in OUTCOME_INPUT if c not in ("signal", "strength", "patterns", "warmup")),
        signal,
        pl.col("strength").cast(STRENGTH),
        pl.col("patterns").cast(pl.List(PATTERN)),
        *(signed_return(pl.col(f"ret_{h}"), signal).alias(f"signed_{h}") for h in HORIZONS),
    )


def _owned(rows: pl.DataFrame) -> pl.DataFrame:
    """A copy of `rows` in memory of its own: a column passed through from a batch would keep all
    of the batch alive (the Arrow buffers of a batch read from DuckDB are freed together)."""
    return rows.select(pl.all().gather(pl.int_range(pl.len())))


def _sums(level: pl.LazyFrame, keys: list[str]) -> pl.LazyFrame:
    """Per group: counts, hits, barrier counts, gains, losses and the sums behind each mean."""
    window = pl.col("signed_window")
    return level.group_by(keys).agg(
        pl.len().alias("matured"),
        pl.col("hit").sum().alias("hits"),
        *(
            aggregate
            for name, values in _MEANS.items()
            for aggregate in (
                values.sum().alias(f"_{name}_sum"),
                values.count().alias(f"_{name}_n"),
            )
        ),
        *((pl.col("barrier") == name).sum().alias(f"_{name}") for name in BARRIERS),
        pl.col("barrier").count().alias("_barriers"),
        window.clip(lower_bound=0).sum().alias("_gains"),
        (-window).clip(lower_bound=0).sum().alias("_losses"),
    )


def _ranked(lean: pl.DataFrame) -> pl.DataFrame:
    """Per group, the medians of the signed returns and the rank correlation of confidence with
    the window's signed return, over all of the group's matured rows at once."""
    return _per_group(
        lean,
        lambda level, keys: level.group_by(keys).agg(
            *(pl.col(f"signed_{h}").median().alias(f"median_ret_{h}") for h in HORIZONS),
            spearman(pl.col("confidence"), pl.col("signed_window")).alias("rank_corr"),
        ),
    )


def _base_sums(matured: pl.DataFrame, hold_band: float) -> pl.DataFrame:
    """Per period and direction, over the batch's matured rows whatever their signal: the hits
    there would have been for the direction, and the signed returns of each horizon (sums and
    counts)."""
    directions = pl.LazyFrame({"signal": SIGNALS})
    rows = matured.lazy().select("date", "max_move", *(f"ret_{h}" for h in HORIZONS))
    signal = pl.col("signal")
    hit = hit_for(signal, pl.col("ret_window"), pl.col("max_move"), hold_band)
    signed = {h: signed_return(pl.col(f"ret_{h}"), signal) for h in HORIZONS}
    return pl.concat(
        [
            rows.with_columns(period)
            .join(directions, how="cross")
            .group_by("period", "signal")
            .agg(
                hit.sum().alias("_base_hits"),
                hit.count().alias("_base_n"),
                *(signed[h].sum().alias(f"_base_ret_{h}_sum") for h in HORIZONS),
                *(signed[h].count().alias(f"_base_ret_{h}_n") for h in HORIZONS),
            )
            for period in (
                pl.lit(ALL).alias("period"),
                pl.col("date").dt.year().cast(pl.String).alias("period"),
            )
        ],
        parallel=False,
    ).collect()


def _base(sums: pl.LazyFrame) -> pl.LazyFrame:
    """Per period and direction: the base rate and the mean signed return of each horizon."""
    return sums.select(
        "period",
        "signal",
        _ratio("_base_hits", "_base_n").alias("base_rate"),
        *(_mean(f"_base_ret_{h}").alias(f"_base_ret_{h}") for h in HORIZONS),
    )


def _ratio(part: str, whole: str) -> pl.Expr:
    """`part` / `whole`, null where `whole` is 0."""
    return pl.when(pl.col(whole) > 0).then(pl.col(part) / pl.col(whole))


def _mean(name: str) -> pl.Expr:
    """The mean behind the sum and count `{name}_sum` and `{name}_n`."""
    return _ratio(f"{name}_sum", f"{name}_n")


def _derived(ready_min_matured: int) -> list[pl.Expr]:
    """Columns computed from a group's sums and its base."""
    matured, hits = pl.col("matured"), pl.col("hits")
    low, high = wilson_interval(hits, matured)
    losses = pl.col("_losses")
    return [
        _ratio("hits", "matured").alias("hit_rate"),
        low.alias("hit_low"),
        high.alias("hit_high"),
        *(_mean(f"_{name}").alias(name) for name in _MEANS),
        *(
            (_mean(f"_mean_ret_{h}") - pl.col(f"_base_ret_{h}")).alias(f"excess_ret_{h}")
            for h in HORIZONS
        ),
        *(_ratio(f"_{name}", "_barriers").alias(f"{name}_rate") for name in BARRIERS),
        pl.when((pl.col("signal") != "HOLD") & (losses > 0))
        .then(pl.col("_gains") / losses)
        .alias("profit_factor"),
        # A group without matured rows: ten empty bins.
        pl.col("reliability").fill_null(pl.lit(pl.Series([EMPTY_RELIABILITY], dtype=RELIABILITY))),
        ((matured >= ready_min_matured) & (low > pl.col("base_rate")))
        .fill_null(False)
        .alias("ready"),
    ]
