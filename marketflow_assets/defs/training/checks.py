"""Checks on stored snapshots and pairs: unique keys, and the lint of every rendered pair."""

import dagster as dg

from marketflow_assets.defs.area import AreaContext
from marketflow_assets.defs.keys import unique_keys_check
from marketflow_assets.defs.resources import StoreResource
from marketflow_assets.defs.run_window import RunWindow
from marketflow_assets.defs.training.assets import frames_budget
from marketflow_assets.progress import Progress
from marketflow_assets.store.reads import count_window, read_window
from marketflow_assets.training.counts import LintFindings
from marketflow_assets.training.lint import FIELDS, PAIR_KEYS, lint_pairs

# Memory the frames of one snapshot row of a chunk take in this process while its pairs (every
# text) and its snapshot are read and linted, measured on 500 x 2,520 with room to spare.
LINT_ROW_BYTES = 24 << 10


def build_checks(area: AreaContext) -> list[dg.AssetChecksDefinition]:
    """The checks on `analysis_snapshots` and `training_pairs`."""

    @area.session_check(asset="training_pairs")
    def template_lint(
        context: dg.AssetCheckExecutionContext, store: StoreResource
    ) -> dg.AssetCheckResult:
        """Every stored pair reads as plain English with no template artefact, and every number
        or date it writes can be found in its snapshot."""
        window = RunWindow.of(context, area.first_session)
        budget, found = area.settings.memory_mib, LintFindings()
        with store.get_connection() as conn:
            frames_mib = frames_budget(conn, budget)
            rows = count_window(conn, "snapshots", window.start, window.end)
            progress = Progress("lint", len(window.sessions))
            for chunk in window.chunks(rows, LINT_ROW_BYTES, frames_mib):
                pairs = read_window(
                    conn, "training_pairs", chunk.start, chunk.end, columns=(*PAIR_KEYS, *FIELDS)
                )
                snapshots = read_window(
                    conn, "snapshots", chunk.start, chunk.end, columns=("snapshot_id", "payload")
                )
                found.add(pairs.height, lint_pairs(pairs, snapshots))
                context.log.info(progress.step(len(chunk.sessions), pairs.height))
        return dg.AssetCheckResult(passed=found.problems == 0, metadata=found.metadata())

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
