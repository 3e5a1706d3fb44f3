"""The terminal the commands print to, and the count tables several of them show."""

from __future__ import annotations

import polars as pl
from rich.console import Console
from rich.table import Table

console = Console()


def count_table(title: str, counts: pl.DataFrame, count_column: str) -> Table:
    table = Table(title=title)
    for column in counts.columns:
        table.add_column(
            column.replace("_", " "), justify="right" if column == count_column else "left"
        )
    for row in counts.iter_rows():
        table.add_row(*(f"{v:,}" if isinstance(v, int) else str(v) for v in row))
    return table
