"""Which sessions to score next: those whose window is complete, each requested once.

The cursor holds `through`, the last session before which every session has been requested or
scored, and the sessions requested after it. Sessions after `through` are looked at on every
evaluation, so a window completed later by a backfill of bars is still found.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from marketflow_assets.validation.forward_window import matured_days


@dataclass(frozen=True)
class ScoringCursor:
    """Every session up to `through` is handled; `requested` are handled sessions after it."""

    through: dt.date | None = None
    requested: frozenset[dt.date] = field(default_factory=frozenset)

    @classmethod
    def parse(cls, text: str | None) -> ScoringCursor:
        """The cursor stored by an earlier evaluation (none: start from the first session)."""
        if not text:
            return cls()
        try:
            raw = json.loads(text)
            through = dt.date.fromisoformat(raw["through"]) if raw.get("through") else None
            requested = frozenset(dt.date.fromisoformat(d) for d in raw.get("requested", []))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"unreadable scoring cursor {text!r}: {exc}") from exc
        return cls(through, requested)

    def serialize(self) -> str:
        return json.dumps(
            {
                "through": self.through.isoformat() if self.through else None,
                "requested": sorted(d.isoformat() for d in self.requested),
            }
        )


@dataclass(frozen=True)
class ScoringPlan:
    """The sessions to request now and the cursor to store after requesting them."""

    requests: list[dt.date]
    cursor: ScoringCursor


def plan_scoring(
    sessions: Sequence[dt.date],
    bars: Collection[dt.date],
    signals: Collection[dt.date],
    scored: Collection[dt.date],
    cursor: ScoringCursor,
    *,
    window_days: int,
    limit: int = 100,
) -> ScoringPlan:
    """Request the sessions after the cursor whose signals exist and whose whole window has
    bars, that are neither scored nor requested yet (at most `limit`), and advance the cursor.

    `sessions` are the partitions in order; `bars`, `signals` and `scored` the sessions
    materialised for `daily_bars`, `vpa_signals` and `signal_outcomes`.
    """
    open_days = [d for d in sessions if cursor.through is None or d > cursor.through]
    waiting = [
        d for d in open_days if d in signals and d not in scored and d not in cursor.requested
    ]
    requests = matured_days(waiting, bars, window_days)[:limit]
    handled = set(cursor.requested) | set(requests) | set(scored)
    through = cursor.through
    for day in open_days:
        if day not in handled:
            break
        through = day
    asked = set(cursor.requested) | set(requests)
    requested = frozenset(d for d in asked if through is None or d > through)
    return ScoringPlan(requests, ScoringCursor(through, requested))
