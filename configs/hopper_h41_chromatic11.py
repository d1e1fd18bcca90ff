"""Poster row: hopper, H41, chromatic (K=11), host engine (override with --config.engine=brax)."""

from configs import poster_row


def get_config():
  return poster_row.make(
    "hopper",
    "H41",
    "chromatic",
    num_colors=11,
    max_env_steps=8_000_000,
    # ENAS plateaued at 2920 (2938) from 4M to 8M steps: one hopping gait.
    partition_source="evolution",
  )
