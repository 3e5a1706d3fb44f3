"""Runs of the pipeline from the command line, tests and benchmarks: planning a staged
backfill, launching recorded runs with progress, and reporting how they ended."""
