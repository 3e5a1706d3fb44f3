"""Bar frames for the VPA tests, built in code so that each test shows its case.

A `Tape` is one ticker's bars on consecutive NYSE sessions: a quiet warm-up (`quiet`) whose bars
all have the same shape, followed by the bars a test writes by hand (`Tape.bar`).

Quiet bar i (from 0): close = start + drift * i, open = the previous close, high = the higher of
open and close + 0.5, low = the lower - 0.5, volume 1,000,000. So the range is 1 + |drift|,
every baseline (20-bar mean volume and range, ATR) is flat, and with a drift the closes trend
steadily (SMA20 above SMA50 and rising for drift > 0, the mirror for drift < 0).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import polars as pl

from marketflow_assets.calendar import sessions_between
from marketflow_assets.sources.normalize import BARS_SCHEMA
from marketflow_assets.vpa import compute_features, detect_events, load_rules
from marketflow_assets.vpa.rules import PatternRule

# The packaged rules, read once: every helper below uses them.
RULES = load_rules()

VOLUME = 1_000_000.0
WICK = 0.5
FIRST_SESSION = dt.date(2024, 1, 2)

BAR_SCHEMA = pl.Schema({k: v for k, v in BARS_SCHEMA.items() if k != "dividend"})


@cache
def sessions() -> tuple[dt.date, ...]:
    """NYSE sessions from 2 January 2024, enough for every tape in the tests."""
    return tuple(sessions_between(FIRST_SESSION, dt.date(2024, 12, 31)))


def session(i: int) -> dt.date:
    """The date of bar i (from 0) of every tape."""
    return sessions()[i]


@dataclass
class Tape:
    """One ticker's bars, one a session from 2 January 2024."""

    ticker: str = "AAA"
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def last_close(self) -> float:
        return self.rows[-1]["close"]

    @property
    def next_date(self) -> dt.date:
        return session(len(self.rows))

    def bar(
        self,
        open: float,
        high: float,
        low: float,
        close: float,
        volume: float = VOLUME,
        split_ratio: float | None = None,
    ) -> Tape:
        """Append a bar on the next session (returns the tape, so calls chain)."""
        assert low <= min(open, close) <= max(open, close) <= high, "not a valid bar"
        self.rows.append(
            {
                "ticker": self.ticker,
                "date": self.next_date,
                "open": open,
                "high": high,
                "low": low,
                "close": close,
                "volume": volume,
                "split_ratio": split_ratio,
            }
        )
        return self

    def volumes(self, *volumes: float) -> Tape:
        """Set the volume of the last len(volumes) bars (oldest first)."""
        for row, volume in zip(self.rows[-len(volumes) :], volumes, strict=True):
            row["volume"] = volume
        return self

    def copy(self, ticker: str | None = None) -> Tape:
        """An independent copy, under another ticker if given."""
        name = ticker or self.ticker
        return Tape(name, [{**row, "ticker": name} for row in self.rows])

    def split_at(self, bar: int, ratio: float) -> Tape:
        """A copy as it would have traded with a `ratio`-for-1 split on `bar`: earlier bars at
        `ratio` times the price and 1/`ratio` times the volume, `bar` carrying the ratio."""
        tape = self.copy()
        for row in tape.rows[:bar]:
            for column in ("open", "high", "low", "close"):
                row[column] *= ratio
            row["volume"] /= ratio
        tape.rows[bar]["split_ratio"] = ratio
        return tape

    def frame(self) -> pl.DataFrame:
        return pl.DataFrame(self.rows, schema=BAR_SCHEMA)


def quiet(n: int = 70, drift: float = 0.0, start: float = 100.0, ticker: str = "AAA") -> Tape:
    """`n` quiet bars of the same shape (see the module docstring)."""
    tape = Tape(ticker)
    previous = start - drift
    for i in range(n):
        close = round(start + drift * i, 10)
        tape.bar(previous, max(previous, close) + WICK, min(previous, close) - WICK, close)
        previous = close
    return tape


def frames(*tapes: Tape) -> pl.DataFrame:
    """The bars of several tapes in one frame."""
    return pl.concat([tape.frame() for tape in tapes])


def features_of(bars: Tape | pl.DataFrame) -> pl.DataFrame:
    return compute_features(bars.frame() if isinstance(bars, Tape) else bars, RULES)


def events_of(bars: Tape | pl.DataFrame) -> pl.DataFrame:
    return detect_events(features_of(bars), RULES)


def feature_row(features: pl.DataFrame, day: dt.date, ticker: str = "AAA") -> dict[str, Any]:
    """The feature row of (ticker, day) as a dict."""
    rows = features.filter((pl.col("ticker") == ticker) & (pl.col("date") == day))
    assert rows.height == 1, f"no single feature row for {ticker} {day}"
    return rows.row(0, named=True)


def expected_confidence(rule: PatternRule, volume_rel_mean: float) -> float:
    """The confidence rules.yaml documents: clip(base + weight * sense * tanh(ln(v / mean)))."""
    lean = math.tanh(math.log(volume_rel_mean))
    return min(1.0, max(0.0, rule.confidence_base + rule.volume_weight * rule.volume_sense * lean))
