"""Human review of training pairs: list and show them, then approve, reject or edit each one.

Every action appends one row to the `reviews` log and never changes another, so a pair's history
is kept, and re-materialising the pairs (an unchanged pair keeps its id) never loses a review.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import duckdb
import polars as pl

from marketflow_assets.store.lake import insert_checked, lake_of
from marketflow_assets.training.templates import CONVERSATION_TYPES

REVIEW_STATUSES = ("pending", "approved", "rejected", "edited")
MIN_PREFIX = 8
LIST_COLUMNS = (
    "pair_id",
    "ticker",
    "as_of",
    "conversation_type",
    "signal",
    "strength",
    "confidence",
    "review_status",
    "reviewer",
    "reviewed_at",
)
_HEX = re.compile(r"[0-9a-f]+")


class ReviewError(ValueError):
    """A review names no pair or several, or lacks what its action needs."""


def list_pairs(
    conn: duckdb.DuckDBPyConnection,
    *,
    status: str | None = None,
    conversation_type: str | None = None,
    ticker: str | None = None,
    limit: int = 50,
) -> pl.DataFrame:
    """Pairs with their review state, newest as-of first, filtered; a page to pick from."""
    where, params = [], {"limit": limit}
    if status is not None:
        _check_choice("status", status, REVIEW_STATUSES)
        where.append("review_status = $status")
        params["status"] = status
    if conversation_type is not None:
        _check_choice("conversation type", conversation_type, CONVERSATION_TYPES)
        where.append("conversation_type = $conversation_type")
        params["conversation_type"] = conversation_type
    if ticker is not None:
        where.append("ticker = upper($ticker)")
        params["ticker"] = ticker.strip()
    if limit < 1:
        raise ReviewError(f"limit must be at least 1, not {limit}")
    condition = f"WHERE {' AND '.join(where)} " if where else ""
    return conn.sql(
        f"SELECT {', '.join(LIST_COLUMNS)} FROM reviewed_pairs {condition}"
        "ORDER BY as_of DESC, ticker, conversation_type, pair_id LIMIT $limit",
        params=params,
    ).pl()


def get_pair(conn: duckdb.DuckDBPyConnection, pair_id: str) -> dict[str, Any]:
    """One pair's full row with its review state, and `history`: its reviews, oldest first."""
    full_id = resolve_pair_id(conn, pair_id)
    pair = conn.sql(
        "SELECT * FROM reviewed_pairs WHERE pair_id = $id ORDER BY as_of DESC LIMIT 1",
        params={"id": full_id},
    ).pl()
    history = conn.sql(
        "SELECT review_id, status, reason, edited_response, reviewer, reviewed_at FROM reviews "
        "WHERE pair_id = $id ORDER BY review_id",
        params={"id": full_id},
    ).pl()
    return {**pair.row(0, named=True), "history": history.to_dicts()}


def current_response(conn: duckdb.DuckDBPyConnection, pair_id: str) -> str:
    """The response a pair would be trained on: its latest edit, else the rendered one."""
    return _current_response(conn, resolve_pair_id(conn, pair_id))


def approve(conn: duckdb.DuckDBPyConnection, pair_id: str, *, reviewer: str) -> str:
    """Approve a pair (with its latest edit, if any); returns its full id."""
    full_id = resolve_pair_id(conn, pair_id)
    _append(conn, full_id, "approved", reviewer)
    return full_id


def reject(conn: duckdb.DuckDBPyConnection, pair_id: str, *, reason: str, reviewer: str) -> str:
    """Reject a pair, saying why, so exports of approved pairs leave it out; returns its id."""
    full_id = resolve_pair_id(conn, pair_id)
    if not reason.strip():
        raise ReviewError(f"rejecting pair {full_id} needs a reason")
    _append(conn, full_id, "rejected", reviewer, reason=reason.strip())
    return full_id


def edit(conn: duckdb.DuckDBPyConnection, pair_id: str, response: str, *, reviewer: str) -> str:
    """Record a corrected response (surrounding whitespace trimmed) in the log, leaving the
    rendered one in training_pairs; returns the pair's full id."""
    full_id = resolve_pair_id(conn, pair_id)
    corrected = response.strip()
    if not corrected:
        raise ReviewError(f"the corrected response for pair {full_id} is empty; nothing written")
    if corrected == _current_response(conn, full_id).strip():
        raise ReviewError(f"the response of pair {full_id} is unchanged; nothing written")
    _append(conn, full_id, "edited", reviewer, edited_response=corrected)
    return full_id


def resolve_pair_id(conn: duckdb.DuckDBPyConnection, pair_id: str) -> str:
    """The full id of the one stored pair whose id is or starts with `pair_id` (8+ hex chars)."""
    prefix = pair_id.strip().lower()
    if len(prefix) < MIN_PREFIX or not _HEX.fullmatch(prefix):
        raise ReviewError(
            f"{pair_id!r} is not a pair id: give the id or its first {MIN_PREFIX}+ hex characters"
        )
    matches = [
        found
        for (found,) in conn.execute(
            "SELECT DISTINCT pair_id FROM training_pairs WHERE starts_with(pair_id, ?) "
            "ORDER BY pair_id LIMIT 4",
            [prefix],
        ).fetchall()
    ]
    if not matches:
        raise ReviewError(f"no training pair has the id {pair_id!r}")
    if len(matches) > 1:
        shown = ", ".join(matches[:3]) + (", ..." if len(matches) > 3 else "")
        raise ReviewError(f"pair id {pair_id!r} is ambiguous: it starts {shown}; give more of it")
    return matches[0]


def _append(
    conn: duckdb.DuckDBPyConnection,
    pair_id: str,
    status: str,
    reviewer: str,
    *,
    reason: str | None = None,
    edited_response: str | None = None,
) -> None:
    if not reviewer.strip():
        raise ReviewError("a review needs a reviewer")
    # reviewed_at is a TIMESTAMP without time zone holding UTC.
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    values = [pair_id, status, reason, edited_response, reviewer.strip(), now]
    columns = "pair_id, status, reason, edited_response, reviewer, reviewed_at"
    lake = lake_of(conn)
    if lake is None:
        conn.execute(f"INSERT INTO reviews ({columns}) VALUES (?, ?, ?, ?, ?, ?)", values)
        return
    # A lake has no sequence shared between connections: the next id follows the lake's last.
    insert = (
        f"INSERT INTO {{table}} (review_id, {columns}) "
        "SELECT (SELECT coalesce(max(review_id), 0) + 1 FROM reviews), ?, ?, ?, ?, ?, ?"
    )
    insert_checked(conn, lake, "reviews", insert, values)


def _current_response(conn: duckdb.DuckDBPyConnection, full_id: str) -> str:
    # fetchall, not fetchone: duckdb 2.0 refuses conn.sql() while a result is partly fetched.
    ((response,),) = conn.execute(
        "SELECT coalesce(edited_response, response) FROM reviewed_pairs WHERE pair_id = ? LIMIT 1",
        [full_id],
    ).fetchall()
    return response


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ReviewError(f"{name} {value!r} is not one of {', '.join(choices)}")
