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
from collections.abc import Sequence

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
SCORED_EVENT_COLUMNS = ("rule_id", "direction", "matured_on", "ret_window")


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
    days = _session_days(sessions)
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
    columns: dict[str, list[np.ndarray]] = {name: [] for name in CALIBRATION_COLUMNS[2:]}
    for signal in SIGNALS:
        rows = counted.filter(pl.col("signal") == signal)
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
    return flags_of_scored_events(scored_events(outcomes, events), sessions, rules)


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
    scored: pl.DataFrame, sessions: Sequence[dt.date], rules: CalibrationRules
) -> pl.DataFrame:
    """`rule_flags` from the events with their outcomes (`scored_events`, or the same rows read
    from the store)."""
    _require(scored, "scored events", SCORED_EVENT_COLUMNS)
    days = _session_days(sessions)
    direction = pl.col("direction").cast(pl.String)
    failed = ((direction == "bullish") & (pl.col("ret_window") <= 0)) | (
        (direction == "bearish") & (pl.col("ret_window") >= 0)
    )
    judged = scored.select(
        pl.col("rule_id").cast(pl.String),
        pl.col("matured_on").to_physical(),
        failed.cast(pl.Int64).alias("failed"),
    ).sort("rule_id", "matured_on", "failed")
    columns: dict[str, list[np.ndarray]] = {name: [] for name in RULE_FLAG_COLUMNS[2:]}
    for rule_id in RULE_IDS:
        rows = judged.filter(pl.col("rule_id") == rule_id)
        count, (failures,) = _window_sums(rows, ("failed",), days, rules.failure_days)
        with np.errstate(divide="ignore", invalid="ignore"):
            columns["failure_rate"].append(failures / count)
        columns["events"].append(count)
        columns["failures"].append(failures)
        columns["flagged"].append(failures >= rules.failure_flag)
    return _table(days, "rule_id", RULE_IDS, columns, RULE_FLAG_SCHEMA)


def calibration_tables(
    outcomes: pl.DataFrame,
    scored: pl.DataFrame,
    path: Sequence[dt.date],
    start: dt.date,
    rules: Rules,
) -> dict[str, pl.DataFrame]:
    """Tables `calibration` (from `outcomes`) and `rule_flags` (from the `scored` events) for
    the sessions of `path` from `start` on, stamped with the rules; the path runs from the
    first partition so that a run's range never changes a value."""
    stamp = {"rules_version": pl.lit(rules.version), "rules_hash": pl.lit(rules.hash)}
    frames = {
        "calibration": calibrate(outcomes, path, rules.calibration),
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
    rows: pl.DataFrame, values: Sequence[str], days: pl.Series, span: int
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Per session D: the number of `rows` with matured_on in [D - span, D) and their sums of
    each column of `values`. `rows` is sorted by matured_on (days since the epoch)."""
    matured_on = rows["matured_on"].to_numpy()
    day = days.to_physical().to_numpy()
    first = np.searchsorted(matured_on, day - span, side="left")
    end = np.searchsorted(matured_on, day, side="left")
    sums = []
    for name in values:
        prefix = np.concatenate(([0], np.cumsum(rows[name].to_numpy())))
        sums.append(prefix[end] - prefix[first])
    return end - first, sums


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
