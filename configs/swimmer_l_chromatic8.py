"""Poster row: swimmer, L, chromatic (K=8), host engine (override with --config.engine=brax)."""

from configs import poster_row


def get_config():
  return poster_row.make("swimmer", "L", "chromatic", num_colors=8, max_env_steps=5_000_000)
