"""Checks on stored outcomes and calibration: no key twice in a window."""

import dagster as dg

from marketflow_assets.defs.area import AreaContext
from marketflow_assets.defs.keys import unique_keys_check


def build_checks(area: AreaContext) -> list[dg.AssetChecksDefinition]:
    """The checks on `signal_outcomes` and `signal_calibration`."""
    return [
        unique_keys_check(
            area, "outcomes_unique_keys", "signal_outcomes", {"outcomes": ("ticker", "date")}
        ),
        unique_keys_check(
            area,
            "calibration_unique_keys",
            "signal_calibration",
            {"calibration": ("date", "signal"), "rule_flags": ("date", "rule_id")},
        ),
    ]
