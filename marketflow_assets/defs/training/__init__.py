"""Training: the frozen snapshot of each session and the pairs rendered from it."""
