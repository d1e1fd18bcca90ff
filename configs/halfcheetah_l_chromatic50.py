"""Poster row: halfcheetah, L, chromatic (K=50), host engine (override with --config.engine=brax)."""

from configs import poster_row


def get_config():
  return poster_row.make(
    "halfcheetah",
    "L",
    "chromatic",
    num_colors=50,
    # Evolution: ENAS's policies on this row vary widely between episodes.
    partition_source="evolution",
    max_env_steps=10_000_000,
  )
