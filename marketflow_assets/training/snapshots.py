"""Immutable analysis snapshots: what the engine saw for (ticker, as-of date), frozen as JSON.

A snapshot holds the features, events, levels, weekly view and signal of one session, rounded
to the precision a reader would quote, with `schema_version` so that older snapshots can be
migrated when loaded. Built for all rows at once with Polars (one JSON encode per column).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import polars as pl

SCHEMA_VERSION = 2

PRICE_DIGITS = 2
RATIO_DIGITS = 3

SNAPSHOT_COLUMNS = (
    "snapshot_id",
    "ticker",
    "as_of",
    "schema_version",
    "rules_version",
    "rules_hash",
    "signal",
    "strength",
    "confidence",
    "market_condition",
    "events",
    "payload",
)


def snapshot_id(ticker: str, as_of: str, rules_hash: str) -> str:
    """The id of a snapshot: sha256 of its ticker, as-of date and rules hash."""
    return hashlib.sha256(f"{ticker}|{as_of}|{rules_hash}".encode()).hexdigest()


def build_snapshots(
    features: pl.DataFrame, events: pl.DataFrame, signals: pl.DataFrame
) -> pl.DataFrame:
    """One snapshot per (ticker, date) of `signals`: its features, the events visible that day
    (confirmed on it) and the signal, as JSON plus extracted columns for querying."""
    visible = (
        events.select(
            "ticker",
            pl.col("confirmed_at").alias("date"),
            pl.struct(
                pl.col("rule_id").cast(pl.String).alias("rule"),
                pl.col("direction").cast(pl.String),
                pl.col("confidence").round(RATIO_DIGITS),
                pl.col("date").cast(pl.String).alias("bar_date"),
            ).alias("event"),
        )
        .sort("ticker", "date", "event")
        .group_by("ticker", "date", maintain_order=True)
        .agg(pl.col("event").alias("events"))
    )
    frame = (
        signals.join(features, on=["ticker", "date"], how="left", suffix="_feature")
        .join(visible, on=["ticker", "date"], how="left")
        .with_columns(pl.col("events").fill_null([]))
    )
    price = lambda c: pl.col(c).round(PRICE_DIGITS)  # noqa: E731
    ratio = lambda c: pl.col(c).round(RATIO_DIGITS)  # noqa: E731
    word = lambda c: pl.col(c).cast(pl.String)  # noqa: E731
    payload = pl.struct(
        pl.lit(SCHEMA_VERSION).alias("schema_version"),
        "ticker",
        pl.col("date").cast(pl.String).alias("as_of"),
        pl.struct(*(price(c) for c in ("open", "high", "low", "close")), "volume").alias("bar"),
        pl.struct(
            word("volume_class").alias("class"),
            ratio("volume_rel_mean").alias("relative_to_mean"),
            ratio("volume_rel_median").alias("relative_to_median"),
            ratio("volume_z").alias("z_score"),
        ).alias("volume"),
        pl.struct(
            word("spread_class").alias("class"),
            ratio("spread_rel").alias("relative_to_mean"),
            ratio("range_atr").alias("in_atr"),
            price("atr14").alias("atr14"),
        ).alias("spread"),
        pl.struct(
            ratio("body"), ratio("upper_wick"), ratio("lower_wick"), ratio("close_location")
        ).alias("candle"),
        pl.struct(
            word("trend_state").alias("state"),
            ratio("trend_strength").alias("strength"),
            price("sma20"),
            price("sma50"),
        ).alias("trend"),
        pl.struct(
            price("support"),
            pl.col("support_touches"),
            ratio("support_distance_atr"),
            price("resistance"),
            pl.col("resistance_touches"),
            ratio("resistance_distance_atr"),
        ).alias("levels"),
        pl.struct(
            word("weekly_trend").alias("trend"),
            ratio("week_change").alias("change"),
            ratio("weekly_volume_rel").alias("volume_relative"),
            ratio("week_close_location").alias("close_location"),
        ).alias("weekly"),
        "events",
        pl.struct(
            word("signal").alias("type"),
            word("strength"),
            ratio("confidence").alias("raw_confidence"),
            pl.col("reason_codes").alias("reasons"),
        ).alias("signal"),
        pl.struct(
            pl.col("rules_version").alias("version"), pl.col("rules_hash").alias("hash")
        ).alias("rules"),
    )
    return frame.select(
        pl.concat_str("ticker", pl.col("date").cast(pl.String), "rules_hash", separator="|")
        .map_elements(lambda key: hashlib.sha256(key.encode()).hexdigest(), pl.String)
        .alias("snapshot_id"),
        "ticker",
        pl.col("date").alias("as_of"),
        pl.lit(SCHEMA_VERSION).alias("schema_version"),
        "rules_version",
        "rules_hash",
        word("signal"),
        word("strength"),
        "confidence",
        word("trend_state").alias("market_condition"),
        pl.col("events").list.eval(pl.element().struct.field("rule")).alias("events"),
        payload.struct.json_encode().alias("payload"),
    )


def _v1_to_v2(snapshot: dict[str, Any]) -> dict[str, Any]:
    """Version 1 held the signal's confidence as `confidence`; version 2 names it
    `raw_confidence`, beside the calibrated one that issue 5 adds."""
    signal = dict(snapshot["signal"])
    signal["raw_confidence"] = signal.pop("confidence")
    return {**snapshot, "signal": signal, "schema_version": 2}


MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _v1_to_v2}


def load_snapshot(payload: str) -> dict[str, Any]:
    """A stored snapshot as a dict of the current schema, migrating older versions in order."""
    snapshot = json.loads(payload)
    version = snapshot.get("schema_version")
    if not isinstance(version, int) or version > SCHEMA_VERSION or version < 1:
        raise ValueError(f"snapshot has unknown schema_version {version!r}")
    while snapshot["schema_version"] < SCHEMA_VERSION:
        snapshot = MIGRATIONS[snapshot["schema_version"]](snapshot)
    return snapshot
