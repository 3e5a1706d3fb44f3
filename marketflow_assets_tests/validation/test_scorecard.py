"""The scorecard on hand-built outcomes: counts, hits, base rates, excess returns, profit factor,
barrier shares, forecast quality and "ready"; warm-up and unmatured rows; patterns and years."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from marketflow_assets.validation.outcomes import OUTCOME_SCHEMA
from marketflow_assets.validation.scorecard import (
    SCORECARD_COLUMNS,
    SCORECARD_SCHEMA,
    build_scorecard,
)
from marketflow_assets.vpa.signals import SIGNAL, STRENGTH

HOLD_BAND = 0.05
READY_MIN = 30  # the streaks below sit either side of it
D2010 = dt.date(2010, 3, 1)
D2011 = dt.date(2011, 3, 1)
# The columns of the outcomes table that the scorecard reads, with their stored types.
OUTCOME_COLUMNS = (
    "ticker",
    "date",
    "signal",
    "strength",
    "confidence",
    "patterns",
    "warmup",
    "ret_1",
    "ret_5",
    "ret_10",
    "ret_21",
    "ret_window",
    "max_move",
    "mfe",
    "mae",
    "hit",
    "barrier",
)
SCHEMA = {column: OUTCOME_SCHEMA[column] for column in OUTCOME_COLUMNS}


def outcome(
    signal: str,
    strength: str,
    confidence: float,
    ret: float | None,
    *,
    date: dt.date = D2010,
    patterns: Sequence[str] = (),
    warmup: bool = False,
    barrier: str | None = "time",
) -> dict[str, object]:
    """One outcome row: every horizon returns `ret` but the first, which returns a tenth of it;
    `hit` follows the spec's rule and is null without a return (not matured); the largest move
    of a close is the window's own."""
    if ret is None:
        hit = None
    elif signal == "BUY":
        hit = ret > 0
    elif signal == "SELL":
        hit = ret < 0
    else:
        hit = abs(ret) < HOLD_BAND
    return {
        "ticker": "AAA",
        "date": date,
        "signal": signal,
        "strength": strength,
        "confidence": confidence,
        "patterns": list(patterns),
        "warmup": warmup,
        "ret_1": None if ret is None else ret / 10,
        "ret_5": ret,
        "ret_10": ret,
        "ret_21": ret,
        "ret_window": ret,
        "max_move": None if ret is None else abs(ret),
        "mfe": None if ret is None else max(ret, 0.0) + 0.01,
        "mae": None if ret is None else min(ret, 0.0) - 0.01,
        "hit": hit,
        "barrier": barrier if ret is not None else None,
    }


def frames(rows: list[dict[str, object]]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(signals, outcomes) of the rows; the signals' reason codes are the patterns and context
    words, as `vpa_signals` writes them (`warmup` alone on warm-up rows)."""
    outcomes = pl.DataFrame(rows, schema=SCHEMA)
    signals = outcomes.select(
        "ticker",
        "date",
        pl.col("signal").cast(SIGNAL),
        pl.col("strength").cast(STRENGTH),
        "confidence",
        pl.when(pl.col("warmup"))
        .then(pl.lit(["warmup"]))
        .otherwise(pl.col("patterns").list.concat(pl.lit(["trend_up", "weekly_flat"])))
        .alias("reason_codes"),
        "warmup",
    )
    return signals, outcomes


def card_of(rows: list[dict[str, object]], batch_rows: int | None = None) -> pl.DataFrame:
    """The scorecard of the rows, handed over whole or in batches of `batch_rows` rows."""
    signals, outcomes = frames(rows)
    if batch_rows is None:
        return build_scorecard(
            [signals], [outcomes], hold_band=HOLD_BAND, ready_min_matured=READY_MIN
        )
    return build_scorecard(
        signals.iter_slices(batch_rows),
        outcomes.iter_slices(batch_rows),
        hold_band=HOLD_BAND,
        ready_min_matured=READY_MIN,
    )


# Matured, non-warm-up window returns: 0.10, -0.04, 0.02, -0.06, 0.03, 0.01, -0.08 (7 rows).
CASE = [
    outcome("BUY", "STRONG", 0.8, 0.10, patterns=["spring", "test"], barrier="target"),
    outcome("BUY", "MODERATE", 0.6, -0.04, patterns=["spring"], barrier="stop"),
    outcome("BUY", "WEAK", 0.3, 0.02, date=D2011),
    outcome("SELL", "STRONG", 0.7, -0.06, patterns=["upthrust"], barrier="target"),
    outcome("SELL", "MODERATE", 0.5, 0.03, barrier=None),
    outcome("HOLD", "WEAK", 0.9, 0.01),
    outcome("HOLD", "WEAK", 0.4, -0.08, date=D2011, barrier="stop"),
    # Emitted but not matured: counted as a signal, nowhere else.
    outcome("BUY", "STRONG", 0.9, None, date=D2011),
    # Warm-up: left out everywhere (it would add a 2012 period, a hammer group and a big win).
    outcome("BUY", "STRONG", 0.9, 0.50, date=dt.date(2012, 3, 1), patterns=["hammer"], warmup=True),
]


@pytest.fixture(scope="module")
def card() -> pl.DataFrame:
    return card_of(CASE)


def group(
    card: pl.DataFrame,
    signal: str,
    strength: str = "all",
    pattern: str = "all",
    period: str = "all",
) -> dict[str, object]:
    found = card.filter(
        (pl.col("signal") == signal)
        & (pl.col("strength") == strength)
        & (pl.col("pattern") == pattern)
        & (pl.col("period") == period)
    )
    assert found.height == 1, (signal, strength, pattern, period)
    return found.row(0, named=True)


def test_columns_and_dtypes(card: pl.DataFrame) -> None:
    assert tuple(card.columns) == SCORECARD_COLUMNS
    assert card.schema == SCORECARD_SCHEMA
    assert card["reliability"].list.len().unique().to_list() == [10]


def test_groups_are_those_with_emitted_signals(card: pl.DataFrame) -> None:
    buy = card.filter(pl.col("signal") == "BUY").select("strength", "pattern", "period")
    assert buy.rows() == [
        ("all", "all", "all"),
        ("all", "all", "2010"),
        ("all", "all", "2011"),
        ("all", "spring", "all"),
        ("all", "spring", "2010"),
        ("all", "test", "all"),
        ("all", "test", "2010"),
        ("STRONG", "all", "all"),
        ("STRONG", "all", "2010"),
        ("STRONG", "all", "2011"),
        ("MODERATE", "all", "all"),
        ("MODERATE", "all", "2010"),
        ("WEAK", "all", "all"),
        ("WEAK", "all", "2011"),
    ]
    assert card["signal"].unique(maintain_order=True).to_list() == ["BUY", "SELL", "HOLD"]
    assert "hammer" not in card["pattern"].to_list()
    assert "2012" not in card["period"].to_list()


def test_counts_hits_and_wilson(card: pl.DataFrame) -> None:
    buy = group(card, "BUY")
    assert (buy["signals"], buy["matured"], buy["hits"]) == (4, 3, 2)
    assert buy["hit_rate"] == pytest.approx(2 / 3)
    assert buy["hit_low"] == pytest.approx(0.20766, abs=1e-5)
    assert buy["hit_high"] == pytest.approx(0.93851, abs=1e-5)


def test_base_rates_over_all_matured_outcomes_of_the_period(card: pl.DataFrame) -> None:
    # 4 of 7 window returns are up, 3 down, 4 inside the 5% band.
    assert group(card, "BUY")["base_rate"] == pytest.approx(4 / 7)
    assert group(card, "SELL")["base_rate"] == pytest.approx(3 / 7)
    assert group(card, "HOLD")["base_rate"] == pytest.approx(4 / 7)
    # 2010: 0.10, -0.04, -0.06, 0.03, 0.01; 2011: 0.02, -0.08.
    assert group(card, "BUY", period="2010")["base_rate"] == pytest.approx(3 / 5)
    assert group(card, "BUY", period="2011")["base_rate"] == pytest.approx(1 / 2)
    # The same base for every group of a signal type and period.
    assert group(card, "BUY", pattern="spring")["base_rate"] == pytest.approx(4 / 7)


def test_returns_and_excess(card: pl.DataFrame) -> None:
    buy = group(card, "BUY")
    assert buy["mean_ret_window"] == pytest.approx(0.08 / 3)
    assert buy["median_ret_window"] == pytest.approx(0.02)
    # Base: mean over the 7 returns of r (BUY) is -0.02 / 7.
    assert buy["excess_ret_window"] == pytest.approx(0.08 / 3 + 0.02 / 7)
    assert buy["excess_ret_1"] == pytest.approx((0.08 / 3 + 0.02 / 7) / 10)
    sell = group(card, "SELL")
    # Signed SELL returns 0.06 and -0.03; base mean of -r is 0.02 / 7.
    assert sell["mean_ret_window"] == pytest.approx(0.015)
    assert sell["excess_ret_window"] == pytest.approx(0.015 - 0.02 / 7)
    hold = group(card, "HOLD")
    # Signed HOLD returns -|r|: -0.01 and -0.08; base mean of -|r| is -0.34 / 7.
    assert hold["mean_ret_window"] == pytest.approx(-0.045)
    assert hold["excess_ret_window"] == pytest.approx(-0.045 + 0.34 / 7)


def test_profit_factor(card: pl.DataFrame) -> None:
    assert group(card, "BUY")["profit_factor"] == pytest.approx(0.12 / 0.04)
    assert group(card, "SELL")["profit_factor"] == pytest.approx(0.06 / 0.03)
    assert group(card, "HOLD")["profit_factor"] is None
    # No losing trade: no profit factor.
    assert group(card, "BUY", pattern="test")["profit_factor"] is None


def test_excursions_and_barriers(card: pl.DataFrame) -> None:
    buy = group(card, "BUY")
    assert buy["mfe_mean"] == pytest.approx((0.11 + 0.01 + 0.03) / 3)
    assert buy["mae_mean"] == pytest.approx((-0.01 - 0.05 - 0.01) / 3)
    assert (buy["target_rate"], buy["stop_rate"], buy["time_rate"]) == pytest.approx(
        (1 / 3, 1 / 3, 1 / 3)
    )
    # One of the two SELL outcomes has no barrier (no ATR): shares are over the other.
    sell = group(card, "SELL")
    assert (sell["target_rate"], sell["stop_rate"], sell["time_rate"]) == (1.0, 0.0, 0.0)


def test_brier_rank_correlation_and_reliability(card: pl.DataFrame) -> None:
    buy = group(card, "BUY")
    assert buy["brier"] == pytest.approx((0.2**2 + 0.6**2 + 0.7**2) / 3)
    # Confidence ranks 3, 2, 1 against signed-return ranks 3, 1, 2: 1 - 6 * 2 / 24.
    assert buy["rank_corr"] == pytest.approx(0.5)
    counts = [entry["count"] for entry in buy["reliability"]]
    assert counts == [0, 0, 0, 1, 0, 0, 1, 0, 1, 0]
    assert group(card, "SELL")["rank_corr"] is None  # two values only


def test_two_pattern_signal_counts_in_both_pattern_groups(card: pl.DataFrame) -> None:
    spring = group(card, "BUY", pattern="spring")
    test = group(card, "BUY", pattern="test")
    assert (spring["signals"], spring["matured"], spring["hits"]) == (2, 2, 1)
    assert (test["signals"], test["matured"], test["hits"]) == (1, 1, 1)
    assert group(card, "SELL", pattern="upthrust")["hits"] == 1


def test_per_year_rows(card: pl.DataFrame) -> None:
    y2010, y2011 = group(card, "BUY", period="2010"), group(card, "BUY", period="2011")
    assert (y2010["signals"], y2010["matured"], y2010["hits"]) == (2, 2, 1)
    assert (y2011["signals"], y2011["matured"], y2011["hits"]) == (2, 1, 1)
    # 2011 BUY base mean of r: (0.02 - 0.08) / 2.
    assert y2011["excess_ret_window"] == pytest.approx(0.02 + 0.03)


def test_group_without_matured_outcomes(card: pl.DataFrame) -> None:
    late = group(card, "BUY", strength="STRONG", period="2011")
    assert (late["signals"], late["matured"], late["hits"]) == (1, 0, 0)
    assert late["hit_rate"] is None
    assert late["hit_low"] is None
    assert late["mean_ret_window"] is None
    assert late["ready"] is False
    assert [entry["count"] for entry in late["reliability"]] == [0] * 10


def _streak(buys: int) -> list[dict[str, object]]:
    """`buys` winning BUYs among 160 winning SELLs: the BUY base rate is low."""
    return [outcome("BUY", "STRONG", 0.9, 0.05) for _ in range(buys)] + [
        outcome("SELL", "STRONG", 0.9, -0.05) for _ in range(160)
    ]


def test_ready_with_40_of_40_against_a_low_base() -> None:
    buy = group(
        card_of(_streak(40)),
        "BUY",
    )
    assert buy["base_rate"] == pytest.approx(40 / 200)
    assert buy["hit_low"] == pytest.approx(0.91238, abs=1e-5)  # above the base
    assert buy["ready"] is True


def test_not_ready_below_30_matured() -> None:
    buy = group(
        card_of(_streak(29)),
        "BUY",
    )
    assert buy["base_rate"] == pytest.approx(29 / 189)
    assert buy["hit_low"] == pytest.approx(0.88303, abs=1e-5)  # above the base
    assert buy["ready"] is False


def test_not_ready_when_the_interval_reaches_the_base() -> None:
    # 40 BUYs, half right, among as many ups as downs: hit_low 0.35 is below the base 0.5.
    rows = [outcome("BUY", "STRONG", 0.6, 0.05 if i % 2 else -0.05) for i in range(40)]
    buy = group(card_of(rows), "BUY")
    assert buy["matured"] == 40
    assert buy["base_rate"] == pytest.approx(0.5)
    assert buy["ready"] is False


def test_empty_inputs_give_an_empty_scorecard() -> None:
    for card in (
        card_of([]),
        build_scorecard([], [], hold_band=HOLD_BAND, ready_min_matured=READY_MIN),
    ):
        assert card.is_empty()
        assert card.schema == SCORECARD_SCHEMA


def _mixed() -> list[dict[str, object]]:
    """The case, two streaks and ties of confidence, over two years: every group has medians
    of even and odd counts and a rank correlation over rows of many batches."""
    streaks = [
        outcome(
            ("BUY", "SELL", "HOLD")[i % 3],
            ("STRONG", "MODERATE", "WEAK")[i % 4 % 3],
            round(0.05 * (i % 19), 2),
            0.01 * ((i * 7) % 23 - 11) if i % 11 else None,
            date=(D2010, D2011)[i % 2],
            patterns=(["spring", "test"], ["spring"], [], ["upthrust"])[i % 4],
            warmup=i % 17 == 0,
            barrier=("target", "stop", "time", None)[i % 5 % 4],
        )
        for i in range(120)
    ]
    return [*CASE, *streaks]


@pytest.mark.parametrize("batch_rows", [1, 7, 50])
def test_batches_of_any_size_give_the_scorecard_of_the_whole(batch_rows: int) -> None:
    whole = card_of(_mixed())
    assert whole.filter(pl.col("matured") > 2)["rank_corr"].null_count() < whole.height // 2
    assert_frame_equal(card_of(_mixed(), batch_rows), whole)
