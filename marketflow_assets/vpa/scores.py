"""Events summed onto the feature rows whose date they were confirmed on.

For each row of a piece of whole tickers sorted by date: the sum of direction * confidence *
weight over the events confirmed on that row's (ticker, date), how many there are, and which
rules they come from (a bit per rule). The sum is Kahan-compensated and taken in the events'
own order, as Polars' grouped sum does, so that the result has the same bits as
`events.group_by("ticker", "confirmed_at").agg(value.sum())`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import polars as pl

from marketflow_assets.vpa.frame import ticker_starts


class EventScores:
    """The events' values, grouped by ticker, ready to be summed onto pieces of feature rows."""

    def __init__(
        self, events: pl.DataFrame, weights: Mapping[str, float], rule_ids: tuple[str, ...]
    ) -> None:
        values = _event_values(events, weights, rule_ids).filter(
            pl.col("ticker").is_not_null() & pl.col("confirmed_at").is_not_null()
        )
        runs = ticker_starts(values)
        run_tickers = values["ticker"].gather(runs)
        if (
            run_tickers.len() > 1
            and not (run_tickers.slice(1) > run_tickers.slice(0, run_tickers.len() - 1)).all()
        ):
            # Grouped by ticker, each ticker's events kept in their order.
            values = values.sort("ticker", maintain_order=True)
            runs = ticker_starts(values)
            run_tickers = values["ticker"].gather(runs)
        self.values = values
        self.run_tickers = run_tickers
        self.run_bounds = np.append(runs, values.height)

    def by_row(
        self, piece: pl.DataFrame, starts: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Score (0 without events), event count and rule bits per row of `piece` (whole
        tickers, sorted by ticker and date; their first rows at `starts`)."""
        n = piece.height
        score, count = np.zeros(n), np.zeros(n, dtype=np.int32)
        kinds = np.zeros(n, dtype=np.uint16)
        if n == 0 or self.values.height == 0:
            return score, count, kinds
        rows, values = self._rows(piece, starts)
        found = rows >= 0
        if not found.any():
            return score, count, kinds
        order = np.argsort(rows[found], kind="stable")
        target = rows[found][order]
        value = values["_value"].to_numpy()[found][order]
        missing = values["_value"].is_null().to_numpy()[found][order]
        code = values["_code"].to_numpy().astype(np.uint16)[found][order]
        first = np.flatnonzero(np.diff(target, prepend=-1))
        size = np.diff(first, append=target.size)
        total, err = np.zeros(first.size), np.zeros(first.size)
        bits = np.zeros(first.size, dtype=np.uint16)
        for k in range(int(size.max())):
            live = np.flatnonzero(size > k)
            bits[live] |= np.left_shift(np.uint16(1), code[first[live] + k])
            add = live[~missing[first[live] + k]]
            val = value[first[add] + k]
            finite = np.isfinite(val)
            # Kahan: y = v - err; s' = s + y; err = (s' - s) - y (non-finite values added plainly).
            y = val - err[add]
            s_new = total[add] + y
            err_new = (s_new - total[add]) - y
            total[add] = np.where(finite, s_new, total[add] + val)
            err[add] = np.where(finite, err_new, err[add])
        rows_hit = target[first]
        score[rows_hit] = total
        count[rows_hit] = size
        kinds[rows_hit] = bits
        return score, count, kinds

    def _rows(self, piece: pl.DataFrame, starts: np.ndarray) -> tuple[np.ndarray, pl.DataFrame]:
        """The events of the piece's tickers and the piece row of each (-1 where its date is
        not among the ticker's rows)."""
        tickers = piece["ticker"].gather(starts)
        lo = int(self.run_tickers.search_sorted(tickers[0], side="left"))
        hi = int(self.run_tickers.search_sorted(tickers[-1], side="right"))
        run_tickers = self.run_tickers.slice(lo, hi - lo)
        at = tickers.search_sorted(run_tickers, side="left").to_numpy().astype(np.int64)
        at = np.minimum(at, tickers.len() - 1)
        run_id = np.where(tickers.gather(at).to_numpy() == run_tickers.to_numpy(), at, -1)
        first, stop = self.run_bounds[lo], self.run_bounds[hi]
        values = self.values.slice(first, stop - first)
        event_id = np.repeat(run_id, np.diff(self.run_bounds[lo : hi + 1]))
        row_id = np.repeat(np.arange(starts.size), np.diff(starts, append=piece.height))
        row_key = _key(row_id, piece["date"])
        event_key = _key(event_id, values["confirmed_at"])
        pos = np.minimum(np.searchsorted(row_key, event_key), piece.height - 1)
        return np.where((event_id >= 0) & (row_key[pos] == event_key), pos, -1), values


def _event_values(
    events: pl.DataFrame, weights: Mapping[str, float], rule_ids: tuple[str, ...]
) -> pl.DataFrame:
    """Per event: ticker, confirmed_at, direction * confidence * weight and the rule's index."""
    weight = pl.col("rule_id").replace_strict(dict(weights), return_dtype=pl.Float64)
    sign = pl.when(pl.col("direction") == "bullish").then(1.0).otherwise(-1.0)
    if events.schema["rule_id"] == pl.Enum(rule_ids):
        code = pl.col("rule_id").to_physical()
        table = pl.Series([weights[rule_id] for rule_id in rule_ids], dtype=pl.Float64)
        weight = pl.lit(table).gather(code)
    else:
        code = pl.col("rule_id").replace_strict(
            {rule_id: i for i, rule_id in enumerate(rule_ids)}, return_dtype=pl.UInt8
        )
    return events.select(
        pl.col("ticker").cast(pl.String),
        pl.col("confirmed_at").cast(pl.Date),
        (sign * pl.col("confidence") * weight).alias("_value"),
        code.cast(pl.UInt8).alias("_code"),
    )


def _key(ticker_id: np.ndarray, dates: pl.Series) -> np.ndarray:
    """(ticker number in the piece, date) as one increasing integer."""
    days = dates.to_physical().to_numpy().astype(np.int64)
    return (ticker_id.astype(np.int64) << 32) + (days + (1 << 31))
