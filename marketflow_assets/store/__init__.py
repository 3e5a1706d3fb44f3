"""The DuckDB store: migrations, partition-window writes and read helpers."""
