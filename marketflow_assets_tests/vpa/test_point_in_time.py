"""Point in time: nothing the VPA engine says about day D uses a bar after D.

The harness (point_in_time.py) reruns the pipeline on bars cut after D and on bars changed after
D and demands exactly the same features, events (by `confirmed_at`) and signals up to D. Its
positive controls are pipelines with a planted lookahead, which it must catch.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from marketflow_assets.sources.quality import rule_violations
from marketflow_assets.sources.sample import SampleSource
from marketflow_assets.vpa import compute_features
from marketflow_assets.vpa import frame as frame_module
from marketflow_assets.vpa.frame import CHUNK_ROWS, normalise
from marketflow_assets_tests.vpa.point_in_time import (
    CHECKS,
    Frames,
    LookaheadError,
    Split,
    assert_point_in_time,
    find_leaks,
    perturb_after,
    random_bars,
    spread_dates,
    truncate,
    visible_at,
    vpa_pipeline,
)

SEEDS = (0, 7)
# Per seed: the largest ticker's median volume over the smallest's, the patterns found, and the
# dates with an event waiting for its follow-through.
INTERESTING = {0: (1_576_053, 10, 2), 7: (2_041_142, 9, 1)}


def straddled_dates(outputs: Frames) -> list[dt.date]:
    """Dates on which some event already happened but is not yet confirmed."""
    events = outputs["events"]
    waiting = events.filter(pl.col("confirmed_at") > pl.col("date"))
    return sorted(set(waiting["date"].to_list()))


def dates_to_check(bars: pl.DataFrame, outputs: Frames) -> list[dt.date]:
    """Eight dates from warm-up to the end, the first bar after the warm-up, the days around
    each split, and the dates of events still waiting for their follow-through."""
    days = bars["date"].unique().sort()
    splits = bars.filter(pl.col("split_ratio").is_not_null())["date"].to_list()
    around_splits = [d + dt.timedelta(days=k) for d in splits for k in (-1, 0)]
    chosen = {*spread_dates(bars, 8), days[60], *around_splits, *straddled_dates(outputs)[:2]}
    return sorted(chosen)


@pytest.fixture(scope="module", params=SEEDS, ids=[f"seed{s}" for s in SEEDS])
def market(request: pytest.FixtureRequest) -> tuple[pl.DataFrame, Frames]:
    bars = random_bars(request.param)
    return bars, vpa_pipeline(bars)


def test_random_market_is_valid_and_interesting(
    market: tuple[pl.DataFrame, Frames], request: pytest.FixtureRequest
) -> None:
    bars, outputs = market
    volume_span, patterns, straddled = INTERESTING[request.node.callspec.params["market"]]
    assert rule_violations(bars).height == 0
    normalise(bars)  # raises BarsError on anything the engine refuses
    by_ticker = bars.group_by("ticker").agg(pl.col("volume").median(), pl.len())
    # Volume magnitudes span orders of magnitude across tickers; there are splits to apply.
    assert round(by_ticker["volume"].max() / by_ticker["volume"].min()) == volume_span
    assert bars["split_ratio"].drop_nulls().len() == 3
    # The engine finds patterns, some confirmed later than their bar, and gives BUY and SELL.
    events = outputs["events"]
    assert events["rule_id"].n_unique() == patterns
    assert len(straddled_dates(outputs)) == straddled
    assert {"BUY", "SELL", "HOLD"} <= set(outputs["signals"]["signal"].to_list())


@pytest.mark.parametrize("check", CHECKS)
def test_vpa_engine_is_point_in_time(market: tuple[pl.DataFrame, Frames], check: str) -> None:
    bars, outputs = market
    assert_point_in_time(vpa_pipeline, bars, dates_to_check(bars, outputs), checks=[check])


def test_unconfirmed_event_is_invisible_until_confirmed(
    market: tuple[pl.DataFrame, Frames],
) -> None:
    bars, outputs = market
    waiting = outputs["events"].filter(pl.col("confirmed_at") > pl.col("date"))
    event = waiting.row(0, named=True)
    same = (pl.col("ticker") == event["ticker"]) & (pl.col("date") == event["date"])
    same &= pl.col("rule_id") == event["rule_id"]
    days = bars.filter(pl.col("ticker") == event["ticker"])["date"]
    pending = days.filter((days >= event["date"]) & (days < event["confirmed_at"])).to_list()
    assert pending[0] == event["date"]
    for as_of in pending:
        seen = visible_at(vpa_pipeline(truncate(bars, as_of)), as_of)["events"]
        assert seen.filter(same).height == 0, f"{event} visible on {as_of}"
    as_of = event["confirmed_at"]
    seen = visible_at(vpa_pipeline(truncate(bars, as_of)), as_of)["events"].filter(same)
    assert seen.rows(named=True) == [event]


def test_perturbation_changes_only_later_bars_and_keeps_them_valid() -> None:
    bars = random_bars(3)
    as_of = bars["date"].sort()[80]
    changed = perturb_after(bars, as_of, seed=11)
    assert_frame_equal(truncate(changed, as_of), truncate(bars, as_of), check_exact=True)
    assert rule_violations(changed).height == 0
    normalise(changed)
    later = changed.filter(pl.col("date") > as_of)
    original = bars.filter(pl.col("date") > as_of)
    assert (later.height, original.height) == (438, 482)
    moved = later.join(original, on=["ticker", "date"], suffix="_was")
    assert (moved["close"] != moved["close_was"]).all()
    assert (moved["volume"] != moved["volume_was"]).all()
    assert not later["split_ratio"].drop_nulls().equals(original["split_ratio"].drop_nulls())


# Positive controls: pipelines with a planted lookahead the harness must catch.


def with_centred_close_mean(bars: pl.DataFrame) -> Frames:
    outputs = vpa_pipeline(bars)
    centred = pl.col("close").rolling_mean(5, center=True).over("ticker")
    outputs["features"] = outputs["features"].with_columns(centred.alias("close_centred5"))
    return outputs


def with_whole_series_volume_mean(bars: pl.DataFrame) -> Frames:
    outputs = vpa_pipeline(bars)
    whole = pl.col("volume").mean().over("ticker")
    outputs["features"] = outputs["features"].with_columns(whole.alias("volume_all_mean"))
    return outputs


def with_events_published_on_their_bar(bars: pl.DataFrame) -> Frames:
    outputs = vpa_pipeline(bars)
    outputs["events"] = outputs["events"].with_columns(pl.col("date").alias("confirmed_at"))
    return outputs


def with_tomorrows_return_as_score(bars: pl.DataFrame) -> Frames:
    outputs = vpa_pipeline(bars)
    ahead = (pl.col("close").shift(-1) / pl.col("close") - 1).over("ticker").alias("score")
    close = outputs["features"].select("ticker", "date", "close")
    outputs["signals"] = (
        outputs["signals"]
        .drop("score")
        .join(close, on=["ticker", "date"], how="left", maintain_order="left")
        .with_columns(ahead)
        .drop("close")
    )
    return outputs


@pytest.mark.parametrize(
    ("leaky", "output", "column"),
    [
        (with_centred_close_mean, "features", "close_centred5"),
        (with_whole_series_volume_mean, "features", "volume_all_mean"),
        (with_tomorrows_return_as_score, "signals", "score"),
    ],
)
@pytest.mark.parametrize("check", CHECKS)
def test_harness_catches_planted_lookahead(leaky, output: str, column: str, check: str) -> None:
    bars = random_bars(0)
    days = bars["date"].unique().sort()
    dates = [days[10], days[75], days[-5]]
    leaks = [
        leak for leak in find_leaks(leaky, bars, dates, checks=[check]) if leak.output == output
    ]
    # Caught at every date, and the report names the check and the planted column.
    assert sorted(leak.as_of for leak in leaks) == dates
    assert all(leak.check == check and f"{column} differs" in leak.detail for leak in leaks)
    with pytest.raises(LookaheadError, match=rf"{check}: {output} as of {dates[0]} differ"):
        assert_point_in_time(leaky, bars, dates, checks=[check])


@pytest.mark.parametrize("check", CHECKS)
def test_harness_catches_events_published_before_confirmation(
    market: tuple[pl.DataFrame, Frames], check: str
) -> None:
    bars, outputs = market
    dates = straddled_dates(outputs)
    leaks = find_leaks(with_events_published_on_their_bar, bars, dates, checks=[check])
    events = [leak for leak in leaks if leak.output == "events"]
    # Truncation always removes the follow-through; on these markets a perturbation breaks it
    # on every date too.
    assert [leak.as_of for leak in events] == dates
    if check == "truncation":
        assert all("missing keys" in leak.detail for leak in events)


def test_harness_reports_a_last_bit_float_difference() -> None:
    bars = random_bars(1, splits=[])
    days = bars["date"].unique().sort()
    dates = [days[100], days[120]]

    def off_by_one_ulp_after(bars: pl.DataFrame) -> Frames:
        # A last-bit difference that appears only when the run sees bars after the date.
        outputs = vpa_pipeline(bars)
        last = bars["date"].max()
        nudge = pl.when(pl.col("date") < last).then(np.nextafter(1.0, 2.0)).otherwise(1.0)
        outputs["features"] = outputs["features"].with_columns(pl.col("atr14") * nudge)
        return outputs

    leaks = find_leaks(off_by_one_ulp_after, bars, dates, checks=["truncation"])
    leaks = [leak for leak in leaks if leak.output == "features"]
    assert [leak.as_of for leak in leaks] == dates
    # The date's own row of each ticker trading that day differs, and the report says so.
    for leak in leaks:
        rows = bars.filter(pl.col("date") == leak.as_of).height
        assert f"atr14 differs on {rows} row(s)" in leak.detail


# Wider coverage: random markets of other shapes, and the real sample.


@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
    # No shrinking: the harness already names the date, output and values that differ.
    phases=[Phase.explicit, Phase.generate],
)
@given(
    seed=st.integers(0, 2**32 - 1),
    tickers=st.integers(1, 4),
    sessions=st.integers(25, 120),
    split=st.tuples(st.integers(0, 3), st.integers(1, 119), st.sampled_from([0.5, 2.0, 4.0])),
    cuts=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=3),
)
def test_point_in_time_on_random_markets(
    seed: int, tickers: int, sessions: int, split: tuple[int, int, float], cuts: list[float]
) -> None:
    bars = random_bars(seed, tickers=tickers, sessions=sessions, splits=[Split(*split)])
    days = bars["date"].unique().sort()
    dates = sorted({days[round(c * (days.len() - 1))] for c in cuts})
    assert_point_in_time(vpa_pipeline, bars, dates, seed=seed)


def test_point_in_time_on_real_sample() -> None:
    tickers = ["AAPL", "MSFT", "XOM", "GE", "JPM", "PG", "INTC", "WMT"]
    bars = SampleSource().fetch(tickers, dt.date(2009, 8, 21), dt.date(2010, 8, 20))
    assert rule_violations(bars).height == 0
    assert bars["ticker"].n_unique() == len(tickers)
    days = bars["date"].unique().sort()
    assert_point_in_time(vpa_pipeline, bars, [days[40], days[130], days[-4]])


@pytest.mark.parametrize("chunk_rows", [3_000, 9_000, CHUNK_ROWS])
def test_ticker_features_do_not_depend_on_other_tickers(
    chunk_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same bars, same bits, whatever else is in the frame and however it is cut in pieces."""
    monkeypatch.setattr(frame_module, "CHUNK_ROWS", chunk_rows)
    one = random_bars(5, tickers=1, sessions=300, splits=[Split(0, 150, 2.0)])
    others = pl.concat(
        random_bars(s, tickers=4, sessions=300, splits=[]).with_columns(
            pl.format("S{}_{}", pl.lit(s), pl.col("ticker")).alias("ticker")
        )
        for s in range(25)
    )
    names = ("A", "S12_T~", "ZZ")  # first, among the others, last
    copies = [one.with_columns(pl.lit(t).alias("ticker")) for t in names]
    frame = pl.concat([others, *copies])
    assert frame.height == 29_167  # several pieces at the smaller sizes, one at the default
    features = compute_features(frame)
    alone = compute_features(one).drop("ticker")
    for ticker in names:
        mine = features.filter(pl.col("ticker") == ticker).drop("ticker")
        assert_frame_equal(mine, alone, check_exact=True)
