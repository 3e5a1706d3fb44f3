"""The terminal the commands print to, and the compact tables they show on it."""

from __future__ import annotations

from collections.abc import Collection, Sequence

import polars as pl
from rich import box
from rich.console import Console, RenderableType
from rich.measure import Measurement
from rich.table import Table

console = Console()
# A width no table reaches: what `fits` measures a renderable against.
UNBOUNDED = 10_000


def compact_table(
    title: str | None, columns: Sequence[str], right: Collection[str] = (), leading: int = 0
) -> Table:
    """A borderless table, a rule under its header: narrow, and its cells fold, never cut to '…'."""
    table = Table(
        title=title,
        box=box.SIMPLE_HEAD,
        show_edge=False,
        padding=(0, 1, 0, 0),
        pad_edge=False,
        header_style="bold",
        leading=leading,
    )
    for column in columns:
        table.add_column(column, justify="right" if column in right else "left", overflow="fold")
    return table


def fits(renderable: RenderableType) -> bool:
    """Whether `renderable` fits the terminal as it is: rich cuts a wider table's cells to '5,…'."""
    # Rich caps a measurement at the width it is given.
    unbounded = console.options.update(max_width=UNBOUNDED)
    return Measurement.get(console, unbounded, renderable).maximum <= console.width


def count_table(title: str, counts: pl.DataFrame, count_column: str) -> Table:
    """`counts` as a compact table, the count column right-aligned with thousands separators."""
    table = compact_table(
        title, [c.replace("_", " ") for c in counts.columns], {count_column.replace("_", " ")}
    )
    for row in counts.iter_rows():
        table.add_row(*(f"{v:,}" if isinstance(v, int) else str(v) for v in row))
    return table
