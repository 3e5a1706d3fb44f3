"""marketflow_assets: point-in-time VPA signals, training data and a track record, in Dagster."""
