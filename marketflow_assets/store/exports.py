"""Recording each export in the `exports` table, and reading it back."""

from __future__ import annotations

import duckdb

from marketflow_assets.store.lake import insert_checked, lake_of
from marketflow_assets.training.export import ExportSummary
from marketflow_assets.training.splits import SPLITS


def record_export(conn: duckdb.DuckDBPyConnection, summary: ExportSummary) -> None:
    """Replace the `exports` row of the summary's name with its facts, in one transaction."""
    insert = (
        "INSERT INTO {table} (name, path, start_date, end_date, only_approved, pairs, "
        "train_rows, validation_rows, test_rows, near_duplicates_dropped, manifest_sha256, "
        "exported_at, split_mode, split_note) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now()::TIMESTAMP, ?, ?)"
    )
    params = [
        summary.name,
        str(summary.path),
        summary.start,
        summary.end,
        summary.only_approved,
        summary.pairs_in,
        # A one-split export writes no validation or test rows.
        *(summary.rows.get(split, 0) for split in SPLITS),
        summary.near_duplicates_dropped,
        summary.manifest_sha256,
        summary.split,
        summary.note,
    ]
    lake = lake_of(conn)
    if lake is not None:
        insert_checked(conn, lake, "exports", insert, params, replacing={"name": summary.name})
        return
    conn.execute("BEGIN TRANSACTION")
    try:
        conn.execute("DELETE FROM exports WHERE name = ?", [summary.name])
        conn.execute(insert.format(table="exports"), params)
        conn.execute("COMMIT")
    except Exception:
        conn.execute("ROLLBACK")
        raise


def read_export(conn: duckdb.DuckDBPyConnection, name: str) -> dict[str, object]:
    """The `exports` row of `name`; a KeyError naming it when there is none."""
    rows = conn.sql("SELECT * FROM exports WHERE name = ?", params=[name]).pl()
    if rows.is_empty():
        raise KeyError(f"no export named {name!r}")
    return rows.row(0, named=True)
