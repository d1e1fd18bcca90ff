"""Poster row: swimmer, L, chromatic (K=8), host engine (override with --config.engine=brax)."""

from configs import poster_row


def get_config():
  # More than the task's budget: every ENAS seed still improved between 4M and 5M steps.
  return poster_row.make("swimmer", "L", "chromatic", num_colors=8, max_env_steps=10_000_000)
