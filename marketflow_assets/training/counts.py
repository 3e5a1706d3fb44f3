"""Counts kept while a long window is worked through chunk by chunk: what a run's metadata
reports, without keeping the rows of the chunks already written."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import polars as pl

# Problems a lint run quotes in full; the rest are counted.
QUOTED_PROBLEMS = 10


class RunningCounts:
    """How often each value of some columns (or named expressions of them) occurs, summed over
    the frames added."""

    def __init__(self, *columns: str, **derived: pl.Expr) -> None:
        self.rows = 0
        self._exprs = [*map(pl.col, columns), *(e.alias(n) for n, e in derived.items())]
        self._counts: dict[str, Counter[str | None]] = {
            name: Counter() for name in (*columns, *derived)
        }

    def add(self, frame: pl.DataFrame) -> None:
        """Count the values in `frame` (as text; booleans as `true`/`false`)."""
        self.rows += frame.height
        counted = frame.select(self._exprs)
        for column, counter in self._counts.items():
            counts = counted[column].cast(pl.String).value_counts()
            counter.update(dict(zip(counts[column], counts["count"], strict=True)))

    def of(self, column: str) -> dict[str | None, int]:
        """Each value of `column` (a missing value first) with its count, in value order."""
        counter = self._counts[column]
        return {value: counter[value] for value in sorted(counter, key=_missing_first)}


def _missing_first(value: str | None) -> tuple[bool, str]:
    return (value is not None, value or "")


@dataclass
class LintFindings:
    """The pairs checked and the problems found so far: their count by problem, and the
    first QUOTED_PROBLEMS in the order found."""

    pairs: int = 0
    problems: int = 0
    by_problem: Counter[str] = field(default_factory=Counter)
    first: list[dict[str, Any]] = field(default_factory=list)

    def add(self, pairs: int, problems: pl.DataFrame) -> None:
        """Count `pairs` pairs checked and the problems found in them."""
        self.pairs += pairs
        self.problems += problems.height
        counts = problems["problem"].value_counts()
        self.by_problem.update(dict(zip(counts["problem"], counts["count"], strict=True)))
        self.first += problems.head(QUOTED_PROBLEMS - len(self.first)).to_dicts()

    def metadata(self) -> dict[str, Any]:
        """Pairs checked, problems, problems by kind and the first ones quoted, for the run."""
        return {
            "pairs": self.pairs,
            "problems": self.problems,
            "by_problem": dict(sorted(self.by_problem.items())),
            "first_problems": [
                f"{row['template_name']} {row['field']} of {row['pair_id'][:12]}: "
                f"{row['problem']} ({row['detail']})"
                for row in self.first
            ],
        }
