"""The training area: snapshots of each session and the pairs rendered from them, with checks."""

import dagster as dg

from marketflow_assets.defs.area import AreaContext
from marketflow_assets.defs.training.assets import build_assets
from marketflow_assets.defs.training.checks import build_checks


def build_defs(area: AreaContext) -> dg.Definitions:
    """The area's definitions for `area`'s settings."""
    return dg.Definitions(assets=build_assets(area), asset_checks=build_checks(area))
