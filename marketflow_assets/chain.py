"""The whole chain in memory, as the assets compute it from the store: bars to features,
events and signals, the outcomes of the matured signals, and the calibration they feed back."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from marketflow_assets.calendar import sessions_between
from marketflow_assets.sources.quality import sort_bars
from marketflow_assets.sources.sample import load_sample
from marketflow_assets.training.snapshots import build_snapshots
from marketflow_assets.validation.calibration import calibrate, rule_flags
from marketflow_assets.validation.forward_window import matured_days
from marketflow_assets.validation.outcomes import OUTCOME_SCHEMA, compute_outcomes
from marketflow_assets.vpa import compute_features, compute_signals, detect_events, load_rules
from marketflow_assets.vpa.rules import Rules


@dataclass(frozen=True)
class Chain:
    """Every frame of the chain for one set of bars."""

    bars: pl.DataFrame
    features: pl.DataFrame
    events: pl.DataFrame
    signals: pl.DataFrame
    outcomes: pl.DataFrame
    calibration: pl.DataFrame
    flags: pl.DataFrame

    def snapshots(self, rules: Rules) -> pl.DataFrame:
        """The analysis snapshots of this chain, as the `analysis_snapshots` asset builds them."""
        return build_snapshots(
            self.features, self.events, self.signals, self.calibration, self.flags, rules
        )


def run_chain(bars: pl.DataFrame, rules: Rules | None = None) -> Chain:
    """The chain over `bars`, with outcomes for every session whose window the bars cover."""
    rules = rules or load_rules()
    sessions = sessions_between(bars["date"].min(), bars["date"].max())
    features = compute_features(bars, rules)
    events = detect_events(features, rules)
    signals = compute_signals(features, events, rules)
    matured = matured_days(sessions, sessions, rules.outcomes.window_days)
    scored = signals.filter(pl.col("date").is_in(matured)).join(
        features.select("ticker", "date", "atr14"), on=["ticker", "date"]
    )
    outcomes = (
        compute_outcomes(scored, bars, rules=rules)
        if scored.height
        else pl.DataFrame(schema=OUTCOME_SCHEMA)
    )
    return Chain(
        bars,
        features,
        events,
        signals,
        outcomes,
        calibrate(outcomes, sessions, rules.calibration),
        rule_flags(outcomes, events, sessions, rules.calibration),
    )


def sample_chain(rules: Rules | None = None) -> Chain:
    """The chain over the whole offline sample (524 stocks, one year)."""
    raw = load_sample()
    sessions = sessions_between(raw["date"].min(), raw["date"].max())
    return run_chain(sort_bars(raw, sessions, "sample").bars, rules)
