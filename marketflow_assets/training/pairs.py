"""Training pairs: which sessions get them, and every conversation type rendered for each.

Rendering is CPU-bound Python (Jinja): `render_in_parts` spreads slices of the snapshots over
the worker processes of a `FramePool` whose workers each load the templates once, and puts the
pairs back in the order one `render_pairs` call gives.
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
# Snapshots one task renders: a few MB of text in a worker, and some 0.1 s of work, so that
# sending the frames costs little beside it and the workers finish a chunk together.
PART_ROWS = 2_000


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
        .join(_rendered(snapshots["payload"], templates), on="row", maintain_order="right")
        .join(meta, on="conversation_type", how="left")
        .with_columns(pl.lit(templates.system).alias("system"))
        .select(PAIR_COLUMNS)
    )


def render_in_parts(snapshots: pl.DataFrame, pool: FramePool[TemplateSet]) -> pl.DataFrame:
    """`render_pairs` of `snapshots` with the pool's templates, slices of PART_ROWS snapshots
    rendered by its workers and joined in order: the rows of one call, in its order."""
    needed = snapshots.select(*SNAPSHOT_COLUMNS, "payload")
    # An empty frame is one empty slice, which gives the pairs' columns.
    starts = range(0, max(needed.height, 1), PART_ROWS)
    return pl.concat(pool.map(_render_slice, ([needed.slice(i, PART_ROWS)] for i in starts)))


def _render_slice(templates: TemplateSet, snapshots: pl.DataFrame) -> pl.DataFrame:
    """One task of `render_in_parts`."""
    return render_pairs(snapshots, templates)


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
