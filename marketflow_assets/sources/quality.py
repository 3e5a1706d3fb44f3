"""Sort fetched bars into those fit to store and those quarantined, each with its reasons."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

# Each reason is a code with the condition that puts a row in quarantine.
PRICES = ("open", "high", "low", "close")
RULES: dict[str, pl.Expr] = {
    "missing_price": pl.any_horizontal(pl.col(c).is_null() | pl.col(c).is_nan() for c in PRICES),
    "infinite_price": pl.any_horizontal(pl.col(c).is_infinite() for c in PRICES),
    "non_positive_price": pl.any_horizontal(pl.col(c) <= 0 for c in PRICES),
    "high_below_low": pl.col("high") < pl.col("low"),
    "open_outside_range": ~pl.col("open").is_between(pl.col("low"), pl.col("high")),
    "close_outside_range": ~pl.col("close").is_between(pl.col("low"), pl.col("high")),
    "missing_volume": pl.col("volume").is_null() | pl.col("volume").is_nan(),
    "negative_volume": pl.col("volume") < 0,
    "infinite_volume": pl.col("volume").is_infinite(),
}
NOT_A_SESSION = "not_a_session"
DUPLICATE_KEY = "duplicate_key"
REASONS = (*RULES, NOT_A_SESSION, DUPLICATE_KEY)

BAR_COLUMNS = ("ticker", "date", "open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class SortedBars:
    """The outcome of checking one window of fetched bars."""

    bars: pl.DataFrame
    quarantine: pl.DataFrame
    corporate_actions: pl.DataFrame

    @property
    def tables(self) -> dict[str, pl.DataFrame]:
        """The frames by the store table each goes to."""
        return {
            "bars": self.bars,
            "quarantine": self.quarantine,
            "corporate_actions": self.corporate_actions,
        }

    def counted(self) -> SortedBars:
        """Only the columns `ingest_summary` reads (tickers as categories), kept from each chunk
        of a long window."""
        ticker = pl.col("ticker").cast(pl.Categorical)
        return SortedBars(
            bars=self.bars.select(ticker, "date"),
            quarantine=self.quarantine.select(ticker, "reason"),
            corporate_actions=self.corporate_actions.select(ticker),
        )

    @staticmethod
    def concat(parts: Sequence[SortedBars]) -> SortedBars:
        """The chunks of a window as one."""
        return SortedBars(
            bars=pl.concat([part.bars for part in parts]),
            quarantine=pl.concat([part.quarantine for part in parts]),
            corporate_actions=pl.concat([part.corporate_actions for part in parts]),
        )

    def quarantined_by_reason(self) -> dict[str, int]:
        """How many rows each reason caught (a row may have several reasons)."""
        counts = (
            self.quarantine.select(pl.col("reason").str.split(", ").explode())
            .group_by("reason")
            .len()
        )
        found = dict(counts.iter_rows())
        return {reason: int(found.get(reason, 0)) for reason in REASONS}


def sort_bars(fetched: pl.DataFrame, sessions: Sequence[dt.date], source: str) -> SortedBars:
    """Split `fetched` (a normalised frame) into storable bars, quarantine and corporate actions.

    Exact copies of a row keep one copy and quarantine the rest; rows that share a key but
    disagree are all quarantined, since neither can be trusted over the other.
    """
    session_list = pl.Series("session", list(sessions), dtype=pl.Date)
    key = ("ticker", "date")
    conditions = {
        **RULES,
        NOT_A_SESSION: ~pl.col("date").is_in(session_list.implode()),
        DUPLICATE_KEY: _duplicate_key(fetched),
    }
    checked = fetched.with_columns(reason=_reasons(conditions))

    good = checked.filter(pl.col("reason") == "").drop("reason")
    bad = checked.filter(pl.col("reason") != "")
    return SortedBars(
        bars=good.select(*BAR_COLUMNS, pl.lit(source).alias("source")).sort(key),
        quarantine=bad.with_columns(pl.lit(source).alias("source")).sort(key),
        corporate_actions=_corporate_actions(checked, source),
    )


def _duplicate_key(fetched: pl.DataFrame) -> pl.Expr:
    """Rows that repeat an earlier row exactly, or share their key with a different row."""
    shared_key = pl.len().over("ticker", "date") > 1
    if not fetched.select(shared_key.any()).item():
        return pl.lit(False)
    repeat = ~pl.struct(fetched.columns).is_first_distinct()
    conflict = pl.struct(fetched.columns).n_unique().over("ticker", "date") > 1
    return shared_key & (repeat | conflict)


def _corporate_actions(checked: pl.DataFrame, source: str) -> pl.DataFrame:
    """Splits and dividends on any row whose key is not in dispute, bad bar or not."""
    has_action = (pl.col("split_ratio").is_not_null() & (pl.col("split_ratio") != 1.0)) | (
        pl.col("dividend").is_not_null() & (pl.col("dividend") != 0.0)
    )
    undisputed = ~pl.col("reason").str.contains(DUPLICATE_KEY)
    return (
        checked.filter(has_action & undisputed)
        .select("ticker", "date", "split_ratio", "dividend", pl.lit(source).alias("source"))
        .sort("ticker", "date")
    )


def rule_violations(bars: pl.DataFrame) -> pl.DataFrame:
    """Rows of `bars` that break any quality rule, with the rules they break."""
    return bars.with_columns(reason=_reasons(RULES)).filter(pl.col("reason") != "")


def _reasons(conditions: dict[str, pl.Expr]) -> pl.Expr:
    """The names of the conditions a row meets, joined by ", " ("" when none)."""
    return pl.concat_str(
        pl.when(cond.fill_null(False)).then(pl.lit(f"{name}, ")).otherwise(pl.lit(""))
        for name, cond in conditions.items()
    ).str.strip_chars_end(", ")


def ingest_summary(
    result: SortedBars, sessions: Sequence[dt.date], tickers: Sequence[str] | None = None
) -> dict[str, object]:
    """Counts that describe one ingested window, for run metadata and the command line."""
    seen = set(result.bars["date"].unique().to_list())
    empty = [d.isoformat() for d in sessions if d not in seen]
    found = set(result.bars["ticker"].to_list()) | set(result.quarantine["ticker"].to_list())
    return {
        "tickers_without_bars": sorted(set(tickers or ()) - found),
        "rows": result.bars.height,
        "tickers": result.bars["ticker"].n_unique(),
        "sessions": len(sessions),
        "sessions_without_bars": empty,
        "quarantined": result.quarantine.height,
        "quarantined_by_reason": result.quarantined_by_reason(),
        "corporate_actions": result.corporate_actions.height,
    }
