"""Progress of long work in chunks: sessions (or tickers) done of the total, rows per second,
time left."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Progress:
    """Counts the chunks of a window as they finish and words where the work stands; `total`
    counts `unit`s: sessions for chunks of sessions, tickers for ticker shards."""

    what: str
    total: int
    unit: str = "sessions"
    began: float = field(default_factory=time.perf_counter)
    done: int = 0
    rows_done: int = 0

    def step(self, units: int, rows: int) -> str:
        """Count a chunk of `units` sessions (or tickers) and `rows` rows as done; the line to
        log."""
        self.done += units
        self.rows_done += rows
        seconds = max(time.perf_counter() - self.began, 1e-9)
        left = seconds * (self.total - self.done) / max(self.done, 1)
        return (
            f"{self.what}: {self.done:,} of {self.total:,} {self.unit}, "
            f"{self.rows_done:,} rows ({self.rows_done / seconds:,.0f} rows/s), "
            f"about {left:,.0f} s left"
        )
