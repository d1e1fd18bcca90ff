"""Poster row: thrower, H41, chromatic (K=23), host engine (override with --config.engine=brax)."""

from configs import poster_row


def get_config():
  return poster_row.make(
    "thrower",
    "H41",
    "chromatic",
    num_colors=23,
    # More than the task's budget: the row still improves at 1.5M steps.
    max_env_steps=4_000_000,
  )
