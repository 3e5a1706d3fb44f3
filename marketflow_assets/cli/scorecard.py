"""`marketflow scorecard`: how each kind of signal has fared, as a table in the terminal."""

from __future__ import annotations

from typing import Any

import polars as pl
from rich.table import Table

from marketflow_assets.cli.output import console
from marketflow_assets.settings import Settings
from marketflow_assets.store.connection import open_store
from marketflow_assets.validation.report import hit_rate, number, percent
from marketflow_assets.validation.scorecard import ALL
from marketflow_assets.vpa.signals import SIGNALS

# What `--by` splits the signal types by: the scorecard's group column and the rows' filter.
BREAKDOWNS = {
    "strength": ("strength", (pl.col("pattern") == ALL) & (pl.col("period") == ALL)),
    "pattern": ("pattern", (pl.col("strength") == ALL) & (pl.col("period") == ALL)),
    "year": ("period", (pl.col("strength") == ALL) & (pl.col("pattern") == ALL)),
}


def _row(group: str, row: dict[str, Any]) -> list[str]:
    return [
        row["signal"].lower(),
        str(row[group]).replace("_", " ").lower(),
        f"{row['signals']:,}",
        f"{row['matured']:,}",
        hit_rate(row),
        percent(row["base_rate"]),
        percent(row["mean_ret_window"], sign=True),
        percent(row["excess_ret_window"], sign=True),
        number(row["profit_factor"], 2),
        number(row["brier"], 3),
        number(row["rank_corr"], 3),
        "[green]yes[/]" if row["ready"] else "no",
    ]


def print_scorecard(settings: Settings, by: str = "strength") -> None:
    """The stored scorecard, one row per signal type and `by` group (period: all years)."""
    group, rows = BREAKDOWNS[by]
    with open_store(settings.duckdb_path, read_only=True) as conn:
        scorecard = conn.sql("SELECT * FROM scorecard").pl()
    shown = scorecard.filter(rows).sort(
        pl.col("signal").replace_strict(SIGNALS, range(len(SIGNALS)), default=len(SIGNALS)),
        pl.col(group) != ALL,
        group,
    )
    if shown.is_empty():
        console.print("The scorecard is empty: no signal has a matured 30-day window yet.")
        return
    table = Table(title=f"Scorecard by signal and {by} (30-day windows; returns signed by signal)")
    headers = (
        "signal",
        by,
        "signals",
        "matured",
        "hit rate (95% CI)",
        "base rate",
        "mean return",
        "excess",
        "profit factor",
        "Brier",
        "rank corr",
        "ready",
    )
    for header in headers:
        table.add_column(header, justify="left" if header in ("signal", by) else "right")
    for row in shown.iter_rows(named=True):
        table.add_row(*_row(group, row))
    console.print(table)
    console.print(
        "Ready: at least 30 matured signals and a Wilson lower bound above the base rate. "
        "HOLD returns are minus the absolute move (closer to zero is better)."
    )
