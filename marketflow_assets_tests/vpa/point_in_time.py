"""A reusable point-in-time harness: nothing a pipeline says about day D may use bars after D.

A pipeline is a function `bars -> {"features": ..., "events": ..., "signals": ...}`. What it says
at D is every row published by D: features and signals rows dated on or before D, events
confirmed on or before D (an event exists from its `confirmed_at`, not from its bar date).

Two checks, for each date D asked for:

- truncation: the run on bars cut after D says at D exactly what the run on all bars says at D;
- perturbation: the run on bars whose every bar after D was changed (prices and volumes scaled
  at random, some bars dropped, splits added or removed, all tickers) says at D exactly what the
  run on the true bars says at D.

Equality is exact (`check_exact=True`): the engine promises the same bits for the same bars.
`find_leaks` returns what differs; `assert_point_in_time` raises `LookaheadError` naming the
check, the output, the date, and the first differing keys and values.

`random_bars` makes seeded, valid daily bars for several tickers: prices of different levels
with trending regimes, wicks, flat bars, cent rounding; lognormal volumes of very different
magnitudes per ticker with occasional spikes; a late listing, missing sessions and splits.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
from polars.testing import assert_frame_equal

from marketflow_assets.vpa import compute_features, compute_signals, detect_events, load_rules
from marketflow_assets.vpa.rules import Rules

Frames = dict[str, pl.DataFrame]
Pipeline = Callable[[pl.DataFrame], Frames]

# Per output: the column that says from when a row is visible, and the row's key.
PUBLISHED_AT = {"features": "date", "events": "confirmed_at", "signals": "date"}
KEYS = {
    "features": ("ticker", "date"),
    "events": ("ticker", "date", "rule_id"),
    "signals": ("ticker", "date"),
}
CHECKS = ("truncation", "perturbation")
PRICES = ("open", "high", "low", "close")
EXAMPLES = 3  # differing keys or values quoted in a report


@dataclass(frozen=True)
class Leak:
    """One output that said something different at `as_of` under one check."""

    check: str
    output: str
    as_of: dt.date
    detail: str

    def __str__(self) -> str:
        return f"{self.check}: {self.output} as of {self.as_of} differ: {self.detail}"


class LookaheadError(AssertionError):
    """What a pipeline said at some date depended on bars after that date."""

    def __init__(self, leaks: Sequence[Leak]) -> None:
        self.leaks = tuple(leaks)
        lines = "\n".join(f"- {leak}" for leak in self.leaks)
        super().__init__(f"{len(self.leaks)} lookahead(s) found:\n{lines}")


@functools.cache
def default_rules() -> Rules:
    return load_rules()


def vpa_pipeline(bars: pl.DataFrame, rules: Rules | None = None) -> Frames:
    """The VPA engine end to end: features, events, signals (the packaged rules by default)."""
    rules = rules or default_rules()
    features = compute_features(bars, rules)
    events = detect_events(features, rules)
    signals = compute_signals(features, events, rules)
    return {"features": features, "events": events, "signals": signals}


def visible_at(outputs: Frames, as_of: dt.date) -> Frames:
    """The rows of each output published on or before `as_of`, in key order."""
    visible = {}
    for name, frame in outputs.items():
        if name not in PUBLISHED_AT:
            raise KeyError(f"pipeline output {name!r} has no known publication column")
        keys = [k for k in (*KEYS[name], PUBLISHED_AT[name]) if k in frame.columns]
        visible[name] = frame.filter(pl.col(PUBLISHED_AT[name]) <= as_of).sort(
            keys, maintain_order=True
        )
    return visible


def truncate(bars: pl.DataFrame, as_of: dt.date) -> pl.DataFrame:
    """The bars known on the evening of `as_of` (all tickers)."""
    return bars.filter(pl.col("date") <= as_of)


def perturb_after(bars: pl.DataFrame, as_of: dt.date, seed: int) -> pl.DataFrame:
    """`bars` with every bar after `as_of` changed but still valid.

    Each later bar's four prices are scaled by one random factor (so high >= open, close >= low
    still hold) and its volume by another; about one in ten later bars is dropped; later split
    ratios are redrawn (some splits removed, some added). Bars up to `as_of` are untouched.
    """
    rng = np.random.default_rng(seed)
    later = (bars["date"] > as_of).to_numpy()
    n = bars.height
    price_scale = np.where(later, np.exp(rng.normal(0.0, 0.3, n)), 1.0)
    volume_scale = np.where(later, np.exp(rng.normal(0.0, 1.0, n)), 1.0)
    split_draw = rng.choice(np.array([np.nan, np.nan, 0.5, 2.0, 3.0]), n)
    new_split = np.where(rng.random(n) < 0.05, split_draw, np.nan)
    keep = ~later | (rng.random(n) >= 0.1)
    ratio = (
        bars["split_ratio"].cast(pl.Float64)
        if "split_ratio" in bars.columns
        else pl.Series([None] * n, dtype=pl.Float64)
    )
    ratio = pl.Series(np.where(later, new_split, ratio.fill_null(np.nan).to_numpy()))
    changed = bars.with_columns(
        *(pl.col(c) * pl.Series(price_scale) for c in PRICES),
        (pl.col("volume") * pl.Series(volume_scale)).round(0),
        ratio.fill_nan(None).alias("split_ratio"),
    )
    return changed.filter(pl.Series(keep))


def compare(output: str, expected: pl.DataFrame, actual: pl.DataFrame) -> str | None:
    """None when the frames are exactly equal, else what differs (keys and first values)."""
    try:
        assert_frame_equal(expected, actual, check_exact=True)
    except AssertionError as exc:
        return _describe(output, expected, actual, str(exc).splitlines()[0])
    return None


def _describe(output: str, expected: pl.DataFrame, actual: pl.DataFrame, summary: str) -> str:
    keys = [k for k in KEYS.get(output, ()) if k in expected.columns and k in actual.columns]
    if not keys or expected.schema != actual.schema:
        return summary
    parts = [f"{expected.height} rows expected, {actual.height} found"]
    missing = expected.join(actual, on=keys, how="anti", nulls_equal=True)
    extra = actual.join(expected, on=keys, how="anti", nulls_equal=True)
    if missing.height:
        parts.append(f"missing keys {missing.select(keys).head(EXAMPLES).rows()}")
    if extra.height:
        parts.append(f"unexpected keys {extra.select(keys).head(EXAMPLES).rows()}")
    both = expected.join(actual, on=keys, how="inner", suffix="__found", nulls_equal=True)
    values = [c for c in expected.columns if c not in keys]
    for column in values:
        differ = both.filter(~pl.col(column).eq_missing(pl.col(f"{column}__found")))
        if differ.height:
            examples = [
                f"{row[: len(keys)]}: {row[-2]!r} != {row[-1]!r}"
                for row in differ.select(*keys, column, f"{column}__found").head(EXAMPLES).rows()
            ]
            parts.append(f"{column} differs on {differ.height} row(s), e.g. {'; '.join(examples)}")
    return "; ".join(parts) if len(parts) > 1 else summary


def find_leaks(
    pipeline: Pipeline,
    bars: pl.DataFrame,
    dates: Sequence[dt.date],
    checks: Sequence[str] = CHECKS,
    seed: int = 0,
) -> list[Leak]:
    """Every (check, output, date) whose output at the date depends on bars after it."""
    unknown = sorted(set(checks) - set(CHECKS))
    if unknown:
        raise ValueError(f"unknown check(s) {unknown}; known: {CHECKS}")
    full = pipeline(bars)
    leaks = []
    for i, as_of in enumerate(dates):
        expected = visible_at(full, as_of)
        runs = {
            "truncation": lambda d=as_of: truncate(bars, d),
            "perturbation": lambda d=as_of, s=seed + i: perturb_after(bars, d, s),
        }
        for check in checks:
            found = visible_at(pipeline(runs[check]()), as_of)
            for output in expected:
                if output not in found:
                    leaks.append(Leak(check, output, as_of, "output missing"))
                    continue
                detail = compare(output, expected[output], found[output])
                if detail is not None:
                    leaks.append(Leak(check, output, as_of, detail))
    return leaks


def assert_point_in_time(
    pipeline: Pipeline,
    bars: pl.DataFrame,
    dates: Sequence[dt.date],
    checks: Sequence[str] = CHECKS,
    seed: int = 0,
) -> None:
    """Raise `LookaheadError` if any output at any of `dates` depends on later bars."""
    leaks = find_leaks(pipeline, bars, dates, checks, seed)
    if leaks:
        raise LookaheadError(leaks)


def spread_dates(bars: pl.DataFrame, count: int) -> list[dt.date]:
    """`count` dates of `bars` spread from the first sessions (warm-up) to the last."""
    days = bars["date"].unique().sort()
    at = np.unique(np.linspace(2, days.len() - 1, count).round().astype(int))
    return [days[int(i)] for i in at]


@dataclass(frozen=True)
class Split:
    """A split of ticker number `ticker` on its `session`-th session (2.0 means 2:1)."""

    ticker: int
    session: int
    ratio: float


DEFAULT_SPLITS = (Split(1, 70, 2.0), Split(2, 110, 3.0), Split(0, 40, 0.5))


def weekdays(start: dt.date, count: int, rng: np.random.Generator) -> list[dt.date]:
    """`count` weekdays from `start`, with about one in fifty skipped as a holiday."""
    days = []
    day = start
    while len(days) < count:
        if day.weekday() < 5 and rng.random() >= 0.02:
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def random_bars(
    seed: int,
    tickers: int = 4,
    sessions: int = 150,
    splits: Sequence[Split] = DEFAULT_SPLITS,
    start: dt.date = dt.date(2021, 1, 4),
) -> pl.DataFrame:
    """Seeded, valid daily bars: `tickers` tickers over up to `sessions` sessions.

    Ticker i has its own price level (about 5 to 1000) and volume magnitude (1e3 to 1e9 shares);
    prices follow trending regimes with occasional shocks; volume is lognormal with spikes. The
    last ticker lists a fifth of the way in; the third misses a few sessions. Splits divide raw
    prices and multiply raw volume from their date, which carries `split_ratio`.
    """
    rng = np.random.default_rng(seed)
    days = weekdays(start, sessions, rng)
    frames = []
    for i in range(tickers):
        first = sessions // 5 if i == tickers - 1 and tickers > 1 else 0
        n = sessions - first
        sigma = rng.uniform(0.01, 0.035)
        drift = np.repeat(rng.normal(0.0, 0.006, n // 25 + 1), 25)[:n]
        shock = np.where(rng.random(n) < 0.04, rng.normal(0.0, 4 * sigma, n), 0.0)
        close = 10 ** rng.uniform(0.7, 3.0) * np.exp(np.cumsum(drift + rng.normal(0, sigma, n)))
        close *= np.exp(shock)
        prev = np.concatenate([[close[0]], close[:-1]])
        open_ = prev * np.exp(rng.normal(0.0, sigma / 2, n))
        high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, sigma * 0.7, n)))
        low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, sigma * 0.7, n)))
        flat = rng.random(n) < 0.02
        open_, high, low, close = (np.where(flat, prev, x) for x in (open_, high, low, close))
        spike = np.where(rng.random(n) < 0.05, rng.uniform(2.5, 6.0, n), 1.0)
        volume = 10.0 ** (3 + 2 * (i % 4)) * np.exp(rng.normal(0.0, 0.5, n)) * spike
        ratio = np.full(n, np.nan)
        for split in splits:
            if split.ticker == i and 0 <= split.session - first < n:
                ratio[split.session - first] = split.ratio
        factor = np.cumprod(np.nan_to_num(ratio, nan=1.0))
        frame = pl.DataFrame(
            {
                "ticker": f"T{i}",
                "date": days[first:],
                # Rounding to cents is monotonic, so high >= max(open, close) etc. survive it.
                **{
                    name: np.round(np.maximum(values / factor, 0.5), 2)
                    for name, values in zip(PRICES, (open_, high, low, close), strict=True)
                },
                "volume": np.round(volume * factor),
                "split_ratio": ratio,
            },
            schema_overrides={"date": pl.Date},
        ).with_columns(pl.col("split_ratio").fill_nan(None))
        if i == 2:
            frame = frame.filter(pl.Series(rng.random(n) >= 0.03))
        frames.append(frame)
    return pl.concat(frames)
