"""VPA engine benchmark: a synthetic universe through features, events and signals.

Run with `python benchmarks/vpa.py [tickers]` (2,000 by default); `benchmarks/run.py` calls
`bench_vpa()` and records the figures under "vpa". Figures are measurements on the machine that
ran them, not test targets.

TA-Lib is timed on the same bars for three of the indicators the features stage also computes
(ATR(14), OBV, SMA(20)), one call per ticker and indicator; the features stage computes some
fifty columns per bar (those three among them), split-adjusted and point in time.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import resource
import sys
import time

import numpy as np
import polars as pl

from marketflow_assets.calendar import sessions_between
from marketflow_assets.vpa import compute_features, compute_signals, detect_events, load_rules
from marketflow_assets.vpa.rules import Rules

TICKERS = 2_000
SESSIONS = 2_520  # ten years of NYSE sessions
LAST_SESSION = dt.date(2024, 12, 31)
SEED = 20_240_101
SPLIT_RATE = 0.0002  # about one split per ticker per twenty years
TARGET_BARS_PER_S = 1_000_000
REPEATS = 3
TARGET_PEAK_RSS_GIB = 6.0


def universe(tickers: int = TICKERS, sessions: int = SESSIONS, seed: int = SEED) -> pl.DataFrame:
    """Daily bars of `tickers` random-walk tickers over the last `sessions` NYSE sessions to
    LAST_SESSION, with 2:1 and 3:1 splits (prices before a split left unadjusted)."""
    days = sessions_between(LAST_SESSION - dt.timedelta(days=sessions * 2), LAST_SESSION)
    dates = np.array(days[-sessions:], dtype="datetime64[D]")
    rng = np.random.default_rng(seed)
    n = tickers * sessions
    returns = rng.normal(0.0003, 0.02, (tickers, sessions))
    splits = np.where(
        rng.random((tickers, sessions)) < SPLIT_RATE,
        rng.choice([2.0, 3.0], n).reshape(tickers, sessions),
        1.0,
    )
    # A split divides the quoted price from its date on (the ratio is stated on that date).
    factor = np.cumprod(splits, axis=1)
    close = rng.uniform(10, 200, (tickers, 1)) * np.exp(np.cumsum(returns, axis=1)) / factor
    close = close.ravel()
    open_ = close * np.exp(rng.normal(0, 0.005, n))
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.01, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.01, n)))
    volume = np.round(rng.lognormal(13, 0.6, n) * factor.ravel())
    return pl.DataFrame(
        {
            "ticker": np.repeat(np.array([f"T{i:05d}" for i in range(tickers)]), sessions),
            "date": np.tile(dates, tickers),
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": volume,
            "split_ratio": np.where(splits.ravel() == 1.0, np.nan, splits.ravel()),
        }
    ).with_columns(pl.col("split_ratio").fill_nan(None))


def talib_seconds(bars: pl.DataFrame) -> float:
    """Seconds TA-Lib takes for ATR(14), OBV and SMA(20) of every ticker of `bars` (sorted by
    ticker and date), one call per ticker and indicator."""
    import talib

    starts = np.flatnonzero(
        bars.select(pl.col("ticker") != pl.col("ticker").shift(1)).to_series().fill_null(True)
    )
    bounds = np.append(starts, bars.height)
    high, low = bars["high"].to_numpy(), bars["low"].to_numpy()
    close, volume = bars["close"].to_numpy(), bars["volume"].to_numpy()
    begin = time.perf_counter()
    for lo, hi in itertools.pairwise(bounds):
        talib.ATR(high[lo:hi], low[lo:hi], close[lo:hi], timeperiod=14)
        talib.OBV(close[lo:hi], volume[lo:hi])
        talib.SMA(close[lo:hi], timeperiod=20)
    return time.perf_counter() - begin


def _run(bars: pl.DataFrame, rules: Rules) -> None:
    features = compute_features(bars, rules)
    compute_signals(features, detect_events(features, rules), rules)


def _timed_stages(bars: pl.DataFrame, rules: Rules) -> tuple[float, float, float]:
    """Seconds of the features, events and signals stages, run one after the other."""
    begin = time.perf_counter()
    features = compute_features(bars, rules)
    features_s = time.perf_counter() - begin
    events = detect_events(features, rules)
    events_s = time.perf_counter() - begin - features_s
    compute_signals(features, events, rules)
    return features_s, events_s, time.perf_counter() - begin - features_s - events_s


def bench_vpa(tickers: int = TICKERS, repeats: int = REPEATS) -> dict[str, object]:
    """The three VPA stages on a synthetic universe: seconds, bars per second, peak memory.

    The stages run `repeats` times; the figures are the fastest run (the machine is shared and
    its noise only ever adds time) with the median end to end beside it.
    """
    rules = load_rules()
    _run(universe(20, seed=SEED + 1), rules)  # first-call costs (imports, thread pools) aside
    bars = universe(tickers)
    rows = bars.height
    runs = sorted((_timed_stages(bars, rules) for _ in range(repeats)), key=sum)
    features_s, events_s, signals_s = runs[0]
    total_s = features_s + events_s + signals_s
    median_s = sum(runs[len(runs) // 2])
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    talib_s = talib_seconds(bars)

    def stage(seconds: float) -> dict[str, float]:
        return {"seconds": round(seconds, 3), "bars_per_s": round(rows / seconds)}

    return {
        "tickers": tickers,
        "sessions": rows // tickers,
        "bars": rows,
        "features": stage(features_s),
        "events": stage(events_s),
        "signals": stage(signals_s),
        "end_to_end": stage(total_s),
        "end_to_end_median_of_runs": stage(median_s),
        "runs": repeats,
        "peak_rss_gib": round(peak_gib, 2),
        "talib_note": (
            "TA-Lib ATR(14) + OBV + SMA(20), one call per ticker and indicator, against our"
            " whole features stage (about fifty columns per bar, those three among them)"
        ),
        "talib_atr_obv_sma_s": round(talib_s, 3),
        "features_over_talib": round(features_s / talib_s, 1),
        "target": (
            f">= {TARGET_BARS_PER_S:,} bars/s end to end, peak RSS < {TARGET_PEAK_RSS_GIB} GiB"
        ),
        "meets_target": rows / total_s >= TARGET_BARS_PER_S and peak_gib < TARGET_PEAK_RSS_GIB,
    }


if __name__ == "__main__":
    print(json.dumps(bench_vpa(int(sys.argv[1]) if len(sys.argv) > 1 else TICKERS), indent=2))
