"""compute_outcomes on hand-built bars whose outcome is known.

A signal of D is entered at the open of the first bar after D and scored on the bars in
(D, D + 30 days]. Most cases use D = Friday 2010-06-04: D + 30 is Sunday 2010-07-04, so the
window is 2010-06-07 .. 2010-07-02 (20 sessions). D's bar closes at 100 and the ATR is 2, so
(rules.yaml `plan`: stop 1.5 ATR, target 3 ATR from D's close) a BUY has its target at 106 and
its stop at 97, a SELL its target at 94 and its stop at 103, a HOLD its stops at 97 and 103.
The quiet bar (100, 100.5, 99.5, 100) touches none of them, and entry is 100.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from marketflow_assets.calendar import sessions_between
from marketflow_assets.validation.forward_window import window_sessions
from marketflow_assets.validation.outcomes import OUTCOME_SCHEMA, OutcomeError, compute_outcomes
from marketflow_assets.vpa import load_rules

OHLC = tuple[float, float, float, float]

RULES = load_rules()  # loaded once: every call would read and hash the YAML again
WINDOW_DAYS = RULES.outcomes.window_days

D = dt.date(2010, 6, 4)  # a Friday
# SESSIONS[0] is D, SESSIONS[k] the k-th session after D (SESSIONS[20] = Friday 2010-07-02).
SESSIONS = sessions_between(D, dt.date(2010, 9, 30))
DAY: OHLC = (100.0, 101.0, 99.0, 100.0)  # D's bar
QUIET: OHLC = (100.0, 100.5, 99.5, 100.0)
SIGNAL_SCHEMA = {
    "ticker": pl.String,
    "date": pl.Date,
    "signal": pl.String,
    "strength": pl.String,
    "confidence": pl.Float64,
    "reason_codes": pl.List(pl.String),
    "warmup": pl.Boolean,
    "atr14": pl.Float64,
    "rules_version": pl.String,
    "rules_hash": pl.String,
}
BAR_SCHEMA = {
    "ticker": pl.String,
    "date": pl.Date,
    "open": pl.Float64,
    "high": pl.Float64,
    "low": pl.Float64,
    "close": pl.Float64,
    "split_ratio": pl.Float64,
}


def bars_of(
    ticker: str,
    rows: Sequence[OHLC | None],
    start: dt.date = D,
    splits: Mapping[int, float] | None = None,
) -> pl.DataFrame:
    """One bar per NYSE session from `start` on, from (open, high, low, close) rows.

    None leaves that session without a bar; `splits` maps a row number to its split ratio.
    """
    days = sessions_between(start, start + dt.timedelta(days=len(rows) * 2 + 10))
    splits = splits or {}
    records = [
        {
            "ticker": ticker,
            "date": day,
            "open": row[0],
            "high": row[1],
            "low": row[2],
            "close": row[3],
            "split_ratio": splits.get(i),
        }
        for i, (day, row) in enumerate(zip(days, rows, strict=False))
        if row is not None
    ]
    return pl.DataFrame(records, schema=BAR_SCHEMA)


def path(moves: Mapping[int, OHLC | None] | None = None, sessions: int = 20) -> list[OHLC | None]:
    """D's bar, then `sessions` quiet bars with session k replaced by moves[k] (None = no bar)."""
    moves = moves or {}
    return [DAY, *(moves.get(k, QUIET) for k in range(1, sessions + 1))]


def ramp(sessions: int) -> list[OHLC | None]:
    """D's bar, then session k opening at 99 + k and closing at 100 + k (so entry is 100)."""
    return [DAY, *((99.0 + k, 101.0 + k, 98.0 + k, 100.0 + k) for k in range(1, sessions + 1))]


def signal(
    ticker: str = "AAA",
    day: dt.date = D,
    kind: str = "BUY",
    atr: float | None = 2.0,
    reason_codes: Iterable[str] = (),
) -> dict[str, Any]:
    """One signal row."""
    return {
        "ticker": ticker,
        "date": day,
        "signal": kind,
        "strength": "MODERATE",
        "confidence": 0.6,
        "reason_codes": list(reason_codes),
        "warmup": atr is None,
        "atr14": atr,
        "rules_version": "test",
        "rules_hash": "abc",
    }


def signals_of(*rows: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=SIGNAL_SCHEMA)


def score(signals: pl.DataFrame, bars: pl.DataFrame) -> pl.DataFrame:
    return compute_outcomes(signals, bars, rules=RULES)


def outcome(bars: pl.DataFrame, **kwargs: Any) -> dict[str, Any]:
    """The one outcome row of a single signal on `bars`."""
    frame = score(signals_of(signal(**kwargs)), bars)
    assert frame.height == 1
    return frame.row(0, named=True)


def test_the_levels_used_here_are_the_rules() -> None:
    assert RULES.plan["stop_atr"] == 1.5
    assert RULES.plan["target_atr"] == 3.0
    assert RULES.outcomes.hold_band == 0.05
    assert RULES.outcomes.window_days == 30


# --- entry, horizons and the window ------------------------------------------------------------


def test_returns_over_a_window_of_twenty_sessions() -> None:
    """Entry at the next open; ret_k to the k-th close; ret_21 null in a 20-session window."""
    assert len(window_sessions(D, window_days=WINDOW_DAYS)) == 20
    # A bar after the window (close 500) must not count.
    bars = bars_of("AAA", [*ramp(20), (500.0, 500.0, 500.0, 500.0)])
    row = outcome(bars)
    assert row["direction"] == 1
    assert row["entry_date"] == dt.date(2010, 6, 7)
    assert row["entry_price"] == pytest.approx(100.0)
    assert row["ret_1"] == pytest.approx(0.01)
    assert row["ret_5"] == pytest.approx(0.05)
    assert row["ret_10"] == pytest.approx(0.10)
    assert row["ret_21"] is None
    assert row["ret_window"] == pytest.approx(0.20)
    assert row["window_end"] == dt.date(2010, 7, 4)  # a Sunday
    assert row["matured_on"] == dt.date(2010, 7, 2)  # the Friday before it
    assert row["window_sessions"] == 20
    assert row["bars"] == 20
    assert row["missing_bars"] == 0


def test_ret_21_is_set_when_the_window_holds_twenty_two_sessions() -> None:
    """D = Wednesday 2010-06-02: the window 2010-06-03 .. 2010-07-02 holds 22 sessions."""
    day = dt.date(2010, 6, 2)
    assert len(window_sessions(day, window_days=WINDOW_DAYS)) == 22
    bars = bars_of("AAA", [*ramp(22), (500.0, 500.0, 500.0, 500.0)], start=day)
    row = outcome(bars, day=day)
    assert row["entry_date"] == dt.date(2010, 6, 3)
    assert row["ret_10"] == pytest.approx(0.10)
    assert row["ret_21"] == pytest.approx(0.21)
    assert row["ret_window"] == pytest.approx(0.22)
    assert row["window_end"] == dt.date(2010, 7, 2)
    assert row["matured_on"] == dt.date(2010, 7, 2)
    assert row["window_sessions"] == 22


# --- excursions --------------------------------------------------------------------------------

# Highs of 110 on sessions 3 and 12, lows of 95 on sessions 7 and 15: the first ones count.
SWINGS = path(
    {
        3: (101.0, 110.0, 100.0, 101.0),
        7: (99.0, 100.0, 95.0, 99.0),
        12: (101.0, 110.0, 100.0, 101.0),
        15: (99.0, 100.0, 95.0, 99.0),
    }
)


@pytest.mark.parametrize(
    ("kind", "mfe", "mfe_session", "mae", "mae_session"),
    [
        ("BUY", 0.10, 3, -0.05, 7),
        ("HOLD", 0.10, 3, -0.05, 7),  # measured as long
        ("SELL", 0.05, 7, -0.10, 3),  # mirrored: 1 - 95/100 and 1 - 110/100
    ],
)
def test_excursions(kind: str, mfe: float, mfe_session: int, mae: float, mae_session: int) -> None:
    row = outcome(bars_of("AAA", SWINGS), kind=kind)
    assert row["mfe"] == pytest.approx(mfe)
    assert row["mfe_session"] == mfe_session
    assert row["mfe_date"] == SESSIONS[mfe_session]
    assert row["mae"] == pytest.approx(mae)
    assert row["mae_session"] == mae_session
    assert row["mae_date"] == SESSIONS[mae_session]


# --- hit ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "last_close", "hit"),
    [
        ("BUY", 101.0, True),
        ("BUY", 100.0, False),  # a zero return is a miss
        ("BUY", 99.0, False),
        ("SELL", 99.0, True),
        ("SELL", 100.0, False),
        ("SELL", 101.0, False),
        ("HOLD", 104.0, True),  # inside the 5% band
        ("HOLD", 96.0, True),
        ("HOLD", 106.0, False),  # outside it
        ("HOLD", 94.0, False),
    ],
)
def test_hit(kind: str, last_close: float, hit: bool) -> None:
    last = (100.0, max(100.0, last_close), min(100.0, last_close), last_close)
    row = outcome(bars_of("AAA", path({20: last})), kind=kind, atr=None)
    assert row["ret_window"] == pytest.approx(last_close / 100 - 1)
    assert row["hit"] is hit


@pytest.mark.parametrize(("excursion", "hit"), [(104.9, True), (105.0, False), (92.0, False)])
def test_a_hold_must_stay_inside_the_band_all_window(excursion: float, hit: bool) -> None:
    """A HOLD whose window ends flat is still a miss if a close on the way moved 5% or more."""
    moved = (100.0, max(100.0, excursion), min(100.0, excursion), excursion)
    row = outcome(bars_of("AAA", path({9: moved})), kind="HOLD", atr=None)
    assert row["ret_window"] == pytest.approx(0.0)
    assert row["max_move"] == pytest.approx(abs(excursion / 100 - 1))
    assert row["hit"] is hit


# --- triple barrier ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "moves", "barrier", "session", "barrier_return"),
    [
        # BUY: target 106, stop 97.
        ("BUY", {4: (104, 106.5, 103, 106), 8: (99, 99, 96, 96)}, "target", 4, 0.06),
        ("BUY", {4: (104, 106, 103, 105)}, "target", 4, 0.06),  # touching the level is enough
        ("BUY", {3: (99, 100, 96.5, 97), 9: (104, 107, 104, 106)}, "stop", 3, -0.03),
        ("BUY", {20: (100, 102, 99, 102)}, "time", 20, 0.02),  # the last close
        ("BUY", {5: (100, 107, 96, 100)}, "stop", 5, -0.03),  # both in one session
        ("BUY", {6: (108, 109, 107.5, 108.5)}, "target", 6, 0.08),  # gap open above the target
        ("BUY", {6: (95, 96, 94, 95.5)}, "stop", 6, -0.05),  # gap open below the stop
        # SELL: target 94, stop 103.
        ("SELL", {4: (96, 97, 93.5, 94), 8: (104, 104, 104, 104)}, "target", 4, 0.06),
        ("SELL", {3: (101, 103.5, 100, 103), 9: (93, 93, 92, 92)}, "stop", 3, -0.03),
        ("SELL", {20: (100, 100.5, 98, 98)}, "time", 20, 0.02),
        ("SELL", {5: (100, 104, 93, 100)}, "stop", 5, -0.03),
        ("SELL", {6: (92, 92.5, 91, 91.5)}, "target", 6, 0.08),
        ("SELL", {6: (105, 106, 104.5, 105)}, "stop", 6, -0.05),
        # HOLD: stops at 97 and 103, return as minus its absolute value.
        ("HOLD", {2: (101, 103.5, 101, 103)}, "stop", 2, -0.03),
        ("HOLD", {2: (99, 99, 96.5, 97)}, "stop", 2, -0.03),
        ("HOLD", {20: (100, 102, 99, 102)}, "time", 20, -0.02),
    ],
)
def test_triple_barrier(
    kind: str, moves: dict[int, OHLC], barrier: str, session: int, barrier_return: float
) -> None:
    row = outcome(bars_of("AAA", path(moves)), kind=kind)
    assert row["atr"] == 2.0
    assert row["barrier"] == barrier
    assert row["barrier_session"] == session
    assert row["barrier_date"] == SESSIONS[session]
    assert row["barrier_return"] == pytest.approx(barrier_return)


def test_no_barrier_without_atr() -> None:
    """Warm-up rows have no ATR: no barrier, but the rest is scored."""
    bars = bars_of("AAA", path({4: (104, 110, 103, 106)}))
    row = outcome(bars, atr=None)
    assert row["warmup"] is True
    assert row["atr"] is None
    assert row["barrier"] is None
    assert row["barrier_date"] is None
    assert row["barrier_session"] is None
    assert row["barrier_return"] is None
    assert row["mfe"] == pytest.approx(0.10)
    assert row["hit"] is False


# --- missing bars and splits -------------------------------------------------------------------


def test_missing_bar_inside_the_window() -> None:
    """Session 5 has no bar: ret_5 quotes session 4's close; the rest as usual."""
    rows = ramp(20)
    rows[5] = None
    row = outcome(bars_of("AAA", rows))
    assert row["window_sessions"] == 20
    assert row["bars"] == 19
    assert row["missing_bars"] == 1
    assert row["ret_1"] == pytest.approx(0.01)
    assert row["ret_5"] == pytest.approx(0.04)
    assert row["ret_10"] == pytest.approx(0.10)
    assert row["ret_window"] == pytest.approx(0.20)
    assert row["hit"] is True
    # Session numbers count sessions, not bars: the highest high (121) is on session 20.
    assert row["mfe"] == pytest.approx(0.21)
    assert row["mfe_session"] == 20
    assert row["mfe_date"] == SESSIONS[20]
    assert row["mae"] == pytest.approx(-0.01)  # the low of 99 on session 1
    assert row["mae_session"] == 1
    # The target (106) would be touched on session 5 (high 106); without it, on session 6.
    assert row["barrier"] == "target"
    assert row["barrier_session"] == 6
    assert row["barrier_date"] == SESSIONS[6]
    assert row["barrier_return"] == pytest.approx(0.06)


def test_missing_first_bar_enters_at_the_next_bar() -> None:
    """No bar on session 1: entry at session 2's open (101); nothing to quote for ret_1."""
    rows = ramp(20)
    rows[1] = None
    row = outcome(bars_of("AAA", rows))
    assert row["entry_date"] == SESSIONS[2]
    assert row["entry_price"] == pytest.approx(101.0)
    assert row["ret_1"] is None
    assert row["ret_5"] == pytest.approx(105 / 101 - 1)
    assert row["missing_bars"] == 1


def test_no_bar_in_the_window_keeps_the_row() -> None:
    """BBB has its bar on D and the next one only after the window: scored as nothing."""
    late = [DAY, *([None] * 20), QUIET]
    bars = pl.concat([bars_of("AAA", path()), bars_of("BBB", late)])
    frame = score(signals_of(signal("AAA"), signal("BBB")), bars)
    assert frame["ticker"].to_list() == ["AAA", "BBB"]
    row = frame.row(1, named=True)
    assert row["window_sessions"] == 20
    assert row["bars"] == 0
    assert row["missing_bars"] == 20
    assert row["entry_date"] is None
    assert row["entry_price"] is None
    for column in ("ret_1", "ret_5", "ret_10", "ret_window", "mfe", "mae", "hit", "barrier"):
        assert row[column] is None, column
    assert row["atr"] == 2.0
    assert frame.row(0, named=True)["bars"] == 20


def test_split_inside_the_window_is_scaled_back() -> None:
    """A 2:1 split from session 10 on: the raw price halves but the value stays flat."""
    half: OHLC = (50.0, 50.25, 49.75, 50.0)
    rows = path(dict.fromkeys(range(10, 21), half))
    row = outcome(bars_of("AAA", rows, splits={10: 2.0}))
    assert row["ret_5"] == pytest.approx(0.0)
    assert row["ret_10"] == pytest.approx(0.0)
    assert row["ret_window"] == pytest.approx(0.0)
    assert row["mfe"] == pytest.approx(0.005)
    assert row["mae"] == pytest.approx(-0.005)
    assert row["barrier"] == "time"
    assert row["hit"] is False


def test_split_on_the_entry_bar() -> None:
    """The split takes effect on session 1: the entry price is in D's prices (100, not 50)."""
    half: OHLC = (50.0, 50.25, 49.75, 51.0)
    rows = path(dict.fromkeys(range(1, 21), half))
    row = outcome(bars_of("AAA", rows, splits={1: 2.0}))
    assert row["entry_price"] == pytest.approx(100.0)
    assert row["ret_window"] == pytest.approx(0.02)
    assert row["barrier"] == "time"


# --- patterns ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason_codes", "patterns"),
    [
        (["no_supply", "trend_up", "weekly_up"], ["no_supply"]),
        (["spring", "test", "weekly_down"], ["spring", "test"]),
        (["trend_up"], []),
        ([], []),
    ],
)
def test_patterns_keep_only_pattern_rule_ids(reason_codes: list[str], patterns: list[str]) -> None:
    row = outcome(bars_of("AAA", path()), reason_codes=reason_codes)
    assert row["patterns"] == patterns


# --- point in time -----------------------------------------------------------------------------


SWINGS_MOVES: dict[int, OHLC] = {
    3: (101.0, 102.0, 100.0, 101.0),
    7: (99.0, 100.0, 98.0, 99.0),
}


def _three_signals() -> pl.DataFrame:
    return signals_of(
        signal("AAA", kind="BUY"), signal("BBB", kind="SELL"), signal("CCC", kind="HOLD")
    )


def _bars(rows: Sequence[OHLC | None]) -> pl.DataFrame:
    return pl.concat([bars_of(ticker, rows) for ticker in ("AAA", "BBB", "CCC")])


def test_bars_after_the_window_change_nothing() -> None:
    rows = path(SWINGS_MOVES)
    wild = [(300.0, 400.0, 1.0, 350.0), (5.0, 500.0, 0.5, 2.0)] * 10
    before = score(_three_signals(), _bars(rows))
    after = score(_three_signals(), _bars([*rows, *wild]))
    assert before.height == 3
    assert_frame_equal(before, after)


def test_a_bar_inside_the_window_changes_the_outcome() -> None:
    rows = path(SWINGS_MOVES)
    changed = list(rows)
    changed[20] = (100.0, 100.5, 90.0, 92.0)  # the last session of the window
    before = score(_three_signals(), _bars(rows))
    after = score(_three_signals(), _bars(changed))
    assert not before.equals(after)
    assert after["ret_window"].to_list() == pytest.approx([-0.08] * 3)
    assert before["ret_window"].to_list() == pytest.approx([0.0] * 3)
    assert after["mae"][0] == pytest.approx(-0.10)  # BUY: low of 90
    assert after["mfe"][1] == pytest.approx(0.10)  # SELL: low of 90


# --- bad input and empty input -----------------------------------------------------------------


def test_signals_without_atr14_raise() -> None:
    signals = signals_of(signal()).drop("atr14")
    with pytest.raises(OutcomeError, match="atr14"):
        score(signals, bars_of("AAA", path()))


def test_bars_without_close_raise() -> None:
    with pytest.raises(OutcomeError, match="close"):
        score(signals_of(signal()), bars_of("AAA", path()).drop("close"))


def test_signal_without_its_own_bar_raises() -> None:
    rows = path({3: None})
    signals = signals_of(signal("AAA"), signal("AAA", day=SESSIONS[3]))
    with pytest.raises(OutcomeError, match="AAA 2010-06-09"):
        score(signals, bars_of("AAA", rows))


def test_signal_of_an_unknown_ticker_raises() -> None:
    signals = signals_of(signal("AAA"), signal("ZZZ", day=SESSIONS[1]))
    with pytest.raises(OutcomeError, match="ZZZ 2010-06-07"):
        score(signals, bars_of("AAA", path()))


def test_empty_signals_give_the_full_schema() -> None:
    frame = score(pl.DataFrame(schema=SIGNAL_SCHEMA), bars_of("AAA", path()))
    assert frame.height == 0
    assert frame.schema == OUTCOME_SCHEMA


def test_schema_of_a_scored_frame() -> None:
    frame = score(signals_of(signal()), bars_of("AAA", path()))
    assert frame.schema == OUTCOME_SCHEMA


# --- whole frame -------------------------------------------------------------------------------


def test_several_tickers_at_once_match_each_alone() -> None:
    """Tickers with different windows, gaps, splits and barriers do not leak into each other."""
    split_rows = path(dict.fromkeys(range(8, 31), (50.0, 50.5, 48.0, 49.0)), sessions=30)
    split_rows[12] = None
    bars = {
        "AAA": bars_of("AAA", ramp(30)),
        "BBB": bars_of("BBB", split_rows, splits={8: 2.0}),
        "CCC": bars_of("CCC", path({2: (101, 103.5, 101, 103), 6: (92, 92.5, 91, 91.5)}, 30)),
        "DDD": bars_of("DDD", [DAY, *([None] * 20), *([QUIET] * 10)]),
    }
    signals = signals_of(
        signal("CCC", kind="HOLD"),
        signal("CCC", day=SESSIONS[1], kind="SELL", atr=None, reason_codes=["no_demand"]),
        signal("AAA", day=SESSIONS[2], kind="BUY", atr=1.0),
        signal("AAA", kind="BUY", reason_codes=["spring", "trend_up"]),
        signal("AAA", day=SESSIONS[1], kind="SELL", atr=3.0),
        signal("BBB", kind="SELL"),
        signal("BBB", day=SESSIONS[3], kind="HOLD"),
        signal("DDD", kind="BUY"),
    )
    shuffled = pl.concat(list(bars.values())).sample(fraction=1.0, shuffle=True, seed=7)
    together = score(signals, shuffled)
    alone = pl.concat([score(signals.filter(pl.col("ticker") == t), b) for t, b in bars.items()])
    assert together.height == signals.height
    assert together.select("ticker", "date").rows() == sorted(
        signals.select("ticker", "date").rows()
    )
    assert_frame_equal(together, alone)
    # A few known values so that both sides cannot be equally wrong.
    by_key = {(r["ticker"], r["date"]): r for r in together.iter_rows(named=True)}
    assert by_key[("AAA", D)]["ret_window"] == pytest.approx(0.20)
    assert by_key[("AAA", D)]["patterns"] == ["spring"]
    assert by_key[("BBB", D)]["missing_bars"] == 1
    assert by_key[("CCC", D)]["barrier"] == "stop"
    assert by_key[("DDD", D)]["bars"] == 0
    assert by_key[("AAA", SESSIONS[1])]["window_sessions"] == 21
