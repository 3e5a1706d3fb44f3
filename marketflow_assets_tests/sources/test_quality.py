import datetime as dt

import polars as pl
import pytest

from marketflow_assets.calendar import sessions_between
from marketflow_assets.sources.quality import REASONS, ingest_summary, rule_violations, sort_bars
from marketflow_assets_tests.frames import bars_for

START, END = dt.date(2024, 7, 1), dt.date(2024, 7, 12)
SESSIONS = sessions_between(START, END)


def with_change(bars: pl.DataFrame, **values: object) -> pl.DataFrame:
    """`bars` with the first row's fields replaced by `values`."""
    first = bars.head(1).with_columns(
        *(pl.lit(v, dtype=bars.schema[k]).alias(k) for k, v in values.items())
    )
    return pl.concat([first, bars.slice(1)])


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"high": 90.0, "low": 95.0}, "high_below_low"),
        ({"close": 150.0}, "close_outside_range"),
        ({"open": 50.0}, "open_outside_range"),
        ({"low": 0.0, "open": 0.5, "close": 0.5}, "non_positive_price"),
        ({"close": None}, "missing_price"),
        (
            {
                "open": float("nan"),
                "high": float("nan"),
                "low": float("nan"),
                "close": float("nan"),
            },
            "missing_price",
        ),
        ({"high": float("inf")}, "infinite_price"),
        ({"volume": float("inf")}, "infinite_volume"),
        ({"volume": -5.0}, "negative_volume"),
        ({"volume": None}, "missing_volume"),
        ({"date": dt.date(2024, 7, 4)}, "not_a_session"),
    ],
)
def test_each_kind_of_bad_row_is_quarantined_with_its_reason(change: dict, reason: str) -> None:
    bars = bars_for(["AAA", "BBB"], START, END)
    result = sort_bars(with_change(bars, **change), SESSIONS, "test")
    assert result.quarantine.height == 1
    assert reason in result.quarantine["reason"].item().split(", ")
    assert result.bars.height == bars.height - 1
    assert result.quarantined_by_reason()[reason] == 1


def test_exact_copies_keep_one_and_quarantine_the_rest() -> None:
    bars = bars_for(["AAA"], START, END)
    result = sort_bars(pl.concat([bars, bars.head(1), bars.head(1)]), SESSIONS, "test")
    assert result.bars.height == bars.height
    assert result.quarantine["reason"].to_list() == ["duplicate_key", "duplicate_key"]


def test_conflicting_rows_for_one_key_are_all_quarantined() -> None:
    bars = bars_for(["AAA"], START, END)
    other = bars.head(1).with_columns(pl.col("close") + 0.1)
    result = sort_bars(pl.concat([bars, other]), SESSIONS, "test")
    assert result.bars.height == bars.height - 1
    assert result.quarantine.height == 2
    assert set(result.quarantine["reason"]) == {"duplicate_key"}


def test_a_row_with_several_faults_lists_every_reason() -> None:
    bars = with_change(bars_for(["AAA"], START, END), volume=-1.0, open=1.0)
    reasons = sort_bars(bars, SESSIONS, "t").quarantine["reason"].item()
    assert reasons == "open_outside_range, negative_volume"


def test_nothing_is_lost_between_bars_and_quarantine() -> None:
    bars = with_change(bars_for(["AAA", "BBB"], START, END), high=1.0)
    result = sort_bars(pl.concat([bars, bars.tail(1)]), SESSIONS, "t")
    assert result.bars.height + result.quarantine.height == bars.height + 1


def test_splits_and_dividends_become_corporate_actions_even_on_bad_bars() -> None:
    bars = with_change(bars_for(["AAA"], START, END), split_ratio=2.0, high=1.0)
    result = sort_bars(bars, SESSIONS, "t")
    assert result.corporate_actions.select("ticker", "date", "split_ratio").row(0) == (
        "AAA",
        SESSIONS[0],
        2.0,
    )


def test_clean_bars_pass_untouched_and_the_summary_counts_them() -> None:
    bars = bars_for(["AAA", "BBB"], START, dt.date(2024, 7, 10))
    result = sort_bars(bars, SESSIONS, "t")
    assert result.quarantine.height == 0
    assert rule_violations(result.bars).height == 0
    summary = ingest_summary(result, SESSIONS, tickers=["AAA", "BBB", "APPL"])
    assert summary["tickers_without_bars"] == ["APPL"]
    assert summary["rows"] == bars.height
    assert summary["tickers"] == 2
    assert summary["sessions_without_bars"] == ["2024-07-11", "2024-07-12"]
    assert set(summary["quarantined_by_reason"]) == set(REASONS)
