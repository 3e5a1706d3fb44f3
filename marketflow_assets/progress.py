"""Progress of long work in chunks: sessions done of the total, rows per second, time left."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Progress:
    """Counts the chunks of a window as they finish and words where the work stands."""

    what: str
    sessions: int
    began: float = field(default_factory=time.perf_counter)
    sessions_done: int = 0
    rows_done: int = 0

    def step(self, sessions: int, rows: int) -> str:
        """Count a chunk of `sessions` sessions and `rows` rows as done; the line to log."""
        self.sessions_done += sessions
        self.rows_done += rows
        seconds = max(time.perf_counter() - self.began, 1e-9)
        left = seconds * (self.sessions - self.sessions_done) / max(self.sessions_done, 1)
        return (
            f"{self.what}: {self.sessions_done:,} of {self.sessions:,} sessions, "
            f"{self.rows_done:,} rows ({self.rows_done / seconds:,.0f} rows/s), "
            f"about {left:,.0f} s left"
        )
