"""A run's window cut into chunks of whole sessions that fit a memory budget."""

import datetime as dt

import pytest

from marketflow_assets.calendar import sessions_between
from marketflow_assets.defs.run_window import RunWindow

FIRST = dt.date(2024, 1, 2)
WINDOW = RunWindow(dt.date(2024, 7, 1), dt.date(2024, 7, 31), FIRST)  # 22 sessions


def test_a_window_that_fits_is_one_chunk() -> None:
    assert WINDOW.chunks(rows=1_000, row_bytes=1_024, budget_mib=1) == [WINDOW]


@pytest.mark.parametrize(("rows", "pieces"), [(2_048, 2), (4_096, 4), (100_000, 22)])
def test_chunks_are_consecutive_sessions_covering_the_window_once(rows: int, pieces: int) -> None:
    chunks = WINDOW.chunks(rows=rows, row_bytes=1_024, budget_mib=1)
    assert len(chunks) == pieces
    assert [day for chunk in chunks for day in chunk.sessions] == WINDOW.sessions
    assert WINDOW.sessions == sessions_between(WINDOW.start, WINDOW.end)
    assert all(chunk.first == FIRST for chunk in chunks)
    assert chunks[0].start == WINDOW.start
    assert chunks[-1].end == WINDOW.end
