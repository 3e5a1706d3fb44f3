"""Checks on stored outcomes and calibration: no key twice in a window."""

from marketflow_assets.defs.keys import unique_keys_check
from marketflow_assets.defs.validation.assets import signal_calibration, signal_outcomes

outcomes_unique_keys = unique_keys_check(
    "outcomes_unique_keys", signal_outcomes, {"outcomes": ("ticker", "date")}
)
calibration_unique_keys = unique_keys_check(
    "calibration_unique_keys",
    signal_calibration,
    {"calibration": ("date", "signal"), "rule_flags": ("date", "rule_id")},
)
