"""The evening run: every asset tagged for it, for the session that just closed."""
