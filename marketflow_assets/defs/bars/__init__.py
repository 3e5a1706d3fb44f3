"""Market data in: the `daily_bars` asset and its checks."""
