"""The store as a lake: one Delta table per table under a folder that several writers can share.

A lake connection is an in-memory DuckDB connection in which every table of the store is a view
of the files of its Delta table's current version, read by DuckDB's Parquet reader (sessions
pruned by their folders, columns and row groups by the query). The migrated schema lives beside
them in the `lake_schema` catalog: it gives each Delta table its columns and checks the rows of
small inserts (constraints, defaults). Writes replace rows by predicate, an atomic Delta commit
per table (a long window: a delete, then appends of runs of sessions); writers of disjoint
windows do not conflict, since window tables are partitioned by their date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import CommitProperties, DeltaTable, Schema, write_deltalake

from marketflow_assets.store.migrate import apply_migrations

SCHEMA_CATALOG = "lake_schema"
# DuckDB variable naming the lake's root on a lake connection (unset on a DuckDB file's).
ROOT_VARIABLE = "marketflow_lake_root"
# Tables partitioned by a date column in the lake, beyond the window tables (passed in).
LEDGER_PARTITION = {"materialized_sessions": "date"}
# Tables of the migrated schema that describe a DuckDB file, not the store's data.
NOT_IN_LAKE = {"schema_migrations"}
# delta-rs keeps a file and its buffers open for every partition one write touches: a write of
# ten years of sessions took 4 GiB for 0.23 GiB of rows, against 1.4 GiB in runs of 100.
PARTITIONS_PER_COMMIT = 64
# A table property set once its files differ in columns (a later migration added some), which
# makes reads match every file's columns by name (slower: each file's footer is read first).
MIXED_FILES = "marketflow.mixedFiles"
# The view of a table's Parquet files, beside the table's view.
FILES_SUFFIX = "__files"
# Commits a writer retries when another writer committed first (delta-rs re-checks conflicts).
COMMIT_RETRIES = 20

# A bound of a predicate: a value, or an inclusive (low, high) range.
Bound = str | int | dt.date | tuple[dt.date, dt.date]


class LakeError(RuntimeError):
    """The lake's tables disagree with the code's schema, or the lake is missing."""


@dataclass(frozen=True)
class Lake:
    """Where a lake store lives: a folder holding one Delta table per table."""

    root: Path

    def __str__(self) -> str:
        return f"{self.root} (a lake of Delta tables)"

    def table_path(self, table: str) -> Path:
        """The folder of `table`'s Delta table."""
        return self.root / table


def attach_lake(
    conn: duckdb.DuckDBPyConnection,
    lake: Lake,
    partitions: Mapping[str, str],
    read_only: bool = False,
) -> None:
    """Make `lake`'s tables the tables of `conn`, creating any the code has and the lake lacks
    (partitioned by `partitions`, table -> date column) unless `read_only`."""
    if read_only and not lake.root.is_dir():
        raise FileNotFoundError(f"{lake.root}: no lake yet; run a backfill with this lake first")
    conn.execute(f"ATTACH ':memory:' AS {SCHEMA_CATALOG}")
    conn.execute(f"USE {SCHEMA_CATALOG}")
    apply_migrations(conn)
    conn.execute("USE memory")
    conn.execute(f"SET VARIABLE {ROOT_VARIABLE} = ?", [str(lake.root)])
    for table in lake_tables(conn):
        path = lake.table_path(table)
        if not DeltaTable.is_deltatable(str(path)):
            if read_only:
                raise FileNotFoundError(f"{path}: the lake has no table {table!r} yet")
            _create(conn, path, table, {**LEDGER_PARTITION, **partitions}.get(table))
        _conform_columns(conn, path, table, read_only)
        _register(conn, table, path)
    for (sql,) in conn.execute(
        "SELECT sql FROM duckdb_views() WHERE database_name = ? AND NOT internal",
        [SCHEMA_CATALOG],
    ).fetchall():
        conn.execute(sql)


def lake_of(conn: duckdb.DuckDBPyConnection) -> Lake | None:
    """The lake `conn` reads, or None for a DuckDB file's connection."""
    ((root,),) = conn.execute(f"SELECT getvariable('{ROOT_VARIABLE}')").fetchall()
    return Lake(Path(root)) if root else None


def lake_tables(conn: duckdb.DuckDBPyConnection) -> list[str]:
    """The store's tables, in name order, as the migrated schema has them."""
    rows = conn.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = ? ORDER BY table_name",
        [SCHEMA_CATALOG],
    ).fetchall()
    return [name for (name,) in rows if name not in NOT_IN_LAKE]


def replace_rows(
    conn: duckdb.DuckDBPyConnection,
    lake: Lake,
    table: str,
    rows: pa.Table | None,
    where: Mapping[str, Bound],
) -> None:
    """Replace the rows of `table` matching `where` with `rows` (None or empty: delete them); with
    an empty `where`, every row. One Delta commit, or for rows over more than
    PARTITIONS_PER_COMMIT sessions a delete followed by an append per run of sessions."""
    path = str(lake.table_path(table))
    predicate = _predicate(where)
    commit = CommitProperties(max_commit_retries=COMMIT_RETRIES)
    batches = list(_batches(path, conformed(conn, table, rows))) if rows is not None else []
    if len(batches) == 1:
        write_deltalake(
            path, batches[0], mode="overwrite", predicate=predicate, commit_properties=commit
        )
    else:
        if predicate is None:
            write_deltalake(path, _schema(conn, table).empty_table(), mode="overwrite")
        else:
            DeltaTable(path).delete(predicate, commit_properties=commit)
        for batch in batches:
            write_deltalake(path, batch, mode="append", commit_properties=commit)
    _register(conn, table, lake.table_path(table))


def append_rows(conn: duckdb.DuckDBPyConnection, lake: Lake, table: str, rows: pa.Table) -> None:
    """Append `rows` to `table`: one Delta commit per run of PARTITIONS_PER_COMMIT sessions."""
    path = str(lake.table_path(table))
    commit = CommitProperties(max_commit_retries=COMMIT_RETRIES)
    for batch in _batches(path, conformed(conn, table, rows)):
        write_deltalake(path, batch, mode="append", commit_properties=commit)
    _register(conn, table, lake.table_path(table))


def _batches(path: str, rows: pa.Table) -> Iterator[pa.Table]:
    """`rows` cut into runs of at most PARTITIONS_PER_COMMIT values of the table's partition
    column, in order (the whole of them for an unpartitioned table); nothing for no rows."""
    if rows.num_rows == 0:
        return
    columns = DeltaTable(path).metadata().partition_columns
    if not columns:
        yield rows
        return
    values = pc.unique(rows.column(columns[0])).sort()
    for first in range(0, len(values), PARTITIONS_PER_COMMIT):
        run = values[first : first + PARTITIONS_PER_COMMIT]
        yield rows.filter(pc.is_in(rows.column(columns[0]), value_set=run))


def insert_checked(
    conn: duckdb.DuckDBPyConnection,
    lake: Lake,
    table: str,
    insert: str,
    params: Sequence,
    replacing: Mapping[str, Bound] | None = None,
) -> None:
    """Run `insert` (an INSERT whose target is written `{table}`) against the migrated schema's
    empty copy of `table`, so its constraints and defaults apply, then append what it wrote
    (or, with `replacing`, replace the rows matching it, in the same commit)."""
    staged = f"{SCHEMA_CATALOG}.main.{table}"
    conn.execute(insert.format(table=staged), params)
    rows = conn.sql(f"SELECT * FROM {staged}").to_arrow_table()
    conn.execute(f"DELETE FROM {staged}")
    if replacing is None:
        append_rows(conn, lake, table, rows)
    else:
        replace_rows(conn, lake, table, rows, replacing)


def conform(rows: pa.Table, schema: pa.Schema, table: str) -> pa.Table:
    """`rows` with `schema`'s columns, order and types (as DuckDB's INSERT BY NAME would: an
    absent column is null); a column the table lacks is an error naming it."""
    unknown = sorted(set(rows.column_names) - set(schema.names))
    if unknown:
        raise LakeError(f"{table}: no column {', '.join(unknown)} in the table")
    columns = [
        rows.column(field.name).cast(field.type)
        if field.name in rows.column_names
        else pa.nulls(rows.num_rows, field.type)
        for field in schema
    ]
    for field, column in zip(schema, columns, strict=True):
        if not field.nullable and column.null_count:
            raise LakeError(
                f"{table}: NOT NULL constraint failed: {column.null_count} null(s) in {field.name}"
            )
    return pa.Table.from_arrays(columns, schema=schema)


def conformed(conn: duckdb.DuckDBPyConnection, table: str, rows: pa.Table) -> pa.Table:
    """`rows` as `table` in the lake holds them (see `conform`)."""
    return conform(rows, _schema(conn, table), table)


def _schema(conn: duckdb.DuckDBPyConnection, table: str) -> pa.Schema:
    """The Arrow schema of `table` in the lake: the migrated schema's columns, JSON as text,
    NOT NULL columns not nullable (delta-rs refuses nulls in them)."""
    empty = conn.sql(f"SELECT * FROM {SCHEMA_CATALOG}.main.{table} LIMIT 0").to_arrow_table()
    required = {
        name
        for (name,) in conn.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = ? "
            "AND table_name = ? AND NOT is_nullable",
            [SCHEMA_CATALOG, table],
        ).fetchall()
    }
    fields = []
    for field in empty.schema:
        kind = pa.string() if isinstance(field.type, pa.ExtensionType) else field.type
        fields.append(pa.field(field.name, kind, nullable=field.name not in required))
    return pa.schema(fields)


def _create(conn: duckdb.DuckDBPyConnection, path: Path, table: str, partition: str | None) -> None:
    """Create `table`'s empty Delta table at `path`, partitioned by `partition` if given; one
    another writer created meanwhile is kept."""
    path.parent.mkdir(parents=True, exist_ok=True)
    DeltaTable.create(
        str(path),
        _schema(conn, table),
        partition_by=[partition] if partition else None,
        mode="ignore",
    )


def _conform_columns(
    conn: duckdb.DuckDBPyConnection, path: Path, table: str, read_only: bool
) -> None:
    """Add to the Delta table the columns a later migration gave `table`; refuse other drift."""
    wanted = _schema(conn, table)
    have = DeltaTable(str(path)).schema().to_arrow()
    missing = [field for field in wanted if field.name not in have.names]
    extra = sorted(set(have.names) - set(wanted.names))
    if extra:
        raise LakeError(f"{path}: column(s) {', '.join(extra)} the code does not know")
    if missing and read_only:
        raise LakeError(
            f"{path}: lacks column(s) {', '.join(f.name for f in missing)}; open it once for "
            "writing to add them"
        )
    if missing:
        added = pa.schema([pa.field(f.name, f.type, nullable=True) for f in missing])
        DeltaTable(str(path)).alter.add_columns(Schema.from_arrow(added).fields)
        # Files written before lack the new columns: read every file's own columns from now on.
        DeltaTable(str(path)).alter.set_table_properties(
            {MIXED_FILES: "true"}, raise_if_not_exists=False
        )


def _register(conn: duckdb.DuckDBPyConnection, table: str, path: Path) -> None:
    """Point `table` in `conn` at the files of its Delta table's current version, read by DuckDB's
    Parquet reader (sessions pruned by their folders), with the migrated schema's columns."""
    delta = DeltaTable(str(path))
    files = delta.file_uris()
    source = f"SELECT * FROM {SCHEMA_CATALOG}.main.{table}"
    if files:
        partitioned = bool(delta.metadata().partition_columns)
        mixed = delta.metadata().configuration.get(MIXED_FILES) == "true"
        scan = conn.read_parquet(files, hive_partitioning=partitioned, union_by_name=mixed)
        scan.create_view(f"{table}{FILES_SUFFIX}", replace=True)
        # Columns in the schema's order and types; a column no file has yet reads as null.
        source += f" UNION ALL BY NAME SELECT * FROM {table}{FILES_SUFFIX}"
    conn.execute(f"CREATE OR REPLACE TEMP VIEW {table} AS {source}")


def _predicate(where: Mapping[str, Bound]) -> str | None:
    """A Delta predicate for `where`; values rendered as typed literals (delta-rs takes no
    parameters), text quoted."""
    parts = []
    for column, bound in where.items():
        if isinstance(bound, tuple):
            low, high = bound
            parts.append(f"{column} >= {_literal(low)} AND {column} <= {_literal(high)}")
        else:
            parts.append(f"{column} = {_literal(bound)}")
    return " AND ".join(parts) or None


def _literal(value: Bound) -> str:
    """`value` as a Delta (DataFusion SQL) literal."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return f"'{value.isoformat()}'::date"
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise TypeError(f"no lake literal for {value!r}")
    if isinstance(value, int):
        return str(value)
    return "'" + value.replace("'", "''") + "'"
