"""Which sessions the sensor scores next: plan_scoring and its cursor, on real NYSE sessions."""

from __future__ import annotations

import datetime as dt

import pytest

from marketflow_assets.calendar import sessions_between
from marketflow_assets.validation.forward_window import window_sessions
from marketflow_assets.validation.requests import ScoringCursor, plan_scoring
from marketflow_assets.vpa import load_rules

WINDOW_DAYS = load_rules().outcomes.window_days

CALENDAR_START = dt.date(2009, 1, 1)
FIRST = dt.date(2009, 8, 21)  # the first partition of the sample's period (a Friday)


def sessions(start: dt.date, end: dt.date) -> list[dt.date]:
    """Sessions in [start, end] from one shared calendar (building one per start is slow)."""
    return sessions_between(start, end, calendar_start=CALENDAR_START)


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


# Every partition from the first session to the end of 2009 (the `sessions` argument).
ALL = sessions(FIRST, dt.date(2009, 12, 31))
# Six signal days: windows end 2009-09-20 (Sun), -23, -24, -25, -26 (Sat), -27 (Sun).
SIX = sessions(FIRST, day("2009-08-28"))


def test_the_six_signal_days_are_the_expected_sessions() -> None:
    assert [d.isoformat() for d in SIX] == [
        "2009-08-21",
        "2009-08-24",
        "2009-08-25",
        "2009-08-26",
        "2009-08-27",
        "2009-08-28",
    ]


@pytest.mark.parametrize("missing", ["first", "middle", "last"])
def test_nothing_requested_while_a_window_session_lacks_bars(missing: str) -> None:
    """D = Monday 2009-08-24: (D, 2009-09-23]; any one of its sessions without bars holds D."""
    signal_day = day("2009-08-24")
    window = window_sessions(signal_day, window_days=WINDOW_DAYS)
    assert window[0] == day("2009-08-25")
    assert window[-1] == day("2009-09-23")
    hole = {"first": window[0], "middle": window[len(window) // 2], "last": window[-1]}[missing]
    bars = set(sessions(FIRST, day("2009-12-31"))) - {hole}
    plan = plan_scoring(ALL, bars, {signal_day}, set(), ScoringCursor(), window_days=WINDOW_DAYS)
    assert plan.requests == []
    assert plan.cursor == ScoringCursor()
    # The same state with the hole filled requests D.
    filled = plan_scoring(
        ALL, bars | {hole}, {signal_day}, set(), ScoringCursor(), window_days=WINDOW_DAYS
    )
    assert filled.requests == [signal_day]


def test_bars_up_to_d_plus_29_days_are_not_enough() -> None:
    signal_day = day("2009-08-24")
    bars = set(sessions(FIRST, signal_day + dt.timedelta(days=29)))
    assert (
        plan_scoring(
            ALL, bars, {signal_day}, set(), ScoringCursor(), window_days=WINDOW_DAYS
        ).requests
        == []
    )
    bars |= set(sessions(FIRST, signal_day + dt.timedelta(days=30)))
    assert plan_scoring(
        ALL, bars, {signal_day}, set(), ScoringCursor(), window_days=WINDOW_DAYS
    ).requests == [signal_day]


def test_no_bars_at_all_requests_nothing() -> None:
    assert (
        plan_scoring(ALL, set(), set(SIX), set(), ScoringCursor(), window_days=WINDOW_DAYS).requests
        == []
    )


def test_exactly_the_matured_sessions_are_requested_once() -> None:
    """Bars through Thursday 2009-09-24: the windows of 08-21, 08-24 and 08-25 are complete."""
    bars = set(sessions(FIRST, day("2009-09-24")))
    plan = plan_scoring(ALL, bars, set(SIX), set(), ScoringCursor(), window_days=WINDOW_DAYS)
    assert plan.requests == [day("2009-08-21"), day("2009-08-24"), day("2009-08-25")]
    assert plan.cursor == ScoringCursor(day("2009-08-25"), frozenset())
    # Same state, stored cursor: no repeat.
    again = plan_scoring(ALL, bars, set(SIX), set(), plan.cursor, window_days=WINDOW_DAYS)
    assert again.requests == []
    assert again.cursor == plan.cursor
    # Bars of Friday 2009-09-25 complete the windows of the three other days.
    later = plan_scoring(
        ALL, bars | {day("2009-09-25")}, set(SIX), set(), again.cursor, window_days=WINDOW_DAYS
    )
    assert later.requests == SIX[3:]
    assert later.cursor == ScoringCursor(day("2009-08-28"), frozenset())


def test_a_session_without_signals_is_not_requested() -> None:
    bars = set(sessions(FIRST, day("2009-10-30")))
    signals = set(SIX) - {day("2009-08-24")}
    plan = plan_scoring(ALL, bars, signals, set(), ScoringCursor(), window_days=WINDOW_DAYS)
    assert day("2009-08-24") not in plan.requests
    assert plan.requests == sorted(signals)
    # The cursor stops before the session still waiting for signals and remembers the rest.
    assert plan.cursor.through == day("2009-08-21")
    assert plan.cursor.requested == frozenset(SIX[2:])
    # Its signals arrive: requested once, and the cursor moves over all six.
    late = plan_scoring(ALL, bars, set(SIX), set(), plan.cursor, window_days=WINDOW_DAYS)
    assert late.requests == [day("2009-08-24")]
    assert late.cursor == ScoringCursor(day("2009-08-28"), frozenset())


def test_scored_sessions_are_skipped_and_the_cursor_moves_over_them() -> None:
    """Bars through 2009-09-22: only 08-21 has matured; 08-21 and 08-24 were scored by a CLI
    backfill (08-24 on a window the sensor still sees as incomplete)."""
    bars = set(sessions(FIRST, day("2009-09-22")))
    scored = {day("2009-08-21"), day("2009-08-24")}
    plan = plan_scoring(ALL, bars, set(SIX), scored, ScoringCursor(), window_days=WINDOW_DAYS)
    assert plan.requests == []
    assert plan.cursor == ScoringCursor(day("2009-08-24"), frozenset())
    # With every window complete, only the unscored sessions are requested.
    bars = set(sessions(FIRST, day("2009-10-30")))
    full = plan_scoring(ALL, bars, set(SIX), scored, ScoringCursor(), window_days=WINDOW_DAYS)
    assert full.requests == SIX[2:]
    assert full.cursor == ScoringCursor(day("2009-08-28"), frozenset())


def test_a_hole_in_bars_holds_its_windows_until_filled() -> None:
    """No bars for Tuesday 2009-09-22 (nor signals): the signal days of [08-23, 09-22) wait;
    08-21 (window ends 09-20) and the days after the hole are requested."""
    hole = day("2009-09-22")
    signal_days = sessions(FIRST, day("2009-10-02"))
    bars = set(sessions(FIRST, day("2009-11-06"))) - {hole}
    signals = set(signal_days) - {hole}
    held = [d for d in signal_days if day("2009-08-23") <= d < hole]
    after = [d for d in signal_days if d > hole]
    assert held[0] == day("2009-08-24")
    assert held[-1] == day("2009-09-21")
    assert len(after) == 8

    first = plan_scoring(ALL, bars, signals, set(), ScoringCursor(), window_days=WINDOW_DAYS)
    assert first.requests == [FIRST, *after]
    assert first.cursor.through == FIRST
    assert first.cursor.through < held[0]
    assert first.cursor.requested == frozenset(after)

    # Same state: nothing again, the cursor unchanged.
    second = plan_scoring(ALL, bars, signals, set(), first.cursor, window_days=WINDOW_DAYS)
    assert second.requests == []
    assert second.cursor == first.cursor

    # The hole is filled (bars, then signals of that session): the held days and the hole's
    # own day are requested once, and the cursor moves to the last signal day.
    filled = plan_scoring(
        ALL, bars | {hole}, signals | {hole}, set(), second.cursor, window_days=WINDOW_DAYS
    )
    assert filled.requests == [*held, hole]
    assert filled.cursor == ScoringCursor(signal_days[-1], frozenset())

    third = plan_scoring(
        ALL, bars | {hole}, signals | {hole}, set(), filled.cursor, window_days=WINDOW_DAYS
    )
    assert third.requests == []
    assert third.cursor == filled.cursor


def test_limit_caps_the_requests_and_the_rest_come_next_call() -> None:
    bars = set(sessions(FIRST, day("2009-10-30")))
    cursor = ScoringCursor()
    batches = []
    for _ in range(4):
        plan = plan_scoring(ALL, bars, set(SIX), set(), cursor, window_days=WINDOW_DAYS, limit=4)
        batches.append(plan.requests)
        cursor = plan.cursor
    assert batches == [SIX[:4], SIX[4:], [], []]
    assert cursor == ScoringCursor(SIX[-1], frozenset())


def test_limit_with_requested_sessions_after_a_hole() -> None:
    """A held session stops `through`; the capped requests after it are remembered."""
    bars = set(sessions(FIRST, day("2009-10-30"))) - {day("2009-08-25")}
    plan = plan_scoring(
        ALL, bars, set(SIX), set(), ScoringCursor(), window_days=WINDOW_DAYS, limit=2
    )
    # 08-21 is held (08-25 is in its window), 08-24 too; 08-25 .. 08-28 are matured.
    assert plan.requests == SIX[2:4]
    assert plan.cursor == ScoringCursor(None, frozenset(SIX[2:4]))
    nxt = plan_scoring(ALL, bars, set(SIX), set(), plan.cursor, window_days=WINDOW_DAYS, limit=2)
    assert nxt.requests == SIX[4:]
    assert nxt.cursor == ScoringCursor(None, frozenset(SIX[2:]))
    done = plan_scoring(
        ALL,
        bars | {day("2009-08-25")},
        set(SIX),
        set(),
        nxt.cursor,
        window_days=WINDOW_DAYS,
        limit=2,
    )
    assert done.requests == SIX[:2]
    assert done.cursor == ScoringCursor(SIX[-1], frozenset())


def test_a_custom_window_length() -> None:
    """A 5-day window of Friday 2009-08-21 is (08-21, 08-26]: 08-24, 08-25, 08-26."""
    bars = set(sessions(FIRST, day("2009-08-25")))
    assert plan_scoring(ALL, bars, {FIRST}, set(), ScoringCursor(), window_days=5).requests == []
    bars.add(day("2009-08-26"))
    plan = plan_scoring(ALL, bars, {FIRST}, set(), ScoringCursor(), window_days=5)
    assert plan.requests == [FIRST]


@pytest.mark.parametrize(
    "cursor",
    [
        ScoringCursor(),
        ScoringCursor(day("2009-08-21")),
        ScoringCursor(None, frozenset({day("2009-08-25"), day("2009-09-23")})),
        ScoringCursor(day("2009-08-21"), frozenset({day("2009-09-23"), day("2009-08-25")})),
    ],
)
def test_cursor_round_trips(cursor: ScoringCursor) -> None:
    text = cursor.serialize()
    assert isinstance(text, str)
    assert ScoringCursor.parse(text) == cursor


def test_cursor_text_is_stable_json() -> None:
    cursor = ScoringCursor(day("2009-08-21"), frozenset({day("2009-09-23"), day("2009-08-25")}))
    assert cursor.serialize() == (
        '{"through": "2009-08-21", "requested": ["2009-08-25", "2009-09-23"]}'
    )


@pytest.mark.parametrize("text", [None, ""])
def test_no_cursor_starts_from_the_first_session(text: str | None) -> None:
    assert ScoringCursor.parse(text) == ScoringCursor()


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "null",
        "[]",
        '"2009-08-21"',
        '{"through": "2009-13-01"}',
        '{"through": 20090821}',
        '{"through": null, "requested": [5]}',
        '{"through": null, "requested": ["yesterday"]}',
    ],
)
def test_unreadable_cursor_raises_naming_it(text: str) -> None:
    with pytest.raises(ValueError, match="unreadable scoring cursor") as info:
        ScoringCursor.parse(text)
    assert repr(text) in str(info.value)
