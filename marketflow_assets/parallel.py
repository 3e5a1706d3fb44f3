"""CPU-bound work on frames across worker processes, with results in the order of the inputs.

A `FramePool` starts its workers once (forkserver: no copy of the parent's DuckDB connection,
threads or buffers), each running `setup` once (loading templates, say), then runs a task on
each group of frames passed as Arrow IPC bytes, never as pickled rows. With one worker it runs
every task in this process, on the same code path, so one and many workers give the same rows.
"""

from __future__ import annotations

import io
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, TypeVar

import polars as pl

State = TypeVar("State")
# A task: the worker's state and a group of frames in, one frame out.
Task = Callable[..., pl.DataFrame]
# Groups sent ahead of the one awaited, per worker: enough to keep every worker busy, few
# enough that the queued inputs stay a small part of a chunk.
AHEAD_PER_WORKER = 2
# The state `setup` made in this worker process (one per process, set by the initializer).
_state: Any = None


def available_cores() -> int:
    """The cores this process may run on (its affinity, not the machine's count)."""
    if hasattr(os, "process_cpu_count"):  # Python 3.13
        return max(1, os.process_cpu_count() or 1)
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def frame_to_ipc(frame: pl.DataFrame) -> bytes:
    """`frame` as Arrow IPC bytes, the way frames cross between processes: text as plain
    Arrow strings, which write and read in half the time of string views."""
    buffer = io.BytesIO()
    frame.write_ipc(buffer, compat_level=pl.CompatLevel.oldest())
    return buffer.getvalue()


def frame_from_ipc(data: bytes) -> pl.DataFrame:
    """The frame that `frame_to_ipc` wrote."""
    return pl.read_ipc(io.BytesIO(data))


def _no_state() -> None:
    return None


@dataclass(frozen=True)
class _SetupFailed:
    """What a worker's `setup` raised, raised again by each of its tasks so that the caller
    sees that error rather than a broken pool."""

    error: BaseException


def _setup_worker(setup: Callable[..., Any], args: tuple[Any, ...]) -> None:
    global _state
    try:
        _state = setup(*args)
    except Exception as exc:
        _state = _SetupFailed(exc)


def _run_in_worker(task: Task, frames: tuple[bytes, ...]) -> bytes:
    if isinstance(_state, _SetupFailed):
        raise _state.error
    return frame_to_ipc(task(_state, *(frame_from_ipc(data) for data in frames)))


class FramePool(Generic[State]):
    """`workers` processes that each run `setup(*args)` once (no state without one) and then
    tasks on frames; one worker means this process. Use it as a context manager: leaving it
    (on error too) stops the workers and drops the tasks not started."""

    def __init__(self, workers: int, setup: Callable[..., State] | None = None, *args: Any) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        if multiprocessing.current_process().daemon:
            # A daemonic process (a Celery worker's run) may not start processes of its own.
            workers = 1
        self.workers = workers
        self._executor: ProcessPoolExecutor | None = None
        self._state: State | None = None
        setup = setup or _no_state
        if workers == 1:
            self._state = setup(*args)
        else:
            self._executor = ProcessPoolExecutor(
                max_workers=workers,
                mp_context=multiprocessing.get_context("forkserver"),
                initializer=_setup_worker,
                initargs=(setup, args),
            )

    def __enter__(self) -> FramePool[State]:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers, dropping tasks not yet started."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)

    def map(
        self, task: Callable[..., pl.DataFrame], groups: Iterable[Sequence[pl.DataFrame]]
    ) -> Iterator[pl.DataFrame]:
        """`task(state, *group)` for each group of frames, in the order of `groups`; a task's
        error is raised here, with its message, and stops the groups after it."""
        if self._executor is None:
            for group in groups:
                yield task(self._state, *group)
            return
        pending: deque[Future[bytes]] = deque()
        try:
            for group in groups:
                payload = tuple(frame_to_ipc(frame) for frame in group)
                pending.append(self._executor.submit(_run_in_worker, task, payload))
                if len(pending) > AHEAD_PER_WORKER * self.workers:
                    yield frame_from_ipc(pending.popleft().result())
            while pending:
                yield frame_from_ipc(pending.popleft().result())
        finally:
            for future in pending:
                future.cancel()
