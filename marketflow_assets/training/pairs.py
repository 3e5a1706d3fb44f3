"""Training pairs: which sessions get them, and every conversation type rendered for each.

Rendering is CPU-bound Python (Jinja and sha256): `render_in_parts` sends the payloads of
slices of the snapshots to the worker processes of a `FramePool`, whose workers each load the
templates once, and joins their texts to the snapshots in the order one `render_pairs` call
gives.
"""

from __future__ import annotations

import hashlib

import polars as pl

from marketflow_assets.parallel import FramePool
from marketflow_assets.training.ids import SEPARATOR
from marketflow_assets.training.snapshots import load_snapshot
from marketflow_assets.training.templates import TemplateSet

# Columns a pair carries over from its snapshot.
SNAPSHOT_COLUMNS = (
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
PAIR_COLUMNS = (
    "pair_id",
    *SNAPSHOT_COLUMNS[:3],
    "conversation_type",
    "template_name",
    "template_hash",
    *SNAPSHOT_COLUMNS[3:],
    "system",
    "prompt",
    "response",
)
_HASH_SPACE = 16**8
# Snapshots one task renders: some 0.1 s of work, so that sending the frames costs little beside
# it and the workers finish a chunk together; each worker holds a few MB of text at a time
# (a worker's memory grows with it: some 230 MB at 1,000, 300 MB at 2,000).
PART_ROWS = 1_000


def select_snapshots(snapshots: pl.DataFrame, quiet_sample: float) -> pl.DataFrame:
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
    return _with_snapshots(snapshots, _rendered(snapshots["payload"], templates), templates)


def render_in_parts(
    snapshots: pl.DataFrame, templates: TemplateSet, pool: FramePool[TemplateSet]
) -> pl.DataFrame:
    """`render_pairs` of `snapshots`, the texts of slices of PART_ROWS snapshots rendered by
    the pool's workers (which loaded the same `templates`) and put back in order: the rows of
    one call, in its order."""
    payloads = snapshots.select("payload")
    # An empty frame is one empty slice, which gives the rendered columns.
    starts = range(0, max(payloads.height, 1), PART_ROWS)
    parts = pool.map(_render_slice, ([payloads.slice(start, PART_ROWS)] for start in starts))
    rendered = pl.concat(
        part.with_columns((pl.col("row") + start).cast(pl.UInt32))
        for start, part in zip(starts, parts, strict=True)
    )
    return _with_snapshots(snapshots, rendered, templates)


def _render_slice(templates: TemplateSet, payloads: pl.DataFrame) -> pl.DataFrame:
    """One task of `render_in_parts`: the texts of a slice, rows counted from its start."""
    return _rendered(payloads["payload"], templates)


def _with_snapshots(
    snapshots: pl.DataFrame, rendered: pl.DataFrame, templates: TemplateSet
) -> pl.DataFrame:
    """The pairs: each rendered text with the columns of its snapshot and template."""
    meta = pl.DataFrame(
        {
            "conversation_type": [t.conversation_type for t in templates],
            "template_name": [t.name for t in templates],
            "template_hash": [t.hash for t in templates],
        }
    )
    return (
        snapshots.select(SNAPSHOT_COLUMNS)
        .with_row_index("row")
        .join(rendered, on="row", maintain_order="right")
        .join(meta, on="conversation_type", how="left")
        .with_columns(pl.lit(templates.system).alias("system"))
        .select(PAIR_COLUMNS)
    )


def _rendered(payloads: pl.Series, templates: TemplateSet) -> pl.DataFrame:
    """Each pair's row (its payload's index), id, conversation type, prompt and response."""
    # Every pair id hashes the same system prompt first: hashed once, then copied.
    prefix = hashlib.sha256(f"{templates.system}{SEPARATOR}".encode())
    rows, type_names, prompts, responses, ids = [], [], [], [], []
    for row, payload in enumerate(payloads):
        for template, prompt, response in templates.render_snapshot(load_snapshot(payload)):
            digest = prefix.copy()
            digest.update(f"{prompt}{SEPARATOR}{response}".encode())
            rows.append(row)
            type_names.append(template.conversation_type)
            prompts.append(prompt)
            responses.append(response)
            ids.append(digest.hexdigest())
    return pl.DataFrame(
        {
            "row": rows,
            "pair_id": ids,
            "conversation_type": type_names,
            "prompt": prompts,
            "response": responses,
        },
        schema={
            "row": pl.UInt32,
            "pair_id": pl.String,
            "conversation_type": pl.String,
            "prompt": pl.String,
            "response": pl.String,
        },
    )
