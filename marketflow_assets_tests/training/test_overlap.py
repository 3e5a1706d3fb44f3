"""Chunked work on two threads gives the results of doing one chunk after another."""

import threading
import time

from marketflow_assets.training.overlap import overlapped


def test_results_come_in_order_with_the_work_on_another_thread() -> None:
    reads, works = [], []

    def read(chunk: int) -> int:
        reads.append((chunk, threading.current_thread().name))
        return chunk * 10

    def work(frame: int) -> int:
        # Later chunks finish sooner: only the order of the chunks may order the results.
        time.sleep(0.01 * (5 - frame // 10))
        works.append(threading.current_thread().name)
        return frame + 1

    results = list(overlapped(range(5), read, work))
    assert results == [(c, c * 10, c * 10 + 1) for c in range(5)]
    assert {name for _, name in reads} == {threading.current_thread().name}
    assert len(set(works)) == 1
    assert works[0] != threading.current_thread().name


def test_at_most_two_chunks_are_read_ahead_of_the_caller() -> None:
    read: list[int] = []
    stream = overlapped(range(10), lambda c: read.append(c) or c, lambda f: f)
    for chunk, _, _ in stream:
        assert read[-1] <= chunk + 1
    assert read == list(range(10))
