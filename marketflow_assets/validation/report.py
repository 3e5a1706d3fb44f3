"""The scorecard for people: a markdown table for the UI and a PNG with the reliability diagram
and the hit rates against their base rates."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
from matplotlib.figure import Figure

from marketflow_assets.validation.scorecard import ALL
from marketflow_assets.vpa.signals import SIGNALS, STRENGTHS

MISSING = "–"
COLOURS = {"BUY": "tab:green", "SELL": "tab:red", "HOLD": "tab:grey"}


def percent(value: float | None, decimals: int = 1, sign: bool = False) -> str:
    """A fraction as a percentage ("61.2%"), or a dash for a missing value."""
    if value is None:
        return MISSING
    return f"{100 * value:{'+' if sign else ''}.{decimals}f}%"


def number(value: float | None, decimals: int) -> str:
    """A number to `decimals` places, or a dash for a missing value."""
    return MISSING if value is None else f"{value:.{decimals}f}"


def hit_rate(row: dict[str, Any]) -> str:
    """'61.2% (55.0–67.1%)': the hit rate and its Wilson interval."""
    if row["hit_rate"] is None:
        return MISSING
    low, high = percent(row["hit_low"]).rstrip("%"), percent(row["hit_high"])
    return f"{percent(row['hit_rate'])} ({low}–{high})"


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    lines = [header, tuple("---" for _ in header), *rows]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines)


def scorecard_markdown(scorecard: pl.DataFrame) -> str:
    """Markdown of the scorecard: every group over all years, then each signal type per year."""
    if scorecard.is_empty():
        return "No signals to score yet."
    overall = scorecard.filter(pl.col("period") == ALL)
    groups = [
        (
            row["signal"],
            row["strength"],
            row["pattern"],
            str(row["matured"]),
            hit_rate(row),
            percent(row["base_rate"]),
            percent(row["excess_ret_window"], 2, sign=True),
            number(row["profit_factor"], 2),
            number(row["brier"], 3),
            number(row["rank_corr"], 2),
            "yes" if row["ready"] else "no",
        )
        for row in overall.iter_rows(named=True)
    ]
    yearly = scorecard.filter(
        (pl.col("period") != ALL) & (pl.col("strength") == ALL) & (pl.col("pattern") == ALL)
    ).sort(
        "period",
        pl.col("signal").replace_strict(SIGNALS, range(len(SIGNALS)), default=len(SIGNALS)),
    )
    years = [
        (
            row["period"],
            row["signal"],
            str(row["signals"]),
            str(row["matured"]),
            hit_rate(row),
            percent(row["base_rate"]),
            percent(row["excess_ret_window"], 2, sign=True),
        )
        for row in yearly.iter_rows(named=True)
    ]
    header = (
        "Signal",
        "Strength",
        "Pattern",
        "Matured",
        "Hit rate (95% interval)",
        "Base rate",
        "Excess return (window)",
        "Profit factor",
        "Brier score",
        "Rank correlation",
        "Ready",
    )
    parts = ["#### All years", "", _table(header, groups)]
    if years:
        year_header = (
            "Year",
            "Signal",
            "Signals",
            "Matured",
            "Hit rate (95% interval)",
            "Base rate",
            "Excess return (window)",
        )
        parts += ["", "#### By year", "", _table(year_header, years)]
    return "\n".join(parts) + "\n"


def plot_scorecard(scorecard: pl.DataFrame, path: Path) -> Path:
    """Write a PNG of two panels to `path`: the reliability diagram of each signal type, and the
    hit rate by signal type and strength with its Wilson interval and the base rate."""
    overall = scorecard.filter((pl.col("period") == ALL) & (pl.col("pattern") == ALL))
    figure = Figure(figsize=(12, 5), layout="constrained")
    calibration, hits = figure.subplots(1, 2)

    calibration.plot([0, 1], [0, 1], linestyle="--", color="black", linewidth=1, label="perfect")
    for row in overall.filter(pl.col("strength") == ALL).iter_rows(named=True):
        filled = [entry for entry in row["reliability"] if entry["count"] > 0]
        calibration.plot(
            [entry["mean_confidence"] for entry in filled],
            [entry["hit_rate"] for entry in filled],
            marker="o",
            color=COLOURS.get(row["signal"]),
            label=row["signal"],
        )
    calibration.set(
        xlim=(-0.02, 1.02),
        ylim=(-0.02, 1.02),
        xlabel="Mean confidence",
        ylabel="Observed hit rate",
        title="Reliability",
    )
    calibration.legend(loc="upper left")

    order = [(signal, strength) for signal in SIGNALS for strength in (ALL, *STRENGTHS)]
    rows = {(row["signal"], row["strength"]): row for row in overall.iter_rows(named=True)}
    shown = [key for key in order if key in rows and rows[key]["hit_rate"] is not None]
    for x, key in enumerate(shown):
        row = rows[key]
        colour = COLOURS.get(row["signal"])
        hits.errorbar(
            x,
            row["hit_rate"],
            yerr=[[row["hit_rate"] - row["hit_low"]], [row["hit_high"] - row["hit_rate"]]],
            fmt="o",
            color=colour,
            capsize=4,
        )
        hits.hlines(row["base_rate"], x - 0.35, x + 0.35, colors=colour, linestyles=":")
    hits.set_xticks(
        range(len(shown)),
        [f"{signal} {strength}".lower() for signal, strength in shown],
        fontsize=8,
        rotation=45,
        ha="right",
    )
    hits.set(
        ylim=(-0.02, 1.02), ylabel="Hit rate", title="Hit rate (95% interval) vs base rate (dotted)"
    )

    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=100)
    return path


@dataclass(frozen=True)
class ScorecardReport:
    """The scorecard's markdown and plot as written to the reports folder."""

    markdown: str
    markdown_path: Path
    image_path: Path

    @property
    def image_markdown(self) -> str:
        """The plot inlined as markdown, for metadata shown in the Dagster UI."""
        encoded = base64.b64encode(self.image_path.read_bytes()).decode()
        return f"![scorecard](data:image/png;base64,{encoded})"


def write_report(scorecard: pl.DataFrame, directory: Path) -> ScorecardReport:
    """Write `scorecard.md` and `scorecard.png` into `directory`, replacing earlier ones."""
    directory.mkdir(parents=True, exist_ok=True)
    markdown = scorecard_markdown(scorecard)
    markdown_path = directory / "scorecard.md"
    markdown_path.write_text("# Signal scorecard\n\n" + markdown)
    return ScorecardReport(
        markdown, markdown_path, plot_scorecard(scorecard, directory / "scorecard.png")
    )
