"""Progress lines of long work: sessions (or tickers) done, rows per second, time left."""

import time

from marketflow_assets.progress import Progress


def test_each_chunk_moves_the_count_and_the_estimate() -> None:
    progress = Progress("pairs", total=100, began=time.perf_counter() - 10.0)
    first = progress.step(25, 5_000)
    assert first.startswith("pairs: 25 of 100 sessions, 5,000 rows (")
    assert first.endswith("about 30 s left")
    second = progress.step(75, 15_000)
    assert second.startswith("pairs: 100 of 100 sessions, 20,000 rows (")
    assert second.endswith("about 0 s left")


def test_ticker_shards_are_counted_in_tickers() -> None:
    progress = Progress("features", total=2_000, unit="tickers", began=time.perf_counter() - 4.0)
    line = progress.step(500, 1_260_000)
    assert line.startswith("features: 500 of 2,000 tickers, 1,260,000 rows (")
    assert line.endswith("about 12 s left")
