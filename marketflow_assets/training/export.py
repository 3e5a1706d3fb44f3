"""Export reviewed pairs as a fine-tuning dataset: chat and instruction JSONL, Parquet with every
column, a Hugging Face dataset card and a manifest, split in time with purge gaps, or kept whole
as one train split when the set is too small to split in time (or when asked).

Everything written is a function of the pairs and the arguments (no timestamps, rows in a fixed
order), so exporting the same pairs twice gives the same bytes. The export is written to a
folder beside its destination and swapped in whole, so a failure leaves the previous one intact.

Memory stays within a budget whatever the number of pairs: the selection, the split and the
near-duplicate cap work on counts per date and on key columns kept by the source (in DuckDB,
which spills), and the texts are read, keyed and written a chunk of as-of dates at a time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import shutil
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from types import MappingProxyType

import polars as pl

from marketflow_assets.progress import Progress
from marketflow_assets.training.card import CardFacts, dataset_card, merge_tallies, tally
from marketflow_assets.training.export_files import write_split
from marketflow_assets.training.export_source import (
    DateChunk,
    PairSource,
    Selection,
    date_chunks,
)
from marketflow_assets.training.overlap import overlapped
from marketflow_assets.training.splits import (
    SplitPlan,
    assign_splits,
    one_split,
    plan_splits,
    sessions_needed,
    split_stats,
)
from marketflow_assets.vpa.rules import ExportRules

REVIEW_STATUSES = ("pending", "approved", "rejected", "edited")
APPROVED_STATUSES = ("approved", "edited")
SORT_COLUMNS = ("as_of", "ticker", "conversation_type", "pair_id")
# `time`: train/validation/test by as-of date with purge gaps; `none`: every pair in `train`;
# `auto`: `time` when the as-of dates span enough sessions, otherwise `none`.
SPLIT_MODES = ("auto", "time", "none")
MANIFEST = "manifest.json"
CARD = "README.md"
_NAME = re.compile(r"[A-Za-z0-9._-]{1,200}")
_MONTH_DAY = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.? [0-9]{1,2}"
_NUMBER = r"[0-9]+(?:[.,][0-9]+)*"
# Memory a pair takes while its chunk is read, keyed or written: its texts (about 3 KiB on the
# sample) in DuckDB's result, in the frame, and in the chat, instruction and Parquet copies.
PAIR_BYTES = 16 << 10


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


def similarity_key(tickers: Sequence[str]) -> pl.Expr:
    """The response with every ticker of `tickers`, date and number replaced by `#`: equal keys
    mark responses that are the same text about other numbers, days or tickers."""
    by_length = sorted(set(tickers), key=lambda t: (-len(t), t))
    ticker = rf"(?-u:\b)(?:{'|'.join(re.escape(t) for t in by_length)})(?-u:\b)"
    return pl.col("response").str.replace_all(f"{ticker}|{_MONTH_DAY}|{_NUMBER}", "#")


def key_hash(key: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """`key` hashed to 128 bits, as key_a and key_b: two 64-bit XXH3 hashes of their own seeds.

    Pairs of equal keys have equal hashes; two different keys among n have equal ones with a
    chance of about n² / 2¹²⁹ (1e-25 for 12 million pairs), so the hashes stand for the keys.
    """
    return key.hash(seed=1).alias("key_a"), key.hash(seed=2).alias("key_b")


def _selected_dates(source: PairSource, selection: Selection) -> pl.DataFrame:
    """as_of and pairs: the selected pairs per date; refuses review statuses it does not know."""
    counts = source.status_counts(selection)
    unknown = set(counts["review_status"].unique().to_list()) - set(REVIEW_STATUSES)
    if unknown:
        raise ExportError(f"unknown review status(es) {sorted(map(str, unknown))}")
    return (
        counts.filter(pl.col("review_status").is_in(selection.statuses))
        .group_by("as_of")
        .agg(pl.col("pairs").sum())
        .sort("as_of")
    )


def _choose_plan(
    dates: pl.DataFrame, rules: ExportRules, split: str
) -> tuple[SplitPlan, str, str | None]:
    """The split plan of the selected pairs per date `dates` in mode `split`, the mode it
    follows (`time` or `none`) and, when `auto` fell back to one split, why; a `time` split of
    too few sessions is refused."""
    first, last = dates["as_of"].min(), dates["as_of"].max()
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
        f"{dates['pairs'].sum():,} pairs from {first} to {last} span {len(whole.sessions):,} "
        f"session(s), too few for a time split ({needed:,} sessions needed with "
        f"{rules.purge_sessions} purged between splits)"
    )
    if split == "time":
        raise ExportError(f"{reason}; --split none writes them as one train split")
    return whole, "none", f"{reason}; exported as one train split"


def _chunk_pairs(memory_mib: int) -> int:
    """How many pairs a chunk holds for two chunks (one read, one worked on) to fit in half of
    `memory_mib`, the source's DuckDB keeping within the other half."""
    return max(1, (memory_mib << 20) // (4 * PAIR_BYTES))


def _key_pairs(
    source: PairSource,
    selection: Selection,
    dated: pl.DataFrame,
    chunk_pairs: int,
    log: Callable[[str], None],
) -> None:
    """Give the source the near-duplicate key of every selected pair outside the purge gaps, a
    chunk of dates at a time (keying one while the next is read); refuses pairs with an empty
    system, prompt or response (they would make invalid chat records)."""
    splits = dated.select("as_of", "split")
    within = splits.drop_nulls("split")["as_of"].to_list()
    key = similarity_key(source.tickers(selection, within)).alias("key")
    progress = Progress("export keys", dated.height)
    blank, blank_ids = 0, []

    def texts(chunk: DateChunk) -> pl.DataFrame:
        return source.texts(selection, chunk.first, chunk.last)

    def keys(texts: pl.DataFrame) -> pl.DataFrame:
        keyed = texts.select("pair_id", "as_of", "conversation_type", key)
        hashed = keyed.select("pair_id", "as_of", "conversation_type", *key_hash(pl.col("key")))
        return hashed.join(splits, on="as_of").drop_nulls("split")

    for chunk, read, keyed in overlapped(date_chunks(dated, chunk_pairs), texts, keys):
        empty = read.filter("blank")["pair_id"].sort()
        blank, blank_ids = blank + empty.len(), [*blank_ids, *empty.head(5).to_list()][:5]
        source.add_keys(keyed)
        log(progress.step(chunk.dates, read.height))
    if blank:
        ids = ", ".join(blank_ids)
        raise ExportError(f"{blank} pair(s) have an empty system, prompt or response: {ids}")


def _exported(rows: pl.DataFrame) -> pl.DataFrame:
    """Kept pairs as exported: `response` the one trained on (the edit if any) and
    `rendered_response` the template's, in export order."""
    return rows.with_columns(
        pl.coalesce("edited_response", "response").alias("response"),
        pl.col("response").alias("rendered_response"),
    ).sort(SORT_COLUMNS)


def _write_splits(
    source: PairSource,
    kept: pl.DataFrame,
    splits: Sequence[str],
    folder: Path,
    chunk_pairs: int,
    log: Callable[[str], None],
) -> tuple[dict[str, int], pl.DataFrame]:
    """Write every data file of each of `splits` from the `kept` pairs per date and split, a
    chunk of dates at a time; rows per relative path, and the tally of the pairs written."""
    progress = Progress("export files", kept.height)
    tallies, written = [], {}

    def parts(chunks: Sequence[DateChunk]) -> Iterator[pl.DataFrame]:
        for chunk in chunks:
            rows = _exported(source.kept_rows(chunk.first, chunk.last))
            tallies.append(tally(rows))
            log(progress.step(chunk.dates, rows.height))
            yield rows

    for split in splits:
        dates = kept.filter(pl.col("split") == split)
        written |= write_split(parts(date_chunks(dates, chunk_pairs)), folder, split)
    return written, merge_tallies(tallies)


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _write_manifest(
    folder: Path, rows_by_file: Mapping[str, int | None], facts: Mapping[str, object]
) -> str:
    """Write manifest.json (every file's path, rows and sha256, then `facts`); its sha256.
    The files are hashed in threads, on every core (hashlib lets go of the GIL)."""
    names = sorted(rows_by_file)
    with ThreadPoolExecutor(thread_name_prefix="sha256") as pool:
        digests = pool.map(_sha256, (folder / relative for relative in names))
        files = [
            {"path": relative, "rows": rows_by_file[relative], "sha256": digest}
            for relative, digest in zip(names, digests, strict=True)
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
    source: PairSource,
    directory: Path,
    *,
    name: str,
    start: dt.date | None = None,
    end: dt.date | None = None,
    only_approved: bool,
    rules: ExportRules,
    memory_mib: int,
    split: str = "auto",
    max_similar: int | None = None,
    versions: Mapping[str, str] = SOFTWARE_VERSIONS,
    log: Callable[[str], None] = lambda line: None,
) -> ExportSummary:
    """Export the reviewed pairs of `source` to `directory/<name>/`, replacing a previous export
    of that name whole: split as `split` says (see SPLIT_MODES) with the rules' fractions and
    purge gap, at most `max_similar` (the rules' by default) near-duplicates kept.

    The pairs' texts are read a chunk of as-of dates at a time, two chunks taking about half of
    `memory_mib` (a store source keeps its DuckDB within the other half), and `log` gets a line
    on the progress of each chunk."""
    if split not in SPLIT_MODES:
        raise ExportError(f"split mode {split!r} unknown; use one of {', '.join(SPLIT_MODES)}")
    target = Path(directory) / check_export_name(name)
    if target.exists() and not (target.is_dir() and _is_export(target)):
        raise ExportError(f"{target} exists and is not an export (no {MANIFEST}); not replacing it")
    selection = Selection(
        start, end, APPROVED_STATUSES if only_approved else ("pending", *APPROVED_STATUSES)
    )
    dates = _selected_dates(source, selection)
    if dates.is_empty():
        which = "approved or edited" if only_approved else "non-rejected"
        raise ExportError(
            f"no {which} pairs to export with as_of from {start or 'the first'} to "
            f"{end or 'the last'}"
        )
    pairs_in = dates["pairs"].sum()
    repeated = source.repeated_ids(selection, 5)
    if repeated:
        raise ExportError(f"pair_id repeated: {', '.join(repeated)}")
    plan, mode, note = _choose_plan(dates, rules, split)
    max_similar = rules.max_similar if max_similar is None else max_similar
    if max_similar < 1:
        raise ExportError(f"max_similar must be 1 or more, not {max_similar}")
    dated = assign_splits(dates, plan)
    purged = dated.filter(pl.col("split").is_null())["pairs"].sum()
    chunk_pairs = _chunk_pairs(memory_mib)
    _key_pairs(source, selection, dated, chunk_pairs, log)
    near_duplicates = dict(source.cap(max_similar).iter_rows())
    kept = source.kept_dates()
    present = set(kept["split"].to_list())
    empty = [s for s in plan.splits if s not in present]
    if empty:
        first, last = plan.first_last(empty[0])
        raise ExportError(
            f"no pairs left in the {empty[0]} split ({first}..{last}); widen the range, review "
            "more pairs, or --split none writes every pair as one train split"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    # Hidden (export names cannot start with a dot), beside the target so the swap is a rename.
    staging = target.parent / f".{name}.{uuid.uuid4().hex}.partial"
    staging.mkdir()
    try:
        written, tallied = _write_splits(source, kept, plan.splits, staging, chunk_pairs, log)
        card = dataset_card(
            tallied,
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
        rows_by_file: dict[str, int | None] = {**written, CARD: None}
        (staging / CARD).write_text(card, encoding="utf-8")
        manifest_sha256 = _write_manifest(
            staging,
            rows_by_file,
            {
                "name": name,
                "pairs_in": pairs_in,
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
    stats = split_stats(tallied)
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
        pairs_in=pairs_in,
        purged=purged,
        near_duplicates_dropped=sum(near_duplicates.values()),
        manifest_sha256=manifest_sha256,
        files=(*sorted(rows_by_file), MANIFEST),
    )
