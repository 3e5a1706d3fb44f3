"""The data files of an export's split, written from its rows one chunk at a time.

Chat and instruction JSONL are a line per pair, so the lines of consecutive chunks appended make
the file of all the rows. The Parquet file is written by Polars' streaming sink, which cuts row
groups of ROW_GROUP_ROWS rows whatever the chunks it is fed, so its bytes are those of writing
all the rows at once (`DataFrame.write_parquet` is the same sink).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from pathlib import Path

import polars as pl
from polars.io.plugins import register_io_source

from marketflow_assets.training.card import DATA_FILES
from marketflow_assets.training.overlap import overlapped
from marketflow_assets.training.pairs import PAIR_COLUMNS

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
ROW_GROUP_ROWS = 65_536


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


def _streamed(first: pl.DataFrame, rest: Iterator[pl.DataFrame]) -> pl.LazyFrame:
    """A lazy frame that reads `first` and then `rest`, a frame at a time, once."""

    def frames(
        columns: list[str] | None, _predicate: object, _rows: int | None, _batch: int | None
    ) -> Iterator[pl.DataFrame]:
        for frame in itertools.chain([first], rest):
            yield frame if columns is None else frame.select(columns)

    return register_io_source(frames, schema=first.schema)


def write_split(parts: Iterable[pl.DataFrame], folder: Path, split: str) -> dict[str, int]:
    """Write the chat, instruction and metadata files of `split` under `folder` from `parts`:
    its rows (at least one) in chunks, in export order; rows per relative path.

    The JSON lines of a part are written in a worker thread while the next part is read and the
    Parquet sink encodes this one."""
    paths = {config: DATA_FILES[config].format(split=split) for config in DATA_FILES}
    for relative in paths.values():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    with (
        (folder / paths["chat"]).open("wb") as chat,
        (folder / paths["instruction"]).open("wb") as instruction,
    ):

        def lines(part: pl.DataFrame) -> None:
            chat_records(part).write_ndjson(chat)
            instruction_records(part).write_ndjson(instruction)

        def metadata() -> Iterator[pl.DataFrame]:
            nonlocal rows
            for _, part, _ in overlapped(parts, lambda part: part, lines):
                rows += part.height
                yield part.select(EXPORT_COLUMNS)

        frames = metadata()
        _streamed(next(frames), frames).sink_parquet(
            folder / paths["metadata"], compression="zstd", row_group_size=ROW_GROUP_ROWS
        )
    return dict.fromkeys(paths.values(), rows)
