"""Events summed onto the feature rows whose date they were confirmed on.

For each row of a frame sorted by ticker and date: the sum of direction * confidence * weight
over the events confirmed on that row's (ticker, date), how many there are, and which rules
they come from (a bit per rule). The sum is Kahan-compensated and taken in the events' own
order, as Polars' grouped sum does, so that the result has the same bits as
`events.group_by("ticker", "confirmed_at").agg(value.sum())`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import polars as pl

from marketflow_assets.vpa.frame import ticker_starts

DAY_OFFSET = 1 << 31


def by_feature_row(
    frame: pl.DataFrame,
    events: pl.DataFrame,
    weights: Mapping[str, float],
    rule_ids: tuple[str, ...],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Score (0 without events), event count and rule bits per row of `frame`."""
    n = frame.height
    score, count = np.zeros(n), np.zeros(n, dtype=np.int32)
    kinds = np.zeros(n, dtype=np.uint16)
    values = _event_values(events, weights, rule_ids)
    values = values.filter(pl.col("ticker").is_not_null() & pl.col("confirmed_at").is_not_null())
    if values.height == 0 or n == 0:
        return score, count, kinds
    rows = _feature_rows(frame, values)
    found = rows >= 0
    order = np.argsort(rows[found], kind="stable")
    target = rows[found][order]
    value = values["_value"].to_numpy()[found][order]
    missing = values["_value"].is_null().to_numpy()[found][order]
    code = values["_code"].to_numpy().astype(np.uint16)[found][order]
    first = np.flatnonzero(np.diff(target, prepend=-1))
    size = np.diff(first, append=target.size)
    total, err, bits = np.zeros(first.size), np.zeros(first.size), np.zeros(first.size, np.uint16)
    for k in range(int(size.max())):
        live = np.flatnonzero(size > k)
        at = first[live] + k
        bits[live] |= np.left_shift(np.uint16(1), code[at])
        add = live[~missing[at]]
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


def _feature_rows(frame: pl.DataFrame, values: pl.DataFrame) -> np.ndarray:
    """Row of `frame` with each event's (ticker, confirmed_at), -1 where there is none."""
    starts = ticker_starts(frame)
    tickers = frame["ticker"].gather(starts)
    runs = ticker_starts(values)
    run_ticker = pl.DataFrame({"ticker": values["ticker"].gather(runs)})
    run_id = (
        run_ticker.join(
            pl.DataFrame({"ticker": tickers, "_id": np.arange(starts.size, dtype=np.int64)}),
            on="ticker",
            how="left",
            maintain_order="left",
        )["_id"]
        .fill_null(-1)
        .to_numpy()
    )
    event_id = np.repeat(run_id, np.diff(runs, append=values.height))
    row_id = np.repeat(np.arange(starts.size, dtype=np.int64), np.diff(starts, append=frame.height))
    row_key = _key(row_id, frame["date"])
    event_key = _key(event_id, values["confirmed_at"])
    at = np.minimum(np.searchsorted(row_key, event_key), frame.height - 1)
    return np.where((event_id >= 0) & (row_key[at] == event_key), at, -1)


def _key(ticker_id: np.ndarray, dates: pl.Series) -> np.ndarray:
    """(ticker number, date) as one increasing integer."""
    days = dates.to_physical().cast(pl.Int64).to_numpy()
    return (ticker_id << 32) + (days + DAY_OFFSET)
