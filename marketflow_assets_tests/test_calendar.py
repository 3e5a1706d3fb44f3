import datetime as dt

from marketflow_assets.calendar import non_session_weekdays, sessions_between, unclosed_sessions


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
