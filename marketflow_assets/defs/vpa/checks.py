"""Checks on stored VPA rows: warm-up flags agree with the stored history; keys are unique."""

import dagster as dg

from marketflow_assets.defs.area import AreaContext
from marketflow_assets.defs.keys import unique_keys_check
from marketflow_assets.defs.resources import StoreResource
from marketflow_assets.defs.run_window import RunWindow
from marketflow_assets.store.reads import warmup_mismatches


def build_checks(area: AreaContext) -> list[dg.AssetChecksDefinition]:
    """The checks on `vpa_features` and `vpa_signals`."""

    @area.session_check(asset="vpa_features")
    def warmup_coverage(
        context: dg.AssetCheckExecutionContext, store: StoreResource
    ) -> dg.AssetCheckResult:
        """A row is warm-up exactly when its ticker has fewer stored bars before it than the
        rules ask for; a mismatch means features were computed from a cut history."""
        window = RunWindow.of(context, area.first_session)
        needed = area.rules.features["warmup_bars"]
        with store.get_connection() as conn:
            mismatches = warmup_mismatches(conn, window.start, window.end, needed)
        return dg.AssetCheckResult(
            passed=mismatches.height == 0,
            metadata={
                "mismatches": mismatches.height,
                "first_mismatches": [
                    f"{row['ticker']} {row['date']}: warmup={row['warmup']} "
                    f"with {row['bars_before']} earlier bars"
                    for row in mismatches.head(10).iter_rows(named=True)
                ],
            },
        )

    return [
        warmup_coverage,
        unique_keys_check(
            area, "features_unique_keys", "vpa_features", {"features": ("ticker", "date")}
        ),
        unique_keys_check(
            area,
            "signals_unique_keys",
            "vpa_signals",
            {"signals": ("ticker", "date"), "events": ("ticker", "date", "rule_id")},
        ),
    ]
