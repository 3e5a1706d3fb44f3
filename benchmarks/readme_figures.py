"""README figures: the "## Performance" section of README.md, written from benchmarks/results.json.

`python benchmarks/readme_figures.py` rewrites the text between the figures markers of README.md
in place (nothing else); with `--check` it rewrites nothing, prints a diff and exits 1 when the
README is stale. `make bench` runs it after the benchmarks, `make figures` alone. Every number of
the section comes from results.json; the prose around them lives in TEMPLATE below.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
RESULTS = Path(__file__).with_name("results.json")
START = "<!-- figures:start -->"
END = "<!-- figures:end -->"
WIDTH = 96
# Comparisons stay on one line with the words around them: a line starting with ">" would be
# read as a quotation by Markdown.
COMPARISON = re.compile(r" ([<>]=?) ")
NO_BREAK = "\u00a0"

# One paragraph or bullet per entry; each is filled with `figures()` and wrapped to WIDTH.
TEMPLATE = (
    "Measured by `make bench` on the {cpus}-core development machine on {measured_on} (Python"
    " {python}); the figures are those of `benchmarks/results.json`, and"
    " `benchmarks/readme_figures.py` writes this section from them. The machine is shared, so"
    " figures move by 10-20 % between runs, and a target met on a quiet machine can be missed"
    " under load:",
    "",
    "- **Ingest**: the whole sample ({ingest_bars} rows, {ingest_sessions} sessions) is fetched,"
    " checked and written in {core_s} s of core work ({core_bars_per_s} bars/s); a Dagster run"
    " of `daily_bars` and its checks takes {dagster_run_s} s (target: {ingest_target};"
    " {ingest_met}), most of it Dagster recording one materialisation per session. The whole"
    " staged backfill of the sample (the runs of `make demo` without the export) takes"
    ' {whole_pipeline_run_s} s, much of it Dagster writing the "materialisation planned" events'
    " of each range run.",
    "- **Training** (`benchmarks/training.py`, the whole sample): {snapshots} snapshots built in"
    " {snapshot_s} s; {sessions_with_pairs} sessions get {pairs} pairs, rendered at"
    " {pairs_per_s} pairs/s in one process (target: {training_target}; {training_met}); the lint"
    " of every pair takes {lint_s} s and finds {lint_problems} problems (target: {lint_target};"
    " {lint_met}), and the export {export_s} s ({train_rows} / {validation_rows} / {test_rows}"
    " pairs in train / validation / test after purging {purged} and dropping {near_duplicates}"
    " near-duplicates over the cap).",
    "- **Validation** (`benchmarks/validation.py`, the whole sample): the {signals_scored}"
    " signals of the {matured_sessions} matured sessions are scored in {outcomes_s} s"
    " ({outcomes_per_s} outcomes/s; target: {validation_target}; {validation_met}); the"
    " calibration path takes {calibration_s} s, the rule flags {rule_flags_s} s and the"
    " scorecard ({scorecard_rows} rows) {scorecard_s} s.",
    "- **VPA engine** (`benchmarks/vpa.py`): a synthetic universe of {vpa_tickers} tickers x"
    " {vpa_sessions} sessions ({vpa_bars} bars, with splits) through features, events and"
    " signals: {vpa_bars_per_s} bars/s end to end at the best of {vpa_runs} runs (features"
    " {features_s} s, events {events_s} s, signals {signals_s} s), {vpa_median_bars_per_s} at"
    " the median run; peak memory {peak_rss_gib} GiB (target: {vpa_target}; {vpa_met}). On this"
    " shared machine the target holds on a quiet machine and not under load. TA-Lib computes"
    " ATR(14), OBV and SMA(20) for the same bars in {talib_s} s; the features stage, which"
    " computes some fifty point-in-time columns among which those three, takes"
    " {features_over_talib} times that.",
)


def count(value: int) -> str:
    """`value` with thousands separators, as the README writes counts and rates."""
    return f"{value:,}"


def seconds(value: float) -> str:
    """`value` seconds to the README's precision: whole above 10 s, else two or so digits."""
    if value >= 10:
        return f"{value:,.0f}"
    if value >= 1:
        return f"{value:.1f}"
    return f"{value:.2f}" if value >= 0.1 else f"{value:.3f}"


def met(stage: Mapping[str, Any], key: str = "meets_target") -> str:
    """Whether the recorded run met a stage's target, in words."""
    return "met" if stage[key] else "not met in this run"


def figures(results: Mapping[str, Any]) -> dict[str, str]:
    """Every placeholder of TEMPLATE, formatted from the recorded `results`."""
    ingest, vpa = results["ingest_sample"], results["vpa"]
    training, validation = results["training"], results["validation"]
    core_s = ingest["fetch_s"] + ingest["quality_s"] + ingest["store_write_s"]
    return {
        "cpus": str(results["machine"]["cpus"]),
        "python": results["machine"]["python"],
        "measured_on": results["measured_on"],
        "ingest_bars": count(ingest["bars"]),
        "ingest_sessions": count(ingest["sessions"]),
        "core_s": seconds(core_s),
        "core_bars_per_s": count(ingest["core_bars_per_s"]),
        "dagster_run_s": seconds(ingest["dagster_run_s"]),
        "ingest_target": ingest["target"],
        "ingest_met": met(ingest),
        "whole_pipeline_run_s": seconds(ingest["whole_pipeline_run_s"]),
        "snapshots": count(training["snapshots"]),
        "snapshot_s": seconds(training["snapshot_s"]),
        "sessions_with_pairs": count(training["sessions_with_pairs"]),
        "pairs": count(training["pairs"]),
        "pairs_per_s": count(training["pairs_per_s"]),
        "training_target": training["target"],
        "training_met": met(training),
        "lint_s": seconds(training["lint_s"]),
        "lint_problems": count(training["lint_problems"]),
        "lint_target": training["lint_target"],
        "lint_met": met(training, "lint_meets_target"),
        "export_s": seconds(training["export_s"]),
        "train_rows": count(training["export_rows"]["train"]),
        "validation_rows": count(training["export_rows"]["validation"]),
        "test_rows": count(training["export_rows"]["test"]),
        "purged": count(training["export_purged"]),
        "near_duplicates": count(training["export_near_duplicates_dropped"]),
        "signals_scored": count(validation["signals_scored"]),
        "matured_sessions": count(validation["matured_sessions"]),
        "outcomes_s": seconds(validation["outcomes_s"]),
        "outcomes_per_s": count(validation["outcomes_per_s"]),
        "validation_target": validation["target"],
        "validation_met": met(validation),
        "calibration_s": seconds(validation["calibration_s"]),
        "rule_flags_s": seconds(validation["rule_flags_s"]),
        "scorecard_rows": count(validation["scorecard_rows"]),
        "scorecard_s": seconds(validation["scorecard_s"]),
        "vpa_tickers": count(vpa["tickers"]),
        "vpa_sessions": count(vpa["sessions"]),
        "vpa_bars": count(vpa["bars"]),
        "vpa_bars_per_s": count(vpa["end_to_end"]["bars_per_s"]),
        "vpa_runs": str(vpa["runs"]),
        "features_s": seconds(vpa["features"]["seconds"]),
        "events_s": seconds(vpa["events"]["seconds"]),
        "signals_s": seconds(vpa["signals"]["seconds"]),
        "vpa_median_bars_per_s": count(vpa["end_to_end_median_of_runs"]["bars_per_s"]),
        "peak_rss_gib": f"{vpa['peak_rss_gib']:.1f}",
        "vpa_target": vpa["target"],
        "vpa_met": met(vpa),
        "talib_s": seconds(vpa["talib_atr_obv_sma_s"]),
        "features_over_talib": f"{vpa['features_over_talib']:.0f}",
    }


def scale_blocks(results: Mapping[str, Any]) -> list[str]:
    """A bullet per recorded `make scale` run: end to end, peak, and each run's time."""
    blocks = []
    for name, run in results.get("scale", {}).items():
        stages = "; ".join(
            f"{stage['stage']} {seconds(stage['seconds'])} s"
            + (
                f" ({stage['dagster_share']:.0%} outside the steps' own work)"
                if "dagster_share" in stage
                else ""
            )
            + f", {stage['peak_rss_gib']:.1f} GiB"
            for stage in run["stages"]
        )
        instance = run.get("instance", "sqlite")
        store = " (store: a lake of Delta tables)" if run.get("store") == "lake" else ""
        outcome = "finished" if run["succeeded"] else "failed"
        blocks.append(
            f"- **Scale** (`make scale`, {name.split()[0]}, run history in {instance}{store},"
            f" measured on {run['measured_on']}{', ' + run['note'] if 'note' in run else ''}):"
            f" {count(run['bars'])} bars through `marketflow backfill`"
            f" and an export {outcome} in {seconds(run['end_to_end_s'])} s end to end with a peak"
            f" of {run['peak_rss_gib']:.1f} GiB for the whole process tree (target:"
            f" {run['target']}; {met(run)}). By run: {stages}."
        )
    return blocks


def render(results: Mapping[str, Any]) -> str:
    """The section's body: TEMPLATE filled from `results`, each paragraph and bullet wrapped."""
    values = figures(results)
    lines = []
    for block in [*TEMPLATE, *scale_blocks(results)]:
        text = block.format(**values) if block in TEMPLATE else block
        text = COMPARISON.sub(rf"{NO_BREAK}\1{NO_BREAK}", text)
        indent = "  " if text.startswith("- ") else ""
        wrapped = textwrap.fill(
            text,
            WIDTH,
            subsequent_indent=indent,
            break_long_words=False,
            break_on_hyphens=False,
        )
        lines.append(wrapped.replace(NO_BREAK, " "))
    return "\n".join(lines) + "\n"


def replace_figures(readme: str, body: str) -> str:
    """`readme` with the text between its figures markers replaced by `body`, the rest as is."""
    if readme.count(START) != 1 or readme.count(END) != 1:
        raise ValueError(f"README.md needs exactly one {START} and one {END} line")
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{body}{END}{tail}"


def stale_diff(readme: str, results: Mapping[str, Any]) -> str:
    """A unified diff from `readme` to the README with figures from `results`; empty if current."""
    current = replace_figures(readme, render(results))
    return "".join(
        difflib.unified_diff(
            readme.splitlines(keepends=True),
            current.splitlines(keepends=True),
            "README.md",
            "README.md (figures from benchmarks/results.json)",
        )
    )


def main(argv: Sequence[str] | None = None, readme: Path = README, results: Path = RESULTS) -> int:
    """Rewrite the README's figures, or with --check report (exit 1) whether they are stale."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="change nothing; print a diff and exit 1 if stale"
    )
    args = parser.parse_args(argv)
    text = readme.read_text(encoding="utf-8")
    recorded = json.loads(results.read_text(encoding="utf-8"))
    try:
        diff = stale_diff(text, recorded)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.check:
        if diff:
            print(diff, end="")
            print("README.md's figures are stale: run `make figures`.", file=sys.stderr)
            return 1
        return 0
    if diff:
        readme.write_text(replace_figures(text, render(recorded)), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
