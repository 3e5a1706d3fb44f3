import datetime as dt

import pytest

from marketflow_assets.calendar import sessions_between, unclosed_sessions
from marketflow_assets.partitions import trading_day_partitions
from marketflow_assets.runs.plan import session_range
from marketflow_assets.settings import DEFAULT_START_DATE, SettingsError


@pytest.fixture(scope="module")
def keys_2024() -> list[str]:
    partitions = trading_day_partitions(dt.date(2023, 12, 1))
    return [k for k in partitions.get_partition_keys() if k.startswith("2024-")]


def test_partitions_are_exactly_the_nyse_sessions(keys_2024: list[str]) -> None:
    expected = [d.isoformat() for d in sessions_between(dt.date(2024, 1, 1), dt.date(2024, 12, 31))]
    assert keys_2024 == expected
    assert len(keys_2024) == 252
    assert "2024-07-04" not in keys_2024
    assert "2024-07-06" not in keys_2024


def test_partitions_start_at_the_first_session_on_or_after_the_start_date() -> None:
    partitions = trading_day_partitions(dt.date(2024, 1, 1))  # a holiday
    assert partitions.get_first_partition_key() == "2024-01-02"


def test_default_partitions_cover_the_sample() -> None:
    trading_days = trading_day_partitions(DEFAULT_START_DATE)
    assert trading_days.get_first_partition_key() == "2009-08-21"
    assert trading_days.has_partition_key("2010-08-20")


def test_partition_offsets_count_sessions() -> None:
    trading_days = trading_day_partitions(DEFAULT_START_DATE)
    before = trading_days.get_prev_partition_window(
        trading_days.time_window_for_partition_key("2024-07-05").start
    )
    assert before is not None
    assert before.start.date() == dt.date(2024, 7, 3)


def test_a_start_date_outside_the_calendar_names_the_setting() -> None:
    with pytest.raises(SettingsError, match="MARKETFLOW_START_DATE=1800-01-01"):
        trading_day_partitions(dt.date(1800, 1, 1))


def test_a_range_ending_today_stops_at_the_last_closed_session() -> None:
    today = dt.datetime.now(dt.UTC)
    trading_days = trading_day_partitions(today.date() - dt.timedelta(days=60))
    first, last = session_range(trading_days, today.date() - dt.timedelta(days=14), today.date())
    assert first < last
    assert unclosed_sessions([dt.date.fromisoformat(last)], today) == []
