"""The VPA area: features, patterns and signals of each session, and their checks."""

import dagster as dg

from marketflow_assets.defs.area import AreaContext
from marketflow_assets.defs.vpa.assets import build_assets
from marketflow_assets.defs.vpa.checks import build_checks


def build_defs(area: AreaContext) -> dg.Definitions:
    """The area's definitions for `area`'s settings."""
    return dg.Definitions(assets=build_assets(area), asset_checks=build_checks(area))
