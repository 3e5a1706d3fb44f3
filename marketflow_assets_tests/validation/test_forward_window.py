"""The forward window of a signal of D: the NYSE sessions in (D, D + N days], and which days'
windows are fully written (matured). Holidays used: Thanksgiving 2009-11-26, Independence Day
observed 2010-07-05, Christmas 2009-12-25."""

from __future__ import annotations

import datetime as dt

import pytest

from marketflow_assets.calendar import sessions_between
from marketflow_assets.validation.forward_window import (
    matured_days,
    max_window_sessions,
    window_end,
    window_sessions,
)
from marketflow_assets.vpa import load_rules

WINDOW_DAYS = load_rules().outcomes.window_days

THANKSGIVING = dt.date(2009, 11, 26)
JULY_5 = dt.date(2010, 7, 5)  # Monday, Independence Day observed


def sessions(start: dt.date, end: dt.date) -> list[dt.date]:
    """Sessions in [start, end] from one shared calendar (building one per start is slow)."""
    return sessions_between(start, end, calendar_start=dt.date(2009, 1, 1))


def test_window_end_is_calendar_days() -> None:
    assert window_end(dt.date(2010, 6, 4), WINDOW_DAYS) == dt.date(2010, 7, 4)
    assert window_end(dt.date(2010, 6, 4), 5) == dt.date(2010, 6, 9)
    assert window_end(dt.date(2009, 12, 31), 1) == dt.date(2010, 1, 1)


def test_window_over_independence_day() -> None:
    """D = Thursday 2010-06-10: (D, Saturday 2010-07-10] without Monday 2010-07-05."""
    window = window_sessions(dt.date(2010, 6, 10), window_days=WINDOW_DAYS)
    assert window[0] == dt.date(2010, 6, 11)
    assert window[-1] == dt.date(2010, 7, 9)
    assert JULY_5 not in window
    i = window.index(dt.date(2010, 7, 2))
    assert window[i + 1] == dt.date(2010, 7, 6)
    assert len(window) == 20
    assert all(day.weekday() < 5 for day in window)


def test_window_over_thanksgiving() -> None:
    """D = Friday 2009-11-20: 2009-11-23 .. 2009-12-18, the half day after Thanksgiving kept."""
    window = window_sessions(dt.date(2009, 11, 20), window_days=WINDOW_DAYS)
    assert window[:5] == [
        dt.date(2009, 11, 23),
        dt.date(2009, 11, 24),
        dt.date(2009, 11, 25),
        dt.date(2009, 11, 27),
        dt.date(2009, 11, 30),
    ]
    assert THANKSGIVING not in window
    assert window[-1] == dt.date(2009, 12, 18)
    assert len(window) == 19


def test_window_of_a_range_of_days() -> None:
    """Signals dated 2009-11-20 .. 2009-11-25 cover 2009-11-23 .. 2009-12-25 (Christmas)."""
    window = window_sessions(dt.date(2009, 11, 20), dt.date(2009, 11, 25), window_days=WINDOW_DAYS)
    assert window[0] == dt.date(2009, 11, 23)
    assert window[-1] == dt.date(2009, 12, 24)
    assert window == sessions(dt.date(2009, 11, 21), dt.date(2009, 12, 25))
    assert len(window) == 23


def test_short_windows_around_thanksgiving() -> None:
    wednesday = dt.date(2009, 11, 25)
    assert window_sessions(wednesday, window_days=3) == [dt.date(2009, 11, 27)]
    assert window_sessions(wednesday, window_days=1) == []  # only Thanksgiving itself


# --- matured_days ------------------------------------------------------------------------------

DAY = dt.date(2010, 6, 10)
WINDOW = window_sessions(DAY, window_days=WINDOW_DAYS)  # 2010-06-11 .. 2010-07-09


def test_fully_written_window_is_matured() -> None:
    assert matured_days([DAY], WINDOW, WINDOW_DAYS) == [DAY]
    # Sessions written beyond the window (and D itself) do not matter.
    more = [DAY, *WINDOW, dt.date(2010, 7, 12), dt.date(2010, 7, 13)]
    assert matured_days([DAY], more, WINDOW_DAYS) == [DAY]


def test_window_with_one_unwritten_session_is_not_matured() -> None:
    for missing in (WINDOW[0], dt.date(2010, 7, 6), WINDOW[-1]):
        written = [day for day in WINDOW if day != missing]
        assert matured_days([DAY], written, WINDOW_DAYS) == [], missing


def test_written_day_itself_does_not_stand_in_for_the_window() -> None:
    """D is written but the window's first session is not: not matured."""
    written = [DAY, *WINDOW[1:]]
    assert matured_days([DAY], written, WINDOW_DAYS) == []


def test_window_past_the_written_sessions_is_not_matured() -> None:
    """Sessions written through 2010-07-08: the windows of 06-09 and 06-10 reach 07-09."""
    written = sessions(dt.date(2010, 6, 1), dt.date(2010, 7, 8))
    days = [dt.date(2010, 6, 7), dt.date(2010, 6, 8), dt.date(2010, 6, 9), DAY]
    assert matured_days(days, written, WINDOW_DAYS) == [dt.date(2010, 6, 7), dt.date(2010, 6, 8)]
    assert matured_days(days, [*written, dt.date(2010, 7, 9)], WINDOW_DAYS) == days


def test_days_with_an_empty_window_are_not_matured() -> None:
    """With a 1-day window a Friday's (Fri, Sat] and 2009-11-25's (Wed, Thanksgiving] hold no
    session: nothing to score, so not matured, while a Thursday's window is."""
    written = sessions(dt.date(2009, 11, 1), dt.date(2009, 12, 31))
    friday, wednesday, thursday = dt.date(2009, 11, 20), dt.date(2009, 11, 25), dt.date(2009, 12, 3)
    assert matured_days([friday, wednesday, thursday], written, window_days=1) == [thursday]


def test_no_days() -> None:
    assert matured_days([], WINDOW, WINDOW_DAYS) == []


@pytest.mark.parametrize(
    ("days", "most"), [(1, 1), (4, 4), (5, 4), (6, 4), (7, 5), (8, 6), (30, 22)]
)
def test_max_window_sessions_counts_weekdays(days: int, most: int) -> None:
    assert max_window_sessions(days) == most
    longest = max(
        len(sessions(start + dt.timedelta(days=1), start + dt.timedelta(days=days)))
        for start in sessions(dt.date(2010, 3, 1), dt.date(2010, 4, 30))
    )
    assert longest == most
