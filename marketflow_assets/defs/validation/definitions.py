"""The validation area: outcomes, calibration and the scorecard, their jobs and the sensor."""

import dagster as dg

from marketflow_assets.defs.area import AreaContext
from marketflow_assets.defs.validation.assets import build_assets
from marketflow_assets.defs.validation.checks import build_checks
from marketflow_assets.defs.validation.sensors import build_sensors

SCORE_OUTCOMES_JOB = "score_outcomes"
SCORECARD_JOB = "scorecard"


def build_defs(area: AreaContext) -> dg.Definitions:
    """The area's definitions for `area`'s settings."""
    window_days = area.rules.outcomes.window_days
    score_outcomes = dg.define_asset_job(
        SCORE_OUTCOMES_JOB,
        selection=dg.AssetSelection.assets("signal_outcomes"),
        description=(
            f"Score the signals of sessions whose {window_days}-day window is complete "
            "(the sensor's job)."
        ),
    )
    scorecard = dg.define_asset_job(
        SCORECARD_JOB,
        selection=dg.AssetSelection.assets("signal_scorecard"),
        description="Rebuild the scorecard from every matured outcome; writes data/reports/.",
    )
    return dg.Definitions(
        assets=build_assets(area),
        asset_checks=build_checks(area),
        jobs=[score_outcomes, scorecard],
        sensors=build_sensors(area, SCORE_OUTCOMES_JOB),
    )
