"""The `marketflow` command: demo, backfill, status, scorecard, export, review, stats, a Celery
worker for backfill runs, and Dagster's own UI and commands on the project's instance."""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Sequence

import dagster as dg
from rich.markup import escape

from marketflow_assets.cli.output import console
from marketflow_assets.cli.pipeline import (
    cmd_backfill,
    cmd_demo,
    cmd_export,
    cmd_scorecard,
    cmd_status,
    cmd_worker,
)
from marketflow_assets.cli.review import add_review_parser, cmd_review, cmd_stats
from marketflow_assets.cli.scorecard import BREAKDOWNS
from marketflow_assets.cli.ui import cmd_dagster, cmd_ui
from marketflow_assets.runs.instance import InstanceError, instance_server
from marketflow_assets.runs.plan import RangeError
from marketflow_assets.runs.workers import WorkersError
from marketflow_assets.settings import Settings, SettingsError
from marketflow_assets.sources import SourceError
from marketflow_assets.store.connection import StoreBusyError
from marketflow_assets.store.reviews import ReviewError
from marketflow_assets.training.export import SPLIT_MODES, ExportError


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from exc


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="marketflow", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="materialise the whole sample in one run, then summarise")
    backfill = commands.add_parser(
        "backfill",
        help="materialise a session range: bars to signals, the outcomes now matured, then "
        "calibration, snapshots and pairs (one run each)",
    )
    backfill.add_argument("--start", type=_date, required=True, help="first date (YYYY-MM-DD)")
    backfill.add_argument("--end", type=_date, required=True, help="last date (YYYY-MM-DD)")
    backfill.add_argument(
        "--select", help="comma-separated asset names (default: all daily assets)"
    )
    backfill.add_argument(
        "--workers",
        type=_positive,
        help="split each stage's range into N runs on the Celery workers "
        "(MARKETFLOW_CELERY_BROKER; default: as many as answer)",
    )
    worker = commands.add_parser(
        "worker",
        help="a Celery worker that runs the backfill runs sent to MARKETFLOW_CELERY_BROKER",
    )
    worker.add_argument("--name", help="the worker's name (default: dagster-<random>)")
    commands.add_parser("status", help="what the store holds and the last run")
    scorecard = commands.add_parser(
        "scorecard", help="rebuild the scorecard of every matured signal and print it"
    )
    scorecard.add_argument(
        "--by", choices=tuple(BREAKDOWNS), default="strength", help="split each signal type by"
    )
    export = commands.add_parser(
        "export", help="write training pairs as a dataset under data/exports/NAME/"
    )
    export.add_argument("--name", required=True, help="folder name (letters, digits, . _ -)")
    export.add_argument("--start", type=_date, help="first as-of date (default: all)")
    export.add_argument("--end", type=_date, help="last as-of date (default: all)")
    export.add_argument(
        "--only-approved", action="store_true", help="only approved (or edited) pairs"
    )
    export.add_argument(
        "--split",
        choices=SPLIT_MODES,
        default="auto",
        help="time: train/validation/test by as-of date with purge gaps; none: one train split; "
        "auto (default): time when the dates span enough sessions, else one split, said so",
    )
    export.add_argument(
        "--max-similar",
        type=int,
        help="pairs kept per wording of a conversation type (default: exports.max_similar "
        "of rules.yaml)",
    )
    add_review_parser(commands)
    commands.add_parser(
        "stats", help="training pairs by type and review status, exports, snapshots"
    )
    ui = commands.add_parser(
        "ui", help="the Dagster UI (webserver and daemon) on the project's instance"
    )
    ui.add_argument("--port", type=int, default=3000, help="port on 127.0.0.1 (default 3000)")
    dagster = commands.add_parser(
        "dagster", help="any `dagster` command on the project's instance (e.g. asset materialize)"
    )
    dagster.add_argument("arguments", nargs=argparse.REMAINDER, help="dagster's arguments")
    return parser


COMMANDS = {
    "demo": cmd_demo,
    "backfill": cmd_backfill,
    "status": cmd_status,
    "scorecard": cmd_scorecard,
    "export": cmd_export,
    "review": cmd_review,
    "stats": cmd_stats,
    "ui": cmd_ui,
    "dagster": cmd_dagster,
    "worker": cmd_worker,
}
# Commands that read or write Dagster's run history, and so need its server when it has one.
INSTANCE_COMMANDS = frozenset(
    {"demo", "backfill", "status", "scorecard", "export", "ui", "dagster", "worker"}
)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        if args.command not in INSTANCE_COMMANDS:
            return COMMANDS[args.command](settings, args)
        with instance_server(settings):
            return COMMANDS[args.command](settings, args)
    except (
        SettingsError,
        SourceError,
        RangeError,
        StoreBusyError,
        FileNotFoundError,
        ReviewError,
        ExportError,
        dg.DagsterInvalidSubsetError,
        InstanceError,
        WorkersError,
    ) as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}")
        return 2
