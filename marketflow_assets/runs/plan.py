"""Planning runs: the session range of a request, and the stages of a staged backfill."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import dagster as dg

from marketflow_assets.calendar import unclosed_sessions
from marketflow_assets.defs.area import AreaContext
from marketflow_assets.defs.evening.definitions import DAILY_PIPELINE_JOB
from marketflow_assets.defs.validation.definitions import SCORE_OUTCOMES_JOB, SCORECARD_JOB
from marketflow_assets.store.connection import open_store
from marketflow_assets.store.reads import dates_of_other_rules, written_sessions
from marketflow_assets.validation.forward_window import matured_days
from marketflow_assets.validation.requests import ScoringCursor, plan_scoring

# A staged backfill: what must exist before outcomes can be scored, and what the matured
# outcomes feed (through the calibration) afterwards.
ANALYSIS_ASSETS = ("daily_bars", "vpa_features", "vpa_signals")
FEEDBACK_ASSETS = ("signal_calibration", "analysis_snapshots", "training_pairs")


class RangeError(ValueError):
    """A requested session range is empty or outside the partitions."""


@dataclass(frozen=True)
class Stage:
    """One run of a staged backfill: a job, its session range (none for the scorecard) and
    the assets selected (none: the whole job)."""

    job: str
    start_key: str | None = None
    end_key: str | None = None
    select: tuple[str, ...] | None = None

    def describe(self) -> str:
        what = ", ".join(self.select) if self.select else self.job.replace("_", " ")
        span = f" for sessions {self.start_key} .. {self.end_key}" if self.start_key else ""
        return f"{what}{span}"


def session_range(
    partitions: dg.PartitionsDefinition, start: dt.date, end: dt.date
) -> tuple[str, str]:
    """The first and last partition keys within [start, end]; an error if there are none."""
    if end < start:
        raise RangeError(f"end {end} is before start {start}")
    keys = [k for k in partitions.get_partition_keys() if start <= dt.date.fromisoformat(k) <= end]
    # Today's session is a partition before its close (for the evening schedule); skip it.
    now = dt.datetime.now(dt.UTC)
    unclosed = {d.isoformat() for d in unclosed_sessions(_dates(keys[-3:]), now)}
    keys = [k for k in keys if k not in unclosed]
    if not keys:
        raise RangeError(f"no closed trading session between {start} and {end}")
    return keys[0], keys[-1]


def _dates(keys: Sequence[str]) -> list[dt.date]:
    return [dt.date.fromisoformat(k) for k in keys]


def selection_stage(start_key: str, end_key: str, select: Sequence[str] | None) -> Stage:
    """One run of the selected assets (all daily ones by default) over the range; outcomes
    are scored by their own job, which the evening job does not hold."""
    job = (
        SCORE_OUTCOMES_JOB if select and set(select) == {"signal_outcomes"} else DAILY_PIPELINE_JOB
    )
    return Stage(job, start_key, end_key, tuple(select) if select else None)


def matured_end(area: AreaContext, start_key: str, end_key: str) -> str | None:
    """The last session of [start_key, end_key] whose forward window has bars in the store for
    every session (None: no such session), so that scoring a range stops where windows do."""
    sessions = [
        day
        for day in _dates(area.partitions.get_partition_keys())
        if start_key <= day.isoformat() <= end_key
    ]
    with open_store(area.settings.store_location, read_only=True) as conn:
        bars = written_sessions(conn, "daily_bars")
    matured = matured_days(sessions, bars, area.rules.outcomes.window_days)
    return matured[-1].isoformat() if matured else None


def staged_backfill(start_key: str, end_key: str, area: AreaContext) -> Iterator[Stage]:
    """The runs that materialise every daily asset for [start_key, end_key] in the order the
    feedback loop needs: bars to signals; the outcomes of every session whose window is then
    complete in the store and not scored yet, or scored from the bars or rules this backfill
    replaced (one run per stretch of consecutive sessions); the calibration, snapshots and
    pairs; and the scorecard when outcomes were scored. The outcome stages are worked out
    from the store after the first run, so iterate while running them."""
    yield Stage(DAILY_PIPELINE_JOB, start_key, end_key, ANALYSIS_ASSETS)
    start, end = dt.date.fromisoformat(start_key), dt.date.fromisoformat(end_key)
    blocks = scoring_blocks(area, start, end)
    for first, last in blocks:
        yield Stage(SCORE_OUTCOMES_JOB, first.isoformat(), last.isoformat())
    yield Stage(DAILY_PIPELINE_JOB, start_key, end_key, FEEDBACK_ASSETS)
    if blocks:
        yield Stage(SCORECARD_JOB)


def scoring_blocks(
    area: AreaContext, start: dt.date, end: dt.date
) -> list[tuple[dt.date, dt.date]]:
    """Stretches of consecutive partition sessions to score after bars and signals of
    [start, end] were (re)written: those whose signals are stored and whose whole window has
    bars in the store, and which have no outcome yet, an outcome of other rules, or a window
    reaching into [start, end]."""
    rules = area.rules
    window_days = rules.outcomes.window_days
    sessions = _dates(area.partitions.get_partition_keys())
    with open_store(area.settings.store_location, read_only=True) as conn:
        written = {
            asset: written_sessions(conn, asset)
            for asset in ("daily_bars", "vpa_signals", "signal_outcomes")
        }
        stale = dates_of_other_rules(conn, "outcomes", rules.hash)
    touched = start - dt.timedelta(days=window_days)
    plan = plan_scoring(
        sessions,
        bars=written["daily_bars"],
        signals=written["vpa_signals"],
        scored={d for d in written["signal_outcomes"] - stale if not touched <= d <= end},
        cursor=ScoringCursor(),
        window_days=window_days,
        limit=len(sessions),
    )
    position = {day: i for i, day in enumerate(sessions)}
    blocks: list[list[dt.date]] = []
    for day in plan.requests:
        if blocks and position[day] == position[blocks[-1][-1]] + 1:
            blocks[-1].append(day)
        else:
            blocks.append([day])
    return [(block[0], block[-1]) for block in blocks]
