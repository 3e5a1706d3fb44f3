import datetime as dt

from marketflow_assets.calendar import (
    describe_sessions,
    non_session_weekdays,
    sessions_before,
    sessions_between,
    unclosed_sessions,
)


def test_2024_has_252_sessions_and_no_independence_day() -> None:
    sessions = sessions_between(dt.date(2024, 1, 1), dt.date(2024, 12, 31))
    assert len(sessions) == 252
    assert dt.date(2024, 7, 4) not in sessions
    assert dt.date(2024, 7, 5) in sessions
    assert all(day.weekday() < 5 for day in sessions)


def test_half_day_is_a_session_and_holidays_are_listed() -> None:
    assert dt.date(2024, 11, 29) in sessions_between(dt.date(2024, 11, 25), dt.date(2024, 11, 29))
    holidays = non_session_weekdays(dt.date(2024, 1, 1))
    assert dt.date(2024, 7, 4) in holidays
    assert dt.date(2024, 12, 25) in holidays
    assert dt.date(2024, 7, 5) not in holidays


def test_end_before_start_is_empty() -> None:
    assert sessions_between(dt.date(2024, 1, 5), dt.date(2024, 1, 2)) == []


def test_a_session_is_unclosed_until_the_closing_bell() -> None:
    day = dt.date(2024, 7, 3)  # half day: closes 13:00 New York = 17:00 UTC
    before = dt.datetime(2024, 7, 3, 16, 59, tzinfo=dt.UTC)
    after = dt.datetime(2024, 7, 3, 17, 1, tzinfo=dt.UTC)
    assert unclosed_sessions([day], before) == [day]
    assert unclosed_sessions([day], after) == []


def test_sessions_before_counts_back_over_holidays_and_stops_at_the_floor() -> None:
    before = sessions_before(dt.date(2024, 7, 8), 3, floor=dt.date(2024, 1, 1))
    assert before == [dt.date(2024, 7, 2), dt.date(2024, 7, 3), dt.date(2024, 7, 5)]
    assert len(sessions_before(dt.date(2024, 7, 8), 250, floor=dt.date(2020, 1, 1))) == 250
    assert sessions_before(dt.date(2024, 1, 4), 10, floor=dt.date(2024, 1, 2)) == [
        dt.date(2024, 1, 2),
        dt.date(2024, 1, 3),
    ]
    assert sessions_before(dt.date(2024, 1, 2), 10, floor=dt.date(2024, 1, 2)) == []


def test_describe_sessions_joins_runs_of_consecutive_sessions() -> None:
    days = [*sessions_between(dt.date(2024, 7, 1), dt.date(2024, 7, 12)), dt.date(2024, 8, 1)]
    assert describe_sessions(days) == "10 session(s): 2024-07-01..2024-07-12, 2024-08-01"
    many = [dt.date(2024, m, 1) for m in range(1, 13) if dt.date(2024, m, 1).weekday() < 5]
    assert describe_sessions(many, limit=2) == (
        f"{len(many)} session(s): 2024-01-01, 2024-02-01 and {len(many) - 2} more stretch(es)"
    )
