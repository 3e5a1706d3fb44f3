"""Snapshot queries for notebooks, and the counts behind `marketflow stats`."""

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest

from marketflow_assets.store import reviews
from marketflow_assets.store.connection import open_store
from marketflow_assets.store.exports import record_export
from marketflow_assets.store.lake import Lake
from marketflow_assets.store.queries import QueryError, query_snapshots, training_stats
from marketflow_assets.store.writes import clear_windows, replace_windows
from marketflow_assets.training.export import ExportSummary
from marketflow_assets.training.splits import SPLITS
from marketflow_assets_tests.store.conftest import StorePath
from marketflow_assets_tests.store.test_reviews import pair_rows

D1, D2, D3 = dt.date(2024, 7, 1), dt.date(2024, 7, 2), dt.date(2024, 7, 3)


def snapshot_rows(*snapshots: tuple[str, dt.date, str, str, float, bool]) -> pl.DataFrame:
    """snapshots rows for (ticker, as_of, signal, strength, confidence, warmup)."""
    return pl.DataFrame(
        [
            {
                "snapshot_id": f"snap-{ticker}-{as_of}",
                "ticker": ticker,
                "as_of": as_of,
                "schema_version": 2,
                "rules_version": "1.0",
                "rules_hash": "r1",
                "warmup": warmup,
                "signal": signal,
                "strength": strength,
                "confidence": confidence,
                "market_condition": "markup",
                "events": ["no_demand"] if signal == "SELL" else [],
                "payload": json.dumps({"ticker": ticker, "signal": {"signal": signal}}),
            }
            for ticker, as_of, signal, strength, confidence, warmup in snapshots
        ]
    )


@pytest.fixture
def store(store_path: StorePath) -> StorePath:
    """Five snapshots over three sessions, one of them in warm-up; the store closed again."""
    snapshots = snapshot_rows(
        ("BBB", D1, "HOLD", "WEAK", 0.0, True),
        ("AAA", D1, "BUY", "STRONG", 0.9, False),
        ("AAA", D2, "SELL", "MODERATE", 0.5, False),
        ("BBB", D2, "BUY", "WEAK", 0.3, False),
        ("AAA", D3, "BUY", "WEAK", 0.5, False),
    )
    with open_store(store_path) as conn:
        replace_windows(conn, {"snapshots": snapshots}, D1, D3)
    return store_path


def keys(frame: pl.DataFrame) -> list[tuple[str, dt.date]]:
    return list(zip(frame["ticker"], frame["as_of"], strict=True))


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, [("AAA", D1), ("BBB", D1), ("AAA", D2), ("BBB", D2), ("AAA", D3)]),
        ({"ticker": "bbb"}, [("BBB", D1), ("BBB", D2)]),
        ({"start": D2, "end": D3}, [("AAA", D2), ("BBB", D2), ("AAA", D3)]),
        ({"start": "2024-07-02", "end": "2024-07-02"}, [("AAA", D2), ("BBB", D2)]),
        ({"end": D1}, [("AAA", D1), ("BBB", D1)]),
        ({"signal": "buy"}, [("AAA", D1), ("BBB", D2), ("AAA", D3)]),
        ({"min_confidence": 0.5}, [("AAA", D1), ("AAA", D2), ("AAA", D3)]),
        ({"ticker": "AAA", "signal": "BUY", "min_confidence": 0.6}, [("AAA", D1)]),
    ],
)
def test_query_snapshots_filters(store: Path, filters: dict, expected: list) -> None:
    with open_store(store, read_only=True) as conn:
        found = query_snapshots(**filters, conn=conn)
    assert keys(found) == expected


def test_query_snapshots_returns_extracted_columns_and_payload(store: Path) -> None:
    with open_store(store, read_only=True) as conn:
        found = query_snapshots("AAA", start=D2, end=D2, conn=conn)
    assert found.columns[:3] == ["snapshot_id", "ticker", "as_of"]
    assert found["events"].to_list() == [["no_demand"]]
    assert json.loads(found["payload"][0]) == {"ticker": "AAA", "signal": {"signal": "SELL"}}


def test_query_snapshots_opens_the_configured_store(
    store: StorePath, monkeypatch: pytest.MonkeyPatch
) -> None:
    if isinstance(store, Lake):
        monkeypatch.setenv("MARKETFLOW_LAKE", str(store.root))
    else:
        monkeypatch.setenv("MARKETFLOW_DUCKDB", str(store))
    assert query_snapshots(signal="SELL")["ticker"].to_list() == ["AAA"]
    # Closed again: the store can be opened for writing.
    with open_store(store) as conn:
        clear_windows(conn, ["snapshots"], D1, D3, "analysis_snapshots")


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"signal": "STRONG BUY"}, "signal 'STRONG BUY' is not one of BUY, SELL, HOLD"),
        ({"min_confidence": 1.5}, r"min_confidence must be within \[0, 1\], not 1.5"),
        ({"start": "July 1st"}, "start 'July 1st' is not a date"),
        ({"start": D3, "end": D1}, "end 2024-07-01 is before start 2024-07-03"),
    ],
)
def test_bad_filters_are_clear_errors(store: Path, filters: dict, message: str) -> None:
    with open_store(store, read_only=True) as conn, pytest.raises(QueryError, match=message):
        query_snapshots(**filters, conn=conn)


def test_training_stats_counts_pairs_exports_and_snapshots(store: Path) -> None:
    pairs = pair_rows(
        ("AAA", D1, "vpa_analysis", "Buy."),
        ("AAA", D1, "risk_assessment", "Stop below 99."),
        ("AAA", D2, "vpa_analysis", "Sell."),
    )
    approved, rejected, _pending = pairs["pair_id"]
    with open_store(store) as conn:
        replace_windows(conn, {"training_pairs": pairs}, D1, D3)
        reviews.approve(conn, approved, reviewer="ana")
        reviews.reject(conn, rejected, reason="vague", reviewer="ana")
        for name, approved_only, rows in (("all", False, (2, 1, 0)), ("approved", True, (1, 0, 0))):
            record_export(conn, export_summary(name, approved_only, rows))
        stats = training_stats(conn)

    assert stats["pairs"] == 3
    assert stats["pairs_by_type"].rows() == [("risk_assessment", 1), ("vpa_analysis", 2)]
    assert stats["pairs_by_status"].rows() == [
        ("pending", 1),
        ("approved", 1),
        ("rejected", 1),
        ("edited", 0),
    ]
    exports = stats["exports"].select("name", "train_rows", "validation_rows", "test_rows")
    assert exports.rows() == [("approved", 1, 0, 0), ("all", 2, 1, 0)]
    assert (stats["snapshots"], stats["warmup_snapshots"]) == (5, 1)
    assert stats["snapshots_by_signal"].rows() == [
        ("BUY", "STRONG", 1),
        ("BUY", "WEAK", 2),
        ("SELL", "MODERATE", 1),
    ]


def export_summary(name: str, only_approved: bool, rows: tuple[int, ...]) -> ExportSummary:
    """The facts of an export named `name` that wrote `rows` (train, validation, test)."""
    return ExportSummary(
        name=name,
        start=None,
        end=None,
        only_approved=only_approved,
        path=Path("exports") / name,
        split="date",
        note=None,
        rows=dict(zip(SPLITS, rows, strict=True)),
        date_ranges={},
        pairs_in=sum(rows),
        purged=0,
        near_duplicates_dropped=0,
        manifest_sha256="x",
        files=(),
    )


def test_training_stats_of_an_empty_store(store_path: StorePath) -> None:
    with open_store(store_path) as conn:
        stats = training_stats(conn)
    assert stats["pairs"] == 0
    assert stats["pairs_by_status"]["pairs"].to_list() == [0, 0, 0, 0]
    assert stats["exports"].is_empty()
    assert stats["snapshots_by_signal"].is_empty()
