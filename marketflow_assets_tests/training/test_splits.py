import datetime as dt
import itertools

import polars as pl
import pytest

from marketflow_assets.calendar import sessions_between
from marketflow_assets.training.splits import (
    SPLITS,
    assign_splits,
    plan_splits,
    sessions_needed,
)

START = dt.date(2022, 1, 3)


def _span(count: int) -> tuple[dt.date, dt.date]:
    """The first and last of `count` consecutive sessions from START."""
    sessions = sessions_between(START, START + dt.timedelta(days=count * 2))
    return sessions[0], sessions[count - 1]


def test_default_split_needs_seventy_sessions_and_keeps_the_purge_gap() -> None:
    assert sessions_needed(31, (0.8, 0.1, 0.1)) == 70
    plan = plan_splits(*_span(70), purge_sessions=31)
    sizes = [r.stop - r.start for r in plan.ranges]
    assert [r.split for r in plan.ranges] == list(SPLITS)
    assert sizes == [6, 1, 1]
    for before, after in itertools.pairwise(plan.ranges):
        assert after.start - (before.stop - 1) == 32
    assert plan.ranges[-1].stop == len(plan.sessions) == 70


def test_one_session_too_few_is_refused_saying_how_many_are_needed() -> None:
    with pytest.raises(ValueError, match=r"holds 69 session\(s\).*need at least 70 sessions"):
        plan_splits(*_span(69), purge_sessions=31)


def test_fractions_cut_the_usable_sessions_in_time_order() -> None:
    plan = plan_splits(*_span(262), purge_sessions=31)
    assert [r.stop - r.start for r in plan.ranges] == [160, 20, 20]
    assert plan.first_last("train")[0] == plan.sessions[0]
    assert plan.first_last("test")[1] == plan.sessions[-1]


@pytest.mark.parametrize("fractions", [(0.5, 0.5), (0.8, 0.2, 0.0), (0.7, 0.2, 0.2)])
def test_bad_fractions_are_refused(fractions: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="fractions must"):
        plan_splits(*_span(300), fractions=fractions)


def test_pairs_in_purged_sessions_get_no_split_and_non_sessions_are_refused() -> None:
    plan = plan_splits(*_span(70), purge_sessions=31)
    pairs = pl.DataFrame({"as_of": list(plan.sessions)})
    assigned = assign_splits(pairs, plan)
    assert assigned["split"].null_count() == 62
    assert assigned["split"].value_counts(sort=True).drop_nulls()["count"].to_list() == [6, 1, 1]
    saturday = pl.DataFrame({"as_of": [dt.date(2022, 1, 8)]})
    with pytest.raises(ValueError, match="not an NYSE session"):
        assign_splits(saturday, plan)
