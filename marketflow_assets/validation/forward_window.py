"""The forward window a signal of D is scored on: the NYSE sessions in (D, D + N days], N being
`outcomes.window_days` of rules.yaml."""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Collection, Sequence

from marketflow_assets.calendar import WEEKDAYS, sessions_between

DAYS_PER_WEEK = 7
# Weekdays among the 1..6 days after a weekday: at most four, as a weekend day falls in five.
MAX_WEEKDAYS_AFTER = 4


def window_end(day: dt.date, window_days: int) -> dt.date:
    """The last calendar day of the window of `day`."""
    return day + dt.timedelta(days=window_days)


def max_window_sessions(window_days: int) -> int:
    """The most sessions the window of a session can hold: the weekdays among the
    `window_days` days after it when no holiday falls there."""
    weeks, extra = divmod(window_days, DAYS_PER_WEEK)
    return weeks * WEEKDAYS + min(extra, MAX_WEEKDAYS_AFTER)


def window_sessions(
    start: dt.date, end: dt.date | None = None, *, window_days: int
) -> list[dt.date]:
    """Every session the windows of the signals dated in [start, end] cover."""
    last = window_end(end or start, window_days)
    return sessions_between(start + dt.timedelta(days=1), last, calendar_start=start)


def matured_before(days: Sequence[dt.date], day: dt.date, window_days: int) -> list[dt.date]:
    """The days among `days` whose window closed before the session `day`: the outcomes a
    calculation made before `day` opens may use."""
    return [d for d in days if window_end(d, window_days) < day]


def matured_days(
    days: Sequence[dt.date],
    written: Collection[dt.date],
    window_days: int,
) -> list[dt.date]:
    """The days among `days` whose window holds at least one session and only `written` ones:
    those whose outcome can be scored now."""
    if not days:
        return []
    sessions = window_sessions(min(days), max(days), window_days=window_days)
    done = set(written)
    # Written sessions among the first i sessions, so that each window is counted in O(1).
    prefix = [0]
    for session in sessions:
        prefix.append(prefix[-1] + (session in done))
    matured = []
    for day in days:
        lo = bisect.bisect_right(sessions, day)
        hi = bisect.bisect_right(sessions, window_end(day, window_days))
        if hi > lo and prefix[hi] - prefix[lo] == hi - lo:
            matured.append(day)
    return matured
