"""Counts that describe a window of features, events and signals (run metadata, CLI)."""

from __future__ import annotations

import polars as pl

from marketflow_assets.vpa.rules import Rules


def feature_summary(features: pl.DataFrame, rules: Rules) -> dict[str, object]:
    """Rows, tickers, sessions and warm-up rows of a features window, with the rules used."""
    return {
        "rows": features.height,
        "tickers": features["ticker"].n_unique(),
        "sessions": features["date"].n_unique(),
        "warmup_rows": int(features["warmup"].sum()),
        "rules_version": rules.version,
        "rules_hash": rules.hash,
    }


def signal_summary(events: pl.DataFrame, signals: pl.DataFrame, rules: Rules) -> dict[str, object]:
    """Events by rule and signals by type and strength of a window, with the rules used."""
    by_rule = dict(events.group_by("rule_id").len().sort("rule_id").iter_rows())
    by_signal = (
        signals.group_by("signal", "strength")
        .len()
        .sort("signal", "strength")
        .select(pl.format("{} {}", "strength", "signal").str.to_lowercase(), "len")
    )
    return {
        "rows": signals.height,
        "events": events.height,
        "events_by_rule": {rule_id: int(by_rule.get(rule_id, 0)) for rule_id in rules.patterns},
        "signals_by_type_and_strength": dict(by_signal.iter_rows()),
        "rules_version": rules.version,
        "rules_hash": rules.hash,
    }
