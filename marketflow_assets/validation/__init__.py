"""Signal validation: outcomes after the window, the scorecard, and calibration feedback."""
