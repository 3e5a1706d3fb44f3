"""Pure Polars volume-price analysis: features, patterns, levels and signals, point in time."""

from marketflow_assets.vpa.events import detect_events
from marketflow_assets.vpa.features import compute_features
from marketflow_assets.vpa.rules import load_rules
from marketflow_assets.vpa.signals import compute_signals

__all__ = ["compute_features", "compute_signals", "detect_events", "load_rules"]
