"""Time-ordered train/validation/test splits of NYSE sessions, with purged sessions between them.

A signal's outcome is scored over the outcome window after its as-of date, so a pair whose as-of
date lies within that window of a pair in another split would leak the other split's outcome.
The splits are cut from the calendar's sessions (not only those holding pairs), in time order,
and `purge_sessions` (from rules.yaml) sessions are dropped between consecutive splits. A set too
small for that can instead be kept whole as one `train` split.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from marketflow_assets.calendar import sessions_between

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class SessionRange:
    """The sessions of one split: indices [start, stop) into the plan's sessions."""

    split: str
    start: int
    stop: int


@dataclass(frozen=True)
class SplitPlan:
    """Every session from the first to the last as-of date, and which split each belongs to."""

    sessions: tuple[dt.date, ...]
    ranges: tuple[SessionRange, ...]
    purge_sessions: int

    @property
    def splits(self) -> tuple[str, ...]:
        """The splits of the plan, in time order."""
        return tuple(r.split for r in self.ranges)

    def first_last(self, split: str) -> tuple[dt.date, dt.date]:
        """The first and last session of `split`."""
        chosen = next(r for r in self.ranges if r.split == split)
        return self.sessions[chosen.start], self.sessions[chosen.stop - 1]

    def session_count(self, split: str) -> int:
        """How many sessions `split` spans."""
        chosen = next(r for r in self.ranges if r.split == split)
        return chosen.stop - chosen.start

    def frame(self) -> pl.DataFrame:
        """One row per session: as_of and its split (null in a purge gap)."""
        labels: list[str | None] = [None] * len(self.sessions)
        for r in self.ranges:
            labels[r.start : r.stop] = [r.split] * (r.stop - r.start)
        return pl.DataFrame(
            {"as_of": list(self.sessions), "split": labels},
            schema={"as_of": pl.Date, "split": pl.String},
        )


def check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    """The three split fractions, refused unless all are positive and they sum to 1."""
    if len(fractions) != len(SPLITS) or any(not f > 0 for f in fractions):
        raise ValueError(
            f"fractions must be three positive numbers (train, validation, test), "
            f"not {tuple(fractions)}"
        )
    if not math.isclose(sum(fractions), 1.0, abs_tol=1e-9):
        raise ValueError(f"fractions must sum to 1, not {sum(fractions)} ({tuple(fractions)})")
    return (fractions[0], fractions[1], fractions[2])


def _cut(usable: int, fractions: tuple[float, float, float]) -> tuple[int, int, int]:
    """Sizes of the three splits of `usable` sessions, rounding the cumulative fractions."""
    first = math.floor(usable * fractions[0] + 0.5)
    second = math.floor(usable * (fractions[0] + fractions[1]) + 0.5)
    return first, second - first, usable - second


def sessions_needed(purge_sessions: int, fractions: Sequence[float]) -> int:
    """The fewest sessions that give three non-empty splits with the purge gaps between them."""
    cut = check_fractions(fractions)
    usable = len(SPLITS)
    # Terminates: a split of fraction f gets at least usable * f - 1 sessions.
    while min(_cut(usable, cut)) < 1:
        usable += 1
    return usable + 2 * purge_sessions


def plan_splits(
    first: dt.date,
    last: dt.date,
    *,
    purge_sessions: int,
    fractions: Sequence[float],
) -> SplitPlan:
    """Cut the sessions from `first` to `last` into train, validation and test by `fractions`,
    in time order, with `purge_sessions` sessions left out between consecutive splits."""
    if purge_sessions < 0:
        raise ValueError(f"purge_sessions must be 0 or more, not {purge_sessions}")
    cut = check_fractions(fractions)
    sessions = tuple(sessions_between(first, last))
    needed = sessions_needed(purge_sessions, cut)
    if len(sessions) < needed:
        raise ValueError(
            f"too few sessions to split: {first}..{last} holds {len(sessions)} session(s), and "
            f"three non-empty splits {cut} with {purge_sessions} purged sessions between them "
            f"need at least {needed} sessions"
        )
    ranges, start = [], 0
    for split, size in zip(SPLITS, _cut(len(sessions) - 2 * purge_sessions, cut), strict=True):
        ranges.append(SessionRange(split, start, start + size))
        start += size + purge_sessions
    return SplitPlan(sessions=sessions, ranges=tuple(ranges), purge_sessions=purge_sessions)


def one_split(first: dt.date, last: dt.date) -> SplitPlan:
    """Every session from `first` to `last` in the one split `train`, none purged: for a set too
    small to cut in time, or one asked for whole."""
    sessions = tuple(sessions_between(first, last))
    return SplitPlan(
        sessions=sessions, ranges=(SessionRange(SPLITS[0], 0, len(sessions)),), purge_sessions=0
    )


def assign_splits(dates: pl.DataFrame, plan: SplitPlan) -> pl.DataFrame:
    """`dates` (as_of and the pairs of each date) with a `split` column, null for dates in a
    purge gap; refuses as-of dates that are not sessions of the plan."""
    sessions = plan.frame()
    strays = dates.filter(~pl.col("as_of").is_in(sessions["as_of"].implode()))
    if strays.height:
        days = strays["as_of"].unique().sort().head(5).to_list()
        raise ValueError(
            f"{strays['pairs'].sum()} pair(s) have an as-of date that is not an NYSE session of "
            f"{plan.sessions[0]}..{plan.sessions[-1]}, e.g. {', '.join(map(str, days))}"
        )
    return dates.join(sessions, on="as_of", how="left", maintain_order="left")


def split_stats(tallied: pl.DataFrame) -> dict[str, tuple[int, dt.date, dt.date]]:
    """Pairs, first and last as-of date of each split, from a tally of pairs (split, pairs,
    first and last as-of date per group)."""
    stats = tallied.group_by("split").agg(
        pl.col("pairs").sum(), pl.col("first").min(), pl.col("last").max()
    )
    return {split: (count, first, last) for split, count, first, last in stats.iter_rows()}
