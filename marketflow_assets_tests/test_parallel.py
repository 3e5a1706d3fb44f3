"""The frame pool: results in the order of the inputs with one worker or several, setup run once
per worker, frames crossing intact, and errors raised with their own message."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from marketflow_assets.parallel import FramePool, available_cores, frame_from_ipc, frame_to_ipc


def scaled(factor: int, frame: pl.DataFrame) -> pl.DataFrame:
    """A task: the frame's values times the worker's state."""
    return frame.select(pl.col("value") * factor, pl.lit(os.getpid()).alias("pid"))


def paired(_: None, left: pl.DataFrame, right: pl.DataFrame) -> pl.DataFrame:
    """A task of two frames."""
    return pl.concat([left, right])


def refuse_seven(_: None, frame: pl.DataFrame) -> pl.DataFrame:
    """A task that fails on the value 7, naming it."""
    if 7 in frame["value"]:
        raise ValueError("value 7 refused, line 3")
    return frame.with_columns(pl.lit(os.getpid()).alias("pid"))


def logged_setup(log: Path) -> int:
    """A setup that notes the process it ran in."""
    with log.open("a") as file:
        file.write(f"{os.getpid()}\n")
    return 10


def failing_setup() -> None:
    raise LookupError("no templates in /nowhere")


def groups(sizes: list[int]) -> list[list[pl.DataFrame]]:
    """One frame per size, holding consecutive values."""
    starts = [sum(sizes[:i]) for i in range(len(sizes))]
    return [[pl.DataFrame({"value": range(s, s + n)})] for s, n in zip(starts, sizes, strict=True)]


@pytest.mark.parametrize("workers", [1, 2])
def test_results_come_in_the_order_of_the_inputs(workers: int, tmp_path: Path) -> None:
    sizes = [5, 0, 300, 1, 40, 7, 7, 2, 90, 3]
    with FramePool(workers, logged_setup, tmp_path / "log") as pool:
        results = list(pool.map(scaled, groups(sizes)))
    assert [r.height for r in results] == sizes
    values = pl.concat(results)["value"].to_list()
    assert values == [10 * v for v in range(sum(sizes))]
    pids = set(pl.concat(results)["pid"])
    assert (os.getpid() in pids) == (workers == 1)
    # Each process that ran tasks ran the setup once, before them.
    ran_setup = [int(line) for line in (tmp_path / "log").read_text().split()]
    assert sorted(ran_setup) == sorted(set(ran_setup))
    assert pids <= set(ran_setup)


def test_a_task_may_take_several_frames() -> None:
    left, right = pl.DataFrame({"value": [1, 2]}), pl.DataFrame({"value": [3]})
    with FramePool(2) as pool:
        [result] = pool.map(paired, [[left, right]])
    assert result["value"].to_list() == [1, 2, 3]


def test_frames_cross_intact() -> None:
    frame = pl.DataFrame(
        {
            "text": ["a", None, "ü" * 40],
            "day": [dt.date(2010, 1, 4), None, dt.date(2024, 12, 31)],
            "events": [["hammer"], [], None],
            "flag": [True, False, None],
            "score": [0.1, float("nan"), None],
            "count": pl.Series([1, 2, 3], dtype=pl.UInt32),
        }
    )
    assert_frame_equal(frame_from_ipc(frame_to_ipc(frame)), frame)
    assert_frame_equal(frame_from_ipc(frame_to_ipc(frame.clear())), frame.clear())


@pytest.mark.parametrize("workers", [1, 2])
def test_an_error_is_raised_with_its_message_and_the_workers_stop(workers: int) -> None:
    pids = []
    with (  # noqa: PT012
        pytest.raises(ValueError, match=r"^value 7 refused, line 3$"),
        FramePool(workers) as pool,
    ):
        for result in pool.map(refuse_seven, groups([3, 3, 3, 3, 3])):
            pids += result["pid"].to_list()
    assert len(pids) == 6  # the two groups before the one holding 7
    for pid in set(pids) - {os.getpid()}:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_an_error_of_the_setup_in_a_worker_is_raised_by_its_tasks() -> None:
    with FramePool(2, failing_setup) as pool, pytest.raises(LookupError, match="/nowhere"):
        list(pool.map(refuse_seven, groups([1])))
    with pytest.raises(LookupError, match="/nowhere"):
        FramePool(1, failing_setup)


def test_at_least_one_worker() -> None:
    assert available_cores() >= 1
    with pytest.raises(ValueError, match="at least 1"):
        FramePool(0)


def _pool_in_a_daemon(log: Path, out: Path) -> None:
    """In a daemonic process: a two-worker pool's results, written where the test reads them."""
    with FramePool(2, logged_setup, log) as pool:
        pl.concat(pool.map(scaled, groups([3, 4]))).write_parquet(out)


def test_a_daemonic_process_does_the_work_itself(tmp_path: Path) -> None:
    import multiprocessing

    process = multiprocessing.get_context("spawn").Process(
        target=_pool_in_a_daemon, args=(tmp_path / "log", tmp_path / "out.parquet"), daemon=True
    )
    process.start()
    process.join(60)
    assert process.exitcode == 0
    result = pl.read_parquet(tmp_path / "out.parquet")
    assert result["value"].to_list() == [10 * v for v in range(7)]
    assert set(result["pid"]) == {process.pid}
