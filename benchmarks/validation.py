"""Validation benchmark: the sample's outcomes, calibration, rule flags and scorecard.

Run with `python benchmarks/validation.py`; `benchmarks/run.py` calls `bench_validation()` and
records the figures under "validation". Each stage is timed as the best of REPEATS in this one
process. Figures are measurements on the machine that ran them, not test targets.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import TypeVar

import polars as pl

from marketflow_assets.calendar import sessions_between
from marketflow_assets.chain import sample_chain
from marketflow_assets.validation.calibration import calibrate, rule_flags
from marketflow_assets.validation.forward_window import matured_days
from marketflow_assets.validation.outcomes import compute_outcomes
from marketflow_assets.validation.scorecard import build_scorecard
from marketflow_assets.vpa import load_rules

TARGET_OUTCOMES_S = 5.0
REPEATS = 3
T = TypeVar("T")


def best_of(repeats: int, fn: Callable[[], T]) -> tuple[T, float]:
    """`fn()` and the shortest of `repeats` timings."""
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - began)
    return value, min(times)


def bench_validation(repeats: int = REPEATS) -> dict[str, object]:
    """Every matured signal of the sample scored, then calibrated, flagged and summarised."""
    rules = load_rules()
    chain = sample_chain(rules)
    sessions = sessions_between(chain.bars["date"].min(), chain.bars["date"].max())
    matured = matured_days(sessions, sessions, rules.outcomes.window_days)
    signals = chain.signals.filter(pl.col("date").is_in(matured)).join(
        chain.features.select("ticker", "date", "atr14"), on=["ticker", "date"]
    )
    outcomes, outcomes_s = best_of(
        repeats, lambda: compute_outcomes(signals, chain.bars, rules=rules)
    )
    _, calibration_s = best_of(repeats, lambda: calibrate(outcomes, sessions, rules.calibration))
    _, flags_s = best_of(
        repeats, lambda: rule_flags(outcomes, chain.events, sessions, rules.calibration)
    )
    scorecard, scorecard_s = best_of(
        repeats,
        lambda: build_scorecard(
            [chain.signals],
            [outcomes],
            hold_band=rules.outcomes.hold_band,
            ready_min_matured=rules.scorecard.ready_min_matured,
        ),
    )
    return {
        "signals_scored": outcomes.height,
        "matured_sessions": len(matured),
        "outcomes_s": round(outcomes_s, 3),
        "outcomes_per_s": round(outcomes.height / outcomes_s),
        "calibration_s": round(calibration_s, 3),
        "rule_flags_s": round(flags_s, 3),
        "scorecard_s": round(scorecard_s, 3),
        "scorecard_rows": scorecard.height,
        "target": f"outcomes of the whole sample in < {TARGET_OUTCOMES_S:g} s",
        "meets_target": outcomes_s < TARGET_OUTCOMES_S,
    }


if __name__ == "__main__":
    figures = bench_validation()
    print(json.dumps(figures, indent=2))
    sys.exit(0 if figures["meets_target"] else 1)
