"""Poster row: walker2d, H41, chromatic (K=17), host engine (override with --config.engine=brax)."""

from configs import poster_row


def get_config():
  return poster_row.make(
    "walker2d",
    "H41",
    "chromatic",
    num_colors=17,
    # Evolution: ENAS's partitions settle on standing still, even with the bonus shifted out.
    partition_source="evolution",
    # More than the task's budget: the row still improves at 5M and 12M steps.
    max_env_steps=25_000_000,
  )
