"""The exports area: `training_dataset` and the job that runs it with its run config."""

import dagster as dg

from marketflow_assets.defs.area import AreaContext
from marketflow_assets.defs.exports.assets import build_assets

EXPORT_JOB = "export_training_dataset"


def build_defs(area: AreaContext) -> dg.Definitions:
    """The area's definitions for `area`'s settings."""
    export = dg.define_asset_job(
        EXPORT_JOB,
        selection=dg.AssetSelection.assets("training_dataset"),
        description="Write the training-ready export configured in the run config (name, range).",
    )
    return dg.Definitions(assets=build_assets(area), jobs=[export])
