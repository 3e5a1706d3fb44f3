"""The lake's own behaviour: tables made by an older version gain new columns, and predicates
quote their values."""

import datetime as dt
from pathlib import Path

import polars as pl
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

from marketflow_assets.store.connection import open_store
from marketflow_assets.store.lake import MIXED_FILES, Lake, lake_of, replace_rows
from marketflow_assets.store.writes import replace_windows

D1, D2 = dt.date(2024, 7, 1), dt.date(2024, 7, 2)


def test_a_table_of_an_older_version_gains_the_new_columns(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    # corporate_actions as a version without `dividend` wrote it.
    old = pa.table(
        {
            "ticker": ["AAA"],
            "date": pa.array([D1], pa.date32()),
            "split_ratio": [2.0],
            "source": ["old"],
        }
    )
    write_deltalake(str(lake.table_path("corporate_actions")), old, partition_by=["date"])
    new = pl.DataFrame(
        {
            "ticker": ["BBB"],
            "date": [D2],
            "split_ratio": [None],
            "dividend": [0.5],
            "source": ["new"],
        },
        schema_overrides={"split_ratio": pl.Float64},
    )
    with open_store(lake) as conn:
        replace_windows(conn, {"corporate_actions": new}, D2, D2)
        rows = conn.sql("SELECT ticker, dividend FROM corporate_actions ORDER BY ticker").fetchall()
    assert rows == [("AAA", None), ("BBB", 0.5)]
    delta = DeltaTable(str(lake.table_path("corporate_actions")))
    assert "dividend" in delta.schema().to_arrow().names
    assert delta.metadata().configuration[MIXED_FILES] == "true"


def test_a_predicate_quotes_its_text(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    names = ["o'brien", "obrien"]
    with open_store(lake) as conn:
        for name in names:
            conn.execute(
                "INSERT INTO lake_schema.main.exports VALUES "
                "(?, 'p', NULL, NULL, false, 1, 1, 0, 0, 0, 'x', now()::TIMESTAMP, 'date', NULL)",
                [name],
            )
        staged = conn.sql("SELECT * FROM lake_schema.main.exports").to_arrow_table()
        conn.execute("DELETE FROM lake_schema.main.exports")
        replace_rows(conn, lake_of(conn), "exports", staged, {})
        replace_rows(conn, lake_of(conn), "exports", None, {"name": "o'brien"})
        left = conn.sql("SELECT name FROM exports").fetchall()
    assert left == [("obrien",)]
