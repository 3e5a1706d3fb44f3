"""Dagster bookkeeping of the project: failed range runs marked as Dagster would."""
