"""Validation: what followed each signal, what it feeds back, and the scorecard."""
