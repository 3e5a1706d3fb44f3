"""The scorecard's statistics against values worked out by hand: the Wilson interval, the Brier
score, the ten reliability bins and Spearman's rank correlation."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from marketflow_assets.validation.stats import (
    EMPTY_RELIABILITY,
    RELIABILITY,
    reliability,
    reliability_bin,
    reliability_counts,
    spearman,
    squared_error,
    wilson_interval,
)


def test_wilson_8_of_10_numpy() -> None:
    low, high = wilson_interval(8, 10)
    assert round(float(low), 3) == 0.490
    assert round(float(high), 3) == 0.943


def test_wilson_vectorised_numpy_with_empty_and_extremes() -> None:
    low, high = wilson_interval(np.array([8, 0, 0, 5]), np.array([10, 0, 5, 5]))
    np.testing.assert_allclose(low[[0, 2, 3]], [0.490162, 0.0, 0.565518], atol=1e-6)
    np.testing.assert_allclose(high[[0, 2, 3]], [0.943318, 0.434482, 1.0], atol=1e-6)
    assert np.isnan(low[1])
    assert np.isnan(high[1])


def test_wilson_on_polars_columns_nulls_where_n_is_zero() -> None:
    counts = pl.DataFrame({"hits": [8, 0, 3], "n": [10, 0, 3]})
    low, high = wilson_interval(pl.col("hits"), pl.col("n"))
    bounds = counts.select(low, high)
    assert [round(v, 3) if v is not None else None for v in bounds["low"]] == [0.490, None, 0.439]
    assert [round(v, 3) if v is not None else None for v in bounds["high"]] == [0.943, None, 1.0]


def test_wilson_interval_narrows_with_more_data_at_the_same_rate() -> None:
    low_small, high_small = wilson_interval(8, 10)
    low_big, high_big = wilson_interval(800, 1000)
    assert low_small < low_big < 0.8 < high_big < high_small


def test_brier_score_by_hand() -> None:
    # (0.9-1)^2 + (0.2-0)^2 + (0.6-0)^2 + (1.0-1)^2 = 0.01 + 0.04 + 0.36 + 0 = 0.41; the row
    # without a hit is left out.
    frame = pl.DataFrame(
        {"confidence": [0.9, 0.2, 0.6, 1.0, 0.5], "hit": [True, False, False, True, None]}
    )
    brier = frame.select(squared_error(pl.col("confidence"), pl.col("hit")).mean()).item()
    assert brier == pytest.approx(0.41 / 4)


def test_reliability_bin_edges() -> None:
    confidence = pl.Series("c", [0.0, 0.0999, 0.1, 0.1 + 0.2, 0.3, 0.7, 0.8999, 0.9, 1.0])
    bins = pl.select(reliability_bin(pl.lit(confidence))).to_series().to_list()
    assert bins == [0, 0, 1, 3, 3, 7, 8, 9, 9]


def test_reliability_ten_bins_by_hand() -> None:
    frame = pl.LazyFrame(
        {
            "group": "a",
            "confidence": [0.0, 0.05, 0.1, 0.35, 0.95, 1.0, 0.5],
            "hit": [False, True, True, False, True, False, None],
        }
    )
    table = reliability(reliability_counts(frame, ["group"]), ["group"]).collect()
    assert table.schema["reliability"] == RELIABILITY
    assert table.height == 1
    entries = table["reliability"][0].to_list()
    assert [e["bin"] for e in entries] == list(range(10))
    assert [e["lower"] for e in entries] == [k / 10 for k in range(10)]
    assert entries[9]["upper"] == 1.0
    assert [e["count"] for e in entries] == [2, 1, 0, 1, 0, 0, 0, 0, 0, 2]
    assert entries[0]["mean_confidence"] == pytest.approx(0.025)
    assert entries[0]["hit_rate"] == 0.5
    assert entries[1]["hit_rate"] == 1.0
    assert entries[3]["hit_rate"] == 0.0
    assert entries[9]["mean_confidence"] == pytest.approx(0.975)
    assert entries[9]["hit_rate"] == 0.5
    # The 0.5 row has no hit: bin 5 stays empty, with null means.
    assert entries[5] == EMPTY_RELIABILITY[5]
    assert entries[5]["count"] == 0
    assert entries[5]["hit_rate"] is None


def test_reliability_per_group() -> None:
    frame = pl.LazyFrame(
        {
            "signal": ["BUY", "BUY", "SELL", "SELL", "HOLD"],
            "year": [2010, 2010, 2010, 2011, 2010],
            "confidence": [0.15, 0.12, 0.85, 0.2, 0.4],
            "hit": [True, False, True, False, None],
        }
    )
    by = ["signal", "year"]
    tables = reliability(reliability_counts(frame, by), by).collect().sort("signal", "year")
    counts = {
        (signal, year): [e["count"] for e in table] for signal, year, table in tables.iter_rows()
    }
    assert counts == {
        ("BUY", 2010): [0, 2, 0, 0, 0, 0, 0, 0, 0, 0],
        ("SELL", 2010): [0, 0, 0, 0, 0, 0, 0, 0, 1, 0],
        ("SELL", 2011): [0, 0, 1, 0, 0, 0, 0, 0, 0, 0],
    }
    # HOLD's one row has no hit: no counts, no table (the scorecard shows ten empty bins).
    buy = tables.filter(pl.col("signal") == "BUY")["reliability"][0].to_list()
    assert buy[1]["mean_confidence"] == pytest.approx(0.135)
    assert buy[1]["hit_rate"] == 0.5


def test_reliability_of_batches_added_is_that_of_the_whole() -> None:
    frame = pl.DataFrame(
        {
            "group": ["a", "b", "a", "a", "b", "a"],
            "confidence": [0.15, 0.12, 0.18, 0.95, 0.5, None],
            "hit": [True, False, False, True, None, True],
        }
    )
    added = (
        pl.concat(reliability_counts(batch.lazy(), ["group"]) for batch in frame.iter_slices(2))
        .group_by("group", "bin")
        .agg(pl.all().sum())
    )
    whole = reliability_counts(frame.lazy(), ["group"])
    assert_frame_equal(
        reliability(added, ["group"]).collect().sort("group"),
        reliability(whole, ["group"]).collect().sort("group"),
    )
    a = reliability(added, ["group"]).collect().sort("group")["reliability"][0].to_list()
    assert (a[1]["count"], a[1]["hit_rate"]) == (2, 0.5)


def _spearman(x: list[float | None], y: list[float | None]) -> float | None:
    frame = pl.DataFrame({"x": x, "y": y}, schema={"x": pl.Float64, "y": pl.Float64})
    return frame.select(spearman(pl.col("x"), pl.col("y"))).item()


def test_spearman_monotone_and_reversed() -> None:
    x = [1.0, 2.0, 3.0, 4.0, 5.0]
    # Monotone but far from linear: Spearman says 1 where Pearson would not.
    assert _spearman(x, [math.exp(v) for v in x]) == pytest.approx(1.0)
    assert _spearman(x, [-(v**3) for v in x]) == pytest.approx(-1.0)


def test_spearman_ties_take_average_ranks() -> None:
    # Ranks x = 1, 2.5, 2.5, 4 and y = 1, 3, 2, 4: Pearson of the ranks is 4.5 / sqrt(4.5 * 5).
    assert _spearman([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(3 / math.sqrt(10))


def test_spearman_null_when_undefined() -> None:
    assert _spearman([1, 2], [1, 2]) is None
    assert _spearman([1, 2, 3, 4], [7, 7, 7, 7]) is None
    # Only two rows have both values.
    assert _spearman([1, 2, None, 4], [1, None, 3, 4]) is None


def test_spearman_skips_rows_without_both_values() -> None:
    assert _spearman([1, 2, 3, None, 5], [3, 2, 1, 9, 0]) == pytest.approx(-1.0)


def test_spearman_per_group() -> None:
    frame = pl.DataFrame({"g": ["a"] * 3 + ["b"] * 3, "x": [1, 2, 3] * 2, "y": [1, 2, 3, 3, 2, 1]})
    found = frame.group_by("g").agg(spearman(pl.col("x"), pl.col("y")).alias("rho")).sort("g")
    assert found["rho"].to_list() == pytest.approx([1.0, -1.0])
