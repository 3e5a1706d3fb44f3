"""The validation sensor: score each session once its forward window has complete bars."""

import datetime as dt

import dagster as dg

from marketflow_assets.defs.area import AreaContext
from marketflow_assets.validation.requests import ScoringCursor, plan_scoring

# Run requests per evaluation: a catch-up after a long backfill of bars goes on next tick.
MAX_REQUESTS_PER_TICK = 100


def _materialized(instance: dg.DagsterInstance, asset: str) -> set[dt.date]:
    keys = instance.get_materialized_partitions(dg.AssetKey(asset))
    return {dt.date.fromisoformat(key) for key in keys}


def build_sensors(area: AreaContext, job_name: str) -> list[dg.SensorDefinition]:
    """The sensor that runs the scoring job `job_name` for each newly matured session."""
    window_days = area.rules.outcomes.window_days

    @dg.sensor(
        job_name=job_name,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description=(
            "Requests signal_outcomes for each session whose signals exist and whose window "
            f"(D, D + {window_days} days] has daily_bars for every session; one run per session, "
            "never twice."
        ),
    )
    def outcomes_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        """One run of `signal_outcomes` per newly matured session, with a cursor."""
        plan = plan_scoring(
            [dt.date.fromisoformat(key) for key in area.partitions.get_partition_keys()],
            bars=_materialized(context.instance, "daily_bars"),
            signals=_materialized(context.instance, "vpa_signals"),
            scored=_materialized(context.instance, "signal_outcomes"),
            cursor=ScoringCursor.parse(context.cursor),
            window_days=window_days,
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

    return [outcomes_sensor]
