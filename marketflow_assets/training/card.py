"""The dataset card of an export: README.md with Hugging Face front matter declaring the chat,
instruction and metadata configurations (the files of the splits written, only), and a body on
contents, splits, versions and limits.

The card is made from a tally of the exported pairs (pairs and as-of range per combination of
the columns it counts by), which is small whatever the number of pairs and adds up chunk by chunk.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import polars as pl
import yaml

from marketflow_assets.training.splits import SplitPlan, split_stats

# Each configuration's file per split, relative to the export folder.
DATA_FILES = MappingProxyType(
    {
        "chat": "chat/{split}.jsonl",
        "instruction": "instruction/{split}.jsonl",
        "metadata": "parquet/{split}.parquet",
    }
)
# The bars come from whichever source the store was filled from; its terms bind the data.
LICENSE = "other"
TAGS = ("finance", "trading", "volume-price-analysis", "wyckoff", "template-generated")
# The columns the card counts the exported pairs by.
TALLY_COLUMNS = (
    "split",
    "conversation_type",
    "signal",
    "review_status",
    "schema_version",
    "rules_version",
    "rules_hash",
    "template_name",
    "template_hash",
)
_SIZES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"))


@dataclass(frozen=True)
class CardFacts:
    """What the card says beyond the exported rows: the selection, the split and what was cut;
    `note` says why a one-split plan was chosen when it was not asked for."""

    name: str
    start: dt.date | None
    end: dt.date | None
    only_approved: bool
    plan: SplitPlan
    note: str | None
    purged: int
    max_similar: int
    near_duplicates: Mapping[str, int]
    versions: Mapping[str, str]


def tally(rows: pl.DataFrame) -> pl.DataFrame:
    """Pairs, first and last as-of date of `rows` (exported pairs with their split) per
    combination of TALLY_COLUMNS."""
    counted = rows.group_by(TALLY_COLUMNS).agg(
        pl.len().cast(pl.Int64).alias("pairs"),
        pl.col("as_of").min().alias("first"),
        pl.col("as_of").max().alias("last"),
    )
    # Rebuilt from its few rows: the strings of a group-by's keys may point into the buffers of
    # `rows` (all its texts), which a tally kept per chunk would otherwise keep alive.
    return pl.DataFrame(counted.rows(), schema=counted.schema, orient="row")


def merge_tallies(tallies: Sequence[pl.DataFrame]) -> pl.DataFrame:
    """The tally of all the rows whose parts `tallies` counted."""
    return (
        pl.concat(tallies)
        .group_by(TALLY_COLUMNS)
        .agg(pl.col("pairs").sum(), pl.col("first").min(), pl.col("last").max())
    )


def size_category(rows: int) -> str:
    """The Hugging Face size category of a dataset of `rows` rows."""
    return next((label for bound, label in _SIZES if rows < bound), "n>1M")


def front_matter(name: str, rows: int, splits: Sequence[str]) -> dict[str, object]:
    """The YAML metadata: configurations and their files for each of `splits`, licence, task,
    tags."""
    configs: list[dict[str, object]] = [
        {
            "config_name": config,
            **({"default": True} if config == "chat" else {}),
            "data_files": [{"split": s, "path": pattern.format(split=s)} for s in splits],
        }
        for config, pattern in DATA_FILES.items()
    ]
    return {
        "pretty_name": f"marketflow VPA pairs: {name}",
        "license": LICENSE,
        "language": ["en"],
        "task_categories": ["text-generation"],
        "tags": list(TAGS),
        "size_categories": [size_category(rows)],
        "configs": configs,
    }


def _table(header: Sequence[str], body: Iterable[Sequence[object]]) -> list[str]:
    lines = [f"| {' | '.join(header)} |", f"|{'|'.join('---' for _ in header)}|"]
    lines += [f"| {' | '.join(_cell(c) for c in row)} |" for row in body]
    return lines


def _cell(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _counts_by_split(tallied: pl.DataFrame, column: str, splits: Sequence[str]) -> list[str]:
    """A table of pairs per value of `column` and each of `splits`, with totals."""
    pairs = pl.col("pairs")
    counts = (
        tallied.group_by(column)
        .agg(
            *(pairs.filter(pl.col("split") == s).sum().alias(s) for s in splits),
            pairs.sum().alias("total"),
        )
        .sort(column)
    )
    return _table((column, *splits, "total"), counts.rows())


def _versions(tallied: pl.DataFrame, software: Mapping[str, str]) -> list[str]:
    """Schema, rules, template and software versions the pairs were made with."""
    schema = ", ".join(str(v) for v in tallied["schema_version"].unique().sort())
    rules = _pairs_by(tallied, "rules_version", "rules_hash")
    templates = _pairs_by(tallied, "template_name", "template_hash")
    return [
        f"Snapshot schema version(s): {schema}.",
        "",
        *_table(("rules version", "rules hash", "pairs"), rules.rows()),
        "",
        *_table(("template", "template hash", "pairs"), templates.rows()),
        "",
        *_table(("software", "version"), sorted(software.items())),
    ]


def _pairs_by(tallied: pl.DataFrame, *columns: str) -> pl.DataFrame:
    """Pairs per combination of `columns`, sorted by them."""
    return tallied.group_by(columns).agg(pl.col("pairs").sum()).sort(columns)


def _splits(tallied: pl.DataFrame, facts: CardFacts) -> list[str]:
    """Split date ranges, sessions and rows, and the purge gap between them or why there is
    one split only."""
    stats = split_stats(tallied)
    body = [
        (
            s,
            *(str(d) for d in facts.plan.first_last(s)),
            facts.plan.session_count(s),
            str(stats[s][1]),
            str(stats[s][2]),
            stats[s][0],
        )
        for s in facts.plan.splits
    ]
    gap = facts.plan.purge_sessions
    if len(facts.plan.splits) == 1:
        why = facts.note or "the export was asked for as one split (split mode `none`)"
        how = (
            "Every selected pair left by the near-duplicate cap is in `train`; none is purged. "
            "There is no validation or "
            f"test split: {why}. Hold out pairs of your own before evaluating, in time order and "
            "with a gap of at least one outcome window, or a signal's outcome leaks across."
        )
    else:
        how = (
            f"Splits are cut by as-of date across all tickers, in time order, from the "
            f"{len(facts.plan.sessions):,} NYSE sessions between the first and last as-of date. "
            f"{gap} sessions are purged between consecutive splits, so no as-of date of one "
            f"split is within {gap} sessions of another and no signal's outcome window reaches "
            f"into the next split; {facts.purged:,} pairs fell in purged sessions and are left "
            "out."
        )
    return [
        *_table(
            (
                "split",
                "first session",
                "last session",
                "sessions",
                "first as_of",
                "last as_of",
                "pairs",
            ),
            body,
        ),
        "",
        how,
    ]


def _near_duplicates(tallied: pl.DataFrame, facts: CardFacts) -> list[str]:
    """How many near-duplicate pairs were dropped, per conversation type."""
    kept = dict(_pairs_by(tallied, "conversation_type").iter_rows())
    types = sorted(set(kept) | set(facts.near_duplicates))
    dropped = sum(facts.near_duplicates.values())
    return [
        f"Responses that are equal once tickers, dates and numbers are masked are near-duplicates; "
        f"at most {facts.max_similar} of each (lowest pair_id first) are kept per conversation "
        f"type. {dropped:,} near-duplicate pairs were dropped.",
        "",
        *_table(
            ("conversation_type", "kept", "dropped"),
            ((t, kept.get(t, 0), facts.near_duplicates.get(t, 0)) for t in types),
        ),
    ]


def _selection(facts: CardFacts) -> str:
    start = facts.start or "the first pair"
    end = facts.end or "the last pair"
    reviewed = (
        "approved and edited pairs only"
        if facts.only_approved
        else "every pair not rejected (pending, approved and edited)"
    )
    return f"Pairs with as-of dates from {start} to {end}; {reviewed}."


def dataset_card(tallied: pl.DataFrame, facts: CardFacts) -> str:
    """README.md of an export, from the tally of its pairs (see `tally`)."""
    time_split = len(facts.plan.splits) > 1
    fractions = "; the split fractions are of sessions, not of pairs" if time_split else ""
    header = yaml.safe_dump(
        front_matter(facts.name, tallied["pairs"].sum(), facts.plan.splits),
        sort_keys=False,
        allow_unicode=True,
        width=1000,
    )
    body = [
        f"# marketflow VPA pairs: {facts.name}",
        "",
        "Fine-tuning pairs for volume-price analysis (VPA). Each pair is one ticker on one "
        "trading day: the prompt holds a point-in-time snapshot of that day (bars, VPA features, "
        "detected patterns, levels; nothing after the as-of date) and the response states the "
        "BUY/SELL/HOLD signal and explains it, for one of several conversation types. Pairs are "
        "rendered from Jinja templates by marketflow_assets and reviewed by people; an edited "
        "pair carries the reviewer's response.",
        "",
        _selection(facts),
        "",
        "## Configurations",
        "",
        '- `chat` (default): `{"messages": [system, user, assistant]}`, the OpenAI / TRL chat '
        "format.",
        '- `instruction`: `{"input": {"task", "ticker", "as_of", "prompt"}, "output": '
        '{"signal": {"type", "strength", "confidence"}, "explanation"}}`.',
        "- `metadata`: Parquet with every column: ids, ticker, as_of, conversation type, template "
        "name and hash, schema and rules versions, signal, strength, confidence, system, prompt, "
        "`response` (the one trained on), `rendered_response` (the template's), review status, "
        "reason, reviewer and time, and split.",
        "",
        "`datasets` (5.2 and earlier) reads every configuration of a folder with the reader of "
        'the first one, so `load_dataset(path, "metadata")` fails on the Parquet files '
        "(huggingface/datasets#7101); load them with "
        '`load_dataset("parquet", data_dir=f"{path}/parquet")`, Polars or DuckDB.',
        "",
        "Rows are sorted by as_of, ticker, conversation_type and pair_id. `manifest.json` lists "
        "every file with its rows and sha256.",
        "",
        "## Splits",
        "",
        *_splits(tallied, facts),
        "",
        "## Versions",
        "",
        *_versions(tallied, facts.versions),
        "",
        "## Contents",
        "",
        *_counts_by_split(tallied, "conversation_type", facts.plan.splits),
        "",
        *_counts_by_split(tallied, "signal", facts.plan.splits),
        "",
        *_counts_by_split(tallied, "review_status", facts.plan.splits),
        "",
        "## Near-duplicates",
        "",
        *_near_duplicates(tallied, facts),
        "",
        "## Known limits",
        "",
        "- Responses are rendered from templates: their wording repeats, and only the numbers, "
        "patterns and signals vary. A model trained on them learns this house style.",
        "- `confidence` is the rules' raw confidence, not calibrated against matured outcomes; "
        "the signals' track record is in the validation scorecard, not here.",
        "- The ticker universe is a sample chosen today (survivorship bias) and covers the "
        f"market regimes of its dates only{fractions}.",
        "- Pending pairs (when included) have not been read by a person.",
        "- The signals are rule outputs for research, not investment advice.",
        "",
    ]
    return f"---\n{header}---\n\n" + "\n".join(body)
