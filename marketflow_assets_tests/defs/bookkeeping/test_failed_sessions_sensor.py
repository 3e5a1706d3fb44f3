"""The failure sensor marks a failed range run's sessions failed, as the daemon would run it."""

import dagster as dg

from marketflow_assets.definitions import definitions_for
from marketflow_assets.defs.area import AreaContext
from marketflow_assets.settings import Settings
from marketflow_assets_tests.runs.ranged import JOB, RANGE, RANGE_KEYS, ranged_defs, statuses


def test_the_sensor_marks_the_sessions_of_a_failed_run(
    instance: dg.DagsterInstance, settings: Settings
) -> None:
    result = (
        ranged_defs(fail=True)
        .resolve_job_def(JOB)
        .execute_in_process(instance=instance, tags=RANGE, raise_on_error=False)
    )
    assert statuses(instance, "first") == {}
    sensor = definitions_for(AreaContext.from_settings(settings)).resolve_sensor_def(
        "failed_sessions_sensor"
    )
    failure = instance.get_records_for_run(
        result.run_id, of_type=dg.DagsterEventType.PIPELINE_FAILURE
    ).records[0]
    context = dg.build_run_status_sensor_context(
        sensor_name=sensor.name,
        dagster_instance=instance,
        dagster_run=instance.get_run_by_id(result.run_id),
        dagster_event=failure.event_log_entry.dagster_event,
    ).for_run_failure()
    sensor(context)
    assert statuses(instance, "first") == dict.fromkeys(RANGE_KEYS, "FAILED")
