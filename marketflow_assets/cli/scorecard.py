"""`marketflow scorecard`: how each kind of signal has fared, as tables in the terminal."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl
from rich.table import Table

from marketflow_assets.cli.output import compact_table, console, fits
from marketflow_assets.settings import Settings
from marketflow_assets.store.connection import open_store
from marketflow_assets.store.reads import read_scorecard
from marketflow_assets.validation.report import hit_rate, number, percent
from marketflow_assets.validation.scorecard import ALL
from marketflow_assets.vpa.rules import load_rules
from marketflow_assets.vpa.signals import SIGNALS

# What `--by` splits the signal types by: the scorecard's group column and the rows' filter.
BREAKDOWNS = {
    "strength": ("strength", (pl.col("pattern") == ALL) & (pl.col("period") == ALL)),
    "pattern": ("pattern", (pl.col("strength") == ALL) & (pl.col("period") == ALL)),
    "year": ("period", (pl.col("strength") == ALL) & (pl.col("pattern") == ALL)),
}
# The group column's place among the headers below; it is headed by the `--by` breakdown.
GROUP = "group"
WIDE_COLUMNS = (
    "signal",
    GROUP,
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
# Below the wide table's width: hit rates, then returns and calibration, under the headers
# these map the columns to (the short ones explained by SHORT_HEADERS).
HIT_COLUMNS = {
    "signal": "signal",
    GROUP: GROUP,
    "signals": "signals",
    "matured": "matured",
    "hit rate (95% CI)": "hit rate (95% CI)",
    "base rate": "base",
}
RETURN_COLUMNS = {
    "signal": "signal",
    GROUP: GROUP,
    "mean return": "mean",
    "excess": "excess",
    "profit factor": "PF",
    "Brier": "Brier",
    "rank corr": "rank corr",
    "ready": "ready",
}
SHORT_HEADERS = (
    "base: base rate of hits; mean, excess: mean and excess return over the {days}-day window, "
    "signed by signal; PF: profit factor. "
)
NOTE = (
    "Ready: at least {ready} matured signals and a Wilson lower bound above the base rate. "
    "HOLD returns are minus the absolute move (closer to zero is better)."
)


def _cells(group: str, row: dict[str, Any]) -> dict[str, str]:
    values = (
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
    )
    return dict(zip(WIDE_COLUMNS, values, strict=True))


def _table(
    title: str, headers: Mapping[str, str], by: str, rows: Sequence[dict[str, str]]
) -> Table:
    names = [by if key == GROUP else header for key, header in headers.items()]
    table = compact_table(title, names, right=names[2:])
    for row in rows:
        table.add_row(*(row[key] for key in headers))
    return table


def print_scorecard(settings: Settings, by: str = "strength") -> None:
    """The stored scorecard by signal type and `by` group, in two tables if one is too wide."""
    group, rows = BREAKDOWNS[by]
    rules = load_rules(settings.rules_path)
    days = rules.outcomes.window_days
    note = NOTE.format(ready=rules.scorecard.ready_min_matured)
    with open_store(settings.store_location, read_only=True) as conn:
        scorecard = read_scorecard(conn)
    shown = scorecard.filter(rows).sort(
        pl.col("signal").replace_strict(SIGNALS, range(len(SIGNALS)), default=len(SIGNALS)),
        pl.col(group) != ALL,
        group,
    )
    if shown.is_empty():
        console.print(f"The scorecard is empty: no signal has a matured {days}-day window yet.")
        return
    cells = [_cells(group, row) for row in shown.iter_rows(named=True)]
    title = f"Scorecard by signal and {by}"
    wide = _table(
        f"{title} ({days}-day windows; returns signed by signal)",
        dict(zip(WIDE_COLUMNS, WIDE_COLUMNS, strict=True)),
        by,
        cells,
    )
    if fits(wide):
        console.print(wide)
        console.print(note)
        return
    console.print(_table(f"{title}: hit rates ({days}-day windows)", HIT_COLUMNS, by, cells))
    console.print()
    console.print(_table(f"{title}: returns, calibration", RETURN_COLUMNS, by, cells))
    console.print(SHORT_HEADERS.format(days=days) + note)
