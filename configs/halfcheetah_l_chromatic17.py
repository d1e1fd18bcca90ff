"""Poster row: halfcheetah, L, chromatic (K=17), host engine (override with --config.engine=brax)."""

from configs import poster_row


def get_config():
  return poster_row.make("halfcheetah", "L", "chromatic", num_colors=17, max_env_steps=8_000_000)
