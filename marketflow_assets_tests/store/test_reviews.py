"""Reviews of training pairs: an append-only log that outlives re-materialised pairs."""

import datetime as dt
from collections.abc import Iterator

import duckdb
import polars as pl
import pytest

from marketflow_assets.store import reviews
from marketflow_assets.store.connection import open_store
from marketflow_assets.store.reviews import ReviewError
from marketflow_assets.store.writes import replace_windows
from marketflow_assets.training.ids import sha256_ids
from marketflow_assets.training.pairs import PAIR_COLUMNS
from marketflow_assets_tests.store.conftest import StorePath

START, END = dt.date(2024, 7, 1), dt.date(2024, 7, 3)


def pair_rows(*pairs: tuple[str, dt.date, str, str]) -> pl.DataFrame:
    """training_pairs rows for (ticker, as_of, conversation type, response), ids made as the
    renderer makes them: sha256 of system prompt, prompt and response."""
    frame = pl.DataFrame(
        [
            {
                "snapshot_id": f"snap-{ticker}-{as_of}",
                "ticker": ticker,
                "as_of": as_of,
                "conversation_type": kind,
                "template_name": f"{kind}.j2",
                "template_hash": "t1",
                "schema_version": 2,
                "rules_version": "1.0",
                "rules_hash": "r1",
                "signal": "BUY",
                "strength": "MODERATE",
                "confidence": 0.6,
                "system": "You are a VPA analyst.",
                "prompt": f"{ticker} on {as_of}: what does the volume say?",
                "response": response,
            }
            for ticker, as_of, kind, response in pairs
        ]
    )
    return frame.with_columns(
        sha256_ids(frame, ["system", "prompt", "response"]).alias("pair_id")
    ).select(PAIR_COLUMNS)


def write_pairs(conn: duckdb.DuckDBPyConnection, frame: pl.DataFrame) -> list[str]:
    """Replace the window's pairs as the training_pairs asset does; returns the ids in order."""
    replace_windows(conn, {"training_pairs": frame}, START, END)
    return frame["pair_id"].to_list()


@pytest.fixture
def conn(store_path: StorePath) -> Iterator[duckdb.DuckDBPyConnection]:
    with open_store(store_path) as connection:
        yield connection


def state(conn: duckdb.DuckDBPyConnection, pair_id: str) -> dict:
    return (
        conn.sql(
            "SELECT review_status, review_reason, edited_response, reviewer FROM reviewed_pairs "
            "WHERE pair_id = $id",
            params={"id": pair_id},
        )
        .pl()
        .row(0, named=True)
    )


def test_pairs_are_pending_until_reviewed_and_listed_newest_first(
    conn: duckdb.DuckDBPyConnection,
) -> None:
    old, new, other = write_pairs(
        conn,
        pair_rows(
            ("AAA", START, "vpa_analysis", "Buy: volume confirms."),
            ("AAA", END, "vpa_analysis", "Hold: no demand."),
            ("BBB", END, "risk_assessment", "Stop below support."),
        ),
    )
    reviews.approve(conn, old, reviewer="ana")

    listed = reviews.list_pairs(conn)
    assert listed["pair_id"].to_list() == [new, other, old]
    assert listed["review_status"].to_list() == ["pending", "pending", "approved"]
    assert listed.columns == list(reviews.LIST_COLUMNS)
    assert reviews.list_pairs(conn, status="pending")["pair_id"].to_list() == [new, other]
    assert reviews.list_pairs(conn, ticker="bbb")["pair_id"].to_list() == [other]
    only_risk = reviews.list_pairs(conn, conversation_type="risk_assessment")
    assert only_risk["pair_id"].to_list() == [other]
    assert reviews.list_pairs(conn, limit=1)["pair_id"].to_list() == [new]


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"status": "done"}, "status 'done' is not one of pending, approved"),
        ({"conversation_type": "chat"}, "conversation type 'chat' is not one of vpa_analysis"),
        ({"limit": 0}, "limit must be at least 1"),
    ],
)
def test_bad_list_filters_are_clear_errors(
    conn: duckdb.DuckDBPyConnection, filters: dict, message: str
) -> None:
    with pytest.raises(ReviewError, match=message):
        reviews.list_pairs(conn, **filters)


def test_approve_and_reject_round_trip_through_reviewed_pairs(
    conn: duckdb.DuckDBPyConnection,
) -> None:
    good, bad = write_pairs(
        conn,
        pair_rows(
            ("AAA", START, "vpa_analysis", "Buy: volume confirms."),
            ("BBB", START, "vpa_analysis", "Buy: but volume dried up."),
        ),
    )
    assert reviews.approve(conn, good, reviewer="ana") == good
    assert reviews.reject(conn, bad, reason="  contradicts itself ", reviewer="bo") == bad

    assert state(conn, good) == {
        "review_status": "approved",
        "review_reason": None,
        "edited_response": None,
        "reviewer": "ana",
    }
    assert state(conn, bad) == {
        "review_status": "rejected",
        "review_reason": "contradicts itself",
        "edited_response": None,
        "reviewer": "bo",
    }
    reviewed_at = conn.execute("SELECT reviewed_at FROM reviews WHERE pair_id = ?", [good])
    age = dt.datetime.now(dt.UTC).replace(tzinfo=None) - reviewed_at.fetchone()[0]
    assert dt.timedelta(0) <= age < dt.timedelta(minutes=1)  # stored as UTC


def test_reject_needs_a_reason_and_every_review_a_reviewer(
    conn: duckdb.DuckDBPyConnection,
) -> None:
    (pair_id,) = write_pairs(conn, pair_rows(("AAA", START, "vpa_analysis", "Buy.")))
    with pytest.raises(ReviewError, match=f"rejecting pair {pair_id} needs a reason"):
        reviews.reject(conn, pair_id, reason=" ", reviewer="ana")
    with pytest.raises(ReviewError, match="needs a reviewer"):
        reviews.approve(conn, pair_id, reviewer="")
    assert conn.execute("SELECT count(*) FROM reviews").fetchone()[0] == 0


def test_an_edit_keeps_the_original_and_approval_keeps_the_edit(
    conn: duckdb.DuckDBPyConnection,
) -> None:
    (pair_id,) = write_pairs(conn, pair_rows(("AAA", START, "vpa_analysis", "Buy: weak.")))
    reviews.edit(conn, pair_id, "Buy: volume confirms the breakout.\n", reviewer="ana")

    assert reviews.current_response(conn, pair_id) == "Buy: volume confirms the breakout."
    assert state(conn, pair_id)["review_status"] == "edited"
    assert state(conn, pair_id)["edited_response"] == "Buy: volume confirms the breakout."
    original = conn.execute("SELECT response FROM training_pairs WHERE pair_id = ?", [pair_id])
    assert original.fetchall() == [("Buy: weak.",)]

    reviews.approve(conn, pair_id, reviewer="bo")
    assert state(conn, pair_id) == {
        "review_status": "approved",
        "review_reason": None,
        "edited_response": "Buy: volume confirms the breakout.",
        "reviewer": "bo",
    }
    pair = reviews.get_pair(conn, pair_id)
    assert (pair["prompt"], pair["response"]) == (
        f"AAA on {START}: what does the volume say?",
        "Buy: weak.",
    )
    assert [(r["status"], r["reviewer"], r["edited_response"]) for r in pair["history"]] == [
        ("edited", "ana", "Buy: volume confirms the breakout."),
        ("approved", "bo", None),
    ]


def test_an_empty_or_unchanged_edit_writes_nothing(conn: duckdb.DuckDBPyConnection) -> None:
    (pair_id,) = write_pairs(conn, pair_rows(("AAA", START, "vpa_analysis", "Buy: weak.")))
    with pytest.raises(ReviewError, match="is empty; nothing written"):
        reviews.edit(conn, pair_id, " \n", reviewer="ana")
    with pytest.raises(ReviewError, match="is unchanged; nothing written"):
        reviews.edit(conn, pair_id, "Buy: weak.\n", reviewer="ana")
    reviews.edit(conn, pair_id, "Buy: volume confirms.", reviewer="ana")
    with pytest.raises(ReviewError, match="is unchanged"):  # compared with the latest edit
        reviews.edit(conn, pair_id, "Buy: volume confirms.", reviewer="ana")
    assert conn.execute("SELECT count(*) FROM reviews").fetchone()[0] == 1


def test_a_unique_prefix_names_a_pair(conn: duckdb.DuckDBPyConnection) -> None:
    (pair_id,) = write_pairs(conn, pair_rows(("AAA", START, "vpa_analysis", "Buy.")))
    assert reviews.approve(conn, pair_id[:8].upper(), reviewer="ana") == pair_id
    assert reviews.get_pair(conn, pair_id[:10])["review_status"] == "approved"


def test_unknown_short_and_ambiguous_ids_are_clear_errors(
    conn: duckdb.DuckDBPyConnection,
) -> None:
    frame = pair_rows(
        ("AAA", START, "vpa_analysis", "Buy."), ("BBB", START, "vpa_analysis", "Sell.")
    )
    write_pairs(
        conn, frame.with_columns(pair_id=pl.Series(["abcdef01" + "0" * 56, "abcdef01" + "f" * 56]))
    )

    with pytest.raises(ReviewError, match="no training pair has the id '12345678'"):
        reviews.approve(conn, "12345678", reviewer="ana")
    with pytest.raises(ReviewError, match="'abcdef0' is not a pair id"):
        reviews.get_pair(conn, "abcdef0")
    with pytest.raises(ReviewError, match="'not-hex!!' is not a pair id"):
        reviews.get_pair(conn, "not-hex!!")
    with pytest.raises(ReviewError, match="pair id 'abcdef01' is ambiguous: it starts abcdef0100"):
        reviews.reject(conn, "abcdef01", reason="dup", reviewer="ana")
    assert reviews.get_pair(conn, "abcdef01f")["ticker"] == "BBB"
    assert conn.execute("SELECT count(*) FROM reviews").fetchone()[0] == 0


def test_reviews_survive_rematerialised_pairs_and_a_changed_pair_starts_pending(
    conn: duckdb.DuckDBPyConnection,
) -> None:
    first = pair_rows(
        ("AAA", START, "vpa_analysis", "Buy: volume confirms."),
        ("BBB", START, "vpa_analysis", "Sell: supply."),
    )
    kept, changed = write_pairs(conn, first)
    reviews.approve(conn, kept, reviewer="ana")
    reviews.reject(conn, changed, reason="wrong level", reviewer="ana")

    # The same window rendered again: AAA's text is unchanged, BBB's template was fixed.
    again = pair_rows(
        ("AAA", START, "vpa_analysis", "Buy: volume confirms."),
        ("BBB", START, "vpa_analysis", "Sell: supply at resistance."),
    )
    same, fixed = write_pairs(conn, again)

    assert same == kept
    assert state(conn, kept)["review_status"] == "approved"
    assert fixed != changed
    assert state(conn, fixed)["review_status"] == "pending"
    log = conn.execute("SELECT pair_id, status FROM reviews ORDER BY review_id").fetchall()
    assert log == [(kept, "approved"), (changed, "rejected")]
    with pytest.raises(ReviewError, match="no training pair"):  # gone from training_pairs
        reviews.get_pair(conn, changed)
