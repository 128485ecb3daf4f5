"""Tuned defaults applied at every kernel start (switch them off in .env)."""
