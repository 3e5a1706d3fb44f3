"""Export reviewed pairs as a fine-tuning dataset: chat and instruction JSONL, Parquet with every
column, a Hugging Face dataset card and a manifest, split in time with purge gaps, or kept whole
as one train split when the set is too small to split in time (or when asked).

Everything written is a function of the pairs and the arguments (no timestamps, rows in a fixed
order), so exporting the same pairs twice gives the same bytes. The export is written to a
folder beside its destination and swapped in whole, so a failure leaves the previous one intact.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import shutil
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from types import MappingProxyType

import polars as pl

from marketflow_assets.training.card import DATA_FILES, CardFacts, dataset_card
from marketflow_assets.training.pairs import PAIR_COLUMNS
from marketflow_assets.training.splits import (
    SplitPlan,
    assign_splits,
    one_split,
    plan_splits,
    sessions_needed,
    split_stats,
)
from marketflow_assets.vpa.rules import ExportRules

REVIEW_COLUMNS = ("review_status", "review_reason", "edited_response", "reviewer", "reviewed_at")
REVIEW_STATUSES = ("pending", "approved", "rejected", "edited")
APPROVED_STATUSES = ("approved", "edited")
# The Parquet columns: `response` is the one trained on (the edit if any), `rendered_response`
# what the template wrote.
EXPORT_COLUMNS = (
    *PAIR_COLUMNS,
    "rendered_response",
    "review_status",
    "review_reason",
    "reviewer",
    "reviewed_at",
    "split",
)
SORT_COLUMNS = ("as_of", "ticker", "conversation_type", "pair_id")
# `time`: train/validation/test by as-of date with purge gaps; `none`: every pair in `train`;
# `auto`: `time` when the as-of dates span enough sessions, otherwise `none`.
SPLIT_MODES = ("auto", "time", "none")
MANIFEST = "manifest.json"
CARD = "README.md"
_NAME = re.compile(r"[A-Za-z0-9._-]{1,200}")
_MONTH_DAY = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.? [0-9]{1,2}"
_NUMBER = r"[0-9]+(?:[.,][0-9]+)*"


def _software_versions() -> Mapping[str, str]:
    """Versions of the code that shape the exported bytes."""
    return MappingProxyType(
        {"marketflow-assets": metadata.version("marketflow-assets"), "polars": pl.__version__}
    )


SOFTWARE_VERSIONS = _software_versions()


class ExportError(ValueError):
    """An export cannot be made as asked; the message says why."""


@dataclass(frozen=True)
class ExportSummary:
    """What an export wrote, where, from which selection, and what it left out."""

    name: str
    start: dt.date | None
    end: dt.date | None
    only_approved: bool
    path: Path
    split: str
    note: str | None
    rows: Mapping[str, int]
    date_ranges: Mapping[str, tuple[dt.date, dt.date]]
    pairs_in: int
    purged: int
    near_duplicates_dropped: int
    manifest_sha256: str
    files: tuple[str, ...]


def check_export_name(name: str) -> str:
    """`name` if it is a plain folder name of [A-Za-z0-9._-], not starting with a dot."""
    if not _NAME.fullmatch(name) or name.startswith(".") or ".." in name:
        raise ExportError(
            f"export name {name!r} refused: use 1 to 200 of the characters A-Z a-z 0-9 . _ -, "
            "not starting with a dot and without '..'"
        )
    return name


def select_pairs(
    pairs: pl.DataFrame, *, start: dt.date | None, end: dt.date | None, only_approved: bool
) -> pl.DataFrame:
    """Pairs with as_of in [start, end] that are exportable: never rejected ones, and only
    approved or edited ones if `only_approved`; `response` becomes the edited one if any."""
    missing = [c for c in (*PAIR_COLUMNS, *REVIEW_COLUMNS) if c not in pairs.columns]
    if missing:
        raise ExportError(f"pairs lack column(s) {missing}; pass the reviewed_pairs view")
    unknown = set(pairs["review_status"].unique().to_list()) - set(REVIEW_STATUSES)
    if unknown:
        raise ExportError(f"unknown review status(es) {sorted(map(str, unknown))}")
    kept = APPROVED_STATUSES if only_approved else ("pending", *APPROVED_STATUSES)
    keep = pl.col("review_status").is_in(kept)
    if start is not None:
        keep &= pl.col("as_of") >= start
    if end is not None:
        keep &= pl.col("as_of") <= end
    return pairs.filter(keep).with_columns(
        pl.coalesce("edited_response", "response").alias("response"),
        pl.col("response").alias("rendered_response"),
    )


def _check_exportable(rows: pl.DataFrame) -> None:
    """Refuse pairs that would make an invalid chat record or an ambiguous row order."""
    blank = rows.filter(
        pl.any_horizontal(
            pl.col(c).is_null() | ~pl.col(c).str.contains(r"\S")
            for c in ("system", "prompt", "response")
        )
    )
    if blank.height:
        ids = ", ".join(blank["pair_id"].head(5).to_list())
        raise ExportError(f"{blank.height} pair(s) have an empty system, prompt or response: {ids}")
    repeated = rows.filter(pl.col("pair_id").is_duplicated())["pair_id"].unique().sort()
    if repeated.len():
        raise ExportError(f"pair_id repeated: {', '.join(repeated.head(5).to_list())}")


def similarity_key(tickers: Sequence[str]) -> pl.Expr:
    """The response with every ticker of `tickers`, date and number replaced by `#`: equal keys
    mark responses that are the same text about other numbers, days or tickers."""
    by_length = sorted(set(tickers), key=lambda t: (-len(t), t))
    ticker = rf"(?-u:\b)(?:{'|'.join(re.escape(t) for t in by_length)})(?-u:\b)"
    return pl.col("response").str.replace_all(f"{ticker}|{_MONTH_DAY}|{_NUMBER}", "#")


def cap_near_duplicates(
    rows: pl.DataFrame, max_similar: int
) -> tuple[pl.DataFrame, dict[str, int]]:
    """Keep at most `max_similar` pairs (lowest pair_id first) per conversation type and
    similarity key; returns the kept rows and the count dropped per conversation type."""
    if max_similar < 1:
        raise ExportError(f"max_similar must be 1 or more, not {max_similar}")
    key = similarity_key(rows["ticker"].unique().to_list())
    kept = pl.col("pair_id").rank("ordinal").over("conversation_type", key) <= max_similar
    marked = rows.with_columns(kept.alias("_kept"))
    dropped = (
        marked.filter(~pl.col("_kept"))
        .group_by("conversation_type")
        .len()
        .sort("conversation_type")
    )
    counts = dict(zip(dropped["conversation_type"], dropped["len"], strict=True))
    return marked.filter("_kept").drop("_kept"), counts


def chat_records(rows: pl.DataFrame) -> pl.DataFrame:
    """`{"messages": [system, user, assistant]}` per pair: the OpenAI/TRL chat format."""
    roles = (("system", "system"), ("user", "prompt"), ("assistant", "response"))
    return rows.select(
        pl.concat_list(
            pl.struct(pl.lit(role).alias("role"), pl.col(column).alias("content"))
            for role, column in roles
        ).alias("messages")
    )


def instruction_records(rows: pl.DataFrame) -> pl.DataFrame:
    """`{"input": {task, ticker, as_of, prompt}, "output": {signal, explanation}}` per pair."""
    return rows.select(
        pl.struct(
            pl.col("conversation_type").alias("task"),
            "ticker",
            pl.col("as_of").dt.to_string("%Y-%m-%d"),
            "prompt",
        ).alias("input"),
        pl.struct(
            pl.struct(pl.col("signal").alias("type"), "strength", "confidence").alias("signal"),
            pl.col("response").alias("explanation"),
        ).alias("output"),
    )


def _choose_plan(
    selected: pl.DataFrame, rules: ExportRules, split: str
) -> tuple[SplitPlan, str, str | None]:
    """The split plan of the `selected` pairs in mode `split`, the mode it follows (`time` or
    `none`) and, when `auto` fell back to one split, why; a `time` split of too few sessions is
    refused."""
    first, last = selected["as_of"].min(), selected["as_of"].max()
    whole = one_split(first, last)
    if split == "none":
        return whole, "none", None
    needed = sessions_needed(rules.purge_sessions, rules.fractions)
    if len(whole.sessions) >= needed:
        plan = plan_splits(
            first, last, purge_sessions=rules.purge_sessions, fractions=rules.fractions
        )
        return plan, "time", None
    reason = (
        f"{selected.height:,} pairs from {first} to {last} span {len(whole.sessions):,} "
        f"session(s), too few for a time split ({needed:,} sessions needed with "
        f"{rules.purge_sessions} purged between splits)"
    )
    if split == "time":
        raise ExportError(f"{reason}; --split none writes them as one train split")
    return whole, "none", f"{reason}; exported as one train split"


def _write_splits(rows: pl.DataFrame, folder: Path, splits: Sequence[str]) -> dict[str, int]:
    """Write every data file of each of `splits`; returns rows per relative path."""
    written = {}
    for split in splits:
        part = rows.filter(pl.col("split") == split)
        for config, frame in (
            ("chat", chat_records(part)),
            ("instruction", instruction_records(part)),
            ("metadata", part.select(EXPORT_COLUMNS)),
        ):
            relative = DATA_FILES[config].format(split=split)
            path = folder / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.suffix == ".parquet":
                frame.write_parquet(path, compression="zstd", row_group_size=65_536)
            else:
                frame.write_ndjson(path)
            written[relative] = frame.height
    return written


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _write_manifest(
    folder: Path, rows_by_file: Mapping[str, int | None], facts: Mapping[str, object]
) -> str:
    """Write manifest.json (every file's path, rows and sha256, then `facts`); its sha256."""
    files = [
        {"path": relative, "rows": rows_by_file[relative], "sha256": _sha256(folder / relative)}
        for relative in sorted(rows_by_file)
    ]
    text = json.dumps({**facts, "files": files}, indent=2, sort_keys=True, ensure_ascii=False)
    path = folder / MANIFEST
    path.write_text(text + "\n", encoding="utf-8")
    return _sha256(path)


def _swap_in(staging: Path, target: Path) -> None:
    """Put the staged export at `target`; the old one is removed only once the new one is in."""
    if not target.exists():
        staging.rename(target)
        return
    retired = staging.with_name(staging.name + ".old")
    target.rename(retired)
    try:
        staging.rename(target)
    except BaseException:
        retired.rename(target)
        raise
    shutil.rmtree(retired, ignore_errors=True)


def _is_export(folder: Path) -> bool:
    """Whether `folder` holds an export (its manifest) or nothing at all."""
    return (folder / MANIFEST).is_file() or not any(folder.iterdir())


def export_dataset(
    pairs: pl.DataFrame,
    directory: Path,
    *,
    name: str,
    start: dt.date | None = None,
    end: dt.date | None = None,
    only_approved: bool,
    rules: ExportRules,
    split: str = "auto",
    max_similar: int | None = None,
    versions: Mapping[str, str] = SOFTWARE_VERSIONS,
) -> ExportSummary:
    """Export the reviewed `pairs` to `directory/<name>/`, replacing a previous export of that
    name whole: split as `split` says (see SPLIT_MODES) with the rules' fractions and purge gap,
    at most `max_similar` (the rules' by default) near-duplicates kept."""
    if split not in SPLIT_MODES:
        raise ExportError(f"split mode {split!r} unknown; use one of {', '.join(SPLIT_MODES)}")
    target = Path(directory) / check_export_name(name)
    if target.exists() and not (target.is_dir() and _is_export(target)):
        raise ExportError(f"{target} exists and is not an export (no {MANIFEST}); not replacing it")
    selected = select_pairs(pairs, start=start, end=end, only_approved=only_approved)
    if selected.is_empty():
        which = "approved or edited" if only_approved else "non-rejected"
        raise ExportError(
            f"no {which} pairs to export with as_of from {start or 'the first'} to "
            f"{end or 'the last'}"
        )
    _check_exportable(selected)
    plan, mode, note = _choose_plan(selected, rules, split)
    max_similar = rules.max_similar if max_similar is None else max_similar
    assigned = assign_splits(selected, plan)
    purged = assigned["split"].null_count()
    capped, near_duplicates = cap_near_duplicates(assigned.drop_nulls("split"), max_similar)
    rows = capped.sort(SORT_COLUMNS).rechunk()
    stats = split_stats(rows)
    empty = [s for s in plan.splits if s not in stats]
    if empty:
        first, last = plan.first_last(empty[0])
        raise ExportError(
            f"no pairs left in the {empty[0]} split ({first}..{last}); widen the range, review "
            "more pairs, or --split none writes every pair as one train split"
        )
    card = dataset_card(
        rows,
        CardFacts(
            name=name,
            start=start,
            end=end,
            only_approved=only_approved,
            plan=plan,
            note=note,
            purged=purged,
            max_similar=max_similar,
            near_duplicates=near_duplicates,
            versions=versions,
        ),
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    # Hidden (export names cannot start with a dot), beside the target so the swap is a rename.
    staging = target.parent / f".{name}.{uuid.uuid4().hex}.partial"
    staging.mkdir()
    try:
        rows_by_file: dict[str, int | None] = {
            **_write_splits(rows, staging, plan.splits),
            CARD: None,
        }
        (staging / CARD).write_text(card, encoding="utf-8")
        manifest_sha256 = _write_manifest(
            staging,
            rows_by_file,
            {
                "name": name,
                "pairs_in": selected.height,
                "split_mode": mode,
                "splits": list(plan.splits),
                "split_note": note,
                "purged": purged,
                "purge_sessions": plan.purge_sessions,
                "near_duplicates_dropped_by_type": near_duplicates,
                "max_similar": max_similar,
                "versions": dict(versions),
            },
        )
        _swap_in(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return ExportSummary(
        name=name,
        start=start,
        end=end,
        only_approved=only_approved,
        path=target,
        split=mode,
        note=note,
        rows={s: stats[s][0] for s in plan.splits},
        date_ranges={s: stats[s][1:] for s in plan.splits},
        pairs_in=selected.height,
        purged=purged,
        near_duplicates_dropped=sum(near_duplicates.values()),
        manifest_sha256=manifest_sha256,
        files=(*sorted(rows_by_file), MANIFEST),
    )
