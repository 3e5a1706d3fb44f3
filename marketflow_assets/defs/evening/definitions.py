"""The evening area: the job of every asset tagged for the evening, and its schedule."""

import dagster as dg

from marketflow_assets.defs.area import EVENING_TAG, AreaContext

DAILY_PIPELINE_JOB = "daily_pipeline"


def build_defs(area: AreaContext) -> dg.Definitions:
    """The evening job over `area`'s partitions and the schedule that runs it."""
    daily_pipeline = dg.define_asset_job(
        DAILY_PIPELINE_JOB,
        selection=dg.AssetSelection.tag(*EVENING_TAG),
        # Deprecated in Dagster 2.0, but without it the schedule built from this job asks for
        # the *next* session on holiday and weekend evenings (checked in the schedule tests).
        partitions_def=area.partitions,
        description="Every asset tagged for the evening, for one session or a single-run range.",
    )
    evening = dg.build_schedule_from_partitioned_job(
        daily_pipeline,
        name="daily_pipeline_evening",
        hour_of_day=18,
        minute_of_hour=30,
        description="Each weekday at 18:30 New York time: the session that just closed.",
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )
    return dg.Definitions(jobs=[daily_pipeline], schedules=[evening])
