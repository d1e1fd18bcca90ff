"""Poster row: ant, H41,H41, chromatic (K=50), host engine (override with --config.engine=brax)."""

from configs import poster_row


def get_config():
  return poster_row.make(
    "ant",
    "H41,H41",
    "chromatic",
    num_colors=50,
    # Evolution: ENAS's partitions settled on standing still (Ant-v5 pays 1 per step alive).
    partition_source="evolution",
    # More than the task's budget: the row still improves at 3M steps.
    max_env_steps=8_000_000,
  )
