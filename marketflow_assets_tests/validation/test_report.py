"""The scorecard for people: the markdown shows the numbers formatted, dashes for what is
unknown, and the per-year table; the plot is a real PNG."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from marketflow_assets.validation.report import plot_scorecard, scorecard_markdown
from marketflow_assets_tests.validation.test_scorecard import CASE, card_of

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def card() -> pl.DataFrame:
    return card_of(CASE)


def _rows(markdown: str, first_cells: str) -> list[str]:
    return [line for line in markdown.splitlines() if line.startswith(f"| {first_cells} |")]


def test_markdown_all_years_rows(card: pl.DataFrame) -> None:
    markdown = scorecard_markdown(card)
    assert "| Signal | Strength | Pattern | Matured | Hit rate (95% interval) | Base rate |" in (
        markdown
    )
    # BUY: 2 of 3, base 4/7, excess 0.08/3 + 0.02/7, profit factor 3, Brier 0.89/3, rho 0.5.
    assert _rows(markdown, "BUY | all | all") == [
        "| BUY | all | all | 3 | 66.7% (20.8–93.9%) | 57.1% | +2.95% | 3.00 | 0.297 | 0.50 | no |"
    ]
    # HOLD has no profit factor and two values are too few for a rank correlation.
    assert _rows(markdown, "HOLD | all | all") == [
        "| HOLD | all | all | 2 | 50.0% (9.5–90.5%) | 57.1% | +0.36% | – | 0.085 | – | no |"
    ]
    assert len(_rows(markdown, "BUY | all | spring")) == 1
    # Per-year rows are not in the first table.
    assert "| BUY | all | all | 2 |" not in markdown


def test_markdown_by_year(card: pl.DataFrame) -> None:
    markdown = scorecard_markdown(card)
    by_year = markdown[markdown.index("By year") :]
    assert "| Year | Signal | Signals | Matured |" in by_year
    assert _rows(by_year, "2011 | BUY") == [
        "| 2011 | BUY | 2 | 1 | 100.0% (20.7–100.0%) | 50.0% | +5.00% |"
    ]
    # Years in order, BUY before SELL before HOLD within a year.
    years = [line.split(" | ")[0:2] for line in by_year.splitlines() if line.startswith("| 20")]
    assert years == [
        ["| 2010", "BUY"],
        ["| 2010", "SELL"],
        ["| 2010", "HOLD"],
        ["| 2011", "BUY"],
        ["| 2011", "HOLD"],
    ]


def test_markdown_without_matured_outcomes_uses_dashes() -> None:
    rows = [r for r in CASE if r["signal"] == "BUY" and r["ret_window"] is None]
    markdown = scorecard_markdown(card_of(rows))
    assert "| BUY | all | all | 0 | – | – | – | – | – | – | no |" in markdown


def test_markdown_of_an_empty_scorecard() -> None:
    card = card_of([])
    assert scorecard_markdown(card) == "No signals to score yet."


def test_plot_writes_a_png(card: pl.DataFrame, tmp_path: Path) -> None:
    path = plot_scorecard(card, tmp_path / "plots" / "scorecard.png")
    assert path == tmp_path / "plots" / "scorecard.png"
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC)
    assert len(data) > 10_000


def test_plot_of_an_empty_scorecard_still_writes_a_png(tmp_path: Path) -> None:
    card = card_of([])
    assert plot_scorecard(card, tmp_path / "empty.png").read_bytes().startswith(PNG_MAGIC)
