"""What happened after each signal: returns, excursions, hit and triple barrier over its window.

A signal of D is entered at the open of the first bar after D and scored on the bars the ticker
has in (D, D + window_days]. Prices after a split inside the window are scaled back to D's
prices, so a 2:1 split is not a 50% loss. Built for all signals at once: each signal's window
bars are gathered by their position in the ticker's bars and aggregated with Polars.
"""

from __future__ import annotations

import polars as pl

from marketflow_assets.calendar import sessions_between
from marketflow_assets.validation.forward_window import window_end
from marketflow_assets.vpa.rules import PATTERN_IDS, Rules, load_rules

DIRECTIONS = {"BUY": 1, "SELL": -1, "HOLD": 0}
# Sessions after D whose close each outcome quotes (the window's own end comes on top).
HORIZONS = (1, 5, 10, 21)
SIGNAL_COLUMNS = (
    "ticker",
    "date",
    "signal",
    "strength",
    "confidence",
    "reason_codes",
    "warmup",
    "atr14",
    "rules_version",
    "rules_hash",
)
BAR_COLUMNS = ("ticker", "date", "open", "high", "low", "close")
OUTCOME_SCHEMA = pl.Schema(
    {
        "ticker": pl.String,
        "date": pl.Date,
        "signal": pl.String,
        "strength": pl.String,
        "confidence": pl.Float64,
        "patterns": pl.List(pl.String),
        "warmup": pl.Boolean,
        "direction": pl.Int32,
        "window_end": pl.Date,
        "matured_on": pl.Date,
        "window_sessions": pl.Int32,
        "bars": pl.Int32,
        "missing_bars": pl.Int32,
        "entry_date": pl.Date,
        "entry_price": pl.Float64,
        **{f"ret_{k}": pl.Float64 for k in HORIZONS},
        "ret_window": pl.Float64,
        "max_move": pl.Float64,
        "mfe": pl.Float64,
        "mfe_date": pl.Date,
        "mfe_session": pl.Int32,
        "mae": pl.Float64,
        "mae_date": pl.Date,
        "mae_session": pl.Int32,
        "hit": pl.Boolean,
        "atr": pl.Float64,
        "barrier": pl.String,
        "barrier_date": pl.Date,
        "barrier_session": pl.Int32,
        "barrier_return": pl.Float64,
        "rules_version": pl.String,
        "rules_hash": pl.String,
    }
)


def hit_for(signal: pl.Expr, ret_window: pl.Expr, max_move: pl.Expr, hold_band: float) -> pl.Expr:
    """Whether an outcome is a hit for `signal`: BUY when the window's return is positive, SELL
    when negative, HOLD when no close in the window moved `hold_band` or more from the entry."""
    return (
        pl.when(signal == "BUY")
        .then(ret_window > 0)
        .when(signal == "SELL")
        .then(ret_window < 0)
        .when(signal == "HOLD")
        .then(max_move < hold_band)
    )


class OutcomeError(ValueError):
    """Signals or bars that cannot be scored: a missing column or a signal without its bar."""


def compute_outcomes(
    signals: pl.DataFrame,
    bars: pl.DataFrame,
    *,
    rules: Rules | None = None,
) -> pl.DataFrame:
    """One outcome row per signal (columns `OUTCOME_SCHEMA`, sorted by ticker and date).

    `signals` carry the signal rows with the ATR(14) of their day (`atr14`); `bars` are the
    stored raw bars from the earliest signal's day through the end of the latest window, with
    `split_ratio` where a split takes effect. The windows are assumed complete: the caller
    checks the store. The window, the HOLD band and the barriers' ATR multiples come from
    `rules` (the packaged rules.yaml by default).
    """
    rules = rules or load_rules()
    window_days = rules.outcomes.window_days
    _require(signals, SIGNAL_COLUMNS, "signals")
    _require(bars, BAR_COLUMNS, "bars")
    if signals.is_empty():
        return pl.DataFrame(schema=OUTCOME_SCHEMA)
    sessions = _session_numbers(signals, window_days)
    bars = _numbered_bars(bars, sessions)
    base = _signal_frame(signals, bars, sessions, window_days, rules)
    longest = int(base["window_sessions"].max() or 0)
    window = (
        base.select("sid", "ticker", "bar_index", "window_end", "day_number", "direction")
        .with_columns(pl.int_ranges(1, longest + 1).alias("step"))
        .explode("step")
        .with_columns((pl.col("bar_index") + pl.col("step")).alias("bar_index"))
        .join(bars, on=["ticker", "bar_index"], how="inner")
        .filter(pl.col("date") <= pl.col("window_end"))
        .sort("sid", "step")
        .with_columns(
            (pl.col("number") - pl.col("day_number")).alias("session"),
            pl.col("split_ratio").cum_prod().over("sid").alias("factor"),
        )
        .with_columns(pl.col(c) * pl.col("factor") for c in ("open", "high", "low", "close"))
    )
    scored = _aggregate(window.join(base.select("sid", "upper", "lower"), on="sid"))
    frame = base.join(scored, on="sid", how="left")
    return _finish(frame, rules.outcomes.hold_band).cast(OUTCOME_SCHEMA).sort("ticker", "date")


def _require(frame: pl.DataFrame, columns: tuple[str, ...], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise OutcomeError(f"{name} lack column(s) {', '.join(missing)}")


def _session_numbers(signals: pl.DataFrame, window_days: int) -> pl.DataFrame:
    """Every NYSE session from the first signal to the end of the last window, numbered."""
    first, last = signals["date"].min(), signals["date"].max()
    days = sessions_between(first, window_end(last, window_days), calendar_start=first)
    return pl.DataFrame(
        {"date": days, "number": range(len(days))}, schema={"date": pl.Date, "number": pl.Int32}
    )


def _numbered_bars(bars: pl.DataFrame, sessions: pl.DataFrame) -> pl.DataFrame:
    """Bars with their position in the ticker's bars and their session number."""
    ratio = (
        pl.col("split_ratio").cast(pl.Float64).fill_null(1.0)
        if "split_ratio" in bars.columns
        else pl.lit(1.0)
    )
    frame = bars.select(
        pl.col("ticker").cast(pl.String),
        pl.col("date").cast(pl.Date),
        *(pl.col(c).cast(pl.Float64) for c in BAR_COLUMNS[2:]),
        ratio.alias("split_ratio"),
    ).sort("ticker", "date")
    return frame.with_columns(
        pl.int_range(pl.len(), dtype=pl.Int32).over("ticker").alias("bar_index")
    ).join(sessions, on="date", how="left")


def _signal_frame(
    signals: pl.DataFrame,
    bars: pl.DataFrame,
    sessions: pl.DataFrame,
    window_days: int,
    rules: Rules,
) -> pl.DataFrame:
    """The signals with their direction, window, bar position, close and barrier levels."""
    frame = (
        signals.select(SIGNAL_COLUMNS)
        .with_columns(
            pl.col("ticker").cast(pl.String),
            pl.col("signal").cast(pl.String),
            pl.col("strength").cast(pl.String),
            # A NaN ATR would compare true with every price and fake a barrier touch.
            pl.col("atr14").cast(pl.Float64).fill_nan(None),
        )
        .sort("ticker", "date")
        .with_row_index("sid")
        .join(
            bars.select(
                "ticker",
                "date",
                "bar_index",
                pl.col("close").alias("close_d"),
                pl.col("number").alias("day_number"),
            ),
            on=["ticker", "date"],
            how="left",
        )
    )
    orphans = frame.filter(pl.col("bar_index").is_null() | pl.col("day_number").is_null())
    if orphans.height:
        first = orphans.row(0, named=True)
        raise OutcomeError(
            f"{orphans.height} signal(s) have no bar on their own day (or it is not a session), "
            f"first {first['ticker']} {first['date']}"
        )
    stop, target = rules.plan["stop_atr"], rules.plan["target_atr"]
    direction = pl.col("signal").replace_strict(DIRECTIONS, return_dtype=pl.Int32)
    ends = sessions.select(pl.col("date").alias("matured_on"), pl.col("number").alias("end_number"))
    frame = (
        frame.with_columns(
            direction.alias("direction"),
            (pl.col("date") + pl.duration(days=window_days)).alias("window_end"),
        )
        .sort("window_end")
        .join_asof(
            ends.sort("matured_on"),
            left_on="window_end",
            right_on="matured_on",
            strategy="backward",
        )
    )
    close, atr = pl.col("close_d"), pl.col("atr14")
    up_distance = pl.when(pl.col("direction") == 1).then(target).otherwise(stop)
    down_distance = pl.when(pl.col("direction") == -1).then(target).otherwise(stop)
    return frame.with_columns(
        (pl.col("end_number") - pl.col("day_number")).alias("window_sessions"),
        pl.col("reason_codes")
        .list.eval(pl.element().filter(pl.element().is_in(PATTERN_IDS)))
        .alias("patterns"),
        (close + up_distance * atr).alias("upper"),
        (close - down_distance * atr).alias("lower"),
    ).sort("sid")


def _aggregate(window: pl.DataFrame) -> pl.DataFrame:
    """Per signal: entry, closes at the horizons, extremes and first barrier touches."""
    up = pl.col("high") >= pl.col("upper")
    down = pl.col("low") <= pl.col("lower")
    return window.group_by("sid").agg(
        pl.len().cast(pl.Int32).alias("bars"),
        pl.col("date").first().alias("entry_date"),
        pl.col("open").first().alias("entry_price"),
        pl.col("close").last().alias("last_close"),
        (pl.col("close") / pl.col("open").first() - 1).abs().max().alias("max_move"),
        pl.col("date").last().alias("last_date"),
        pl.col("session").last().alias("last_session"),
        *(
            pl.col("close").filter(pl.col("session") <= k).last().alias(f"close_{k}")
            for k in HORIZONS
        ),
        pl.col("high").max().alias("high_max"),
        pl.col("date").get(pl.col("high").arg_max()).alias("high_date"),
        pl.col("session").get(pl.col("high").arg_max()).alias("high_session"),
        pl.col("low").min().alias("low_min"),
        pl.col("date").get(pl.col("low").arg_min()).alias("low_date"),
        pl.col("session").get(pl.col("low").arg_min()).alias("low_session"),
        pl.col("session").filter(up).first().alias("up_session"),
        pl.col("date").filter(up).first().alias("up_date"),
        pl.col("open").filter(up).first().alias("up_open"),
        pl.col("session").filter(down).first().alias("down_session"),
        pl.col("date").filter(down).first().alias("down_date"),
        pl.col("open").filter(down).first().alias("down_open"),
    )


def _finish(frame: pl.DataFrame, hold_band: float) -> pl.DataFrame:
    """The outcome columns from the aggregated window of each signal."""
    entry, direction = pl.col("entry_price"), pl.col("direction")
    short = direction == -1
    ret_window = pl.col("last_close") / entry - 1
    never = pl.lit(1 << 30)
    up_at, down_at = pl.col("up_session").fill_null(never), pl.col("down_session").fill_null(never)
    up_exit = pl.max_horizontal("upper", "up_open")
    down_exit = pl.min_horizontal("lower", "down_open")
    # Which side the price touched first; a session touching both counts against the signal.
    up_first = (up_at < down_at) | ((up_at == down_at) & (direction == -1) & (up_at < never))
    touched = pl.min_horizontal(up_at, down_at) < never
    barrier = (
        pl.when(pl.col("atr14").is_null() | pl.col("entry_price").is_null())
        .then(None)
        .when(~touched)
        .then(pl.lit("time"))
        .when(direction == 0)
        .then(pl.lit("stop"))
        .when(up_first == (direction == 1))
        .then(pl.lit("target"))
        .otherwise(pl.lit("stop"))
    )
    exit_price = (
        pl.when(~touched)
        .then(pl.col("last_close"))
        .when(up_first)
        .then(up_exit)
        .otherwise(down_exit)
    )
    exit_return = exit_price / entry - 1
    hit = hit_for(pl.col("signal"), ret_window, pl.col("max_move"), hold_band)
    return frame.with_columns(barrier.alias("barrier")).select(
        *list(OUTCOME_SCHEMA)[:10],
        "window_sessions",
        pl.col("bars").fill_null(0),
        (pl.col("window_sessions") - pl.col("bars").fill_null(0)).alias("missing_bars"),
        "entry_date",
        "entry_price",
        *(
            pl.when(pl.col("window_sessions") >= k)
            .then(pl.col(f"close_{k}") / entry - 1)
            .alias(f"ret_{k}")
            for k in HORIZONS
        ),
        ret_window.alias("ret_window"),
        "max_move",
        pl.when(short)
        .then(1 - pl.col("low_min") / entry)
        .otherwise(pl.col("high_max") / entry - 1)
        .alias("mfe"),
        pl.when(short).then(pl.col("low_date")).otherwise(pl.col("high_date")).alias("mfe_date"),
        pl.when(short)
        .then(pl.col("low_session"))
        .otherwise(pl.col("high_session"))
        .alias("mfe_session"),
        pl.when(short)
        .then(1 - pl.col("high_max") / entry)
        .otherwise(pl.col("low_min") / entry - 1)
        .alias("mae"),
        pl.when(short).then(pl.col("high_date")).otherwise(pl.col("low_date")).alias("mae_date"),
        pl.when(short)
        .then(pl.col("high_session"))
        .otherwise(pl.col("low_session"))
        .alias("mae_session"),
        hit.alias("hit"),
        pl.col("atr14").alias("atr"),
        "barrier",
        pl.when(pl.col("barrier") == "time")
        .then(pl.col("last_date"))
        .when(pl.col("barrier").is_not_null())
        .then(pl.when(up_first).then(pl.col("up_date")).otherwise(pl.col("down_date")))
        .alias("barrier_date"),
        pl.when(pl.col("barrier") == "time")
        .then(pl.col("last_session"))
        .when(pl.col("barrier").is_not_null())
        .then(pl.when(up_first).then(up_at).otherwise(down_at))
        .alias("barrier_session"),
        pl.when(pl.col("barrier").is_null())
        .then(None)
        .when(direction == 0)
        .then(-exit_return.abs())
        .otherwise(direction * exit_return)
        .alias("barrier_return"),
        "rules_version",
        "rules_hash",
    )
