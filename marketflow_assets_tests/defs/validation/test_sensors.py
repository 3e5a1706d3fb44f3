"""The outcomes sensor on a real Dagster instance: runs requested once per matured session."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import dagster as dg
import pytest

from marketflow_assets.calendar import sessions_between
from marketflow_assets.definitions import build_definitions
from marketflow_assets.settings import Settings
from marketflow_assets.validation.requests import ScoringCursor

FIRST = dt.date(2009, 8, 21)  # the first partition of the sample's period (a Friday)


def sessions(start: str, end: str) -> list[dt.date]:
    return sessions_between(
        dt.date.fromisoformat(start), dt.date.fromisoformat(end), calendar_start=FIRST
    )


# Six signal days; their windows end 2009-09-20 (Sun), -23, -24, -25, -26 (Sat), -27 (Sun).
SIX = sessions("2009-08-21", "2009-08-28")


def materialize(instance: dg.DagsterInstance, asset: str, days: Iterable[dt.date]) -> None:
    """Record a (runless) materialisation of each partition, as a run or a CLI backfill would."""
    for day in days:
        instance.report_runless_asset_event(
            dg.AssetMaterialization(asset_key=asset, partition=day.isoformat())
        )


@pytest.fixture
def definitions(settings: Settings) -> dg.Definitions:
    """The definitions of the sample's period, whose first partition is FIRST."""
    assert settings.start_date == FIRST
    return build_definitions(settings)


def evaluate(
    instance: dg.DagsterInstance, definitions: dg.Definitions, cursor: str | None = None
) -> tuple[list[tuple[str, str]], str]:
    """One tick: the (partition key, run key) of each request, and the cursor to store."""
    context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=definitions)
    result = definitions.resolve_sensor_def("outcomes_sensor").evaluate_tick(context)
    assert result.cursor is not None
    requests = [(r.partition_key, r.run_key) for r in result.run_requests or []]
    assert all(r.job_name in (None, "score_outcomes") for r in result.run_requests or [])
    return requests, result.cursor


def expected(days: Iterable[dt.date]) -> list[tuple[str, str]]:
    return [(d.isoformat(), f"signal_outcomes:{d.isoformat()}") for d in days]


def test_reported_events_count_as_materialised_partitions(instance: dg.DagsterInstance) -> None:
    materialize(instance, "daily_bars", SIX)
    assert instance.get_materialized_partitions(dg.AssetKey("daily_bars")) == {
        d.isoformat() for d in SIX
    }
    assert instance.get_materialized_partitions(dg.AssetKey("vpa_signals")) == set()


def test_nothing_requested_before_a_window_is_complete(
    instance: dg.DagsterInstance, definitions: dg.Definitions
) -> None:
    """Signals from Monday 2009-08-24, whose window ends on session 2009-09-23; bars only up
    to D + 29 days (2009-09-22)."""
    signal_days = SIX[1:]
    assert signal_days[0] + dt.timedelta(days=30) == dt.date(2009, 9, 23)
    materialize(instance, "vpa_signals", signal_days)
    materialize(instance, "daily_bars", sessions("2009-08-21", "2009-09-22"))
    requests, cursor = evaluate(instance, definitions)
    assert requests == []
    assert ScoringCursor.parse(cursor) == ScoringCursor()
    # The last bar of the first window makes exactly that session due.
    materialize(instance, "daily_bars", sessions("2009-09-23", "2009-09-23"))
    requests, _ = evaluate(instance, definitions, cursor)
    assert requests == expected([signal_days[0]])


def test_one_request_per_matured_session_never_repeated_then_backfill(
    instance: dg.DagsterInstance, definitions: dg.Definitions
) -> None:
    """Bars through 2009-09-24 complete the windows of 08-21, 08-24 and 08-25 only."""
    materialize(instance, "vpa_signals", SIX)
    materialize(instance, "daily_bars", sessions("2009-08-21", "2009-09-24"))

    # (b) one request per matured session, keyed by its partition.
    requests, cursor = evaluate(instance, definitions)
    assert requests == expected(SIX[:3])
    keys = definitions.resolve_job_def("score_outcomes").partitions_def.get_partition_keys()
    assert all(key in keys for key, _ in requests)
    assert ScoringCursor.parse(cursor) == ScoringCursor(SIX[2], frozenset())

    # (c) same instance state, the stored cursor: no repeat.
    again, cursor_again = evaluate(instance, definitions, cursor)
    assert again == []
    assert ScoringCursor.parse(cursor_again) == ScoringCursor.parse(cursor)

    # (d) a later backfill of bars completes the other three windows.
    materialize(instance, "daily_bars", sessions("2009-09-25", "2009-10-02"))
    later, cursor_later = evaluate(instance, definitions, cursor_again)
    assert later == expected(SIX[3:])
    assert ScoringCursor.parse(cursor_later) == ScoringCursor(SIX[-1], frozenset())
    assert evaluate(instance, definitions, cursor_later)[0] == []


def test_a_session_without_signals_is_not_requested(
    instance: dg.DagsterInstance, definitions: dg.Definitions
) -> None:
    materialize(instance, "vpa_signals", [d for d in SIX if d != SIX[1]])
    materialize(instance, "daily_bars", sessions("2009-08-21", "2009-10-02"))
    requests, cursor = evaluate(instance, definitions)
    assert requests == expected([SIX[0], *SIX[2:]])
    assert ScoringCursor.parse(cursor) == ScoringCursor(SIX[0], frozenset(SIX[2:]))
    # Its signals are computed later: that session alone is requested.
    materialize(instance, "vpa_signals", [SIX[1]])
    requests, cursor = evaluate(instance, definitions, cursor)
    assert requests == expected([SIX[1]])
    assert ScoringCursor.parse(cursor) == ScoringCursor(SIX[-1], frozenset())


def test_sessions_already_scored_are_not_requested(
    instance: dg.DagsterInstance, definitions: dg.Definitions
) -> None:
    """(e) A CLI backfill scored 08-21 .. 08-25 before the sensor was turned on."""
    materialize(instance, "vpa_signals", SIX)
    materialize(instance, "daily_bars", sessions("2009-08-21", "2009-10-02"))
    materialize(instance, "signal_outcomes", SIX[:3])
    requests, cursor = evaluate(instance, definitions)
    assert requests == expected(SIX[3:])
    assert ScoringCursor.parse(cursor) == ScoringCursor(SIX[-1], frozenset())


def test_the_sensor_targets_the_score_outcomes_job_in_the_definitions(
    settings: Settings,
) -> None:
    """(f) The sensor runs `score_outcomes` (signal_outcomes only) and is loaded with the rest."""
    definitions = build_definitions(settings)
    assert definitions.resolve_sensor_def("outcomes_sensor").job_name == "score_outcomes"
    job = definitions.resolve_job_def("score_outcomes")
    assert job.asset_layer.executable_asset_keys == {dg.AssetKey("signal_outcomes")}
    assert job.partitions_def.get_first_partition_key() == settings.start_date.isoformat()
