"""NYSE trading sessions from exchange_calendars: the one source of truth for what a day is."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import lru_cache

import exchange_calendars as xcals
import pandas as pd

EXCHANGE = "XNYS"
# Sessions a week holds at most: one per weekday.
WEEKDAYS = 5


@lru_cache(maxsize=8)
def nyse_calendar(start: dt.date) -> xcals.ExchangeCalendar:
    """The NYSE calendar from `start` (exchange_calendars covers ~20 years back by default)."""
    first = max(start, dt.date(1885, 1, 1))
    return xcals.get_calendar(EXCHANGE, start=pd.Timestamp(first))


def sessions_between(
    start: dt.date, end: dt.date, calendar_start: dt.date | None = None
) -> list[dt.date]:
    """NYSE sessions in [start, end], both inclusive."""
    if end < start:
        return []
    cal = nyse_calendar(calendar_start or start)
    lo = max(pd.Timestamp(start), cal.first_session)
    hi = min(pd.Timestamp(end), cal.last_session)
    if hi < lo:
        return []
    return [ts.date() for ts in cal.sessions_in_range(lo, hi)]


def sessions_before(day: dt.date, count: int, floor: dt.date) -> list[dt.date]:
    """The last `count` sessions before `day`, none earlier than `floor`."""
    if count <= 0 or day <= floor:
        return []
    # 7 calendar days hold at least 3 sessions even around the longest closures.
    earliest = max(floor, day - dt.timedelta(days=count * 7 // 3 + 10))
    return sessions_between(earliest, day - dt.timedelta(days=1), calendar_start=floor)[-count:]


def describe_sessions(days: Sequence[dt.date], limit: int = 5) -> str:
    """A short text for a list of sessions: `n session(s): a..b` runs, the first few named."""
    runs: list[list[dt.date]] = []
    for day in sorted(days):
        if runs and (day - runs[-1][-1]).days <= 4:
            runs[-1].append(day)
        else:
            runs.append([day])
    shown = [f"{r[0]}..{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs[:limit]]
    more = f" and {len(runs) - limit} more stretch(es)" if len(runs) > limit else ""
    return f"{len(days)} session(s): {', '.join(shown)}{more}"


def non_session_weekdays(start: dt.date, calendar_start: dt.date | None = None) -> list[dt.date]:
    """Weekdays from `start` to the calendar's end that are not sessions (holidays, closures)."""
    cal = nyse_calendar(calendar_start or start)
    weekdays = pd.bdate_range(max(pd.Timestamp(start), cal.first_session), cal.last_session)
    sessions = cal.sessions_in_range(weekdays[0], weekdays[-1])
    return [ts.date() for ts in weekdays.difference(sessions)]


def unclosed_sessions(sessions: Sequence[dt.date], now: dt.datetime) -> list[dt.date]:
    """Sessions whose closing bell has not rung at `now` (an aware datetime)."""
    if not sessions:
        return []
    cal = nyse_calendar(min(sessions))
    now_ts = pd.Timestamp(now).tz_convert("UTC")
    return [d for d in sessions if cal.session_close(pd.Timestamp(d)) > now_ts]
