"""The single Definitions object: assets, checks, jobs, schedules, sensors and resources."""

from __future__ import annotations

import dagster as dg

from marketflow_assets.defs.bars.assets import daily_bars
from marketflow_assets.defs.bars.checks import bar_sanity, bars_unique_keys
from marketflow_assets.defs.exports.assets import training_dataset
from marketflow_assets.defs.jobs import (
    daily_pipeline,
    evening_schedule,
    export_job,
    score_outcomes_job,
    scorecard_job,
)
from marketflow_assets.defs.resources import resources_from_settings
from marketflow_assets.defs.training.assets import analysis_snapshots, training_pairs
from marketflow_assets.defs.training.checks import (
    pairs_unique_keys,
    snapshots_unique_keys,
    template_lint,
)
from marketflow_assets.defs.validation.assets import (
    signal_calibration,
    signal_outcomes,
    signal_scorecard,
)
from marketflow_assets.defs.validation.checks import calibration_unique_keys, outcomes_unique_keys
from marketflow_assets.defs.validation.sensors import outcomes_sensor
from marketflow_assets.defs.vpa.assets import vpa_features, vpa_signals
from marketflow_assets.defs.vpa.checks import (
    features_unique_keys,
    signals_unique_keys,
    warmup_coverage,
)
from marketflow_assets.settings import Settings


def build_definitions(settings: Settings) -> dg.Definitions:
    """Definitions wired to the given settings (tests pass their own store and source)."""
    return dg.Definitions(
        assets=[
            daily_bars,
            vpa_features,
            vpa_signals,
            analysis_snapshots,
            training_pairs,
            training_dataset,
            signal_outcomes,
            signal_calibration,
            signal_scorecard,
        ],
        asset_checks=[
            bar_sanity,
            bars_unique_keys,
            warmup_coverage,
            features_unique_keys,
            signals_unique_keys,
            snapshots_unique_keys,
            pairs_unique_keys,
            template_lint,
            outcomes_unique_keys,
            calibration_unique_keys,
        ],
        jobs=[daily_pipeline, score_outcomes_job, scorecard_job, export_job],
        schedules=[evening_schedule],
        sensors=[outcomes_sensor],
        resources=resources_from_settings(settings),
    )


defs = build_definitions(Settings.from_env())
