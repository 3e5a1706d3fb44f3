"""The validation sensor: score each session once its 30-day window has complete bars."""

import datetime as dt

import dagster as dg

from marketflow_assets.defs.jobs import score_outcomes_job
from marketflow_assets.partitions import trading_days
from marketflow_assets.validation.requests import ScoringCursor, plan_scoring
from marketflow_assets.vpa import load_rules

# Run requests per evaluation: a catch-up after a long backfill of bars goes on next tick.
MAX_REQUESTS_PER_TICK = 100


def _materialized(instance: dg.DagsterInstance, asset: str) -> set[dt.date]:
    keys = instance.get_materialized_partitions(dg.AssetKey(asset))
    return {dt.date.fromisoformat(key) for key in keys}


@dg.sensor(
    job=score_outcomes_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description=(
        "Requests signal_outcomes for each session whose signals exist and whose window "
        "(D, D + 30 days] has daily_bars for every session; one run per session, never twice."
    ),
)
def outcomes_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    """One run of `signal_outcomes` per newly matured session, with a cursor."""
    plan = plan_scoring(
        [dt.date.fromisoformat(key) for key in trading_days.get_partition_keys()],
        bars=_materialized(context.instance, "daily_bars"),
        signals=_materialized(context.instance, "vpa_signals"),
        scored=_materialized(context.instance, "signal_outcomes"),
        cursor=ScoringCursor.parse(context.cursor),
        window_days=load_rules().outcomes.window_days,
        limit=MAX_REQUESTS_PER_TICK,
    )
    if plan.requests:
        context.log.info(f"scoring {len(plan.requests)} session(s) from {plan.requests[0]}")
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(partition_key=day.isoformat(), run_key=f"signal_outcomes:{day}")
            for day in plan.requests
        ],
        cursor=plan.cursor.serialize(),
    )
