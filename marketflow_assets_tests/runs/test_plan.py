"""The staged backfill's outcome stages: what gets scored after bars and signals of a range
were (re)written, read from a real store's ledger."""

import datetime as dt
from pathlib import Path

from marketflow_assets.calendar import sessions_between
from marketflow_assets.defs.area import AreaContext
from marketflow_assets.runs.plan import scoring_blocks
from marketflow_assets.settings import Settings
from marketflow_assets.store.connection import open_store
from marketflow_assets.vpa import load_rules

FIRST, LAST = dt.date(2009, 8, 21), dt.date(2009, 12, 31)


def store_with(
    path: Path, scored: list[dt.date], old_rules: list[dt.date], signals_until: dt.date = LAST
) -> AreaContext:
    """Bars written for every session to LAST, signals to `signals_until`, and an outcome row
    (of the current rules, or of older ones) for each scored session."""
    sessions = sessions_between(FIRST, LAST)
    with open_store(path) as conn:
        ledger = [("daily_bars", d) for d in sessions]
        ledger += [("vpa_signals", d) for d in sessions if d <= signals_until]
        ledger += [("signal_outcomes", d) for d in [*scored, *old_rules]]
        conn.executemany("INSERT INTO materialized_sessions VALUES (?, ?)", ledger)
        for day, rules_hash in [
            *((d, load_rules().hash) for d in scored),
            *((d, "0" * 64) for d in old_rules),
        ]:
            conn.execute(
                "INSERT INTO outcomes (ticker, date, signal, strength, confidence, patterns, "
                "warmup, direction, window_end, matured_on, window_sessions, bars, missing_bars, "
                "rules_version, rules_hash) VALUES ('AAA', ?, 'HOLD', 'WEAK', 0.5, [], false, 0, "
                "?, ?, 20, 20, 0, 'x', ?)",
                [day, day + dt.timedelta(days=30), day + dt.timedelta(days=30), rules_hash],
            )
    return AreaContext.from_settings(Settings.from_env({"MARKETFLOW_DUCKDB": str(path)}))


def test_a_fresh_store_scores_every_session_whose_window_has_bars(tmp_path: Path) -> None:
    area = store_with(tmp_path / "s.duckdb", scored=[], old_rules=[])
    # 2009-12-04 + 30 days is Sunday 2010-01-03, and 2010-01-01 is a holiday: its window ends
    # with the last session with bars, 2009-12-31. The window of 2009-12-07 needs 2010-01-04.
    assert scoring_blocks(area, FIRST, LAST) == [(FIRST, dt.date(2009, 12, 4))]


def test_a_backfill_rescores_windows_it_touched_and_outcomes_of_other_rules(
    tmp_path: Path,
) -> None:
    scored = sessions_between(FIRST, dt.date(2009, 10, 30))
    stale = dt.date(2009, 9, 15)
    area = store_with(tmp_path / "s.duckdb", [d for d in scored if d != stale], [stale])
    start, end = dt.date(2009, 11, 16), dt.date(2009, 11, 20)
    # Windows reaching into the rewritten range start 30 days before it: from 2009-10-19.
    assert scoring_blocks(area, start, end) == [
        (stale, stale),
        (dt.date(2009, 10, 19), dt.date(2009, 12, 4)),
    ]


def test_sessions_without_signals_are_not_scored(tmp_path: Path) -> None:
    area = store_with(tmp_path / "s.duckdb", [], [], signals_until=dt.date(2009, 9, 30))
    assert scoring_blocks(area, FIRST, LAST) == [(FIRST, dt.date(2009, 9, 30))]
