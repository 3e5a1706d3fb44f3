"""The Dagster layer: thin wiring of the pure core to the store, with checks and automation."""
