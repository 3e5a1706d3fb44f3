"""The Dagster layer: thin wiring of the pure core to the store, with checks and automation."""

import warnings

import dagster as dg

# Single-run backfill policies and partitioned asset checks are deliberate choices here; their
# beta/preview notices would otherwise print on every load of the code location.
warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)
