"""`marketflow review ...` and `marketflow stats`: people vouching for training pairs."""

from __future__ import annotations

import argparse
import getpass
import os
import shlex
import subprocess
import tempfile
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from marketflow_assets.cli.output import compact_table, console, count_table, fits
from marketflow_assets.settings import Settings
from marketflow_assets.store import reviews
from marketflow_assets.store.connection import open_store, store_exists
from marketflow_assets.store.queries import training_stats
from marketflow_assets.store.reviews import REVIEW_STATUSES, ReviewError
from marketflow_assets.training.templates import CONVERSATION_TYPES

# Characters of a pair id shown in lists, and of a reason or edit shown in a review history.
SHORT_ID = 12
NOTE_WIDTH = 60
# The counts of an export, by column of `exports`, and their headers.
EXPORT_COUNTS = {
    "pairs": "pairs",
    "train_rows": "train",
    "validation_rows": "validation",
    "test_rows": "test",
    "near_duplicates_dropped": "near-duplicates dropped",
}


def cmd_review(settings: Settings, args: argparse.Namespace) -> int:
    return REVIEW_COMMANDS[args.review_command](settings, args)


def review_list(settings: Settings, args: argparse.Namespace) -> int:
    with open_store(settings.store_location, read_only=True) as conn:
        pairs = reviews.list_pairs(
            conn,
            status=args.status,
            conversation_type=args.type,
            ticker=args.ticker,
            limit=args.limit,
        )
    if pairs.is_empty():
        console.print("No training pairs match.")
        return 0
    title = "Training pairs, newest first"
    rows = [
        (
            pair["pair_id"][:SHORT_ID],
            str(pair["as_of"]),
            pair["ticker"],
            pair["conversation_type"],
            f"{pair['strength']} {pair['signal']} {pair['confidence']:.2f}".lower(),
            pair["review_status"],
            pair["reviewer"] or "",
        )
        for pair in pairs.iter_rows(named=True)
    ]
    wide = compact_table(title, ("id", "as of", "ticker", "type", "signal", "status", "reviewer"))
    for pair_id, as_of, ticker, kind, signal, status, reviewer in rows:
        wide.add_row(pair_id, as_of, ticker, kind, signal, status, Text(reviewer))
    if fits(wide):
        console.print(wide)
    else:
        # Two lines a pair, a blank line between pairs: seven columns are too wide.
        headers = ("id\nas of", "ticker", "type\nsignal", "status\nreviewer")
        narrow = compact_table(title, headers, leading=1)
        for pair_id, as_of, ticker, kind, signal, status, reviewer in rows:
            narrow.add_row(
                f"{pair_id}\n{as_of}", ticker, f"{kind}\n{signal}", Text(f"{status}\n{reviewer}")
            )
        console.print(narrow)
    console.print(
        f"{pairs.height} pair(s) shown (limit {args.limit}); "
        "`marketflow review show ID` prints one (an id prefix of 8+ characters will do)."
    )
    return 0


def review_show(settings: Settings, args: argparse.Namespace) -> int:
    with open_store(settings.store_location, read_only=True) as conn:
        pair = reviews.get_pair(conn, args.pair_id)
    console.print(
        f"Pair [bold]{pair['pair_id']}[/]\n"
        f"{pair['ticker']} as of {pair['as_of']}, {pair['conversation_type']} "
        f"(template {pair['template_name']}, rules {pair['rules_version']}), "
        f"{pair['strength'].lower()} {pair['signal'].lower()} "
        f"at confidence {pair['confidence']:.2f}"
    )
    console.print(Panel(Text(pair["prompt"]), title="prompt", title_align="left"))
    console.print(Panel(Text(pair["response"]), title="response", title_align="left"))
    if pair["edited_response"] is not None:
        console.print(
            Panel(Text(pair["edited_response"]), title="edited response", title_align="left")
        )
    status = Text(f"Status: {pair['review_status']}")
    if pair["reviewer"] is not None:
        status.append(f" by {pair['reviewer']} at {pair['reviewed_at']:%Y-%m-%d %H:%M} UTC")
    if pair["review_status"] == "rejected":
        status.append(f": {pair['review_reason']}")
    console.print(status)
    if pair["history"]:
        console.print(_history_table(pair["history"]))
    return 0


def _history_table(history: list[dict[str, Any]]) -> Table:
    table = compact_table(
        "Review history, oldest first",
        ("#", "when (UTC)", "reviewer", "action", "reason or edit"),
        right={"#"},
    )
    for review in history:
        note = " ".join((review["reason"] or review["edited_response"] or "").split())
        table.add_row(
            str(review["review_id"]),
            f"{review['reviewed_at']:%Y-%m-%d %H:%M:%S}",
            Text(review["reviewer"]),
            review["status"],
            Text(note if len(note) <= NOTE_WIDTH else note[: NOTE_WIDTH - 3] + "..."),
        )
    return table


def review_approve(settings: Settings, args: argparse.Namespace) -> int:
    with _writable_store(settings) as conn:
        pair_id = reviews.approve(conn, args.pair_id, reviewer=_reviewer(args))
    console.print(f"Approved pair {pair_id}.")
    return 0


def review_reject(settings: Settings, args: argparse.Namespace) -> int:
    with _writable_store(settings) as conn:
        pair_id = reviews.reject(conn, args.pair_id, reason=args.reason, reviewer=_reviewer(args))
    console.print(f"Rejected pair {pair_id}: {escape(args.reason.strip())}")
    return 0


def review_edit(settings: Settings, args: argparse.Namespace) -> int:
    pair_id = args.pair_id
    if args.file is not None:
        try:
            corrected = Path(args.file).read_text()
        except OSError as exc:
            raise ReviewError(f"cannot read {args.file}: {exc.strerror}") from exc
    else:
        # Read, then edit with no connection open: the write lock is taken only to record.
        with open_store(settings.store_location, read_only=True) as conn:
            pair_id = reviews.resolve_pair_id(conn, args.pair_id)
            current = reviews.current_response(conn, pair_id)
        corrected = _edit_text(current, f"pair-{pair_id[:SHORT_ID]}.txt")
    with _writable_store(settings) as conn:
        pair_id = reviews.edit(conn, pair_id, corrected, reviewer=_reviewer(args))
    console.print(f"Recorded the edited response of pair {pair_id}.")
    return 0


def _edit_text(text: str, name: str) -> str:
    """`text` as changed in the user's $VISUAL or $EDITOR, on a temporary file."""
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
    if not editor:
        raise ReviewError("set $VISUAL or $EDITOR, or pass the corrected response with --file")
    with tempfile.TemporaryDirectory(prefix="marketflow-review-") as folder:
        path = Path(folder) / name
        path.write_text(text + "\n")
        try:
            done = subprocess.run([*shlex.split(editor), str(path)], check=False)
        except OSError as exc:
            raise ReviewError(f"cannot run the editor {editor!r}: {exc}") from exc
        if done.returncode != 0:
            raise ReviewError(
                f"the editor {editor!r} exited with status {done.returncode}; nothing written"
            )
        return path.read_text()


def _writable_store(settings: Settings) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
    """The store opened for writing a review; never creates one, which would hold no pairs."""
    if not store_exists(settings.store_location):
        raise FileNotFoundError(
            f"{settings.store_location}: no store yet; run `marketflow demo` or a backfill first"
        )
    return open_store(settings.store_location)


def _reviewer(args: argparse.Namespace) -> str:
    if args.reviewer is not None:
        return args.reviewer
    try:
        return getpass.getuser()
    except (OSError, KeyError) as exc:
        raise ReviewError("cannot tell who you are; pass --reviewer NAME") from exc


def cmd_stats(settings: Settings, _args: argparse.Namespace) -> int:
    with open_store(settings.store_location, read_only=True) as conn:
        stats = training_stats(conn)
    console.print(
        count_table(f"Training pairs ({stats['pairs']:,})", stats["pairs_by_type"], "pairs")
    )
    console.print(count_table("Pairs by review status", stats["pairs_by_status"], "pairs"))
    if stats["exports"].is_empty():
        console.print("No exports yet.")
    else:
        _print_exports(stats["exports"])
    if stats["snapshots"] == 0:
        console.print("No snapshots yet.")
        return 0
    console.print(
        count_table(
            f"Snapshots past warm-up ({stats['snapshots'] - stats['warmup_snapshots']:,}; "
            f"warm-up {stats['warmup_snapshots']:,})",
            stats["snapshots_by_signal"],
            "snapshots",
        )
    )
    return 0


def _print_exports(exports: pl.DataFrame) -> None:
    """Each export's split sizes, under short headers (explained below) if the full are too wide."""
    rows = [
        (
            Text(export["name"]),
            f"{export['exported_at']:%Y-%m-%d %H:%M}",
            "yes" if export["only_approved"] else "no",
            *(f"{export[key]:,}" for key in EXPORT_COUNTS),
        )
        for export in exports.iter_rows(named=True)
    ]
    title = "Exports (the last of each name)"
    headers = ("name", "exported (UTC)", "approved only", *EXPORT_COUNTS.values())
    wide = compact_table(title, headers, right=headers[3:])
    for row in rows:
        wide.add_row(*row)
    if fits(wide):
        console.print(wide)
        return
    headers = ("name", "exported (UTC)", "appr.", "pairs", "train", "val.", "test", "dups")
    narrow = compact_table(title, headers, right=headers[3:])
    for row in rows:
        narrow.add_row(*row)
    console.print(narrow)
    console.print("appr.: approved pairs only; val.: validation; dups: near-duplicates dropped.")


def add_review_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    review = commands.add_parser(
        "review", help="list, show, approve, reject or edit training pairs"
    )
    actions = review.add_subparsers(dest="review_command", required=True)
    listing = actions.add_parser("list", help="pairs with their review status, newest first")
    listing.add_argument("--status", choices=REVIEW_STATUSES, help="only pairs in this state")
    listing.add_argument("--type", choices=CONVERSATION_TYPES, help="only this conversation type")
    listing.add_argument("--ticker", help="only this ticker")
    listing.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    show = actions.add_parser("show", help="one pair: prompt, response, edit, review history")
    show.add_argument("pair_id", metavar="ID", help="pair id or its first 8+ characters")
    writers = {
        "approve": "approve a pair for training (with its latest edit, if any)",
        "reject": "reject a pair, with a reason",
        "edit": "record a corrected response, from --file or in $VISUAL/$EDITOR",
    }
    for name, text in writers.items():
        writer = actions.add_parser(name, help=text)
        writer.add_argument("pair_id", metavar="ID", help="pair id or its first 8+ characters")
        writer.add_argument("--reviewer", help="who reviews (default: your user name)")
        if name == "reject":
            writer.add_argument("--reason", required=True, help="why the pair is rejected")
        if name == "edit":
            writer.add_argument("--file", help="file holding the corrected response")


REVIEW_COMMANDS = {
    "list": review_list,
    "show": review_show,
    "approve": review_approve,
    "reject": review_reject,
    "edit": review_edit,
}
