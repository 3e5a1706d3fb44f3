"""Lint of rendered training pairs: template artefacts in the text, and numbers or dates that the
snapshot does not hold.

Every number a prompt or response writes must be one of its snapshot's numbers, shown with at
most the snapshot's precision (the snapshot value rounded to the token's decimals) and with the
sign free to be said in words ("down 2.06%"); every ISO date must be the snapshot's as-of date
or the bar date of one of its events. Vectorised with Polars (whose threads use every core) so
that it can run as an asset check over every pair of a window.
"""

from __future__ import annotations

import polars as pl

FIELDS = ("system", "prompt", "response")
# Fields whose numbers must come from the snapshot; the system prompt names no snapshot.
NUMBER_FIELDS = ("prompt", "response")
# What names a pair and its snapshot, beside its texts.
PAIR_KEYS = ("pair_id", "snapshot_id", "conversation_type", "template_name")
PROBLEM_COLUMNS = ("pair_id", "conversation_type", "template_name", "field", "problem", "detail")
# The order of the problems found: by pair and text first, then every column, so that problems
# found in slices and put together come in the same order as when found at once.
PROBLEM_ORDER = ("pair_id", "field", "problem", "detail", "conversation_type", "template_name")

# Text a rendered template must not contain, by problem name.
ARTEFACTS = {
    "enum_repr": r"\b[A-Z][A-Za-z]+\.[A-Z][A-Z_]+\b",
    "upper_case_word": r"\b(?:BUY|SELL|HOLD|STRONG|MODERATE|WEAK)\b",
    "snake_case": r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b",
    "none": r"\bNone\b",
    "nan": r"(?i)\bnan\b",
    "null": r"\bnull\b",
    "boolean": r"\b(?:True|False)\b",
    "scientific_notation": r"\d[eE][+-]?\d",
    "double_space": r"[^\s] {2,}",
    "space_before_punctuation": r" [.,;:!?%)]",
    "missing_space": r"[a-z][.;:!?][A-Za-z]",
    "trailing_space": r"[ \t]\n",
    "blank_lines": r"\n[ \t]*\n[ \t]*\n",  # two empty lines in a row
    "template_syntax": r"\{\{|\}\}|\{%|%\}|\{#|#\}",
}
_ANY_ARTEFACT = "|".join(f"(?:{pattern})" for pattern in ARTEFACTS.values())

# A token of text that holds digits: an ISO date, a word with digits in it (`sma20`, `3rd`, a
# ticker like `7X`: kept apart so that its digits are not read as a number), or a number with
# an optional minus, thousands separators and decimals. A percent sign is not part of it.
TOKEN = (
    r"\d{4}-\d{2}-\d{2}"
    r"|[A-Za-z_]+\d[A-Za-z0-9_]*|\d+[A-Za-z_][A-Za-z0-9_]*"
    r"|-?\d{1,3}(?:,\d{3})+(?:\.\d+)?"
    r"|-?\d+(?:\.\d+)?"
)
# Parts of a payload that are not numbers of the analysis: the rules hash (hex) and the ticker.
_PAYLOAD_NOISE = r'"hash":"[0-9a-f]*"|"ticker":"[^"]*"'
# Float slack on the half unit of its last digit by which a token may differ from the snapshot.
_TOLERANCE = 1e-9


def lint_pairs(pairs: pl.DataFrame, snapshots: pl.DataFrame) -> pl.DataFrame:
    """One row per problem in `pairs` (PROBLEM_COLUMNS), empty when every pair is clean.

    `field` is the text the problem is in (system, prompt or response); `detail` quotes it.
    `snapshots` must hold the snapshot of every pair (`snapshot_id`, `payload`); a pair whose
    snapshot is missing is a problem of its field `snapshot_id`.
    """
    problems = [_system_problems(pairs), _text_problems(pairs, snapshots)]
    return pl.concat(problems).select(PROBLEM_COLUMNS).sort(PROBLEM_ORDER)


def _problem(problem: str, detail: pl.Expr) -> list[pl.Expr]:
    return [pl.lit(problem).alias("problem"), detail.cast(pl.String).alias("detail")]


def _long(pairs: pl.DataFrame, fields: tuple[str, ...], *keep: str) -> pl.LazyFrame:
    """One row per (pair, field) with the field's text as `text`, and the columns `keep`."""
    meta = ["pair_id", "conversation_type", "template_name", *keep]
    return pl.concat(
        [
            pairs.lazy().select(*meta, pl.lit(field).alias("field"), pl.col(field).alias("text"))
            for field in fields
        ]
    )


def _system_problems(pairs: pl.DataFrame) -> pl.DataFrame:
    """Empty or artefact-holding system prompts: found on the distinct texts, then given to
    their pairs."""
    systems = pairs.lazy().select(pl.col("system").alias("text")).unique()
    rows = (
        pairs.lazy()
        .select("pair_id", "conversation_type", "template_name", pl.col("system").alias("text"))
        .with_columns(pl.lit("system").alias("field"))
    )
    return _empty_and_artefacts(rows.join(_flagged(systems), on="text", how="semi"))


def _text_problems(pairs: pl.DataFrame, snapshots: pl.DataFrame) -> pl.DataFrame:
    """Problems of the prompts and responses: empty texts, artefacts, a missing snapshot, and
    numbers or dates the snapshot does not hold."""
    keyed = pairs.select(*PAIR_KEYS, *NUMBER_FIELDS).join(
        snapshots.select("snapshot_id").with_row_index("key"), on="snapshot_id", how="left"
    )
    return pl.concat(
        [
            _empty_and_artefacts(_long(keyed, NUMBER_FIELDS)),
            _orphans(keyed),
            _unknown_numbers_and_dates(keyed, snapshots),
        ]
    )


def _empty_and_artefacts(texts: pl.LazyFrame) -> pl.DataFrame:
    """Empty texts and template artefacts of `texts` (one row per pair and field)."""
    flagged = _flagged(texts)
    empty = flagged.filter(~pl.col("text").str.contains(r"\S").fill_null(False)).select(
        "pair_id", "conversation_type", "template_name", "field", *_problem("empty", pl.lit(""))
    )
    found = [
        flagged.filter(pl.col("text").str.contains(pattern).fill_null(False)).select(
            "pair_id",
            "conversation_type",
            "template_name",
            "field",
            *_problem(name, pl.col("text").str.extract(f"(.{{0,20}}(?:{pattern}).{{0,20}})", 1)),
        )
        for name, pattern in ARTEFACTS.items()
    ]
    return pl.concat([empty, *found]).collect()


def _flagged(texts: pl.LazyFrame) -> pl.LazyFrame:
    """The texts that are empty or hold any artefact: one regex pass over all of them."""
    text = pl.col("text")
    return texts.filter(
        text.is_null() | ~text.str.contains(r"\S") | text.str.contains(_ANY_ARTEFACT)
    )


def _orphans(pairs: pl.DataFrame) -> pl.DataFrame:
    """Pairs whose snapshot is not among the snapshots given."""
    return pairs.filter(pl.col("key").is_null()).select(
        "pair_id",
        "conversation_type",
        "template_name",
        pl.lit("snapshot_id").alias("field"),
        *_problem("unknown_snapshot", pl.col("snapshot_id")),
    )


def _tokens(texts: pl.LazyFrame, column: str) -> pl.LazyFrame:
    """Each token of `column` as a row, classed as `date`, `word` or `number`, with a number's
    absolute value and count of decimals."""
    token = pl.col("token")
    dot = token.str.find(".", literal=True)
    return (
        texts.with_columns(pl.col(column).str.extract_all(TOKEN).alias("token"))
        .drop(column)
        .explode("token")
        .drop_nulls("token")
        .with_columns(
            pl.when(token.str.contains(r"[A-Za-z_]"))
            .then(pl.lit("word"))
            .when(token.str.contains(r"^\d{4}-"))
            .then(pl.lit("date"))
            .otherwise(pl.lit("number"))
            .alias("kind")
        )
        .filter(pl.col("kind") != "word")
        .with_columns(
            pl.when(pl.col("kind") == "number")
            .then(token.str.replace_all(",", "", literal=True).cast(pl.Float64).abs())
            .alias("value"),
            pl.when(dot.is_null())
            .then(0)
            .otherwise(token.str.len_bytes() - dot - 1)
            .cast(pl.Int32)
            .alias("decimals"),
        )
    )


def _unknown_numbers_and_dates(pairs: pl.DataFrame, snapshots: pl.DataFrame) -> pl.DataFrame:
    """Numbers and dates of prompts and responses that their snapshot does not hold."""
    meta = ["pair_id", "conversation_type", "template_name", "field"]
    # Each text keeps its own pair's snapshot, even when two pairs share an id (the same text
    # made from the snapshots of two rules versions); its tokens carry its row only, and the
    # few wrong ones get their pair's names at the end.
    texts = _long(pairs.filter(pl.col("key").is_not_null()), NUMBER_FIELDS, "key").with_row_index(
        "text_row"
    )
    used = pairs.select(pl.col("key").drop_nulls().unique().cast(pl.UInt32))
    known = _tokens(
        snapshots.lazy()
        .with_row_index("key")
        .join(used.lazy(), on="key", how="semi")
        .select("key", pl.col("payload").str.replace_all(_PAYLOAD_NOISE, "")),
        "payload",
    )
    written = _tokens(texts.select("text_row", "key", "text"), "text")
    # The same token of the same snapshot is checked once (prompts share their market data).
    distinct = written.filter(pl.col("kind") == "number").unique(["key", "token"])
    known_values = (
        known.filter(pl.col("kind") == "number")
        .select("key", pl.col("value").alias("known"))
        .unique()
        .sort("known")
    )
    wrong_numbers = (
        distinct.sort("value")
        .join_asof(
            known_values,
            left_on="value",
            right_on="known",
            by="key",
            strategy="nearest",
            check_sortedness=False,
        )
        .filter(
            pl.col("known").is_null()
            | (
                (pl.col("value") - pl.col("known")).abs()
                > 0.5 * pl.lit(10.0).pow(-pl.col("decimals")) + _TOLERANCE
            )
        )
        .select("key", "token")
    )
    numbers = written.join(wrong_numbers, on=["key", "token"], how="semi").select(
        "text_row", *_problem("unknown_number", pl.col("token"))
    )
    dates = (
        written.filter(pl.col("kind") == "date")
        .join(
            known.filter(pl.col("kind") == "date").select("key", "token").unique(),
            on=["key", "token"],
            how="anti",
        )
        .select("text_row", *_problem("unknown_date", pl.col("token")))
    )
    return (
        pl.concat([numbers, dates])
        .join(texts.select("text_row", *meta), on="text_row")
        .select(*meta, "problem", "detail")
        .collect()
    )
