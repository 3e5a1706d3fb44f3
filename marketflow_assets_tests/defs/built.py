"""The assets and checks of the default definitions (partitions from the default start date),
by name, for tests that materialise a few of them with resources of their own."""

from __future__ import annotations

import dagster as dg

from marketflow_assets.definitions import build_definitions
from marketflow_assets.settings import Settings

DEFS = build_definitions(Settings.from_env({}))
_ASSETS = {a.key.path[-1]: a for a in DEFS.assets or [] if isinstance(a, dg.AssetsDefinition)}
_CHECKS = {key.name: c for c in DEFS.asset_checks or [] for key in c.check_keys}

daily_bars = _ASSETS["daily_bars"]
vpa_features = _ASSETS["vpa_features"]
vpa_signals = _ASSETS["vpa_signals"]
analysis_snapshots = _ASSETS["analysis_snapshots"]
training_pairs = _ASSETS["training_pairs"]
training_dataset = _ASSETS["training_dataset"]
signal_outcomes = _ASSETS["signal_outcomes"]
signal_calibration = _ASSETS["signal_calibration"]
signal_scorecard = _ASSETS["signal_scorecard"]

bar_sanity = _CHECKS["bar_sanity"]
bars_unique_keys = _CHECKS["bars_unique_keys"]
warmup_coverage = _CHECKS["warmup_coverage"]
features_unique_keys = _CHECKS["features_unique_keys"]
signals_unique_keys = _CHECKS["signals_unique_keys"]
snapshots_unique_keys = _CHECKS["snapshots_unique_keys"]
pairs_unique_keys = _CHECKS["pairs_unique_keys"]
template_lint = _CHECKS["template_lint"]
outcomes_unique_keys = _CHECKS["outcomes_unique_keys"]
calibration_unique_keys = _CHECKS["calibration_unique_keys"]
