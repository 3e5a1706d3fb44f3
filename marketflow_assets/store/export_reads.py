"""Reading the reviewed pairs an export draws on a few columns or dates at a time, and keeping
its near-duplicate keys and the pairs it keeps in temporary tables of the connection, so the
export's memory does not grow with the number of pairs (DuckDB spills beyond its limit)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import duckdb
import polars as pl

from marketflow_assets.store.connection import DUCKDB_FLOOR_MIB
from marketflow_assets.training.export_source import Selection

# The rows of `reviewed_pairs` of one rules version in the selection's as-of range.
_IN_RANGE = (
    "rules_hash = $hash AND ($start IS NULL OR as_of >= $start) AND ($end IS NULL OR as_of <= $end)"
)
_SELECTED = f"{_IN_RANGE} AND list_contains($statuses, review_status)"
# A character outside Unicode's White_Space: what `\S` matches in Polars' (Rust's) regex, here
# in DuckDB's (RE2, whose own `\S` is ASCII only). A text without one is blank.
NON_BLANK = (
    r"[^\t-\r \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}]"
)
_BLANK = " OR ".join(
    f"{text} IS NULL OR NOT regexp_matches({text}, $non_blank)"
    for text in ("system", "prompt", "coalesce(edited_response, response)")
)


class StoredPairs:
    """The `reviewed_pairs` of one rules version as an export's PairSource (see
    `training.export_source`): one rules version only, since pairs rendered from another
    version's snapshots of the same session would otherwise be trained on twice."""

    def __init__(self, conn: duckdb.DuckDBPyConnection, rules_hash: str, tag: str) -> None:
        self.conn, self.rules_hash = conn, rules_hash
        self.keys, self.kept = f"export_keys_{tag}", f"export_kept_{tag}"

    def _params(self, selection: Selection, **more: object) -> dict[str, object]:
        return {
            "hash": self.rules_hash,
            "start": selection.start,
            "end": selection.end,
            **more,
        }

    def status_counts(self, selection: Selection) -> pl.DataFrame:
        """Pairs per as-of date and review status in the selection's range, whatever the status."""
        return self.conn.sql(
            "SELECT as_of, review_status, count(*)::BIGINT AS pairs FROM reviewed_pairs "
            f"WHERE {_IN_RANGE} GROUP BY ALL ORDER BY ALL",
            params=self._params(selection),
        ).pl()

    def repeated_ids(self, selection: Selection, limit: int) -> list[str]:
        """The first `limit` pair ids that the selection holds more than once, in order."""
        rows = self.conn.sql(
            f"SELECT pair_id FROM reviewed_pairs WHERE {_SELECTED} "
            "GROUP BY pair_id HAVING count(*) > 1 ORDER BY pair_id LIMIT $limit",
            params=self._params(selection, statuses=list(selection.statuses), limit=limit),
        ).fetchall()
        return [pair_id for (pair_id,) in rows]

    def tickers(self, selection: Selection, dates: Sequence[dt.date]) -> list[str]:
        """The tickers of the selected pairs with an as-of date among `dates`, sorted."""
        rows = self.conn.sql(
            f"SELECT DISTINCT ticker FROM reviewed_pairs WHERE {_SELECTED} "
            "AND as_of IN (SELECT unnest($dates)) ORDER BY ticker",
            params=self._params(selection, statuses=list(selection.statuses), dates=list(dates)),
        ).fetchall()
        return [ticker for (ticker,) in rows]

    def texts(self, selection: Selection, first: dt.date, last: dt.date) -> pl.DataFrame:
        """pair_id, as_of, conversation_type, the response trained on (the edit if any) and
        whether the system, prompt or response is blank, of the selected pairs with as_of in
        [first, last]."""
        return self.conn.sql(
            "SELECT pair_id, as_of, conversation_type, "
            f"coalesce(edited_response, response) AS response, ({_BLANK}) AS blank "
            f"FROM reviewed_pairs WHERE {_SELECTED} AND as_of BETWEEN $first AND $last",
            params=self._params(
                selection,
                statuses=list(selection.statuses),
                first=first,
                last=last,
                non_blank=NON_BLANK,
            ),
        ).pl()

    def add_keys(self, keys: pl.DataFrame) -> None:
        """Keep the rows of `keys` (pair_id, as_of, conversation_type, split and the two
        halves of a key's hash, key_a and key_b) for the near-duplicate cap."""
        self.conn.register("export_keys_chunk", keys)
        try:
            self.conn.execute(
                f"INSERT INTO {self.keys} SELECT pair_id, as_of, conversation_type, split, "
                "key_a, key_b FROM export_keys_chunk"
            )
        finally:
            self.conn.unregister("export_keys_chunk")

    def cap(self, max_similar: int) -> pl.DataFrame:
        """Keep at most `max_similar` of the keyed pairs with a split (lowest pair_id first) per
        conversation type and key; the pairs dropped per conversation type (those with any)."""
        self.conn.execute(
            f"CREATE OR REPLACE TEMP TABLE {self.kept} AS SELECT pair_id, as_of, split, "
            "conversation_type, row_number() OVER "
            "(PARTITION BY conversation_type, key_a, key_b ORDER BY pair_id) AS nth "
            f"FROM {self.keys} WHERE split IS NOT NULL"
        )
        self.conn.execute(f"DROP TABLE {self.keys}")
        dropped = self.conn.sql(
            f"SELECT conversation_type, count(*)::BIGINT AS dropped FROM {self.kept} "
            "WHERE nth > $max GROUP BY ALL ORDER BY ALL",
            params={"max": max_similar},
        ).pl()
        self.conn.execute(f"DELETE FROM {self.kept} WHERE nth > $max", {"max": max_similar})
        return dropped

    def kept_dates(self) -> pl.DataFrame:
        """Pairs kept by the cap per as-of date and split, by date."""
        return self.conn.sql(
            f"SELECT as_of, split, count(*)::BIGINT AS pairs FROM {self.kept} "
            "GROUP BY ALL ORDER BY ALL"
        ).pl()

    def kept_rows(self, first: dt.date, last: dt.date) -> pl.DataFrame:
        """Every column of the kept pairs with as_of in [first, last], and their split."""
        return self.conn.sql(
            "SELECT r.*, k.split FROM reviewed_pairs AS r JOIN "
            f"(SELECT pair_id, split FROM {self.kept} WHERE as_of BETWEEN $first AND $last) AS k "
            "ON r.pair_id = k.pair_id "
            "WHERE r.rules_hash = $hash AND r.as_of BETWEEN $first AND $last",
            params={"hash": self.rules_hash, "first": first, "last": last},
        ).pl()


@contextmanager
def stored_pairs(
    conn: duckdb.DuckDBPyConnection, rules_hash: str, memory_mib: int | None = None
) -> Iterator[StoredPairs]:
    """The pairs of `rules_hash` in the store `conn` as a PairSource; its temporary tables are
    dropped on exit. With `memory_mib`, the export's budget, DuckDB keeps within half of it
    (at least DUCKDB_FLOOR_MIB) until then, the export's chunks taking the other half."""
    pairs = StoredPairs(conn, rules_hash, uuid.uuid4().hex)
    [(limit,)] = conn.sql("SELECT current_setting('memory_limit')").fetchall()
    if memory_mib is not None:
        conn.execute(f"SET memory_limit = '{max(int(memory_mib) // 2, DUCKDB_FLOOR_MIB)}MiB'")
    conn.execute(
        f"CREATE TEMP TABLE {pairs.keys} (pair_id VARCHAR, as_of DATE, "
        "conversation_type VARCHAR, split VARCHAR, key_a UBIGINT, key_b UBIGINT)"
    )
    try:
        yield pairs
    finally:
        conn.execute(f"DROP TABLE IF EXISTS {pairs.keys}")
        conn.execute(f"DROP TABLE IF EXISTS {pairs.kept}")
        conn.execute(f"SET memory_limit = '{limit}'")


@contextmanager
def frame_pairs(pairs: pl.DataFrame) -> Iterator[StoredPairs]:
    """`pairs` (rows as the reviewed_pairs view gives them, of one rules version) as a
    PairSource, through an in-memory DuckDB: for benchmarks and tests that build pairs in code."""
    hashes = pairs["rules_hash"].unique().to_list()
    if len(hashes) != 1:
        raise ValueError(f"pairs of one rules version expected, not of {len(hashes)}")
    with duckdb.connect() as conn:
        conn.register("reviewed_pairs", pairs)
        with stored_pairs(conn, hashes[0]) as source:
            yield source
