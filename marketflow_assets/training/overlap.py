"""Chunked work on both cores: the next chunk is read in the calling thread while the last one is
worked on in a worker thread (DuckDB and Polars release the GIL while they compute), and the
results come back in the chunks' order, so the output is that of doing one chunk after another."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

C = TypeVar("C")
F = TypeVar("F")
R = TypeVar("R")


def overlapped(
    chunks: Iterable[C], read: Callable[[C], F], work: Callable[[F], R]
) -> Iterator[tuple[C, F, R]]:
    """(chunk, read(chunk), work(read(chunk))) for each of `chunks`, in order. `read` runs in
    this thread, `work` in one worker thread, one chunk after another; at most two chunks are
    read and not yet given back at any time."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="chunk-work") as worker:
        last: tuple[C, F, Future[R]] | None = None
        for chunk in chunks:
            frame = read(chunk)
            # Queued behind the last chunk's work: it starts as soon as that one ends.
            started = worker.submit(work, frame)
            if last is not None:
                yield last[0], last[1], last[2].result()
            last = (chunk, frame, started)
        if last is not None:
            yield last[0], last[1], last[2].result()
