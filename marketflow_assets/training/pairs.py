"""Training pairs: which sessions get them, and every conversation type rendered for each."""

from __future__ import annotations

import polars as pl

from marketflow_assets.training.ids import sha256_ids
from marketflow_assets.training.snapshots import load_snapshot
from marketflow_assets.training.templates import NEEDS_EVENTS, TemplateSet

PAIR_COLUMNS = (
    "pair_id",
    "snapshot_id",
    "ticker",
    "as_of",
    "conversation_type",
    "template_name",
    "template_hash",
    "schema_version",
    "rules_version",
    "rules_hash",
    "signal",
    "strength",
    "confidence",
    "system",
    "prompt",
    "response",
)
# Fraction of quiet sessions (no event, HOLD) that get pairs, so HOLD is represented without
# swamping the set; chosen by the snapshot id's hash, so the same sessions every time.
DEFAULT_QUIET_SAMPLE = 0.05
_HASH_SPACE = 16**8


def select_snapshots(
    snapshots: pl.DataFrame, quiet_sample: float = DEFAULT_QUIET_SAMPLE
) -> pl.DataFrame:
    """The snapshots that get pairs: past warm-up, and with an event, a BUY or SELL, or a quiet
    session whose id falls in the first `quiet_sample` of the hash space."""
    if not 0.0 <= quiet_sample <= 1.0:
        raise ValueError(f"quiet_sample must be within [0, 1], not {quiet_sample}")
    draw = pl.col("snapshot_id").str.slice(0, 8).str.to_integer(base=16) / _HASH_SPACE
    eventful = (pl.col("events").list.len() > 0) | (pl.col("signal") != "HOLD")
    return snapshots.filter(~pl.col("warmup") & (eventful | (draw < quiet_sample)))


def render_pairs(snapshots: pl.DataFrame, templates: TemplateSet) -> pl.DataFrame:
    """Every conversation type rendered for each snapshot (types needing an event skip
    sessions without one), with its pair id: sha256 of system prompt, prompt and response."""
    types = list(templates)
    index, type_names, prompts, responses = [], [], [], []
    for row, (payload, event_count) in enumerate(
        zip(snapshots["payload"], snapshots["events"].list.len(), strict=True)
    ):
        snapshot = load_snapshot(payload)
        for template in types:
            if event_count == 0 and template.conversation_type in NEEDS_EVENTS:
                continue
            prompt, response = template.render(snapshot)
            index.append(row)
            type_names.append(template.conversation_type)
            prompts.append(prompt)
            responses.append(response)
    meta = pl.DataFrame(
        {
            "conversation_type": [t.conversation_type for t in types],
            "template_name": [t.name for t in types],
            "template_hash": [t.hash for t in types],
        }
    )
    pairs = (
        snapshots.select(
            "snapshot_id",
            "ticker",
            "as_of",
            "schema_version",
            "rules_version",
            "rules_hash",
            "signal",
            "strength",
            "confidence",
        )
        .with_row_index("row")
        .join(
            pl.DataFrame(
                {
                    "row": pl.Series(index, dtype=pl.UInt32),
                    "conversation_type": type_names,
                    "prompt": prompts,
                    "response": responses,
                }
            ),
            on="row",
            how="inner",
            maintain_order="right",
        )
        .join(meta, on="conversation_type", how="left")
        .with_columns(pl.lit(templates.system).alias("system"))
    )
    return pairs.with_columns(
        sha256_ids(pairs, ["system", "prompt", "response"]).alias("pair_id")
    ).select(PAIR_COLUMNS)
