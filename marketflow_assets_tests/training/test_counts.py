"""Counts kept over chunks: the same as counted over all the rows at once."""

from __future__ import annotations

import polars as pl

from marketflow_assets.training.counts import QUOTED_PROBLEMS, LintFindings, RunningCounts
from marketflow_assets.training.lint import PROBLEM_COLUMNS

ROWS = pl.DataFrame(
    {
        "ticker": ["B", "A", "B", "C", "A", "B", None],
        "warmup": [True, False, False, False, True, False, False],
        "events": [[], ["hammer"], [], [], ["test", "spring"], [], []],
    }
)


def test_counts_over_chunks_are_the_counts_of_all_rows() -> None:
    whole = RunningCounts("ticker", "warmup", busy=pl.col("events").list.len() > 0)
    whole.add(ROWS)
    chunked = RunningCounts("ticker", "warmup", busy=pl.col("events").list.len() > 0)
    for start in (0, 2, 3, 6):
        chunked.add(ROWS.slice(start, {0: 2, 2: 1, 3: 3, 6: 1}[start]))
    assert chunked.rows == whole.rows == 7
    for column in ("ticker", "warmup", "busy"):
        assert chunked.of(column) == whole.of(column)
    assert list(whole.of("ticker").items()) == [(None, 1), ("A", 2), ("B", 3), ("C", 1)]
    assert whole.of("warmup") == {"false": 5, "true": 2}
    assert whole.of("busy") == {"false": 5, "true": 2}


def problems(count: int, start: int = 0) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "pair_id": [f"{i:02d}".ljust(64, "f") for i in range(start, start + count)],
            "conversation_type": ["vpa_analysis"] * count,
            "template_name": ["vpa_analysis.j2"] * count,
            "field": ["response"] * count,
            "problem": ["none" if i % 3 else "nan" for i in range(start, start + count)],
            "detail": ["None"] * count,
        }
    ).select(PROBLEM_COLUMNS)


def test_lint_findings_count_every_chunk_and_quote_the_first_problems() -> None:
    found = LintFindings()
    found.add(100, problems(0))
    found.add(250, problems(6))
    found.add(80, problems(9, start=6))
    metadata = found.metadata()
    assert metadata["pairs"] == 430
    assert metadata["problems"] == 15
    assert metadata["by_problem"] == {"nan": 5, "none": 10}
    assert len(metadata["first_problems"]) == QUOTED_PROBLEMS
    assert metadata["first_problems"][0] == "vpa_analysis.j2 response of 00ffffffffff: nan (None)"
    quoted = [line.split(" of ")[1][:2] for line in metadata["first_problems"]]
    assert quoted == [f"{i:02d}" for i in range(QUOTED_PROBLEMS)]
    clean = LintFindings()
    clean.add(5, problems(0))
    assert clean.metadata() == {"pairs": 5, "problems": 0, "by_problem": {}, "first_problems": []}
