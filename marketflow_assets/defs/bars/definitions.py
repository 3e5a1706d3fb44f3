"""The market data area: `daily_bars` and its checks."""

import dagster as dg

from marketflow_assets.defs.area import AreaContext
from marketflow_assets.defs.bars.assets import build_assets
from marketflow_assets.defs.bars.checks import build_checks


def build_defs(area: AreaContext) -> dg.Definitions:
    """The area's definitions for `area`'s settings."""
    return dg.Definitions(assets=build_assets(area), asset_checks=build_checks(area))
