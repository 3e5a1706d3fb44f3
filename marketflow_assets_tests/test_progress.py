"""Progress lines of long work: sessions done, rows per second, time left."""

import time

from marketflow_assets.progress import Progress


def test_each_chunk_moves_the_count_and_the_estimate() -> None:
    progress = Progress("pairs", sessions=100, began=time.perf_counter() - 10.0)
    first = progress.step(25, 5_000)
    assert first.startswith("pairs: 25 of 100 sessions, 5,000 rows (")
    assert first.endswith("about 30 s left")
    second = progress.step(75, 15_000)
    assert second.startswith("pairs: 100 of 100 sessions, 20,000 rows (")
    assert second.endswith("about 0 s left")
