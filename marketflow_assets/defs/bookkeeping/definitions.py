"""The bookkeeping area: the sensor that marks the sessions of a failed range run failed."""

import dagster as dg

from marketflow_assets.defs.area import AreaContext
from marketflow_assets.runs.failures import mark_failed_partitions


def build_defs(area: AreaContext) -> dg.Definitions:
    """The failure sensor; it needs nothing of `area`."""

    @dg.run_failure_sensor(
        name="failed_sessions_sensor",
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Marks the sessions of a failed range run failed, as Dagster does itself without "
            "the bookkeeping settings that `marketflow ui` and the `marketflow` command set."
        ),
    )
    def failed_sessions_sensor(context: dg.RunFailureSensorContext) -> None:
        marked = mark_failed_partitions(context.instance, context.dagster_run.run_id)
        context.log.info(f"marked {marked} session(s) of run {context.dagster_run.run_id} failed")

    return dg.Definitions(sensors=[failed_sessions_sensor])
