"""Trading-day partitions: one per NYSE session; weekends and holidays are not partitions."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import dagster as dg

from marketflow_assets.calendar import non_session_weekdays, sessions_between
from marketflow_assets.settings import SettingsError

MARKET_TIMEZONE = "America/New_York"
WEEKEND_CRONS = ("0 0 * * 6", "0 0 * * 0")


@lru_cache(maxsize=8)
def trading_day_partitions(start: dt.date) -> dg.DailyPartitionsDefinition:
    """Daily partitions from the first session on or after `start`, excluding non-sessions.

    `end_offset=1` makes today's session a partition, so the evening schedule can run it once
    it has closed; assets refuse sessions that have not closed yet.
    """
    try:
        first = sessions_between(start, start + dt.timedelta(days=10), calendar_start=start)[0]
    except (IndexError, ValueError) as exc:
        raise SettingsError(
            f"MARKETFLOW_START_DATE={start} has no NYSE session within 10 days in the calendar"
        ) from exc
    holidays = [
        dt.datetime.combine(day, dt.time())
        for day in non_session_weekdays(first, calendar_start=start)
    ]
    return dg.DailyPartitionsDefinition(
        start_date=first.isoformat(),
        timezone=MARKET_TIMEZONE,
        end_offset=1,
        exclusions=[*WEEKEND_CRONS, *holidays],
    )
