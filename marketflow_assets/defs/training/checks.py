"""Checks on stored snapshots and pairs: unique keys, and the lint of every rendered pair."""

import dagster as dg
import polars as pl

from marketflow_assets.defs.area import AreaContext
from marketflow_assets.defs.keys import unique_keys_check
from marketflow_assets.defs.resources import StoreResource
from marketflow_assets.defs.run_window import RunWindow
from marketflow_assets.defs.training.assets import PAIR_ROW_BYTES
from marketflow_assets.store.reads import count_window, read_window
from marketflow_assets.training.lint import lint_pairs


def build_checks(area: AreaContext) -> list[dg.AssetChecksDefinition]:
    """The checks on `analysis_snapshots` and `training_pairs`."""

    @area.session_check(asset="training_pairs")
    def template_lint(
        context: dg.AssetCheckExecutionContext, store: StoreResource
    ) -> dg.AssetCheckResult:
        """Every stored pair reads as plain English with no template artefact, and every number
        or date it writes can be found in its snapshot."""
        window = RunWindow.of(context, area.first_session)
        checked, found = 0, []
        with store.get_connection() as conn:
            rows = count_window(conn, "snapshots", window.start, window.end)
            for chunk in window.chunks(rows, PAIR_ROW_BYTES, area.settings.memory_mib):
                pairs = read_window(conn, "training_pairs", chunk.start, chunk.end)
                found.append(
                    lint_pairs(pairs, read_window(conn, "snapshots", chunk.start, chunk.end))
                )
                checked += pairs.height
        problems = pl.concat(found)
        by_problem = problems["problem"].value_counts().sort("problem")
        return dg.AssetCheckResult(
            passed=problems.height == 0,
            metadata={
                "pairs": checked,
                "problems": problems.height,
                "by_problem": dict(zip(by_problem["problem"], by_problem["count"], strict=True)),
                "first_problems": [
                    f"{row['template_name']} {row['field']} of {row['pair_id'][:12]}: "
                    f"{row['problem']} ({row['detail']})"
                    for row in problems.head(10).iter_rows(named=True)
                ],
            },
        )

    return [
        unique_keys_check(
            area, "snapshots_unique_keys", "analysis_snapshots", {"snapshots": ("snapshot_id",)}
        ),
        unique_keys_check(
            area,
            "pairs_unique_keys",
            "training_pairs",
            {"training_pairs": ("pair_id", "rules_hash")},
        ),
        template_lint,
    ]
