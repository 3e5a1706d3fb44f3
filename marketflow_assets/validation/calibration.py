"""Calibration feedback: a confidence multiplier per signal type and a failure flag per rule.

Each row of session D is computed from outcomes matured strictly before D (`matured_on < D`), so
the calibration of D is fixed before D's session opens and the evening run of D never waits on
windows that closed that same evening. Window sums come from prefix sums located with
`searchsorted`; only the multiplier path, which depends on its own previous value, is a loop
over sessions.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import polars as pl
import polars.selectors as cs

from marketflow_assets.vpa.rules import PATTERN_IDS, CalibrationRules, Rules

# In sorted order, so that rows laid out session by session come out sorted by date then key.
SIGNALS = ("BUY", "HOLD", "SELL")
RULE_IDS = tuple(sorted(PATTERN_IDS))

CALIBRATION_SCHEMA = pl.Schema(
    {
        "date": pl.Date,
        "signal": pl.String,
        "matured": pl.Int32,
        "hit_rate": pl.Float64,
        "mean_confidence": pl.Float64,
        "target": pl.Float64,
        "multiplier": pl.Float64,
    }
)
CALIBRATION_COLUMNS = tuple(CALIBRATION_SCHEMA)
RULE_FLAG_SCHEMA = pl.Schema(
    {
        "date": pl.Date,
        "rule_id": pl.String,
        "events": pl.Int32,
        "failures": pl.Int32,
        "failure_rate": pl.Float64,
        "flagged": pl.Boolean,
    }
)
RULE_FLAG_COLUMNS = tuple(RULE_FLAG_SCHEMA)

# The input columns each function reads.
CALIBRATION_NEEDS = ("signal", "confidence", "warmup", "matured_on", "hit")
FLAG_OUTCOME_NEEDS = ("ticker", "date", "warmup", "matured_on", "ret_window")
FLAG_EVENT_NEEDS = ("ticker", "rule_id", "direction", "confirmed_at")
# An event with the outcome that scores it: what the rule flags count.
SCORED_EVENT_SCHEMA = pl.Schema(
    {"rule_id": pl.String, "direction": pl.String, "matured_on": pl.Date, "ret_window": pl.Float64}
)
SCORED_EVENT_COLUMNS = tuple(SCORED_EVENT_SCHEMA)
# An outcome the calibration counts, as `calibrate_sorted` takes it.
COUNTED_COLUMNS = ("matured_on", "confidence", "hit")


def calibrate(
    outcomes: pl.DataFrame, sessions: Sequence[dt.date], rules: CalibrationRules
) -> pl.DataFrame:
    """The confidence multiplier of each signal type at each session, from matured outcomes only.

    One row per (session, signal type), columns `CALIBRATION_COLUMNS`. `sessions` must start at
    the first partition session: the multiplier path starts at 1.0 just before it, then moves at
    most `max_step` (relative) per session toward hit_rate / mean_confidence clipped to `bounds`,
    and stays put while fewer than `min_outcomes` outcomes matured in the lookback.
    """
    _require(outcomes, "outcomes", CALIBRATION_NEEDS)
    counted = (
        outcomes.filter(
            ~pl.col("warmup") & pl.col("hit").is_not_null() & pl.col("matured_on").is_not_null()
        )
        .select(
            pl.col("signal").cast(pl.String),
            pl.col("matured_on").to_physical(),
            pl.col("hit").cast(pl.Int64),
            pl.col("confidence").cast(pl.Float64),
        )
        # Sorting on the values too makes the sums independent of the input's row order.
        .sort("signal", "matured_on", "confidence", "hit")
    )
    return calibrate_sorted(
        lambda signal: [counted.filter(pl.col("signal") == signal)], sessions, rules
    )


def calibrate_sorted(
    batches_of: Callable[[str], Iterable[pl.DataFrame]],
    sessions: Sequence[dt.date],
    rules: CalibrationRules,
) -> pl.DataFrame:
    """`calibrate` from the outcomes it counts (not warm-up, hit and matured_on known) of each
    signal type, handed over in consecutive batches in (matured_on, confidence, hit) order
    (columns `COUNTED_COLUMNS`): the bits of one pass over them all, in the memory of a batch."""
    days = _session_days(sessions)
    columns: dict[str, list[np.ndarray]] = {name: [] for name in CALIBRATION_COLUMNS[2:]}
    for signal in SIGNALS:
        rows = (
            batch.select(
                pl.col("matured_on").to_physical(),
                pl.col("hit").cast(pl.Int64),
                pl.col("confidence").cast(pl.Float64),
            )
            for batch in batches_of(signal)
        )
        matured, (hits, confidence) = _window_sums(
            rows, ("hit", "confidence"), days, rules.lookback_days
        )
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            hit_rate = hits / matured
            mean_confidence = confidence / matured
            ratio = np.clip(hit_rate / mean_confidence, *rules.bounds)
        usable = (matured >= rules.min_outcomes) & (mean_confidence > 0)
        target = np.where(usable, ratio, np.nan)
        columns["matured"].append(matured)
        columns["hit_rate"].append(hit_rate)
        columns["mean_confidence"].append(mean_confidence)
        columns["target"].append(target)
        columns["multiplier"].append(_multiplier_path(target, rules.max_step))
    return _table(days, "signal", SIGNALS, columns, CALIBRATION_SCHEMA)


def rule_flags(
    outcomes: pl.DataFrame,
    events: pl.DataFrame,
    sessions: Sequence[dt.date],
    rules: CalibrationRules,
) -> pl.DataFrame:
    """Per rule and session, how many of its events failed among outcomes matured recently.

    One row per (session, rule id of `PATTERN_IDS`), columns `RULE_FLAG_COLUMNS`. An event is
    scored by the outcome of the signal of (ticker, its `confirmed_at`); it failed when the
    window went against its direction (bullish: ret_window <= 0, bearish: ret_window >= 0).
    Warm-up outcomes and those without ret_window are not counted. A rule is flagged when at
    least `failure_flag` of its events failed in the `failure_days` before the session.
    """
    return flags_of_scored_events([scored_events(outcomes, events)], sessions, rules)


def scored_events(outcomes: pl.DataFrame, events: pl.DataFrame) -> pl.DataFrame:
    """Each event with the outcome of the signal of (ticker, its `confirmed_at`) that scores
    it (columns `SCORED_EVENT_COLUMNS`); warm-up outcomes, those without ret_window and those
    not matured are left out."""
    _require(outcomes, "outcomes", FLAG_OUTCOME_NEEDS)
    _require(events, "events", FLAG_EVENT_NEEDS)
    scored = outcomes.filter(
        ~pl.col("warmup") & pl.col("ret_window").is_not_null() & pl.col("matured_on").is_not_null()
    ).select("ticker", pl.col("date").alias("confirmed_at"), "matured_on", "ret_window")
    return (
        events.select(FLAG_EVENT_NEEDS)
        .join(scored, on=["ticker", "confirmed_at"], how="inner")
        .select(SCORED_EVENT_COLUMNS)
    )


def flags_of_scored_events(
    batches: Iterable[pl.DataFrame], sessions: Sequence[dt.date], rules: CalibrationRules
) -> pl.DataFrame:
    """`rule_flags` from the events with their outcomes (`scored_events`, or the same rows read
    from the store) in batches of any order: events and failures are counted per rule and
    matured_on batch by batch, so a long history costs the memory of one batch."""
    days = _session_days(sessions)
    per_day = (
        pl.concat([_failures_per_day(batch) for batch in batches] or [_failures_per_day(None)])
        .group_by("rule_id", "matured_on")
        .agg(pl.col("events").sum(), pl.col("failed").sum())
        .sort("rule_id", "matured_on")
    )
    columns: dict[str, list[np.ndarray]] = {name: [] for name in RULE_FLAG_COLUMNS[2:]}
    for rule_id in RULE_IDS:
        rows = per_day.filter(pl.col("rule_id") == rule_id)
        _, (count, failures) = _window_sums([rows], ("events", "failed"), days, rules.failure_days)
        with np.errstate(divide="ignore", invalid="ignore"):
            columns["failure_rate"].append(failures / count)
        columns["events"].append(count)
        columns["failures"].append(failures)
        columns["flagged"].append(failures >= rules.failure_flag)
    return _table(days, "rule_id", RULE_IDS, columns, RULE_FLAG_SCHEMA)


def _failures_per_day(scored: pl.DataFrame | None) -> pl.DataFrame:
    """Events and failures per rule and matured_on (days since the epoch) of scored events (an
    empty table for None)."""
    if scored is None:
        scored = pl.DataFrame(schema=SCORED_EVENT_SCHEMA)
    _require(scored, "scored events", SCORED_EVENT_COLUMNS)
    direction = pl.col("direction").cast(pl.String)
    failed = ((direction == "bullish") & (pl.col("ret_window") <= 0)) | (
        (direction == "bearish") & (pl.col("ret_window") >= 0)
    )
    return (
        scored.select(
            pl.col("rule_id").cast(pl.String),
            pl.col("matured_on").to_physical().cast(pl.Int32),
            failed.cast(pl.Int64).alias("failed"),
        )
        .group_by("rule_id", "matured_on")
        .agg(pl.len().cast(pl.Int64).alias("events"), pl.col("failed").sum())
    )


def calibration_tables(
    counted_of: Callable[[str], Iterable[pl.DataFrame]],
    scored: Iterable[pl.DataFrame],
    path: Sequence[dt.date],
    start: dt.date,
    rules: Rules,
) -> dict[str, pl.DataFrame]:
    """Tables `calibration` (from the counted outcomes of each signal type, in batches as
    `calibrate_sorted` takes them) and `rule_flags` (from the `scored` events, in batches) for
    the sessions of `path` from `start` on, stamped with the rules; the path runs from the
    first partition so that a run's range never changes a value."""
    stamp = {"rules_version": pl.lit(rules.version), "rules_hash": pl.lit(rules.hash)}
    frames = {
        "calibration": calibrate_sorted(counted_of, path, rules.calibration),
        "rule_flags": flags_of_scored_events(scored, path, rules.calibration),
    }
    return {
        table: frame.filter(pl.col("date") >= start).with_columns(**stamp)
        for table, frame in frames.items()
    }


def _require(frame: pl.DataFrame, name: str, columns: Sequence[str]) -> None:
    """Raise ValueError naming every column of `columns` that `frame` lacks."""
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"{name} lack column(s) {', '.join(missing)}")


def _session_days(sessions: Sequence[dt.date]) -> pl.Series:
    """The sessions, sorted and without repeats, as a Date series."""
    return pl.Series("date", sorted(set(sessions)), dtype=pl.Date)


def _window_sums(
    batches: Iterable[pl.DataFrame], values: Sequence[str], days: pl.Series, span: int
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Per session D: the number of rows with matured_on in [D - span, D) and their sums of
    each column of `values`, the rows given in consecutive batches sorted by matured_on (days
    since the epoch).

    Each sum is a difference of two running totals, taken row by row over all batches (the
    same bits as one cumulative sum over one frame); only the totals before each distinct
    matured_on are kept, which is where every window starts or ends.
    """
    starts, counts = [], []
    totals: dict[str, list[np.ndarray]] = {name: [] for name in values}
    carry: dict[str, float | int] = dict.fromkeys(values, 0)
    seen, last = 0, None
    for batch in batches:
        matured_on = batch["matured_on"].to_numpy()
        if matured_on.size == 0:
            continue
        new_day = np.flatnonzero(np.diff(matured_on, prepend=matured_on[0] - 1))
        if last is not None and matured_on[0] == last:
            new_day = new_day[1:]
        starts.append(matured_on[new_day])
        counts.append(seen + new_day)
        for name in values:
            running = np.cumsum(np.concatenate(([carry[name]], batch[name].to_numpy())))
            totals[name].append(running[new_day])
            carry[name] = running[-1]
        seen, last = seen + matured_on.size, matured_on[-1]
    day_starts = np.concatenate([*starts, [np.iinfo(np.int64).max]])
    before = np.concatenate([*counts, [seen]])
    day = days.to_physical().to_numpy()
    first = np.searchsorted(day_starts, day - span, side="left")
    end = np.searchsorted(day_starts, day, side="left")
    sums = []
    for name in values:
        at = np.concatenate([*totals[name], [carry[name]]])
        sums.append(at[end] - at[first])
    return before[end] - before[first], sums


def _multiplier_path(target: np.ndarray, max_step: float) -> np.ndarray:
    """The multiplier at each session: from 1.0, toward `target` by at most `max_step` relative,
    unchanged where the target is NaN.

    The target is within the bounds and so is every earlier value (1.0 included), so a step
    between the two stays within them too.
    """
    path = np.empty(target.size)
    current = 1.0
    for i, goal in enumerate(target.tolist()):
        if not math.isnan(goal):
            current = min(max(goal, current * (1 - max_step)), current * (1 + max_step))
        path[i] = current
    return path


def _table(
    days: pl.Series,
    key: str,
    groups: tuple[str, ...],
    columns: dict[str, list[np.ndarray]],
    schema: pl.Schema,
) -> pl.DataFrame:
    """Rows (session, group) in session then group order from per-group arrays over sessions;
    NaN becomes null."""
    n = days.len()
    frame = pl.DataFrame(
        {
            "date": days.gather(np.repeat(np.arange(n), len(groups))),
            key: list(groups) * n,
            **{name: np.column_stack(arrays).ravel() for name, arrays in columns.items()},
        }
    )
    return frame.with_columns(cs.float().fill_nan(None)).cast(dict(schema)).select(schema.names())
