import datetime as dt
import itertools

import polars as pl
import pytest

from marketflow_assets.calendar import sessions_between
from marketflow_assets.training.splits import (
    SPLITS,
    assign_splits,
    one_split,
    plan_splits,
    sessions_needed,
)
from marketflow_assets.vpa.rules import load_rules

START = dt.date(2022, 1, 3)
EXPORTS = load_rules().exports
# A fixed split to check the arithmetic of the cut against, whatever rules.yaml says.
FRACTIONS = (0.8, 0.1, 0.1)


def _span(count: int) -> tuple[dt.date, dt.date]:
    """The first and last of `count` consecutive sessions from START."""
    sessions = sessions_between(START, START + dt.timedelta(days=count * 2))
    return sessions[0], sessions[count - 1]


def test_an_80_10_10_split_with_31_purged_needs_seventy_sessions_and_keeps_the_gap() -> None:
    assert sessions_needed(31, FRACTIONS) == 70
    plan = plan_splits(*_span(70), purge_sessions=31, fractions=FRACTIONS)
    sizes = [r.stop - r.start for r in plan.ranges]
    assert plan.splits == SPLITS
    assert sizes == [6, 1, 1]
    for before, after in itertools.pairwise(plan.ranges):
        assert after.start - (before.stop - 1) == 32
    assert plan.ranges[-1].stop == len(plan.sessions) == 70


def test_the_rules_split_plans_the_sessions_it_needs_and_refuses_one_fewer() -> None:
    needed = sessions_needed(EXPORTS.purge_sessions, EXPORTS.fractions)
    plan = plan_splits(
        *_span(needed), purge_sessions=EXPORTS.purge_sessions, fractions=EXPORTS.fractions
    )
    assert plan.splits == SPLITS
    assert all(r.stop > r.start for r in plan.ranges)
    for before, after in itertools.pairwise(plan.ranges):
        assert after.start - before.stop == EXPORTS.purge_sessions
    with pytest.raises(
        ValueError, match=rf"holds {needed - 1} session\(s\).*need at least {needed} sessions"
    ):
        plan_splits(
            *_span(needed - 1),
            purge_sessions=EXPORTS.purge_sessions,
            fractions=EXPORTS.fractions,
        )


def test_fractions_cut_the_usable_sessions_in_time_order() -> None:
    plan = plan_splits(*_span(262), purge_sessions=31, fractions=FRACTIONS)
    assert [r.stop - r.start for r in plan.ranges] == [160, 20, 20]
    assert plan.first_last("train")[0] == plan.sessions[0]
    assert plan.first_last("test")[1] == plan.sessions[-1]


@pytest.mark.parametrize("fractions", [(0.5, 0.5), (0.8, 0.2, 0.0), (0.7, 0.2, 0.2)])
def test_bad_fractions_are_refused(fractions: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="fractions must"):
        plan_splits(*_span(300), purge_sessions=EXPORTS.purge_sessions, fractions=fractions)


def test_pairs_in_purged_sessions_get_no_split_and_non_sessions_are_refused() -> None:
    plan = plan_splits(*_span(70), purge_sessions=31, fractions=FRACTIONS)
    dates = pl.DataFrame({"as_of": list(plan.sessions), "pairs": 2})
    assigned = assign_splits(dates, plan)
    assert assigned["split"].null_count() == 62
    assert assigned["split"].value_counts(sort=True).drop_nulls()["count"].to_list() == [6, 1, 1]
    assert assigned["pairs"].to_list() == [2] * 70
    saturday = pl.DataFrame({"as_of": [dt.date(2022, 1, 8), plan.sessions[0]], "pairs": [3, 1]})
    with pytest.raises(ValueError, match=r"^3 pair\(s\) have an as-of date that is not an NYSE"):
        assign_splits(saturday, plan)


def test_one_split_puts_every_session_in_train_with_nothing_purged() -> None:
    plan = one_split(*_span(3))
    assert plan.splits == ("train",)
    assert plan.purge_sessions == 0
    assert plan.first_last("train") == _span(3)
    assert plan.session_count("train") == 3
    assigned = assign_splits(pl.DataFrame({"as_of": list(plan.sessions), "pairs": 1}), plan)
    assert assigned["split"].to_list() == ["train"] * 3
