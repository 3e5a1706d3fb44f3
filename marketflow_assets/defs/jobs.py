"""The jobs (the evening pipeline, outcome scoring, the scorecard, exports) and the schedule."""

from __future__ import annotations

import dagster as dg

from marketflow_assets.partitions import trading_days

# Asset groups whose assets are partitioned by trading day and run each evening, with the
# calibration of the session (from outcomes matured before it) that its snapshots apply.
DAILY_GROUPS = ("market_data", "vpa", "training")
DAILY_ASSETS = dg.AssetSelection.groups(*DAILY_GROUPS) | dg.AssetSelection.assets(
    "signal_calibration"
)

daily_pipeline = dg.define_asset_job(
    "daily_pipeline",
    selection=DAILY_ASSETS,
    # Deprecated in Dagster 2.0, but without it the schedule built from this job asks for the
    # *next* session on holiday and weekend evenings (checked in the schedule tests).
    partitions_def=trading_days,
    description="Every trading-day partitioned asset, for one session or a single-run range.",
)

evening_schedule = dg.build_schedule_from_partitioned_job(
    daily_pipeline,
    name="daily_pipeline_evening",
    hour_of_day=18,
    minute_of_hour=30,
    description="Each weekday at 18:30 New York time: the session that just closed.",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)

export_job = dg.define_asset_job(
    "export_training_dataset",
    selection=dg.AssetSelection.groups("exports"),
    description="Write the training-ready export configured in the run config (name, range).",
)

score_outcomes_job = dg.define_asset_job(
    "score_outcomes",
    selection=dg.AssetSelection.assets("signal_outcomes"),
    description="Score the signals of sessions whose 30-day window is complete (the sensor's job).",
)

scorecard_job = dg.define_asset_job(
    "scorecard",
    selection=dg.AssetSelection.assets("signal_scorecard"),
    description="Rebuild the scorecard from every matured outcome; writes data/reports/.",
)
