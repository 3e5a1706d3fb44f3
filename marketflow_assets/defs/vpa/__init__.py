"""VPA: the point-in-time features, patterns and signals of each session."""
