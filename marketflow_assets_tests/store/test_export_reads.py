"""The reads of an export: blank texts as Polars sees them, the selection, and the cap kept in
temporary tables that go away with the source."""

import datetime as dt

import duckdb
import polars as pl
import pytest

from marketflow_assets.store.export_reads import NON_BLANK, frame_pairs, stored_pairs
from marketflow_assets.training.export_source import Selection

DAY = dt.date(2024, 7, 1)
ALL = Selection(None, None, ("pending", "approved", "edited"))


def test_non_blank_is_polars_non_space_for_every_character() -> None:
    """DuckDB's RE2 class and Polars' `\\S` agree on each of the 1,112,064 code points."""
    points = [p for p in range(0x110000) if not 0xD800 <= p <= 0xDFFF]
    texts = pl.DataFrame({"text": [chr(p) for p in points]})
    polars = texts.select(pl.col("text").str.contains(r"\S"))["text"]
    duck = duckdb.sql(
        "SELECT regexp_matches(text, $re) AS m FROM texts", params={"re": NON_BLANK}
    ).pl()["m"]
    assert polars.len() == duck.len() == 1_112_064
    assert (polars == duck).all()
    assert (~polars).sum() == 25  # Unicode's White_Space characters


def pairs(**texts: list[str | None]) -> pl.DataFrame:
    """Pending pairs of one day and rules version with the given texts (same length each)."""
    count = len(next(iter(texts.values())))
    columns = {"system": ["You analyse volume."] * count, "prompt": ["Why?"] * count}
    columns |= {"response": ["Because."] * count, **texts}
    return pl.DataFrame(
        {
            "pair_id": [f"p{i}" for i in range(count)],
            "ticker": [f"T{i}" for i in range(count)],
            "as_of": [DAY] * count,
            "conversation_type": ["vpa_analysis"] * count,
            "rules_hash": ["r1"] * count,
            "review_status": ["pending"] * count,
            "edited_response": [None] * count,
            **columns,
        },
        schema_overrides={"edited_response": pl.String},
    )


def test_texts_flag_a_blank_system_prompt_or_response() -> None:
    frame = pairs(prompt=["Why?", "\u00a0\u3000 ", "\u200b", None, "Why?"])
    frame = frame.with_columns(
        response=pl.Series(["Because.", "Because.", "Because.", "Because.", "\t\n"])
    )
    with frame_pairs(frame) as source:
        texts = source.texts(ALL, DAY, DAY).sort("pair_id")
    # A zero-width space is no White_Space: "\u200b" is text.
    assert texts["blank"].to_list() == [False, True, False, True, True]


def test_the_cap_keeps_the_lowest_ids_per_type_and_key_and_forgets_its_tables() -> None:
    frame = pairs(response=["Same."] * 5)
    conn = duckdb.connect()
    conn.register("reviewed_pairs", frame)
    with stored_pairs(conn, "r1") as source:
        keys = frame.select(
            "pair_id",
            "as_of",
            "conversation_type",
            pl.lit("train").alias("split"),
            pl.lit(7, pl.UInt64).alias("key_a"),
            pl.Series("key_b", [1, 1, 1, 2, 1], pl.UInt64),
        )
        source.add_keys(keys)
        dropped = source.cap(2)
        kept = source.kept_rows(DAY, DAY).sort("pair_id")
        tables = conn.sql("SELECT table_name FROM duckdb_tables()").fetchall()
    assert [name.startswith("export_kept_") for (name,) in tables] == [True]
    assert dropped.rows() == [("vpa_analysis", 2)]
    assert kept["pair_id"].to_list() == ["p0", "p1", "p3"]
    assert kept["split"].to_list() == ["train"] * 3
    assert set(frame.columns) < set(kept.columns)
    assert conn.sql("SELECT table_name FROM duckdb_tables()").fetchall() == []


def test_pairs_of_several_rules_versions_are_refused() -> None:
    frame = pairs(response=["A.", "B."]).with_columns(rules_hash=pl.Series(["r1", "r2"]))
    with pytest.raises(ValueError, match="of one rules version"), frame_pairs(frame):
        pass


def test_duckdb_keeps_within_half_the_budget_while_the_source_is_open() -> None:
    conn = duckdb.connect()
    conn.execute("SET memory_limit = '3GiB'")
    conn.register("reviewed_pairs", pairs(response=["A."]))

    def limit() -> str:
        return conn.sql("SELECT current_setting('memory_limit')").fetchall()[0][0]

    before = limit()
    with stored_pairs(conn, "r1", memory_mib=2048):
        assert limit() == "1.0 GiB"
    assert limit() == before
    with stored_pairs(conn, "r1", memory_mib=1):
        assert limit() == "256.0 MiB"
    assert limit() == before
